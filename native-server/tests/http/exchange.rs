//! Export and import (JSON Lines).

use super::*;

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
