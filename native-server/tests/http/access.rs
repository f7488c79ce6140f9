//! Access rules: the bearer token and CORS.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_guards_everything_but_health() {
    let app = app_with(WriterConfig::default(), Some("s3cret"), &[]);
    alive(&app).await;
    let denied = get(&app, "/v1/memories").await;
    assert_eq!(
        (denied.status, denied.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::UNAUTHORIZED);
    let wrong = send(
        &app,
        axum::http::Request::get("/v1/memories")
            .header("authorization", "Bearer nope")
            .body(axum::body::Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = send(
        &app,
        axum::http::Request::get("/v1/memories")
            .header("authorization", "Bearer s3cret")
            .body(axum::body::Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(right.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_only_for_listed_origins() {
    let app = app_with(WriterConfig::default(), None, &["http://localhost:5173"]);
    let ask = |origin: &str| {
        axum::http::Request::get("/v1/memories")
            .header("origin", origin)
            .body(axum::body::Body::empty())
            .expect("req")
    };
    let allowed = send(&app, ask("http://localhost:5173")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let other = send(&app, ask("http://evil.example")).await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    let none = app_with(WriterConfig::default(), None, &[]);
    let plain = send(&none, ask("http://localhost:5173")).await;
    assert!(plain.headers.get("access-control-allow-origin").is_none());
}
