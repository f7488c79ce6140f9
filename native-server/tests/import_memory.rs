//! An import's memory does not grow with its size: the HTTP import reads its body as it
//! arrives, and `sutra import` reads its file a block at a time, so neither holds the whole
//! body, nor a whole overlong line. Measured on the real binary by its peak resident memory
//! (before: a 239 MiB import peaked at 623 MiB; a 300 MB line cost 313 MB).
//! `SUTRA_IMPORT_TEST_MIB` sets the sizes (default 96 for the body, 160 for the line).

mod common;

use common::{Server, BIN};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Most the peak resident memory may grow during an import that adds no data, in bytes.
const GROWTH_BYTES_MAX: u64 = 64 * 1024 * 1024;

fn size_mib(default: u64) -> u64 {
    std::env::var("SUTRA_IMPORT_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field of `/proc/PID/status` in bytes (VmRSS, VmHWM).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number");
    kib * 1024
}

/// Resets the peak of resident memory to the current value (Linux 4.0+: write 5 to
/// clear_refs), so that VmHWM measures what comes after.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
}

#[test]
fn an_http_import_holds_a_bounded_amount_of_memory_whatever_its_size() {
    let root = tempfile::tempdir().expect("temp");
    let server = Server::start_with(&root.path().join("data"), &[]);
    let pid = server.child.id();
    server.create_memory("m");
    // Every line replaces the same concept: the import adds no data, so what the server holds
    // more during it is the import's own.
    let value = "v".repeat(4000);
    let line = format!(
        "{{\"type\":\"concept\",\"id\":\"0123456789abcdef0123456789abcdef\",\"content\":\"the same\",\"metadata\":{{\"k\":\"{value}\"}}}}\n"
    );
    let total = size_mib(96) * 1024 * 1024;
    let lines = total / line.len() as u64;
    let length = lines * line.len() as u64;
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = proc_status_bytes(pid, "VmRSS");
    reset_peak(pid);
    let host = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&host).expect("connect");
    stream
        .write_all(
            format!(
                "POST /v1/memories/m/import HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("head");
    let block: String = line.repeat(256);
    let mut sent = 0u64;
    while sent < lines {
        let n = (lines - sent).min(256);
        stream
            .write_all(&block.as_bytes()[..n as usize * line.len()])
            .expect("body");
        sent += n;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("\"concepts\":{lines}")),
        "every line imported: {answer}"
    );
    let peak = proc_status_bytes(pid, "VmHWM");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "import of {} MiB: resident {} MiB before, peak {} MiB (+{} MiB)",
        length >> 20,
        before >> 20,
        peak >> 20,
        growth >> 20
    );
    assert!(
        growth <= GROWTH_BYTES_MAX,
        "resident memory grew by {} MiB during an import of {} MiB",
        growth >> 20,
        length >> 20
    );
}

#[test]
fn sutra_import_holds_no_more_of_an_overlong_line_than_its_limit() {
    let root = tempfile::tempdir().expect("temp");
    let file = root.path().join("long.jsonl");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("file"));
        out.write_all(b"{\"type\":\"concept\",\"content\":\"")
            .expect("write");
        let block = vec![b'x'; 1024 * 1024];
        for _ in 0..size_mib(160) {
            out.write_all(&block).expect("write");
        }
        out.write_all(b"\"}\n{\"type\":\"concept\",\"content\":\"after it\"}\n")
            .expect("write");
        out.flush().expect("flush");
    }
    // Reaped by wait4 below, which also gives its peak resident memory.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(BIN)
        .args(["import"])
        .arg(&file)
        .args(["--memory", "long", "--data"])
        .arg(root.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of a plain C struct.
    #[allow(unsafe_code)]
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes to the two values we own, for our own child.
    #[allow(unsafe_code)]
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let mut out = String::new();
    let mut stdout = child.stdout.expect("stdout");
    stdout.read_to_string(&mut out).expect("stdout");
    assert_eq!(libc::WEXITSTATUS(status), 2, "one line rejected: {out}");
    assert!(
        out.contains("imported 1 concepts") && out.contains("line 1: line is"),
        "{out}"
    );
    let peak = usage.ru_maxrss as u64 * 1024;
    eprintln!(
        "sutra import of a {} MiB line: peak {} MiB",
        size_mib(160),
        peak >> 20
    );
    assert!(
        peak <= GROWTH_BYTES_MAX,
        "sutra import peaked at {} MiB for one overlong line",
        peak >> 20
    );
}
