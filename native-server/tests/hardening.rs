//! What an attacker or an unlucky client can send, through the real router: requests from
//! other web pages and other host names, errors in the API's format for every status, limits
//! checked while a body is read, imports with the API's defaults and errors that name the
//! line, field and key, and the query pool's admission control, deadline and cancellation.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use sutra_server::memories::queries::QueryConfig;
use sutra_server::memories::writer::WriterConfig;

fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("request")
}

/// A page the user visits cannot write, read, or trigger anything: a `text/plain` import (sent
/// by browsers without asking first), any request from a foreign origin, and any request for
/// a foreign host name (DNS rebinding) are refused; the server's own pages and the allowed
/// origins are not.
#[tokio::test(flavor = "multi_thread")]
async fn other_web_pages_and_host_names_are_refused() {
    let app = app_with(WriterConfig::default(), None, &["http://localhost:5173"]);
    memory(&app, "m", None).await;
    concept(&app, "m", json!({"content": "secret"})).await;
    let line = r#"{"type":"concept","content":"planted"}"#;

    let plain = send(
        &app,
        request(
            Method::POST,
            "/v1/memories/m/import",
            &[("content-type", "text/plain")],
            line,
        ),
    )
    .await;
    assert_eq!(
        (plain.status, plain.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let form = send(
        &app,
        request(
            Method::POST,
            "/v1/memories/m/concepts",
            &[("content-type", "application/x-www-form-urlencoded")],
            "content=planted",
        ),
    )
    .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let foreign = [
        ("host", "127.0.0.1:7878"),
        ("origin", "http://attacker.example"),
    ];
    for (method, uri, body) in [
        (Method::POST, "/v1/memories/m/import", line),
        (
            Method::PUT,
            "/v1/memories/m/concepts",
            r#"{"content":"planted"}"#,
        ),
        (Method::POST, "/v1/memories/m/checkpoint", ""),
        (Method::GET, "/v1/memories/m/export", ""),
        (Method::DELETE, "/v1/memories/m", ""),
    ] {
        let mut headers = foreign.to_vec();
        let json_type = if uri.ends_with("import") {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        headers.push(("content-type", json_type));
        let refused = send(&app, request(method.clone(), uri, &headers, body)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::FORBIDDEN, "origin_not_allowed"),
            "{method} {uri}"
        );
    }
    let rebinding = send(
        &app,
        request(
            Method::GET,
            "/v1/memories/m/export",
            &[("host", "attacker.example")],
            "",
        ),
    )
    .await;
    assert_eq!(
        (rebinding.status, rebinding.code()),
        (StatusCode::FORBIDDEN, "host_not_allowed")
    );
    assert!(!rebinding.text.contains("secret"));
    let rebinding_port = send(
        &app,
        request(
            Method::GET,
            "/v1/memories",
            &[("host", "attacker.example:7878")],
            "",
        ),
    )
    .await;
    assert_eq!(rebinding_port.status, StatusCode::FORBIDDEN);

    // Nothing was planted, and the memory is whole.
    let page = get(&app, "/v1/memories/m/concepts").await;
    let contents: Vec<&str> = page.json["concepts"]
        .as_array()
        .expect("concepts")
        .iter()
        .filter_map(|c| c["content"].as_str())
        .collect();
    assert_eq!(contents, ["secret"]);

    // The server's own page (same origin), an allowed origin, and clients without Origin pass.
    for headers in [
        vec![
            ("host", "127.0.0.1:7878"),
            ("origin", "http://127.0.0.1:7878"),
        ],
        vec![
            ("host", "localhost:7878"),
            ("origin", "http://localhost:7878"),
        ],
        vec![
            ("host", "127.0.0.1:7878"),
            ("origin", "http://localhost:5173"),
        ],
        vec![("host", "localhost:7878")],
    ] {
        let mut with_type = headers.clone();
        with_type.push(("content-type", "application/json"));
        let ok = send(
            &app,
            request(
                Method::PUT,
                "/v1/memories/m/concepts",
                &with_type,
                r#"{"content":"fine"}"#,
            ),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{headers:?}: {}", ok.text);
    }
}

/// Every error is `{"error": {"code", "message"}}`: unknown methods (405), paths that are not
/// UTF-8, heads over their limits (414, 431), an import over its size (413).
#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_in_the_api_format() {
    let app = app();
    memory(&app, "m", None).await;
    let method = send(
        &app,
        request(Method::PATCH, "/v1/memories/m/concepts", &[], ""),
    )
    .await;
    assert_eq!(
        (method.status, method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    assert!(method.message().contains("PATCH"), "{}", method.message());
    let method = send(&app, request(Method::DELETE, "/v1/memories", &[], "")).await;
    assert_eq!(method.code(), "method_not_allowed");

    let not_utf8 = send(
        &app,
        request(Method::GET, "/v1/memories/%FF%FE/concepts", &[], ""),
    )
    .await;
    assert_eq!(
        (not_utf8.status, not_utf8.code()),
        (StatusCode::BAD_REQUEST, "invalid_path")
    );
    let not_utf8 = send(
        &app,
        request(Method::GET, "/v1/memories/m/concepts/%C3%28", &[], ""),
    )
    .await;
    assert_eq!(not_utf8.code(), "invalid_path");

    let long = format!("/v1/memories/m/concepts?prefix={}", "a".repeat(9000));
    let long = send(&app, request(Method::GET, &long, &[], "")).await;
    assert_eq!(
        (long.status, long.code()),
        (StatusCode::URI_TOO_LONG, "uri_too_long")
    );
    let many: Vec<(String, String)> = (0..150)
        .map(|i| (format!("x-h{i}"), "v".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let many = send(&app, request(Method::GET, "/v1/health", &many, "")).await;
    assert_eq!(
        (many.status, many.code()),
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large"
        )
    );
    let big = "v".repeat(70 * 1024);
    let big = send(
        &app,
        request(Method::GET, "/v1/health", &[("x-big", &big)], ""),
    )
    .await;
    assert_eq!(big.code(), "headers_too_large");

    let declared = (sutra_server::http::api::IMPORT_BODY_BYTES_MAX + 1).to_string();
    let too_big = send(
        &app,
        request(
            Method::POST,
            "/v1/memories/m/import",
            &[
                ("content-type", "application/x-ndjson"),
                ("content-length", &declared),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(
        (too_big.status, too_big.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert!(
        too_big
            .message()
            .contains(&sutra_server::http::api::IMPORT_BODY_BYTES_MAX.to_string()),
        "{}",
        too_big.message()
    );
    alive(&app).await;
}

/// A batch of a million operations and a metadata map of 500,000 entries are refused with
/// their real counts, by reading only as many as the limit (the rest are counted, not kept).
#[tokio::test(flavor = "multi_thread")]
async fn limits_on_counts_are_checked_while_reading() {
    let app = app();
    memory(&app, "m", None).await;
    let op = r#"{"op":"delete_concept"}"#;
    let mut body = String::from(r#"{"ops":["#);
    for i in 0..1_000_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(op);
    }
    body.push_str("]}");
    assert!(body.len() < sutra_server::http::api::BODY_BYTES_MAX);
    let refused = send(
        &app,
        request(
            Method::POST,
            "/v1/memories/m/batch",
            &[("content-type", "application/json")],
            body,
        ),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert_eq!(
        refused.message(),
        "ops (operations in a batch) is too large: 1000000 exceeds the limit of 10000"
    );

    let mut meta = String::from(r#"{"content":"x","metadata":{"#);
    for i in 0..500_000 {
        if i > 0 {
            meta.push(',');
        }
        meta.push_str(&format!("\"k{i}\":\"v\""));
    }
    meta.push_str("}}");
    let refused = send(
        &app,
        request(
            Method::PUT,
            "/v1/memories/m/concepts",
            &[("content-type", "application/json")],
            meta,
        ),
    )
    .await;
    assert_eq!(refused.code(), "limit_exceeded");
    assert_eq!(
        refused.message(),
        "metadata (entries) is too large: 500000 exceeds the limit of 64"
    );
    let wide = json!({"content": "x", "embedding": vec![0.5; 5000]});
    let refused = put(&app, "/v1/memories/m/concepts", wide).await;
    assert_eq!(
        refused.message(),
        "embedding (dimension) is too large: 5000 exceeds the limit of 4096"
    );
    let not_a_value = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "x", "metadata": {"owner": {"name": "Ada"}}}),
    )
    .await;
    assert_eq!(not_a_value.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        not_a_value.message(),
        "invalid metadata[\"owner\"]: expected a string, a number, a boolean or a list of strings, got an object"
    );
    let long_list = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "x", "metadata": {"tags": vec!["t"; 1025]}}),
    )
    .await;
    assert_eq!(long_list.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        long_list
            .message()
            .contains("metadata[\"tags\"]: a list of more than 1024 items"),
        "{}",
        long_list.message()
    );
    let big_list = put(
        &app,
        "/v1/memories/m/concepts",
        json!({"content": "x", "metadata": {"tags": vec!["x".repeat(100); 100]}}),
    )
    .await;
    assert_eq!(
        big_list.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        big_list.text
    );
    assert_eq!(
        big_list.message(),
        "metadata[\"tags\"] (bytes) is too large: 10100 exceeds the limit of 8192"
    );
}

/// An import takes what `PUT /concepts` takes (the same defaults), and a rejected line names
/// its number, the field, and a metadata value's key.
#[tokio::test(flavor = "multi_thread")]
async fn imports_have_the_apis_defaults_and_name_line_field_and_key() {
    let app = app();
    memory(&app, "m", None).await;
    let a = sutra_core::ConceptId::from_content("rain").to_string();
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        r#"{"type":"concept","content":"rain"}"#,
        r#"{"type":"concept","content":"snow","metadata":{"src":"x","owner":{"name":"Ada"}}}"#,
        format_args!(r#"{{"type":"association","source":"{a}","target":"{a}","kind":"causal"}}"#),
        r#"{"type":"concept","content":"hail","confidence":1.5}"#,
        r#"{"type":"concept","content":"sleet","colour":"grey"}"#,
    );
    let started = sutra_server::http::api::now_ms();
    let imported = raw(
        &app,
        Method::POST,
        "/v1/memories/m/import",
        Some("application/x-ndjson"),
        text,
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    assert_eq!(
        (
            imported.json["concepts"].as_u64(),
            imported.json["associations"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let rejected = imported.json["rejected"].as_array().expect("rejected");
    let reasons: Vec<(u64, &str)> = rejected
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or(0),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 2);
    assert_eq!(
        reasons[0].1,
        "metadata[\"owner\"]: expected a string, a number, a boolean or a list of strings, got an object"
    );
    assert_eq!(
        reasons[1],
        (4, "invalid confidence: must be from 0 to 1, not 1.5")
    );
    assert_eq!(reasons[2].0, 5);
    assert!(reasons[2].1.contains("colour"), "{}", reasons[2].1);
    let rain = get(&app, &format!("/v1/memories/m/concepts/{a}")).await;
    assert_eq!(
        (
            rain.json["strength"].as_f64(),
            rain.json["confidence"].as_f64()
        ),
        (Some(1.0), Some(1.0))
    );
    let updated = rain.json["updated_ms"].as_u64().expect("updated");
    assert!(
        updated >= started && updated <= sutra_server::http::api::now_ms(),
        "stamped at the import"
    );
    assert_eq!(rain.json["created_ms"], rain.json["updated_ms"]);
}

/// Builds a graph where a k-best search over both directions takes long: `n` concepts with
/// `degree` random links each.
async fn slow_graph(app: &TestApp, name: &str, n: usize, degree: usize) -> (String, String) {
    memory(app, name, None).await;
    let ids: Vec<String> = (0..n)
        .map(|i| sutra_core::ConceptId::from_content(&format!("n{i}")).to_string())
        .collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"op": "put_concept", "content": format!("n{i}")}))
            .collect();
        assert_eq!(
            post(
                app,
                &format!("/v1/memories/{name}/batch"),
                json!({ "ops": ops })
            )
            .await
            .status,
            StatusCode::OK
        );
    }
    let mut rng = sutra_core::sim::Rng::new(9);
    let mut links = Vec::new();
    for i in 0..n {
        for _ in 0..degree {
            let j = rng.below(n as u64) as usize;
            links.push(json!({"op": "put_association", "source": ids[i], "target": ids[j], "kind": "causal", "confidence": 0.5 + rng.unit_f32() / 2.0}));
        }
    }
    for chunk in links.chunks(5000) {
        assert_eq!(
            post(
                app,
                &format!("/v1/memories/{name}/batch"),
                json!({ "ops": chunk })
            )
            .await
            .status,
            StatusCode::OK
        );
    }
    (ids[0].clone(), ids[1].clone())
}

fn expensive(from: &str, to: &str) -> Value {
    json!({"from": from, "to": to, "algorithm": "k_best", "k": 10, "direction": "both", "max_depth": 16, "visited_max": 2_000_000})
}

/// A full query pool answers 503 + Retry-After at once; a query past its time limit is
/// stopped and answered `query_timeout`; a query whose client went away is stopped, so the
/// pool is free again at once; meanwhile health, cheap reads and writes are answered.
#[tokio::test(flavor = "multi_thread")]
async fn queries_are_admitted_bounded_in_time_and_stopped_when_abandoned() {
    let app = app_on(
        WriterConfig::default(),
        None,
        &[],
        QueryConfig {
            threads: 1,
            queue_max: 0,
            timeout: Duration::from_millis(700),
        },
    );
    let (from, to) = slow_graph(&app, "g", 20_000, 5).await;
    let paths = "/v1/memories/g/paths";

    // Past the deadline: stopped, with a clear error, in about the deadline.
    let started = Instant::now();
    let late = post(&app, paths, expensive(&from, &to)).await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "query_timeout")
    );
    assert!(late.message().contains("700 ms"), "{}", late.message());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // One thread busy and no queue: the next query is refused at once, and other requests go on.
    // (First wait for the thread to be done with the query stopped above.)
    let started = Instant::now();
    while post(&app, paths, json!({"from": from, "to": to}))
        .await
        .status
        != StatusCode::OK
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the stopped query kept its thread"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The expensive query takes the thread. (The thread that answered the cheap query above may
    // be a moment from free on a loaded machine: then the expensive one is refused as busy,
    // and is sent again.)
    let mut admitted = None;
    for _ in 0..50 {
        let busy_app = app.router.clone();
        let body = expensive(&from, &to).to_string();
        let task = tokio::spawn(async move {
            tower::ServiceExt::oneshot(
                busy_app,
                request(
                    Method::POST,
                    "/v1/memories/g/paths",
                    &[("content-type", "application/json")],
                    body,
                ),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !task.is_finished() {
            admitted = Some(task);
            break;
        }
        let answer = task.await.expect("join").expect("infallible router");
        assert_eq!(
            answer.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "an expensive query ended within 100 ms otherwise than refused"
        );
    }
    let running = admitted.expect("the expensive query was admitted");
    let started = Instant::now();
    let refused = post(&app, paths, json!({"from": from, "to": to})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    );
    assert_eq!(refused.headers["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "refused at once: {:?}",
        started.elapsed()
    );
    alive(&app).await;
    assert_eq!(
        get(&app, &format!("/v1/memories/g/concepts/{from}"))
            .await
            .status,
        StatusCode::OK
    );
    concept(
        &app,
        "g",
        json!({"content": "written while the pool is busy"}),
    )
    .await;

    // The client goes away: its query stops, and the pool takes the next one right after.
    running.abort();
    let _ = running.await;
    let started = Instant::now();
    loop {
        let next = post(&app, paths, json!({"from": from, "to": to})).await;
        if next.status == StatusCode::OK {
            break;
        }
        assert_eq!(next.code(), "busy");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "the abandoned query was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Imports running at once are bounded: past the limit an import is answered 503 with
/// Retry-After at once, and taken again once one ends.
#[tokio::test(flavor = "multi_thread")]
async fn imports_running_at_once_are_bounded() {
    let app = app();
    memory(&app, "m", None).await;
    let mut feeds = Vec::new();
    let mut running = Vec::new();
    for _ in 0..sutra_server::http::api::IMPORTS_MAX {
        let (feed, body) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(1);
        let mut body = body;
        let stream = futures_util::stream::poll_fn(move |cx| body.poll_recv(cx));
        feed.send(Ok("{\"type\":\"concept\",\"content\":\"slow\"}\n".into()))
            .await
            .expect("feed");
        let router = app.router.clone();
        running.push(tokio::spawn(async move {
            tower::ServiceExt::oneshot(
                router,
                request(
                    Method::POST,
                    "/v1/memories/m/import",
                    &[("content-type", "application/x-ndjson")],
                    Body::from_stream(stream),
                ),
            )
            .await
        }));
        feeds.push(feed);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let line = "{\"type\":\"concept\",\"content\":\"third\"}\n";
    let third = raw(
        &app,
        Method::POST,
        "/v1/memories/m/import",
        Some("application/x-ndjson"),
        line,
    )
    .await;
    assert_eq!(
        (third.status, third.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    );
    assert_eq!(third.headers["retry-after"], "1");
    drop(feeds);
    for r in running {
        let response = r.await.expect("join").expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let again = raw(
        &app,
        Method::POST,
        "/v1/memories/m/import",
        Some("application/x-ndjson"),
        line,
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
}

/// An error about a field names it, and one about a limit gives the limit, beside the message:
/// a client shows the error next to its input without reading the message.
#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_their_field_and_limit() {
    let app = app();
    memory(&app, "m", Some(3)).await;
    let cases = [
        (
            json!({"content": "c", "confidence": 1.5}),
            Some("confidence"),
            None,
        ),
        (
            json!({"content": "x".repeat(300_000)}),
            Some("content"),
            Some(262_144),
        ),
        (
            json!({"content": "v", "embedding": [1.0, 2.0]}),
            Some("embedding"),
            Some(3),
        ),
        (json!({"content": 42}), Some("content"), None),
        (json!({"id": "nope", "content": "c"}), Some("id"), None),
    ];
    for (body, field, limit) in cases {
        let answer = put(&app, "/v1/memories/m/concepts", body).await;
        assert_eq!(
            answer.json["error"]["field"].as_str(),
            field,
            "{}",
            answer.text
        );
        assert_eq!(
            answer.json["error"]["limit"].as_u64(),
            limit,
            "{}",
            answer.text
        );
    }
    let batch = post(
        &app,
        "/v1/memories/m/batch",
        json!({"ops": [{"op": "put_concept", "content": "ok"}, {"op": "put_concept", "content": "c", "metadata": {"k": null}}]}),
    )
    .await;
    assert_eq!(
        batch.json["error"]["field"], "ops[1].metadata.k",
        "{}",
        batch.text
    );
    let bad_name = post(&app, "/v1/memories", json!({"name": "Bad Name"})).await;
    assert_eq!(bad_name.json["error"]["field"], "name");
    let fine = get(&app, "/v1/memories/nothing").await;
    assert!(fine.json["error"].get("field").is_none(), "{}", fine.text);
}
