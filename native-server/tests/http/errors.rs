//! Bad requests, full queues and storage failures: clear errors, and the server keeps serving.

use super::*;

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
    // Worded for people, the same as the browser build and an import say it: what was
    // expected, what was given, where — no Rust type names, no serde phrasing.
    assert_eq!(
        broken.message(),
        "invalid request body: not valid JSON: it ends before the value is complete (at column 12)"
    );
    let wrong_type = put(&app, "/v1/memories/m/concepts", json!({"content": 42})).await;
    assert_eq!(
        (wrong_type.status, wrong_type.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_json")
    );
    assert_eq!(
        wrong_type.message(),
        "invalid content: expected a string, got 42"
    );
    let wrong_number = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "x", "confidence": "high"}),
    )
    .await;
    assert_eq!(
        wrong_number.message(),
        "invalid confidence: expected a number, got the text \"high\""
    );
    let unknown_field = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "x", "colour": "red"}),
    )
    .await;
    assert!(
        unknown_field
            .message()
            .starts_with("invalid request body: colour is not a field here (its fields: "),
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
            "invalid confidence: must be from 0 to 1, not 1.5"
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
        "invalid ops[1].confidence: must be from 0 to 1, not 1.5"
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

#[test]
fn storage_failures_map_to_503_naming_the_cause() {
    let e = sutra_server::http::error::ApiError::from(sutra_core::Error::Poisoned {
        cause: "storage error during log sync: EIO".into(),
    });
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.code, "poisoned");
    assert!(e.message.contains("log sync: EIO"));
}
