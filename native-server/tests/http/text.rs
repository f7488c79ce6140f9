//! Full-text search (BM25) and search by text and vector at once (fused by rank).

use super::*;

/// The ids of a search's hits, in order.
fn ids(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| h["id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn text_search_ranks_by_bm25_and_forgets_deleted_and_replaced_texts() {
    let app = app();
    memory(&app, "t", Some(2)).await;
    let streets = concept(
        &app,
        "t",
        json!({"content": "Rain, rain: wet streets", "embedding": [1.0, 0.0]}),
    )
    .await;
    let umbrella = concept(
        &app,
        "t",
        json!({"content": "the umbrella keeps the rain off", "embedding": [0.0, 1.0]}),
    )
    .await;
    let sunny = concept(
        &app,
        "t",
        json!({"content": "sunny days", "embedding": [0.7, 0.7]}),
    )
    .await;
    let hits = post(&app, "/v1/memories/t/search", json!({"text": "RAIN"})).await;
    assert_eq!(hits.status, StatusCode::OK, "{}", hits.text);
    assert_eq!(ids(&hits.json), [streets.clone(), umbrella.clone()]);
    let first = &hits.json["hits"][0];
    assert_eq!(first["content"], "Rain, rain: wet streets");
    assert_eq!(
        first["found_by"],
        json!([{"retriever": "text", "rank": 1, "score": first["score"]}])
    );
    // The text with the word twice, and shorter, ranks first (the core checks the scores
    // against BM25 computed by hand).
    assert!(
        first["score"].as_f64().unwrap_or(0.0)
            > hits.json["hits"][1]["score"].as_f64().unwrap_or(1.0)
    );

    // A replaced text no longer matches its old words; a deleted concept is gone.
    let replaced = put(
        &app,
        "/v1/memories/t/concepts",
        json!({"id": umbrella, "content": "a parasol", "embedding": [0.0, 1.0]}),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    let hits = post(
        &app,
        "/v1/memories/t/search",
        json!({"text": "rain umbrella"}),
    )
    .await;
    assert_eq!(ids(&hits.json), std::slice::from_ref(&streets));
    let gone = raw(
        &app,
        Method::DELETE,
        &format!("/v1/memories/t/concepts/{streets}"),
        None,
        String::new(),
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    let hits = post(&app, "/v1/memories/t/search", json!({"text": "rain"})).await;
    assert_eq!(hits.json["hits"], json!([]));

    // Text and a vector at once: both lists fused by reciprocal rank fusion, each hit saying
    // where each retriever ranked it.
    let hits = post(
        &app,
        "/v1/memories/t/search",
        json!({"text": "parasol sunny", "vector": [0.0, 1.0], "k": 3}),
    )
    .await;
    assert_eq!(hits.status, StatusCode::OK, "{}", hits.text);
    let fused = &hits.json["hits"];
    assert_eq!(ids(&hits.json)[0], umbrella, "{fused}");
    let both: Vec<&str> = fused[0]["found_by"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["retriever"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(both, ["text", "vector"], "{fused}");
    let rrf: f64 = fused[0]["found_by"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| 1.0 / (60.0 + x["rank"].as_f64().unwrap_or(0.0)))
                .sum()
        })
        .unwrap_or(0.0);
    assert!(
        (fused[0]["score"].as_f64().unwrap_or(0.0) - rrf).abs() < 1e-6,
        "{fused}"
    );
    assert!(ids(&hits.json).contains(&sunny), "{fused}");

    // Bad input is refused with the field named.
    for (body, status, message) in [
        (
            json!({"text": "the and of"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid text: has no words to search for (stop words such as \"the\" are not indexed)",
        ),
        (
            json!({"text": "x".repeat(5000)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "text (bytes) is too large: 5000 exceeds the limit of 4096",
        ),
        (
            json!({"text": (0..70).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "text (distinct words) is too large: 70 exceeds the limit of 64",
        ),
        (
            json!({"text": "rain", "k": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid k: must be from 1 to 1000, not 0",
        ),
    ] {
        let refused = post(&app, "/v1/memories/t/search", body.clone()).await;
        assert_eq!(
            (refused.status, refused.message()),
            (status, message),
            "{body}"
        );
    }
    let nothing = post(&app, "/v1/memories/t/search", json!({"k": 3})).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nothing.json["error"]["field"], "search");
}

#[tokio::test(flavor = "multi_thread")]
async fn expanded_hits_carry_their_trail_and_diverse_hits_come_in_their_own_order() {
    let app = app();
    memory(&app, "x", Some(2)).await;
    let bank = concept(
        &app,
        "x",
        json!({"content": "river bank", "embedding": [1.0, 0.0]}),
    )
    .await;
    let delta = concept(
        &app,
        "x",
        json!({"content": "river delta of the nile", "embedding": [0.95, 0.31]}),
    )
    .await;
    let mouth = concept(
        &app,
        "x",
        json!({"content": "estuary mouth", "embedding": [0.0, 1.0]}),
    )
    .await;
    let link = put(
        &app,
        "/v1/memories/x/associations",
        json!({"source": bank, "target": mouth, "kind": "compositional", "confidence": 0.99}),
    )
    .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.text);
    // Fused, the river bank first in both lists, the delta second, the mouth third by vector
    // only (1/63). Reached from the bank it scores 0.99 × (1/61 + 1/61), above the delta's
    // 1/62 + 1/62: it takes the second place and lists both ways it was found.
    let hits = post(
        &app,
        "/v1/memories/x/search",
        json!({"text": "river", "vector": [1.0, 0.0], "k": 2, "expand": {}}),
    )
    .await;
    assert_eq!(hits.status, StatusCode::OK, "{}", hits.text);
    assert_eq!(
        ids(&hits.json),
        [bank.clone(), mouth.clone()],
        "{}",
        hits.text
    );
    let reached = &hits.json["hits"][1];
    let expected = 0.99f64 * (2.0 / 61.0);
    assert!(
        (reached["score"].as_f64().unwrap_or(0.0) - expected).abs() < 1e-6,
        "{reached}"
    );
    assert_eq!(reached["found_by"][0]["retriever"], "vector");
    assert_eq!(reached["found_by"][0]["rank"], 3);
    assert!(reached["found_by"][0].get("trail").is_none(), "{reached}");
    assert_eq!(reached["found_by"][1]["retriever"], "graph");
    assert_eq!(reached["found_by"][1]["rank"], 1);
    let trail = &reached["found_by"][1]["trail"];
    assert_eq!(trail.as_array().map(Vec::len), Some(1), "{reached}");
    assert_eq!(trail[0]["from"], bank);
    assert_eq!(trail[0]["to"], mouth);
    assert_eq!(trail[0]["kind"], "compositional");
    assert_eq!(trail[0]["reversed"], false);
    assert!((trail[0]["confidence"].as_f64().unwrap_or(0.0) - 0.99).abs() < 1e-6);
    // Without the expansion, the delta is second.
    let plain = post(
        &app,
        "/v1/memories/x/search",
        json!({"text": "river", "vector": [1.0, 0.0], "k": 2}),
    )
    .await;
    assert_eq!(
        ids(&plain.json),
        [bank.clone(), delta.clone()],
        "{}",
        plain.text
    );
    // Diversified (λ 0.3): after the bank, the mouth (unlike it: 0.3 × 0 − 0.7 × 0) comes
    // before the delta (like it: 0.3 × 0.95 − 0.7 × 0.95).
    let diverse = post(
        &app,
        "/v1/memories/x/search",
        json!({"vector": [1.0, 0.0], "k": 3, "mmr": {"lambda": 0.3}}),
    )
    .await;
    assert_eq!(diverse.status, StatusCode::OK, "{}", diverse.text);
    assert_eq!(ids(&diverse.json), [bank, mouth, delta], "{}", diverse.text);

    for (body, message) in [
        (
            json!({"text": "river", "expand": {"depth": 4}}),
            "expand.depth is too large: 4 exceeds the limit of 3",
        ),
        (
            json!({"text": "river", "expand": {"per_concept": 101}}),
            "expand.per_concept is too large: 101 exceeds the limit of 100",
        ),
        (
            json!({"text": "river", "k": 100, "expand": {"depth": 2, "per_concept": 50}}),
            "invalid expand: 100 hits × (50 associations per concept, up to 2 hops deep) could follow 255000 associations, over the limit of 100000: lower k, expand.per_concept or expand.depth",
        ),
        (
            json!({"text": "river", "expand": {"direction": "up"}}),
            "invalid expand.direction: \"up\" is not valid: use forward or both",
        ),
        (
            json!({"text": "river", "mmr": {"lambda": -0.1}}),
            "invalid mmr.lambda: must be from 0 to 1, not -0.1",
        ),
        (
            json!({"text": "river", "k": 300, "mmr": {}}),
            "k (with mmr) is too large: 300 exceeds the limit of 250",
        ),
    ] {
        let refused = post(&app, "/v1/memories/x/search", body.clone()).await;
        assert_eq!(
            (refused.status, refused.message()),
            (StatusCode::UNPROCESSABLE_ENTITY, message),
            "{body}"
        );
    }
    let unknown = post(
        &app,
        "/v1/memories/x/search",
        json!({"text": "river", "expand": {"hops": 2}}),
    )
    .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    assert!(unknown.message().contains("hops"), "{}", unknown.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_created_with_a_language_stems_its_texts_and_queries() {
    let app = app();
    let created = post(
        &app,
        "/v1/memories",
        json!({"name": "en", "language": "english"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        created.json,
        json!({"name": "en", "dimension": null, "language": "english", "indexed_keys": []})
    );
    memory(&app, "plain", None).await;
    for name in ["en", "plain"] {
        concept(&app, name, json!({"content": "She was running home"})).await;
        concept(&app, name, json!({"content": "he runs daily"})).await;
        concept(&app, name, json!({"content": "a runner's shoes"})).await;
    }
    let found = |name: &'static str, text: &'static str| {
        let app = &app;
        async move {
            let answer = post(
                app,
                &format!("/v1/memories/{name}/search"),
                json!({"text": text}),
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            let mut contents: Vec<String> = answer.json["hits"]
                .as_array()
                .map(|hits| {
                    hits.iter()
                        .map(|h| h["content"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            contents.sort();
            contents
        }
    };
    // Stemmed: "run" meets "running" and "runs" (not "runner's", another stem).
    assert_eq!(
        found("en", "run").await,
        ["She was running home", "he runs daily"]
    );
    assert_eq!(found("en", "RUNNING").await.len(), 2);
    // Without a language words match as written.
    assert!(found("plain", "run").await.is_empty());
    assert_eq!(found("plain", "running").await, ["She was running home"]);
    // The stats, the list and the export say the language.
    assert_eq!(
        get(&app, "/v1/memories/en").await.json["language"],
        "english"
    );
    assert_eq!(
        get(&app, "/v1/memories/plain").await.json["language"],
        Value::Null
    );
    let list = get(&app, "/v1/memories").await;
    assert_eq!(list.json["memories"][0]["language"], "english");
    let export = get(&app, "/v1/memories/en/export").await;
    assert!(
        export
            .text
            .starts_with(r#"{"type":"memory","format":5,"dimension":null,"language":"english","indexed_keys":[]}"#),
        "{}",
        export.text
    );
    // An unknown language is refused by name, listing the choices.
    let bad = post(
        &app,
        "/v1/memories",
        json!({"name": "k", "language": "klingon"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(
        bad.message().contains("klingon") && bad.message().contains("english"),
        "{}",
        bad.message()
    );
    assert_eq!(
        get(&app, "/v1/memories/k").await.status,
        StatusCode::NOT_FOUND
    );
    // The language travels with an import: a memory made from the export stems too.
    memory(&app, "copy", None).await;
    let imported = raw(
        &app,
        Method::POST,
        "/v1/memories/copy/import",
        Some("application/x-ndjson"),
        export.text.clone(),
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    assert_eq!(
        get(&app, "/v1/memories/copy").await.json["language"],
        "english"
    );
    assert_eq!(found("copy", "run").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_keep_only_what_a_filter_on_indexed_keys_keeps() {
    let app = app();
    memory(&app, "f", Some(2)).await;
    // Bob's texts say "rain" three times and point along the query; alice's once, across it.
    let mut ops = Vec::new();
    for i in 0..60 {
        let alice = i % 6 == 0;
        ops.push(json!({
            "op": "put_concept",
            "content": if alice { format!("rain once, note {i}") } else { format!("rain rain rain {i}") },
            "embedding": if alice { [0.0, 1.0] } else { [1.0, 0.1] },
            "metadata": {"user": if alice { "alice" } else { "bob" }, "year": 2020 + (i / 6) % 2},
        }));
    }
    let written = post(&app, "/v1/memories/f/batch", json!({ "ops": ops })).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    // A key not indexed is refused by name.
    let refused = post(
        &app,
        "/v1/memories/f/search",
        json!({"text": "rain", "filter": {"user": "alice"}}),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(
        refused.json["error"]["field"], "filter[\"user\"]",
        "{}",
        refused.text
    );
    let declared = post(
        &app,
        "/v1/memories/f/batch",
        json!({"ops": [{"op": "index_metadata", "keys": ["year", "user"]}]}),
    )
    .await;
    assert_eq!(declared.status, StatusCode::OK, "{}", declared.text);
    assert_eq!(
        get(&app, "/v1/memories/f").await.json["indexed_keys"],
        json!(["user", "year"])
    );
    // Whose each hit is, by its text ("rain once, note i" is alice's).
    let users = |answer: &Value| -> Vec<String> {
        answer["hits"]
            .as_array()
            .map(|hits| {
                hits.iter()
                    .map(|h| {
                        let alice = h["content"].as_str().unwrap_or("").starts_with("rain once");
                        if alice { "alice" } else { "bob" }.to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for body in [
        json!({"text": "rain", "k": 5, "filter": {"user": "alice"}}),
        json!({"vector": [1.0, 0.0], "k": 5, "filter": {"user": "alice"}}),
        json!({"text": "rain", "vector": [1.0, 0.0], "k": 5, "filter": {"user": "alice"}}),
        json!({"text": "rain", "k": 5, "filter": {"user": {"in": ["alice", "carol"]}}}),
    ] {
        let found = post(&app, "/v1/memories/f/search", body.clone()).await;
        assert_eq!(found.status, StatusCode::OK, "{body}: {}", found.text);
        assert_eq!(users(&found.json), ["alice"; 5], "{body}");
    }
    // Two keys: alice's of 2020 (i = 0, 12, 24, 36, 48).
    let both = post(
        &app,
        "/v1/memories/f/search",
        json!({"vector": [0.0, 1.0], "k": 50, "filter": {"user": "alice", "year": 2020}}),
    )
    .await;
    assert_eq!(both.status, StatusCode::OK, "{}", both.text);
    let mut notes: Vec<String> = both.json["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|h| h["content"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    notes.sort();
    assert_eq!(
        notes,
        [0, 12, 24, 36, 48].map(|i| format!("rain once, note {i}")),
        "{}",
        both.text
    );
    // Bad filters get clear errors.
    for (filter, field) in [
        (json!({"user": ["alice"]}), "filter[\"user\"]"),
        (json!({"user": {"any": ["alice"]}}), "filter[\"user\"]"),
        (json!({"user": {"in": []}}), "filter[\"user\"]"),
    ] {
        let bad = post(
            &app,
            "/v1/memories/f/search",
            json!({"text": "rain", "filter": filter}),
        )
        .await;
        assert_eq!(
            bad.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{filter}: {}",
            bad.text
        );
        assert_eq!(bad.json["error"]["field"], field, "{filter}: {}", bad.text);
    }
    // A scan keeps to the filter's concepts too, page by page in id order (alice's 10, 4 a
    // page), with a prefix if asked.
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let page = get(
            &app,
            &format!(
                "/v1/memories/f/concepts?limit=4&filter=%7B%22user%22%3A%22alice%22%7D{after}"
            ),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for c in page.json["concepts"].as_array().expect("concepts") {
            assert_eq!(c["metadata"]["user"], "alice", "{}", page.text);
            seen.push(c["id"].as_str().expect("id").to_string());
        }
        match page.json["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    assert!(seen.is_sorted(), "in id order");
    let prefixed = get(
        &app,
        "/v1/memories/f/concepts?prefix=rain%20once%2C%20note%201&filter=%7B%22user%22%3A%22alice%22%7D",
    )
    .await;
    let mut notes: Vec<&str> = prefixed.json["concepts"]
        .as_array()
        .expect("concepts")
        .iter()
        .filter_map(|c| c["content"].as_str())
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        ["rain once, note 12", "rain once, note 18"],
        "{}",
        prefixed.text
    );
    let bad = get(&app, "/v1/memories/f/concepts?filter=alice").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert_eq!(bad.json["error"]["field"], "filter", "{}", bad.text);
}
