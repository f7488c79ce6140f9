//! Concepts: every field round trip, scans and prefixes.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn concepts_round_trip_every_field() {
    let app = app();
    memory(&app, "m", None).await;
    let body = json!({"content": "rain", "embedding": [0.5, 0.25, 1.0], "strength": 2.5, "confidence": 0.75, "metadata": {"source": "notes", "lang": "en", "year": 2024, "score": 0.5, "reviewed": false, "tags": ["weather", "water"]}});
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
        json!({"lang": "en", "reviewed": false, "score": 0.5, "source": "notes", "tags": ["weather", "water"], "year": 2024})
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
