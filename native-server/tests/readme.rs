//! The README's `curl` examples work: each is run, in order, against a real server, and must
//! succeed without an error body.

use serde_json::Value;
use std::time::Duration;

mod common;

/// Splits a shell command line into words (single quotes only, as the README uses).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in line.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

#[test]
fn readme_curl_examples_work() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    let examples: Vec<&str> = readme.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(examples.len() >= 15, "the README lost its examples");
    let root = tempfile::tempdir().expect("temp");
    let server = common::Server::start(&root.path().join("data"));
    let base = server.base.trim_start_matches("http://").to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    for example in examples {
        let args = words(example);
        let mut method = "GET".to_string();
        let mut body: Option<String> = None;
        let mut url = None;
        let mut i = 1;
        while i < args.len() {
            match args[i].as_str() {
                "-s" => {}
                "-X" => {
                    method = args[i + 1].clone();
                    i += 1;
                }
                "-H" => i += 1, // content-type: application/json is what ureq sends for JSON
                "-d" => {
                    body = Some(args[i + 1].clone());
                    i += 1;
                }
                other => {
                    url = Some(format!(
                        "http://{}",
                        other.replacen("localhost:7878", &base, 1)
                    ))
                }
            }
            i += 1;
        }
        let url = url.unwrap_or_else(|| panic!("no URL in {example}"));
        let result = match (method.as_str(), body) {
            ("GET", None) => agent.get(&url).call(),
            ("POST", None) => agent.post(&url).send_empty(),
            (m, Some(b)) => {
                let json: Value = serde_json::from_str(&b)
                    .unwrap_or_else(|e| panic!("bad JSON in {example}: {e}"));
                match m {
                    "POST" => agent.post(&url).send_json(&json),
                    "PUT" => agent.put(&url).send_json(&json),
                    other => panic!("method {other} in {example}"),
                }
            }
            (m, None) => panic!("method {m} without body in {example}"),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{example}: {e}"));
        let status = response.status();
        let text = response.body_mut().read_to_string().expect("body");
        assert!(status.is_success(), "{example}\n→ {status}: {text}");
        assert!(!text.contains("\"error\""), "{example}\n→ {text}");
        if example.contains("/paths") {
            assert!(
                text.contains("slippery roads"),
                "the trail reaches slippery roads: {text}"
            );
        }
    }
    server.kill();
}
