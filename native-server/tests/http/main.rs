//! Every endpoint, and every class of bad input: the right status, code and message, and the
//! server keeps serving.

#[path = "../common/mod.rs"]
mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use sutra_core::ConceptId;
use sutra_server::memories::writer::WriterConfig;

mod access;
mod associations;
mod batches;
mod concepts;
mod errors;
mod exchange;
mod memories;
mod operations;
mod text;
mod vectors;

/// Memory `g` with a small graph: a → b → c (causal, 0.9 each), a → c (semantic, 0.2),
/// c → d (temporal, 0.5). Returns the ids of a, b, c, d.
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
