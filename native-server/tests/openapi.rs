//! The OpenAPI document and the server agree: every documented operation, sent with its
//! example to a fresh server, answers with a status the document lists for it.

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use common::*;
use serde_json::{json, Value};

fn fill(text: &str, a: &str, b: &str) -> String {
    text.replace("{name}", "api")
        .replace("{id2}", b)
        .replace("{id}", a)
        .replace("{source}", a)
        .replace("{target}", b)
        .replace("{kind}", "causal")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_answers_a_documented_status() {
    let doc = sutra_server::http::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let app = app();
            memory(&app, "api", Some(3)).await;
            let a = concept(
                &app,
                "api",
                json!({"content": "a", "embedding": [1.0, 0.0, 0.0]}),
            )
            .await;
            let b = concept(
                &app,
                "api",
                json!({"content": "b", "embedding": [0.0, 1.0, 0.0]}),
            )
            .await;
            put(
                &app,
                "/v1/memories/api/associations",
                json!({"source": a, "target": b, "kind": "causal"}),
            )
            .await;
            let uri = fill(path, &a, &b);
            let mut builder = Request::builder()
                .method(method.to_uppercase().parse::<Method>().expect("method"))
                .uri(&uri);
            let body = match operation.pointer("/requestBody/content/application~1json/example") {
                Some(example) => {
                    builder = builder.header("content-type", "application/json");
                    let filled: Value =
                        serde_json::from_str(&fill(&example.to_string(), &a, &b)).expect("example");
                    let filled = if path == "/v1/memories" {
                        json!({"name": "another", "dimension": 3})
                    } else {
                        filled
                    };
                    Body::from(filled.to_string())
                }
                None if path.ends_with("/import") => {
                    builder = builder.header("content-type", "application/x-ndjson");
                    Body::from("{\"type\":\"memory\",\"format\":1,\"dimension\":3}\n")
                }
                None => Body::empty(),
            };
            let answer = send(&app, builder.body(body).expect("request")).await;
            let documented = operation["responses"].as_object().expect("responses");
            assert!(
                documented.contains_key(answer.status.as_str()),
                "{} {uri}: status {} is not documented ({:?}); body {}",
                method.to_uppercase(),
                answer.status,
                documented.keys().collect::<Vec<_>>(),
                answer.text
            );
            assert!(
                answer.status.is_success(),
                "{} {uri}: the documented example failed: {}",
                method.to_uppercase(),
                answer.text
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 25, "operations checked");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_served() {
    let app = app();
    let served = get(&app, "/v1/openapi.json").await;
    assert_eq!(served.json, sutra_server::http::openapi::document());
    assert_eq!(served.json["openapi"], "3.1.0");
}
