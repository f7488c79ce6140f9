//! Checkpoints, metrics, background maintenance, the control center page.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn checkpoint_and_metrics() {
    let app = app();
    memory(&app, "c", None).await;
    concept(&app, "c", json!({"content": "one"})).await;
    let cp = post(&app, "/v1/memories/c/checkpoint", json!({})).await;
    assert_eq!(cp.status, StatusCode::OK, "{}", cp.text);
    assert_eq!(cp.json["seq"], 1);
    assert_eq!(cp.json["written"], true);
    assert!(cp.json["snapshot_bytes"].as_u64().unwrap_or(0) > 0);
    // Nothing new since: kept, and said so.
    let again = post(&app, "/v1/memories/c/checkpoint", json!({})).await;
    assert_eq!(
        (
            &again.json["seq"],
            &again.json["written"],
            &again.json["log_bytes_dropped"]
        ),
        (&json!(1), &json!(false), &json!(0))
    );
    assert_eq!(again.json["snapshot_bytes"], cp.json["snapshot_bytes"]);
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
            .join(sutra_server::files::storage::SNAPSHOT_FILE),
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
