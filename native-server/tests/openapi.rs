//! The OpenAPI document and the server agree: every documented operation, sent with its
//! example to a fresh server, answers with a status the document lists for it and a body that
//! its schema for that status accepts — strictly: a field the schema does not name fails, as
//! does a missing or mistyped one. The same operations sent to a memory that does not exist
//! answer a documented error whose body matches the error schema. Every request example
//! matches its own body schema.

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use common::*;
use serde_json::{json, Map, Value};

fn fill(text: &str, memory: &str, a: &str, b: &str) -> String {
    text.replace("{name}", memory)
        .replace("{id2}", b)
        .replace("{id}", a)
        .replace("{source}", a)
        .replace("{target}", b)
        .replace("{kind}", "causal")
        .replace("{member}", "2")
}

/// The document's components made strict, for checking answers: an object schema accepts no
/// property it does not name (`additionalProperties: false`; `unevaluatedProperties: false`
/// where it is made of `allOf` parts, and not on the parts, which see only their own fields).
fn strict_components(doc: &Value) -> Value {
    let mut components = doc["components"].clone();
    let schemas = components["schemas"]
        .as_object_mut()
        .expect("components.schemas");
    let mut parts = Vec::new();
    for schema in schemas.values() {
        for part in schema["allOf"].as_array().into_iter().flatten() {
            if let Some(name) = part["$ref"].as_str() {
                parts.push(name.trim_start_matches("#/components/schemas/").to_string());
            }
        }
    }
    fn close(schema: &mut Value) {
        let Some(object) = schema.as_object_mut() else {
            return;
        };
        if object.contains_key("properties") && !object.contains_key("additionalProperties") {
            object.insert("additionalProperties".into(), json!(false));
        }
        for key in ["oneOf", "anyOf"] {
            for item in object
                .get_mut(key)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                close(item);
            }
        }
        if object.contains_key("allOf") {
            object.insert("unevaluatedProperties".into(), json!(false));
        }
    }
    for (name, schema) in schemas.iter_mut() {
        if !parts.contains(name) {
            close(schema);
        }
    }
    components
}

/// The schema of `content` (a media type object of the document), standing alone.
fn standalone(content: &Value, components: &Value) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [content["schema"]],
        "components": components,
    })
}

/// Problems of `instance` against `schema`, as text (empty when it matches).
fn problems(schema: &Value, instance: &Value) -> Vec<String> {
    const AT: &str = "file:///sutra/check.json";
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    compiler
        .add_resource(AT, schema.clone())
        .expect("the schema loads");
    let index = compiler
        .compile(AT, &mut schemas)
        .expect("the schema compiles");
    match schemas.validate(instance, index) {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!("{e}")],
    }
}

/// A fresh server with memory `api` (dimension 3), two concepts with embeddings and an
/// association between them; the two ids.
async fn prepared() -> (TestApp, String, String) {
    let app = app();
    memory(&app, "api", Some(3)).await;
    let a = concept(
        &app,
        "api",
        json!({"content": "a", "embedding": [1.0, 0.0, 0.0], "metadata": {"source": "test"}}),
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
    (app, a, b)
}

/// The request for `operation` at `path` on memory `memory`.
fn request(
    path: &str,
    method: &str,
    operation: &Value,
    memory: &str,
    a: &str,
    b: &str,
) -> Request<Body> {
    let uri = fill(path, memory, a, b);
    let mut builder = Request::builder()
        .method(method.to_uppercase().parse::<Method>().expect("method"))
        .uri(&uri);
    let body = match operation.pointer("/requestBody/content/application~1json/example") {
        Some(example) => {
            builder = builder.header("content-type", "application/json");
            let filled: Value =
                serde_json::from_str(&fill(&example.to_string(), memory, a, b)).expect("example");
            let filled = if path == "/v1/memories" {
                json!({"name": "another", "dimension": 3})
            } else {
                filled
            };
            Body::from(filled.to_string())
        }
        None if path.ends_with("/import") => {
            builder = builder.header("content-type", "application/x-ndjson");
            Body::from(
                "{\"type\":\"memory\",\"format\":1,\"dimension\":3}\n{\"type\":\"concept\",\"content\":\"c\"}\n{\"type\":\"concept\",\"content\":\"\\u0000\",\"strength\":-1}\n",
            )
        }
        None => Body::empty(),
    };
    builder.body(body).expect("request")
}

/// Checks an answer against what the document says of its status: listed, and (for JSON
/// answers) a body its schema accepts.
fn check_answer(
    what: &str,
    operation: &Value,
    components: &Value,
    answer: &Answer,
) -> Result<(), String> {
    let documented = operation["responses"].as_object().expect("responses");
    let response = documented
        .get(answer.status.as_str())
        .map(|r| match r["$ref"].as_str() {
            Some(named) => {
                let name = named.trim_start_matches("#/components/responses/");
                &components["responses"][name]
            }
            None => r,
        });
    let Some(response) = response else {
        return Err(format!(
            "{what}: status {} is not documented ({:?}); body {}",
            answer.status,
            documented.keys().collect::<Vec<_>>(),
            answer.text
        ));
    };
    let content = response["content"].as_object().expect("content");
    let served = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some((media, schema)) = content.iter().find(|(media, _)| served.starts_with(*media)) else {
        return Err(format!(
            "{what}: content type {served:?} is not documented ({:?})",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if media == "application/json" {
        let found = problems(&standalone(schema, components), &answer.json);
        if !found.is_empty() {
            return Err(format!(
                "{what}: the body does not match its schema: {found:?}\nbody: {}",
                answer.text
            ));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_answers_a_documented_status_and_body() {
    let doc = sutra_server::http::openapi::document();
    let components = strict_components(&doc);
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    let mut errors_checked = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let what = format!("{} {path}", method.to_uppercase());
            // The example matches its own schema (non-strict: the document as served).
            if let Some(content) = operation.pointer("/requestBody/content/application~1json") {
                let example = &content["example"];
                assert!(!example.is_null(), "{what}: a JSON body without an example");
                let found = problems(&standalone(content, &doc["components"]), example);
                assert!(found.is_empty(), "{what}: its example: {found:?}");
            }
            let (app, a, b) = prepared().await;
            let answer = send(&app, request(path, method, operation, "api", &a, &b)).await;
            if let Err(problem) = check_answer(&what, operation, &components, &answer) {
                panic!("{problem}");
            }
            if path.starts_with("/v1/cluster/") {
                // Membership changes are a cluster's (tests/cluster.rs makes them on real
                // nodes); a single server refuses them, as documented.
                assert_eq!(answer.status.as_u16(), 409, "{what}: {}", answer.text);
                assert_eq!(answer.json["error"]["code"], "not_a_cluster", "{what}");
                checked += 1;
                continue;
            }
            assert!(
                answer.status.is_success(),
                "{what}: the documented example failed: {}",
                answer.text
            );
            checked += 1;
            if path.contains("{name}") {
                let answer = send(&app, request(path, method, operation, "nope", &a, &b)).await;
                assert_eq!(answer.status.as_u16(), 404, "{what} on no memory");
                assert_eq!(answer.json["error"]["code"], "memory_not_found", "{what}");
                if let Err(problem) = check_answer(&what, operation, &components, &answer) {
                    panic!("{problem}");
                }
                errors_checked += 1;
            }
        }
    }
    assert_eq!(checked, 31, "operations checked");
    assert_eq!(errors_checked, 21, "error answers checked");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_the_schema_does_not_describe_fails_the_check() {
    // The check itself can fail: an answer with a field too many, one missing, or one of the
    // wrong type is refused.
    let doc = sutra_server::http::openapi::document();
    let components = strict_components(&doc);
    let written = json!({"schema": {"$ref": "#/components/schemas/ConceptWritten"}});
    let schema = standalone(&written, &components);
    let id = "0123456789abcdef0123456789abcdef";
    assert!(problems(&schema, &json!({"id": id, "seq": 3})).is_empty());
    assert!(!problems(&schema, &json!({"id": id, "seq": 3, "extra": 1})).is_empty());
    assert!(!problems(&schema, &json!({"id": id})).is_empty());
    assert!(!problems(&schema, &json!({"id": id, "seq": "3"})).is_empty());
    let stats = json!({"schema": {"$ref": "#/components/schemas/MemoryStatsAnswer"}});
    let app = app();
    memory(&app, "api", None).await;
    let served = get(&app, "/v1/memories/api").await;
    let schema = standalone(&stats, &components);
    assert!(problems(&schema, &served.json).is_empty());
    let mut extra: Map<String, Value> = served.json.as_object().expect("stats").clone();
    extra.insert("surprise".into(), json!(true));
    assert!(!problems(&schema, &Value::Object(extra)).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_enums_of_the_document_are_the_ones_the_server_reads() {
    // Kinds, operation names, path algorithms and directions are written once in the code;
    // the document's lists are checked against what the server accepts.
    let doc = sutra_server::http::openapi::document();
    let schemas = &doc["components"]["schemas"];
    let names = |schema: &str| -> Vec<String> {
        schemas[schema]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} is an enum"))
            .iter()
            .map(|v| v.as_str().expect("a name").to_string())
            .collect()
    };
    let kinds: Vec<String> = sutra_core::Kind::ALL
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    assert_eq!(names("Kind"), kinds);
    let (app, a, b) = prepared().await;
    let z = concept(&app, "api", json!({"content": "z"})).await;
    for op in names("OpName") {
        let body = match op.as_str() {
            "put_concept" => json!({"op": op, "content": "y"}),
            "delete_concept" => json!({"op": op, "id": z}),
            "put_association" | "delete_association" => {
                json!({"op": op, "source": a, "target": b, "kind": "semantic", "label": "l"})
            }
            "invalidate_association" => {
                json!({"op": op, "source": a, "target": b, "kind": "causal", "valid_until_ms": 5})
            }
            "index_metadata" => json!({"op": op, "keys": ["source"]}),
            other => panic!("an operation the test does not know: {other}"),
        };
        let answer = post(&app, "/v1/memories/api/batch", json!({"ops": [body]})).await;
        assert!(answer.status.is_success(), "{op}: {}", answer.text);
    }
    for algorithm in names("PathAlgorithm") {
        for direction in names("PathDirection") {
            let answer = post(
                &app,
                "/v1/memories/api/paths",
                json!({"from": b, "to": b, "algorithm": algorithm, "direction": direction}),
            )
            .await;
            assert!(answer.status.is_success(), "{algorithm}: {}", answer.text);
            assert_eq!(answer.json["algorithm"], algorithm.as_str());
        }
    }
    let mut codes: Vec<&str> = sutra_core::Error::CODES
        .iter()
        .chain(sutra_server::http::error::SERVER_CODES.iter())
        .copied()
        .collect();
    codes.sort_unstable();
    assert_eq!(names("ErrorCode"), codes);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_served() {
    let app = app();
    let served = get(&app, "/v1/openapi.json").await;
    assert_eq!(served.json, sutra_server::http::openapi::document());
    assert_eq!(served.json["openapi"], "3.1.0");
}

#[test]
fn the_checked_in_document_is_the_servers() {
    // docs/openapi.json is what clients generate their types from (the JS package's and the
    // control center's wasm/js/api.ts, by `npm run api-types`); it must be the document the
    // server serves. SUTRA_UPDATE_OPENAPI=1 rewrites it.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let current = serde_json::to_string_pretty(&sutra_server::http::openapi::document())
        .expect("the document serializes")
        + "\n";
    if std::env::var_os("SUTRA_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).expect("docs/openapi.json is writable");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "docs/openapi.json is not the server's document: run \
         `SUTRA_UPDATE_OPENAPI=1 cargo test -p sutra-server --test openapi` and then \
         `npm run api-types`, and commit both"
    );
}
