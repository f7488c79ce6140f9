//! Batches: all or nothing.

use super::*;

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
