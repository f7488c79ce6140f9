//! Vector search, by vector and by concept.

use super::*;

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
    // The search effort, per query: the same answers here (three vectors), and its limits
    // enforced with the field named, on both ways in.
    let effort = post(
        &app,
        "/v1/memories/v/search",
        json!({"vector": [1.0, 0.0, 0.0], "k": 2, "ef": 64}),
    )
    .await;
    assert_eq!(effort.json["hits"], hits.json["hits"]);
    let big_ef = post(
        &app,
        "/v1/memories/v/search",
        json!({"vector": [1.0, 0.0, 0.0], "ef": 5000}),
    )
    .await;
    assert_eq!(
        (big_ef.status, big_ef.message()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "ef is too large: 5000 exceeds the limit of 4096"
        )
    );
    assert_eq!(big_ef.json["error"]["limit"], 4096);
    let zero_ef = get(&app, &format!("/v1/memories/v/concepts/{x}/similar?ef=0")).await;
    assert_eq!(
        (
            zero_ef.status,
            zero_ef.code(),
            zero_ef.json["error"]["field"].as_str()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_argument",
            Some("ef")
        )
    );
    let similar_ef = get(
        &app,
        &format!("/v1/memories/v/concepts/{x}/similar?k=5&ef=32"),
    )
    .await;
    assert_eq!(similar_ef.json["hits"], similar.json["hits"]);
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
