//! Who may ask what: the checks every request passes before a handler sees it.
//!
//! - **Host**: a request must name, in its `Host` header, the address the server listens on
//!   (`127.0.0.1:7878` and `localhost:7878` for the default) or one the operator allowed
//!   (`--allowed-host`). A web page cannot then reach the server through a name of its own
//!   that it points at 127.0.0.1 (DNS rebinding), and read what it asked for. A server on an
//!   unspecified address (`0.0.0.0`) accepts any host name unless some are configured: it
//!   needs a token, which no page has.
//! - **Origin**: a browser request from another origin than the server's own, or one allowed
//!   with `--cors-origin`, is refused: a page the user visits cannot write to the server, nor
//!   trigger a checkpoint, even with a request the browser sends without asking first (a
//!   form post, a `text/plain` body). Requests without `Origin` (curl, scripts, clients) are
//!   not browsers' cross-origin requests and pass.
//! - **Token**: with `--token`, every request to `/v1`, `/metrics` and `/mcp` but `/v1/health`
//!   needs `Authorization: Bearer`.
//! - **Size of the request head**: the target (URI) and the headers have limits of their own,
//!   answered in the API's error format (414, 431).
//!
//! Request bodies are checked for their type where they are read (JSON, or JSON Lines for an
//! import): see `api`.

use crate::http::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use std::net::SocketAddr;

/// Longest request target (path and query), in bytes.
pub const URI_BYTES_MAX: usize = 8 * 1024;
/// Largest total of a request's header names and values, in bytes.
pub const HEADER_BYTES_MAX: usize = 64 * 1024;
/// Most headers in one request.
pub const HEADERS_MAX: usize = 100;

/// The access rules of a server.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Bearer token required on every request but `/v1/health`, if set.
    pub token: Option<String>,
    /// `Host` values accepted (lowercase, with the port), or `None` for any.
    pub hosts: Option<Vec<String>>,
    /// Origins allowed besides the server's own (`--cors-origin`).
    pub origins: Vec<HeaderValue>,
}

impl Access {
    /// The rules of a server listening on `listen` (its real port, once bound): the hosts that
    /// name that address, plus `extra_hosts`; the origins in `origins`.
    pub fn new(
        listen: SocketAddr,
        token: Option<String>,
        extra_hosts: &[String],
        origins: Vec<HeaderValue>,
    ) -> Access {
        let port = listen.port();
        let ip = listen.ip();
        let mut hosts: Vec<String> = extra_hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        let named = if ip.is_unspecified() {
            None
        } else {
            let mut own = vec![match listen {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            }];
            if ip.is_loopback() {
                own.push("localhost".into());
            }
            Some(own)
        };
        let hosts = match named {
            None if hosts.is_empty() => None,
            None => Some(hosts),
            Some(own) => {
                for name in own {
                    hosts.push(format!("{name}:{port}"));
                    if port == 80 {
                        hosts.push(name);
                    }
                }
                Some(hosts)
            }
        };
        Access {
            token,
            hosts,
            origins,
        }
    }

    /// Checks a request's head; the error is the answer to send.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        check_head(uri, headers)?;
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        if let (Some(allowed), Some(host)) = (&self.hosts, host) {
            let host = String::from_utf8_lossy(host).to_ascii_lowercase();
            if !allowed.contains(&host) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "host_not_allowed",
                    format!(
                        "this server answers only requests for {} (the Host header was {:?}); start it with --allowed-host to add a name",
                        allowed.join(", "),
                        host.chars().take(100).collect::<String>()
                    ),
                ));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            // A preflight is answered by the CORS layer (for allowed origins) before this runs.
            let own = host.is_some_and(|h| {
                origin
                    .as_bytes()
                    .strip_prefix(b"http://")
                    .is_some_and(|o| o.eq_ignore_ascii_case(h))
            });
            if !own && !self.origins.iter().any(|o| o == origin) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    format!(
                        "requests from the web page at {:?} are not allowed ({method} {}); start the server with --cors-origin to allow that origin",
                        String::from_utf8_lossy(origin.as_bytes()).chars().take(100).collect::<String>(),
                        uri.path().chars().take(100).collect::<String>()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether a request to `path` carries the token, if one is needed.
    pub fn authorized(&self, path: &str, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let guarded = path.starts_with("/v1/")
            || path == "/metrics"
            || path == "/mcp"
            || path.starts_with("/mcp/");
        let open = path == "/v1/health" || !guarded;
        if open {
            return true;
        }
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| token_matches(given.as_bytes(), token.as_bytes()))
    }
}

/// Checks the sizes of the request target and headers.
fn check_head(uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > URI_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {target} bytes; the limit is {URI_BYTES_MAX}"),
        ));
    }
    if headers.len() > HEADERS_MAX {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has {} headers; the limit is {HEADERS_MAX}",
                headers.len()
            ),
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > HEADER_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's headers are {bytes} bytes; the limit is {HEADER_BYTES_MAX}"),
        ));
    }
    Ok(())
}

fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    // Constant time in the token's content.
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Checks a token given on the command line: none, or one with no blank characters at either
/// end that is not empty (a token of spaces would be accepted from anyone who sends spaces).
pub fn check_token(token: Option<String>) -> Result<Option<String>, String> {
    match token {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Err(
            "--token (or SUTRA_TOKEN) is empty or only whitespace: give a real secret, or none"
                .into(),
        ),
        Some(t) if t.trim() != t => Err(
            "--token (or SUTRA_TOKEN) starts or ends with whitespace: clients would have to send it exactly so; remove it"
                .into(),
        ),
        Some(t) => Ok(Some(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn hosts_name_the_listening_address() {
        let access = Access::new(
            "127.0.0.1:7878".parse().expect("addr"),
            None,
            &["sutra.internal:443".into()],
            vec![],
        );
        let uri: Uri = "/v1/health".parse().expect("uri");
        for ok in [
            "127.0.0.1:7878",
            "localhost:7878",
            "LOCALHOST:7878",
            "sutra.internal:443",
        ] {
            assert!(
                access
                    .check(&Method::GET, &uri, &headers(&[("host", ok)]))
                    .is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "attacker.example",
            "attacker.example:7878",
            "127.0.0.1:7879",
            "localhost",
        ] {
            let e = access
                .check(&Method::GET, &uri, &headers(&[("host", bad)]))
                .expect_err(bad);
            assert_eq!(
                (e.status, e.code),
                (StatusCode::FORBIDDEN, "host_not_allowed")
            );
        }
        let any = Access::new("0.0.0.0:7878".parse().expect("addr"), None, &[], vec![]);
        assert!(any
            .check(&Method::GET, &uri, &headers(&[("host", "box.lan:7878")]))
            .is_ok());
        let v6 = Access::new("[::1]:80".parse().expect("addr"), None, &[], vec![]);
        assert_eq!(
            v6.hosts,
            Some(vec![
                "[::1]:80".into(),
                "[::1]".into(),
                "localhost:80".into(),
                "localhost".into()
            ])
        );
    }

    #[test]
    fn origins_are_the_servers_own_or_allowed() {
        let access = Access::new(
            "127.0.0.1:7878".parse().expect("addr"),
            None,
            &[],
            vec![HeaderValue::from_static("http://localhost:5173")],
        );
        let uri: Uri = "/v1/memories/m/import".parse().expect("uri");
        let check = |origin: &str| {
            access.check(
                &Method::POST,
                &uri,
                &headers(&[("host", "127.0.0.1:7878"), ("origin", origin)]),
            )
        };
        assert!(check("http://127.0.0.1:7878").is_ok());
        assert!(check("http://localhost:5173").is_ok());
        for bad in [
            "http://attacker.example",
            "null",
            "https://127.0.0.1:7878",
            "http://127.0.0.1:78",
        ] {
            assert_eq!(check(bad).expect_err(bad).code, "origin_not_allowed");
        }
    }

    #[test]
    fn tokens_of_whitespace_are_refused() {
        assert_eq!(check_token(None), Ok(None));
        assert_eq!(
            check_token(Some("s3cret".into())),
            Ok(Some("s3cret".into()))
        );
        for bad in ["", " ", "\t\n", " s3cret", "s3cret "] {
            assert!(check_token(Some(bad.into())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_heads_have_limits() {
        let long: Uri = format!("/v1/{}", "a".repeat(URI_BYTES_MAX))
            .parse()
            .expect("uri");
        assert_eq!(
            check_head(&long, &HeaderMap::new())
                .expect_err("long")
                .status,
            StatusCode::URI_TOO_LONG
        );
        let short: Uri = "/v1/health".parse().expect("uri");
        let mut many = HeaderMap::new();
        for i in 0..=HEADERS_MAX {
            many.insert(
                axum::http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).expect("name"),
                HeaderValue::from_static("v"),
            );
        }
        assert_eq!(
            check_head(&short, &many).expect_err("many").code,
            "headers_too_large"
        );
        let big = headers(&[("x-big", &"v".repeat(HEADER_BYTES_MAX))]);
        assert_eq!(
            check_head(&short, &big).expect_err("big").code,
            "headers_too_large"
        );
    }
}
