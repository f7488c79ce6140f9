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
