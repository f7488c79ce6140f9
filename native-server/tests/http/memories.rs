//! Creating, listing, describing and dropping memories.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn memories_are_created_listed_described_and_dropped() {
    let app = app();
    assert_eq!(
        get(&app, "/v1/memories").await.json,
        json!({"memories": []})
    );
    memory(&app, "notes", Some(3)).await;
    let dup = post(&app, "/v1/memories", json!({"name": "notes"})).await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "memory_exists")
    );
    let bad = post(&app, "/v1/memories", json!({"name": "Bad Name"})).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_name")
    );
    assert!(bad.message().contains("a-z, 0-9"), "{}", bad.message());
    let zero = post(&app, "/v1/memories", json!({"name": "z", "dimension": 0})).await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    let list = get(&app, "/v1/memories").await;
    assert_eq!(list.json["memories"][0]["name"], "notes");
    assert_eq!(list.json["memories"][0]["dimension"], 3);
    assert_eq!(list.json["memories"][0]["status"], "open");
    let stats = get(&app, "/v1/memories/notes").await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.json["concepts"], 0);
    assert_eq!(
        stats.json["last_seq"], 1,
        "the dimension is the first record"
    );
    assert!(stats.json["log_bytes"].as_u64().expect("log bytes") > 16);
    assert!(stats.json["storage_bytes"].as_u64().expect("storage bytes") > 0);
    let dropped = delete(&app, "/v1/memories/notes").await;
    assert_eq!(dropped.status, StatusCode::OK);
    assert!(!app.dir.path().join("notes").exists(), "files deleted");
    let gone = get(&app, "/v1/memories/notes").await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "memory_not_found")
    );
    assert_eq!(
        delete(&app, "/v1/memories/notes").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_server_takes_the_read_options_and_refuses_cluster_only_ones() {
    let app = app();
    memory(&app, "notes", None).await;
    let id = concept(&app, "notes", json!({"content": "rain"})).await;
    // Read options are taken (every read already sees every acknowledged write).
    for query in ["consistency=stale", "consistency=linearizable", "min_seq=1"] {
        let a = get(&app, &format!("/v1/memories/notes/concepts/{id}?{query}")).await;
        assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text);
        assert_eq!(a.json["content"], "rain");
    }
    let listed = get(
        &app,
        "/v1/memories/notes/concepts?consistency=stale&limit=1",
    )
    .await;
    assert_eq!(
        listed.json["concepts"][0]["id"],
        id.as_str(),
        "the other parameters stay"
    );
    let bad = get(&app, "/v1/memories/notes/concepts?consistency=eventual").await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    // An idempotency key is a cluster's: refused, with the reason.
    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri("/v1/memories/notes/concepts")
        .header("content-type", "application/json")
        .header("idempotency-key", "k1")
        .body(axum::body::Body::from(
            json!({"content": "snow"}).to_string(),
        ))
        .expect("request");
    let keyed = send(&app, request).await;
    assert_eq!(
        (keyed.status, keyed.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_argument")
    );
    assert_eq!(keyed.json["error"]["field"], "Idempotency-Key");
    assert!(keyed.message().contains("single server"), "{}", keyed.text);
    // The cluster's status and membership changes answer as a single server's.
    let status = get(&app, "/v1/cluster").await;
    assert_eq!(status.json["role"], "single");
    assert_eq!(status.json["members"], json!([]));
    let promote = post(&app, "/v1/cluster/members/2/promote", json!({})).await;
    assert_eq!(
        (promote.status, promote.code()),
        (StatusCode::CONFLICT, "not_a_cluster")
    );
    let health = get(&app, "/v1/health").await;
    assert_eq!(health.json, json!({"status": "ok", "cluster": null}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_is_created_with_the_keys_filters_may_name() {
    let app = app();
    let made = post(
        &app,
        "/v1/memories",
        json!({"name": "shared", "indexed_keys": ["user", "agent", "user"]}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.json["indexed_keys"], json!(["agent", "user"]));
    let stats = get(&app, "/v1/memories/shared").await;
    assert_eq!(stats.json["indexed_keys"], json!(["agent", "user"]));
    assert_eq!(
        stats.json["last_seq"], 1,
        "declared in the creation's one write"
    );
    // Filters on them work from the first write on.
    for (content, user) in [("rain for alice", "alice"), ("rain for bob", "bob")] {
        concept(
            &app,
            "shared",
            json!({"content": content, "metadata": {"user": user}}),
        )
        .await;
    }
    let found = post(
        &app,
        "/v1/memories/shared/search",
        json!({"text": "rain", "filter": {"user": "bob"}}),
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let hits = found.json["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 1, "{}", found.text);
    assert_eq!(hits[0]["content"], "rain for bob");

    // Bad keys are refused by field, and nothing is created.
    let seventeen: Vec<String> = (0..17).map(|i| format!("k{i}")).collect();
    for (keys, field, code) in [
        (json!(seventeen), "indexed_keys", "limit_exceeded"),
        (json!(["user", ""]), "indexed_keys[0]", "invalid_argument"),
        (
            json!(["x".repeat(257)]),
            "indexed_keys[0]",
            "invalid_argument",
        ),
    ] {
        let bad = post(
            &app,
            "/v1/memories",
            json!({"name": "bad", "indexed_keys": keys}),
        )
        .await;
        assert_eq!(
            (bad.status, bad.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, code),
            "{}",
            bad.text
        );
        assert_eq!(bad.json["error"]["field"], field, "{}", bad.text);
        assert_eq!(
            get(&app, "/v1/memories/bad").await.status,
            StatusCode::NOT_FOUND
        );
    }
    let not_strings = post(
        &app,
        "/v1/memories",
        json!({"name": "bad", "indexed_keys": [1]}),
    )
    .await;
    assert_eq!(
        not_strings.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_strings.text
    );
}
