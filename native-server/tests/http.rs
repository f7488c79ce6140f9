//! Every endpoint, and every class of bad input: the right status, code and message, and the
//! server keeps serving.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use sutra_core::ConceptId;
use sutra_server::writer::WriterConfig;

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
async fn concepts_round_trip_every_field() {
    let app = app();
    memory(&app, "m", None).await;
    let body = json!({"content": "rain", "embedding": [0.5, 0.25, 1.0], "strength": 2.5, "confidence": 0.75, "metadata": {"source": "notes", "lang": "en"}});
    let id = concept(&app, "m", body).await;
    assert_eq!(
        id,
        ConceptId::from_content("rain").to_string(),
        "id derived from the content"
    );
    let got = get(&app, &format!("/v1/memories/m/concepts/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["content"], "rain");
    assert_eq!(got.json["embedding"], json!([0.5, 0.25, 1.0]));
    assert_eq!(got.json["strength"], 2.5);
    assert_eq!(got.json["confidence"], 0.75);
    assert_eq!(
        got.json["metadata"],
        json!({"lang": "en", "source": "notes"})
    );
    let created = got.json["created_ms"].as_u64().expect("created");
    // Learning it again updates the one concept and keeps its creation time.
    let again = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "rain", "strength": 9.0}),
    )
    .await;
    assert_eq!(again.json["id"], id);
    assert_eq!(again.json["seq"], 2);
    let got = get(&app, &format!("/v1/memories/m/concepts/{id}")).await;
    assert_eq!(got.json["strength"], 9.0);
    assert_eq!(
        got.json["embedding"],
        Value::Null,
        "a put replaces every field"
    );
    assert_eq!(got.json["created_ms"].as_u64(), Some(created));
    // A caller-chosen id.
    let own = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        concept(&app, "m", json!({"id": own, "content": "mine"})).await,
        own
    );
    // Unknown and malformed ids.
    let missing = get(
        &app,
        "/v1/memories/m/concepts/ffffffffffffffffffffffffffffffff",
    )
    .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "concept_not_found")
    );
    let malformed = get(&app, "/v1/memories/m/concepts/xyz").await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_id")
    );
    assert!(malformed.message().contains("32 lowercase hexadecimal"));
    // Delete.
    let del = delete(&app, &format!("/v1/memories/m/concepts/{id}")).await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(
        get(&app, &format!("/v1/memories/m/concepts/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&app, &format!("/v1/memories/m/concepts/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    alive(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scans_page_through_concepts_and_filter_by_prefix() {
    let app = app();
    memory(&app, "m", None).await;
    let ops: Vec<Value> = (0..25).map(|i| json!({"op": "put_concept", "content": format!("{} {i}", if i % 2 == 0 { "even" } else { "odd" })})).collect();
    assert_eq!(
        post(&app, "/v1/memories/m/batch", json!({"ops": ops}))
            .await
            .status,
        StatusCode::OK
    );
    let mut seen = Vec::new();
    let mut url = "/v1/memories/m/concepts?limit=10".to_string();
    loop {
        let page = get(&app, &url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let concepts = page.json["concepts"].as_array().expect("concepts").clone();
        assert!(concepts.len() <= 10);
        seen.extend(
            concepts
                .iter()
                .map(|c| c["id"].as_str().unwrap_or_default().to_string()),
        );
        match page.json["next"].as_str() {
            Some(next) => url = format!("/v1/memories/m/concepts?limit=10&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let evens = get(&app, "/v1/memories/m/concepts?prefix=even&limit=100").await;
    assert_eq!(evens.json["concepts"].as_array().map(Vec::len), Some(13));
    let over = get(&app, "/v1/memories/m/concepts?limit=1001").await;
    assert_eq!(
        (over.status, over.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert!(over.message().contains("1000"), "{}", over.message());
    let bad = get(&app, "/v1/memories/m/concepts?limit=many").await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
}

async fn graph(app: &TestApp) -> (String, String, String, String) {
    memory(app, "g", None).await;
    let a = concept(app, "g", json!({"content": "a"})).await;
    let b = concept(app, "g", json!({"content": "b"})).await;
    let c = concept(app, "g", json!({"content": "c"})).await;
    let d = concept(app, "g", json!({"content": "d"})).await;
    for (s, t, kind, conf) in [
        (&a, &b, "causal", 0.9),
        (&b, &c, "causal", 0.9),
        (&a, &c, "semantic", 0.2),
        (&c, &d, "temporal", 0.5),
    ] {
        let r = put(
            app,
            "/v1/memories/g/associations",
            json!({"source": s, "target": t, "kind": kind, "confidence": conf}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    (a, b, c, d)
}

#[tokio::test(flavor = "multi_thread")]
async fn associations_are_learned_listed_and_deleted() {
    let app = app();
    let (a, b, c, _) = graph(&app).await;
    let out = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/associations?direction=out"),
    )
    .await;
    assert_eq!(out.json["associations"].as_array().map(Vec::len), Some(2));
    let strong = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/associations?min_confidence=0.5"),
    )
    .await;
    assert_eq!(strong.json["associations"][0]["target"], b);
    assert_eq!(strong.json["associations"][0]["confidence"], 0.9);
    let semantic_in = get(
        &app,
        &format!("/v1/memories/g/concepts/{c}/associations?direction=in&kinds=semantic"),
    )
    .await;
    assert_eq!(
        semantic_in.json["associations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(semantic_in.json["associations"][0]["source"], a);
    let bad_kind = put(
        &app,
        "/v1/memories/g/associations",
        json!({"source": a, "target": b, "kind": "friendship"}),
    )
    .await;
    assert_eq!(bad_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_kind.message().contains("semantic, causal"),
        "{}",
        bad_kind.message()
    );
    let missing_end = put(
        &app,
        "/v1/memories/g/associations",
        json!({"source": a, "target": "ffffffffffffffffffffffffffffffff", "kind": "causal"}),
    )
    .await;
    assert_eq!(
        (missing_end.status, missing_end.code()),
        (StatusCode::NOT_FOUND, "concept_not_found")
    );
    let bad_conf = put(
        &app,
        "/v1/memories/g/associations",
        json!({"source": a, "target": b, "kind": "causal", "confidence": 1.5}),
    )
    .await;
    assert_eq!(bad_conf.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_conf.message().contains("confidence") && bad_conf.message().contains("0..=1"),
        "{}",
        bad_conf.message()
    );
    let del = delete(&app, &format!("/v1/memories/g/associations/{a}/{b}/causal")).await;
    assert_eq!(del.status, StatusCode::OK);
    let again = delete(&app, &format!("/v1/memories/g/associations/{a}/{b}/causal")).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "association_not_found")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_give_the_reasoning_trail() {
    let app = app();
    let (a, b, c, d) = graph(&app).await;
    let shortest = post(&app, "/v1/memories/g/paths", json!({"from": a, "to": d})).await;
    assert_eq!(shortest.status, StatusCode::OK, "{}", shortest.text);
    let path = &shortest.json["paths"][0];
    let ids: Vec<&str> = path["concepts"]
        .as_array()
        .expect("concepts")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.as_str(), c.as_str(), d.as_str()]);
    assert_eq!(path["concepts"][1]["content"], "c");
    assert_eq!(path["steps"][0]["kind"], "semantic");
    assert_eq!(path["confidence"], 0.1);
    let confident = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "most_confident"}),
    )
    .await;
    let ids: Vec<&str> = confident.json["paths"][0]["concepts"]
        .as_array()
        .expect("c")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str(), c.as_str(), d.as_str()]);
    let k = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "k_best", "k": 5}),
    )
    .await;
    assert_eq!(k.json["paths"].as_array().map(Vec::len), Some(2));
    assert_eq!(k.json["budget_exhausted"], false);
    let back = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": d, "to": a, "direction": "both", "kinds": ["causal", "temporal"]}),
    )
    .await;
    assert_eq!(back.json["paths"][0]["steps"][0]["reversed"], true);
    assert_eq!(
        back.json["paths"][0]["concepts"].as_array().map(Vec::len),
        Some(4)
    );
    let deep = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "max_depth": 17}),
    )
    .await;
    assert_eq!(
        (deep.status, deep.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert_eq!(
        deep.message(),
        "max_depth is too large: 17 exceeds the limit of 16"
    );
    let many = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "k_best", "k": 11}),
    )
    .await;
    assert_eq!(many.message(), "k is too large: 11 exceeds the limit of 10");
    let tight = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "most_confident", "visited_max": 1}),
    )
    .await;
    assert_eq!(tight.json["budget_exhausted"], true);
    let algo = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "fastest"}),
    )
    .await;
    assert_eq!(algo.status, StatusCode::UNPROCESSABLE_ENTITY);
    let hood = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/neighbourhood?depth=1&direction=forward"),
    )
    .await;
    assert_eq!(hood.json["concepts"].as_array().map(Vec::len), Some(3));
    assert_eq!(hood.json["associations"].as_array().map(Vec::len), Some(3));
    let too_deep = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/neighbourhood?depth=5"),
    )
    .await;
    assert_eq!(too_deep.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn vector_search_by_vector_and_by_concept() {
    let app = app();
    memory(&app, "v", Some(3)).await;
    let x = concept(
        &app,
        "v",
        json!({"content": "x", "embedding": [1.0, 0.0, 0.0]}),
    )
    .await;
    let near = concept(
        &app,
        "v",
        json!({"content": "near x", "embedding": [0.9, 0.1, 0.0]}),
    )
    .await;
    concept(
        &app,
        "v",
        json!({"content": "y", "embedding": [0.0, 1.0, 0.0]}),
    )
    .await;
    let hits = post(
        &app,
        "/v1/memories/v/search",
        json!({"vector": [1.0, 0.0, 0.0], "k": 2}),
    )
    .await;
    assert_eq!(hits.status, StatusCode::OK, "{}", hits.text);
    assert_eq!(hits.json["hits"][0]["id"], x);
    assert_eq!(hits.json["hits"][0]["score"], 1.0);
    assert_eq!(hits.json["hits"][1]["id"], near);
    assert_eq!(hits.json["hits"].as_array().map(Vec::len), Some(2));
    let by_id = post(&app, "/v1/memories/v/search", json!({"id": x, "k": 1})).await;
    assert_eq!(by_id.json["hits"][0]["id"], near);
    let similar = get(&app, &format!("/v1/memories/v/concepts/{x}/similar?k=5")).await;
    assert_eq!(similar.json["hits"].as_array().map(Vec::len), Some(2));
    let wrong = post(&app, "/v1/memories/v/search", json!({"vector": [1.0, 0.0]})).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "dimension_mismatch")
    );
    let put_wrong = put(
        &app,
        "/v1/memories/v/concepts",
        json!({"content": "z", "embedding": [1.0]}),
    )
    .await;
    assert_eq!(
        put_wrong.message(),
        "embedding has dimension 1, but this memory's vectors have dimension 3"
    );
    let big_k = post(
        &app,
        "/v1/memories/v/search",
        json!({"vector": [1.0, 0.0, 0.0], "k": 1001}),
    )
    .await;
    assert_eq!(
        big_k.message(),
        "k is too large: 1001 exceeds the limit of 1000"
    );
    let both = post(
        &app,
        "/v1/memories/v/search",
        json!({"vector": [1.0, 0.0, 0.0], "id": x}),
    )
    .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    // NaN cannot be written in JSON; a number too large for f32 becomes infinity: both refused.
    let nan = raw(
        &app,
        Method::POST,
        "/v1/memories/v/search",
        Some("application/json"),
        r#"{"vector": [NaN, 0, 0]}"#,
    )
    .await;
    assert_eq!(
        (nan.status, nan.code()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let inf = put(
        &app,
        "/v1/memories/v/concepts",
        json!({"content": "inf", "embedding": [1e39, 0.0, 0.0]}),
    )
    .await;
    assert_eq!(inf.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        inf.message().contains("embedding[0]") && inf.message().contains("finite"),
        "{}",
        inf.message()
    );
    alive(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_are_all_or_nothing() {
    let app = app();
    memory(&app, "b", None).await;
    let a = concept(&app, "b", json!({"content": "a"})).await;
    let ok = post(&app, "/v1/memories/b/batch", json!({"ops": [
        {"op": "put_concept", "content": "new"},
        {"op": "put_association", "source": a, "target": ConceptId::from_content("new").to_string(), "kind": "compositional", "weight": 2.0},
    ]})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        ok.json["ids"],
        json!([ConceptId::from_content("new").to_string()])
    );
    let before = get(&app, "/v1/memories/b").await.json["concepts"].clone();
    let bad = post(
        &app,
        "/v1/memories/b/batch",
        json!({"ops": [
            {"op": "put_concept", "content": "partial"},
            {"op": "delete_concept", "id": "ffffffffffffffffffffffffffffffff"},
        ]}),
    )
    .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::NOT_FOUND, "concept_not_found")
    );
    assert_eq!(
        get(&app, "/v1/memories/b").await.json["concepts"],
        before,
        "nothing of a refused batch applied"
    );
    let bad_id = post(
        &app,
        "/v1/memories/b/batch",
        json!({"ops": [{"op": "delete_concept", "id": "nope"}]}),
    )
    .await;
    assert_eq!(bad_id.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_id.message().starts_with("invalid ops[0].id \"nope\""),
        "{}",
        bad_id.message()
    );
    let unknown_op = post(
        &app,
        "/v1/memories/b/batch",
        json!({"ops": [{"op": "drop_table"}]}),
    )
    .await;
    assert_eq!(
        (unknown_op.status, unknown_op.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_argument")
    );
    assert!(
        unknown_op
            .message()
            .starts_with("invalid ops[0].op: \"drop_table\" is not an operation"),
        "{}",
        unknown_op.message()
    );
    let stray_field = post(
        &app,
        "/v1/memories/b/batch",
        json!({"ops": [{"op": "delete_concept", "id": "0123456789abcdef0123456789abcdef", "weight": 2}]}),
    )
    .await;
    assert!(
        stray_field
            .message()
            .starts_with("invalid ops[0].weight: delete_concept takes no weight"),
        "{}",
        stray_field.message()
    );
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"op": "put_concept", "content": format!("c{i}")}))
        .collect();
    let over = post(&app, "/v1/memories/b/batch", json!({"ops": too_many})).await;
    assert_eq!(
        (over.status, over.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert!(over.message().contains("10000"), "{}", over.message());
    let empty = post(&app, "/v1/memories/b/batch", json!({"ops": []})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_clear_errors_and_the_server_keeps_serving() {
    let app = app();
    memory(&app, "m", None).await;
    let broken = raw(
        &app,
        Method::PUT,
        "/v1/memories/m/concepts",
        Some("application/json"),
        "{\"content\": ",
    )
    .await;
    assert_eq!(
        (broken.status, broken.code()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let wrong_type = put(&app, "/v1/memories/m/concepts", json!({"content": 42})).await;
    assert_eq!(
        (wrong_type.status, wrong_type.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_json")
    );
    assert!(
        wrong_type.message().contains("content"),
        "{}",
        wrong_type.message()
    );
    let unknown_field = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "x", "colour": "red"}),
    )
    .await;
    assert!(
        unknown_field.message().contains("colour"),
        "{}",
        unknown_field.message()
    );
    let no_type = raw(
        &app,
        Method::PUT,
        "/v1/memories/m/concepts",
        None,
        "{\"content\": \"x\"}",
    )
    .await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"content\": \"{}\"}}", "x".repeat(33 * 1024 * 1024));
    let too_big = raw(
        &app,
        Method::PUT,
        "/v1/memories/m/concepts",
        Some("application/json"),
        huge,
    )
    .await;
    assert_eq!(
        (too_big.status, too_big.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let long_content = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "y".repeat(300 * 1024)}),
    )
    .await;
    assert_eq!(
        (long_content.status, long_content.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert!(
        long_content.message().contains("content") && long_content.message().contains("262144")
    );
    // A single concept's or association's errors name the field as sent, not `ops[0].…`.
    let bad_confidence = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "c", "confidence": 1.5}),
    )
    .await;
    assert_eq!(
        (bad_confidence.status, bad_confidence.message()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid confidence: 1.5 is outside 0..=1"
        )
    );
    let bad_vector = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "v", "embedding": [3.4e38, 3.4e38, 3.4e38]}),
    )
    .await;
    assert_eq!(bad_vector.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_vector.message().starts_with("invalid embedding: ")
            && bad_vector.message().contains("overflows"),
        "{}",
        bad_vector.message()
    );
    let a = concept(&app, "m", json!({"content": "a"})).await;
    let bad_weight = put(
        &app,
        "/v1/memories/m/associations",
        json!({"source": a, "target": a, "kind": "causal", "weight": -1}),
    )
    .await;
    assert!(
        bad_weight.message().starts_with("invalid weight: "),
        "{}",
        bad_weight.message()
    );
    // In a batch, the operation is named.
    let in_batch = post(
        &app,
        "/v1/memories/m/batch",
        json!({"ops": [{"op": "put_concept", "content": "ok"}, {"op": "put_concept", "content": "c", "confidence": 1.5}]}),
    )
    .await;
    assert_eq!(
        in_batch.message(),
        "invalid ops[1].confidence: 1.5 is outside 0..=1"
    );
    let meta: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let many_meta = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "m", "metadata": meta}),
    )
    .await;
    assert!(
        many_meta.message().contains("metadata") && many_meta.message().contains("64"),
        "{}",
        many_meta.message()
    );
    let nowhere = get(&app, "/v1/nothing/here").await;
    assert_eq!(
        (nowhere.status, nowhere.code()),
        (StatusCode::NOT_FOUND, "no_route")
    );
    let no_memory = put(&app, "/v1/memories/ghost/concepts", json!({"content": "x"})).await;
    assert_eq!(
        (no_memory.status, no_memory.code()),
        (StatusCode::NOT_FOUND, "memory_not_found")
    );
    alive(&app).await;
    // After all that the memory still works.
    concept(&app, "m", json!({"content": "still fine"})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_import_reproduces_a_memory() {
    let app = app();
    let (a, _, _, _) = graph(&app).await;
    put(
        &app,
        "/v1/memories/g/concepts",
        json!({"content": "with vector", "embedding": [1.0, 2.0], "metadata": {"k": "v"}}),
    )
    .await;
    let exported = get(&app, "/v1/memories/g/export").await;
    assert_eq!(exported.status, StatusCode::OK);
    assert_eq!(exported.headers["content-type"], "application/x-ndjson");
    let lines: Vec<&str> = exported.text.lines().collect();
    assert_eq!(lines.len(), 1 + 5 + 4, "header, 5 concepts, 4 associations");
    memory(&app, "copy", None).await;
    let imported = raw(
        &app,
        Method::POST,
        "/v1/memories/copy/import",
        Some("application/x-ndjson"),
        exported.text.clone(),
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    assert_eq!(imported.json["concepts"], 5);
    assert_eq!(imported.json["associations"], 4);
    assert_eq!(imported.json["rejected_count"], 0);
    let again = get(&app, "/v1/memories/copy/export").await;
    assert_eq!(
        again.text, exported.text,
        "export → import → export is exact, timestamps included"
    );
    // Bad lines are reported with their line numbers, good ones imported.
    let mixed = format!(
        "{}\nnot json\n{{\"type\":\"association\",\"source\":\"{a}\",\"target\":\"ffffffffffffffffffffffffffffffff\",\"kind\":\"causal\",\"confidence\":0.5,\"weight\":1,\"created_ms\":1,\"updated_ms\":2}}\n",
        lines[1]
    );
    memory(&app, "mixed", None).await;
    let report = raw(
        &app,
        Method::POST,
        "/v1/memories/mixed/import",
        Some("application/x-ndjson"),
        mixed,
    )
    .await;
    assert_eq!(report.json["concepts"], 1);
    assert_eq!(report.json["rejected_count"], 2);
    assert_eq!(report.json["rejected"][0]["line"], 2);
    assert_eq!(report.json["rejected"][1]["line"], 3);
    assert!(report.json["rejected"][1]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoint_and_metrics() {
    let app = app();
    memory(&app, "c", None).await;
    concept(&app, "c", json!({"content": "one"})).await;
    let cp = post(&app, "/v1/memories/c/checkpoint", json!({})).await;
    assert_eq!(cp.status, StatusCode::OK, "{}", cp.text);
    assert_eq!(cp.json["seq"], 1);
    assert!(cp.json["snapshot_bytes"].as_u64().unwrap_or(0) > 0);
    let stats = get(&app, "/v1/memories/c").await;
    assert_eq!(stats.json["checkpoint_seq"], 1);
    assert_eq!(stats.json["log_bytes"], 24);
    assert!(app.dir.path().join("c/storage.dat").is_file());
    let metrics = get(&app, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text;
    assert!(text.contains("sutra_log_syncs_total 1\n"), "{text}");
    assert!(text.contains("sutra_checkpoints_total 1\n"), "{text}");
    assert!(text.contains("sutra_concepts{memory=\"c\"} 1\n"), "{text}");
    assert!(
        text.contains("sutra_log_bytes{memory=\"c\"} 24\n"),
        "{text}"
    );
    assert!(
        text.contains("sutra_http_requests_total{status=\"201\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sutra_group_commit_batches_count 1"),
        "{text}"
    );
    assert!(text.contains("sutra_queue_depth{memory=\"c\"} 0"), "{text}");
    assert!(
        text.contains("sutra_replay_seconds{memory=\"c\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_guards_everything_but_health() {
    let app = app_with(WriterConfig::default(), Some("s3cret"), &[]);
    alive(&app).await;
    let denied = get(&app, "/v1/memories").await;
    assert_eq!(
        (denied.status, denied.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::UNAUTHORIZED);
    let wrong = send(
        &app,
        axum::http::Request::get("/v1/memories")
            .header("authorization", "Bearer nope")
            .body(axum::body::Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = send(
        &app,
        axum::http::Request::get("/v1/memories")
            .header("authorization", "Bearer s3cret")
            .body(axum::body::Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(right.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_only_for_listed_origins() {
    let app = app_with(WriterConfig::default(), None, &["http://localhost:5173"]);
    let ask = |origin: &str| {
        axum::http::Request::get("/v1/memories")
            .header("origin", origin)
            .body(axum::body::Body::empty())
            .expect("req")
    };
    let allowed = send(&app, ask("http://localhost:5173")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let other = send(&app, ask("http://evil.example")).await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    let none = app_with(WriterConfig::default(), None, &[]);
    let plain = send(&none, ask("http://localhost:5173")).await;
    assert!(plain.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_with_retry_after_and_loses_nothing_accepted() {
    let app = app_with(
        WriterConfig {
            queue_max: 1,
            ..WriterConfig::default()
        },
        None,
        &[],
    );
    memory(&app, "q", None).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let router = app.router.clone();
        tasks.push(tokio::spawn(async move {
            let request = axum::http::Request::put("/v1/memories/q/concepts")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"content": format!("item {i}")}).to_string(),
                ))
                .expect("req");
            let response = tower::ServiceExt::oneshot(router, request)
                .await
                .expect("router");
            (
                i,
                response.status(),
                response.headers().get("retry-after").cloned(),
            )
        }));
    }
    let mut accepted = Vec::new();
    let mut busy = 0;
    for task in tasks {
        let (i, status, retry) = task.await.expect("task");
        match status {
            StatusCode::OK => accepted.push(i),
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(retry.as_ref().and_then(|v| v.to_str().ok()), Some("1"));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(busy > 0, "200 concurrent writes never filled a queue of 1");
    let stats = get(&app, "/v1/memories/q").await;
    assert_eq!(
        stats.json["concepts"].as_u64(),
        Some(accepted.len() as u64),
        "every acknowledged write is there"
    );
    for i in accepted {
        let id = ConceptId::from_content(&format!("item {i}"));
        assert_eq!(
            get(&app, &format!("/v1/memories/q/concepts/{id}"))
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn control_center_page_says_how_to_build_it() {
    let app = app();
    let page = get(&app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("npm run build -w web-control-center"),
        "{}",
        page.text
    );
}

#[test]
fn storage_failures_map_to_503_naming_the_cause() {
    let e = sutra_server::error::ApiError::from(sutra_core::Error::Poisoned {
        cause: "storage error during log sync: EIO".into(),
    });
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.code, "poisoned");
    assert!(e.message.contains("log sync: EIO"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_writer_checkpoints_and_reseals_on_its_own() {
    let config = WriterConfig {
        checkpoint_log_bytes: 4096,
        reseal_fresh_min: 50,
        ..WriterConfig::default()
    };
    let app = app_with(config, None, &[]);
    memory(&app, "auto", Some(4)).await;
    for i in 0..100 {
        let v = [(i as f32).sin(), (i as f32).cos(), 1.0, (i % 7) as f32];
        concept(
            &app,
            "auto",
            json!({"content": format!("auto {i}"), "embedding": v}),
        )
        .await;
    }
    // Both run after commits: poll briefly for the background re-seal.
    let mut stats = get(&app, "/v1/memories/auto").await.json;
    for _ in 0..100 {
        if stats["vectors"]["sealed"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stats = get(&app, "/v1/memories/auto").await.json;
    }
    assert!(
        stats["checkpoint_seq"].as_u64().unwrap_or(0) > 0,
        "no automatic checkpoint: {stats}"
    );
    // A checkpoint is due once the log is past 4096 bytes and past the last snapshot's size.
    let snapshot = std::fs::metadata(
        app.dir
            .path()
            .join("auto")
            .join(sutra_server::storage::SNAPSHOT_FILE),
    )
    .expect("a snapshot")
    .len();
    assert!(
        stats["log_bytes"].as_u64().unwrap_or(u64::MAX) < 4096u64.max(snapshot) + 1024,
        "the log was not trimmed (snapshot {snapshot} bytes): {stats}"
    );
    assert!(
        stats["vectors"]["sealed"].as_u64().unwrap_or(0) >= 50,
        "no background re-seal: {stats}"
    );
    let metrics = get(&app, "/metrics").await.text;
    assert!(
        metrics.contains("sutra_vector_reseals_total 1")
            || metrics.contains("sutra_vector_reseals_total 2"),
        "{metrics}"
    );
    // Search still finds every concept, sealed or fresh.
    let hits = post(
        &app,
        "/v1/memories/auto/search",
        json!({"vector": [0.0, 1.0, 1.0, 0.0], "k": 100}),
    )
    .await;
    assert_eq!(hits.json["hits"].as_array().map(Vec::len), Some(100));
}
