//! The real `sutra serve` and its connections: requests that never finish are closed, idle
//! connections too, a connection cap answers 503, a request body that stops arriving is
//! answered 408, SIGTERM ends within its deadline even with such connections open (the
//! checkpoint written), the open-file limit is raised, and a token of whitespace is refused.

mod common;

use common::{Server, BIN};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(address(server)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
    (
        String::from_utf8_lossy(&text).into_owned(),
        started.elapsed(),
    )
}

/// A connection that sends half a head, one that sends nothing, and one left idle after a
/// request are all closed after the head timeout; before, they stayed open for good.
#[test]
fn connections_that_never_finish_a_request_are_closed() {
    let root = tempfile::tempdir().expect("temp");
    let server = Server::start_with(&root.path().join("data"), &["--header-timeout-s", "1"]);
    let host = address(&server);
    let mut half = connect(&server);
    half.write_all(format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").as_bytes())
        .expect("send half");
    let mut silent = connect(&server);
    let mut idle = connect(&server);
    idle.write_all(format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .expect("send");
    for (name, stream) in [
        ("half", &mut half),
        ("silent", &mut silent),
        ("idle", &mut idle),
    ] {
        let (text, took) = read_until_closed(stream);
        assert!(
            took < Duration::from_secs(5),
            "{name}: closed after {took:?}"
        );
        if name == "idle" {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        }
    }
}

/// A request body that stops arriving ends its request with 408 in the API's format.
#[test]
fn a_body_that_stops_arriving_is_answered_408() {
    let root = tempfile::tempdir().expect("temp");
    let server = Server::start_with(&root.path().join("data"), &["--body-timeout-s", "1"]);
    let host = address(&server);
    let mut stream = connect(&server);
    let body = r#"{"name":"m"}"#;
    stream
        .write_all(
            format!(
                "POST /v1/memories/m/import HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{body}"
            )
            .as_bytes(),
        )
        .expect("send");
    // The memory does not exist: the import is refused before its body is read (404).
    let (text, _) = read_until_closed(&mut stream);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    server.create_memory("m");
    let mut stream = connect(&server);
    stream
        .write_all(
            format!(
                "POST /v1/memories/m/import HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{{\"type\":\"concept\",\"content\":\"a\"}}\n"
            )
            .as_bytes(),
        )
        .expect("send");
    let started = Instant::now();
    let (text, _) = read_until_closed(&mut stream);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"body_timeout\""), "{text}");
    assert!(
        text.contains("the lines before it were imported (1 concepts"),
        "{text}"
    );
}

/// Past the connection cap a new connection is answered 503 with Retry-After in the API's
/// format, and served again once one closes.
#[test]
fn connections_past_the_cap_are_answered_503() {
    let root = tempfile::tempdir().expect("temp");
    let server = Server::start_with(&root.path().join("data"), &["--max-connections", "3"]);
    let host = address(&server);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = connect(&server);
    over.write_all(format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .expect("send");
    let (text, _) = read_until_closed(&mut over);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(text.contains("\"code\":\"busy\""), "{text}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let mut again = connect(&server);
    again
        .write_all(
            format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("send");
    let (text, _) = read_until_closed(&mut again);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// SIGTERM with connections that never finish their requests: the server stops within its
/// shutdown deadline, exits 0, and has written its checkpoint (the log holds only its header).
/// Before, one such connection kept it from ever exiting.
#[test]
fn sigterm_ends_within_its_deadline_despite_unfinished_requests() {
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let server = Server::start_with(
        &data,
        &[
            "--header-timeout-s",
            "600",
            "--body-timeout-s",
            "600",
            "--shutdown-timeout-s",
            "2",
        ],
    );
    let host = address(&server);
    server.create_memory("m");
    let written = ureq::put(&server.url("/v1/memories/m/concepts"))
        .send_json(serde_json::json!({"content": "kept"}))
        .expect("write");
    assert_eq!(written.status().as_u16(), 200);
    let mut half_head = connect(&server);
    half_head
        .write_all(format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\n").as_bytes())
        .expect("send");
    let mut half_body = connect(&server);
    half_body
        .write_all(
            format!(
                "POST /v1/memories/m/import HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{{\"type\":\"concept\""
            )
            .as_bytes(),
        )
        .expect("send");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = server.terminate();
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(8), "exited after {took:?}");
    let check = std::process::Command::new(BIN)
        .args(["check", "--memory", "m", "--data"])
        .arg(&data)
        .output()
        .expect("check");
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        report.contains("snapshot at sequence") && report.contains(" 0 log records to replay"),
        "the final checkpoint was written: {report}"
    );
    let (code, out) = {
        let out = std::process::Command::new(BIN)
            .args(["export", "--memory", "m", "--data"])
            .arg(&data)
            .output()
            .expect("export");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0));
    assert!(out.contains("\"content\":\"kept\""), "{out}");
}

/// The soft open-file limit is raised to the hard one at start.
#[test]
fn the_open_file_limit_is_raised() {
    let root = tempfile::tempdir().expect("temp");
    let mut command = std::process::Command::new(BIN);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ui",
            "/nonexistent",
            "--data",
        ])
        .arg(root.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // Start it with a soft limit below the hard one, as a login shell commonly does (1,024).
    #[allow(unsafe_code)]
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe and reads
    // the one struct it is given.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_max > 256 {
                limit.rlim_cur = 256;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("listening line");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("limits");
    let _ = child.kill();
    let _ = child.wait();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{open_files}");
    assert_eq!(numbers[0], numbers[1], "soft raised to hard: {open_files}");
    assert_ne!(numbers[0], "256", "{open_files}");
}

/// A token of spaces would let anyone in who sends spaces: refused at start.
#[test]
fn a_token_of_whitespace_is_refused() {
    for token in ["   ", "\t", " padded "] {
        let out = std::process::Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token",
                token,
                "--data",
                "/nonexistent/x",
            ])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{token:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--token"), "{err}");
    }
}
