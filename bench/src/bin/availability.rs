//! Availability under the most expensive queries: the real `sutra serve` (its own process) on a
//! graph of 100,000 concepts and 500,000 associations, 64 clients sending k-best path queries
//! at the limits the API allows (k 10, depth 16, 2,000,000 visited, both directions), while
//! probes time a health check, a read of another memory and a write to the loaded memory.
//! Prints a Markdown table: each probe's p50/p99 idle (the peer: the same server with no load,
//! measured in the same run) and under load, and how long after the clients stop the server is
//! back to its idle latency.
//!
//! `cargo build -p sutra-server --release && cargo run -p sutra-bench --release --bin availability -- [--quick]`
//! (`--quick`: 20,000 concepts and 100,000 associations, 8 s of load, for CI). The server is
//! `target/release/sutra` beside this binary, or `SUTRA_BIN`.

use std::io::{BufRead, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sutra_bench::http::HttpClient;
use sutra_core::sim::Rng;
use sutra_core::ConceptId;

struct Scale {
    concepts: usize,
    degree: usize,
    clients: usize,
    idle: Duration,
    load: Duration,
    after: Duration,
}

/// Time between two probes of one kind.
const PROBE_EVERY: Duration = Duration::from_millis(20);

struct Server {
    child: Child,
    address: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path) -> Server {
    let mut child = Command::new(sutra_bench::server_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ui",
            "/nonexistent",
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sutra serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let address = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, address }
}

fn id(i: usize) -> String {
    ConceptId::from_content(&format!("concept {i}")).to_string()
}

/// Loads the graph through the import endpoint, in pieces.
fn load_graph(address: SocketAddr, s: &Scale) {
    let mut client = HttpClient::connect(address);
    let (status, body) = client.send("POST", "/v1/memories", r#"{"name":"graph"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = client.send("POST", "/v1/memories", r#"{"name":"other"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = client.send(
        "PUT",
        "/v1/memories/other/concepts",
        r#"{"content":"probe"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let mut send = |text: &mut String| {
        let answer = client
            .request(
                "POST",
                "/v1/memories/graph/import",
                "application/x-ndjson",
                text.as_bytes(),
            )
            .expect("import");
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer.body.contains("\"rejected_count\":0"),
            "{}",
            answer.body
        );
        text.clear();
    };
    let mut text = String::new();
    for i in 0..s.concepts {
        text.push_str(&format!(
            "{{\"type\":\"concept\",\"content\":\"concept {i}\"}}\n"
        ));
        if text.len() > 8 << 20 {
            send(&mut text);
        }
    }
    send(&mut text);
    let mut rng = Rng::new(7);
    let kinds = [
        "semantic",
        "causal",
        "temporal",
        "hierarchical",
        "compositional",
    ];
    for i in 0..s.concepts {
        for _ in 0..s.degree {
            let j = rng.below(s.concepts as u64) as usize;
            let kind = kinds[rng.below(5) as usize];
            let confidence = 0.5 + f64::from(rng.unit_f32()) / 2.0;
            text.push_str(&format!(
                "{{\"type\":\"association\",\"source\":\"{}\",\"target\":\"{}\",\"kind\":\"{kind}\",\"confidence\":{confidence:.3}}}\n",
                id(i),
                id(j)
            ));
        }
        if text.len() > 8 << 20 {
            send(&mut text);
        }
    }
    send(&mut text);
}

/// Latencies of one probe, in order of sending.
#[derive(Default)]
struct Probe {
    times: Vec<(Instant, Duration, u16)>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(
    times: &[(Instant, Duration, u16)],
    from: Instant,
    to: Instant,
) -> (Duration, Duration, usize, usize) {
    let mut window: Vec<Duration> = times
        .iter()
        .filter(|(at, _, _)| *at >= from && *at < to)
        .map(|(_, d, _)| *d)
        .collect();
    let failed = times
        .iter()
        .filter(|(at, _, s)| *at >= from && *at < to && *s >= 300)
        .count();
    window.sort();
    (
        percentile(&window, 0.5),
        percentile(&window, 0.99),
        window.len(),
        failed,
    )
}

/// The peak resident memory of a process, from `/proc` (Linux).
fn resident_peak_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let s = if quick {
        Scale {
            concepts: 20_000,
            degree: 5,
            clients: 64,
            idle: Duration::from_secs(3),
            load: Duration::from_secs(8),
            after: Duration::from_secs(3),
        }
    } else {
        Scale {
            concepts: 100_000,
            degree: 5,
            clients: 64,
            idle: Duration::from_secs(5),
            load: Duration::from_secs(30),
            after: Duration::from_secs(5),
        }
    };
    let root = tempfile::tempdir().expect("temp");
    let server = start(&root.path().join("data"));
    let address = server.address;
    let loading = Instant::now();
    load_graph(address, &s);
    eprintln!(
        "graph of {} concepts and {} associations loaded in {:.1} s",
        s.concepts,
        s.concepts * s.degree,
        loading.elapsed().as_secs_f64()
    );

    let stop_probes = Arc::new(AtomicBool::new(false));
    let probe = |path: &'static str, method: &'static str, body: fn(u64) -> String| {
        let stop = stop_probes.clone();
        std::thread::spawn(move || {
            let mut client = HttpClient::connect(address);
            let mut probe = Probe::default();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let answer = client
                    .request(method, path, "application/json", body(n).as_bytes())
                    .expect("probe");
                probe.times.push((sent, sent.elapsed(), answer.status));
                n += 1;
                std::thread::sleep(PROBE_EVERY.saturating_sub(sent.elapsed()));
            }
            probe
        })
    };
    let other = format!(
        "/v1/memories/other/concepts/{}",
        ConceptId::from_content("probe")
    );
    let other: &'static str = Box::leak(other.into_boxed_str());
    let probes = [
        ("health", probe("/v1/health", "GET", |_| String::new())),
        (
            "get from another memory",
            probe(other, "GET", |_| String::new()),
        ),
        (
            "write to the loaded memory",
            probe("/v1/memories/graph/concepts", "PUT", |n| {
                format!("{{\"content\":\"probe write {n}\"}}")
            }),
        ),
    ];

    let started = Instant::now();
    std::thread::sleep(s.idle);
    let load_start = Instant::now();
    let stop_clients = Arc::new(AtomicBool::new(false));
    let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let (ok, timed_out, refused, other_status) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..s.clients)
        .map(|c| {
            let (stop, connections) = (stop_clients.clone(), connections.clone());
            let (ok, timed_out, refused, other_status) =
                (ok.clone(), timed_out.clone(), refused.clone(), other_status.clone());
            let concepts = s.concepts;
            std::thread::spawn(move || {
                let mut rng = Rng::new(1000 + c as u64);
                let mut client = HttpClient::connect(address);
                connections.lock().expect("list").push(client.handle().expect("handle"));
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (
                        id(rng.below(concepts as u64) as usize),
                        id(rng.below(concepts as u64) as usize),
                    );
                    let body = format!(
                        "{{\"from\":\"{from}\",\"to\":\"{to}\",\"algorithm\":\"k_best\",\"k\":10,\"direction\":\"both\",\"max_depth\":16,\"visited_max\":2000000}}"
                    );
                    let Ok(answer) = client.request("POST", "/v1/memories/graph/paths", "application/json", body.as_bytes()) else {
                        return; // cut at the end of the load
                    };
                    match answer.status {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        503 if answer.body.contains("query_timeout") => {
                            timed_out.fetch_add(1, Ordering::Relaxed)
                        }
                        503 => {
                            // A client that honours Retry-After, as a well-behaved one does.
                            let wait = answer.retry_after_s.unwrap_or(1);
                            std::thread::sleep(Duration::from_secs(wait));
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => other_status.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(s.load);
    // The clients stop and go away, queries in flight included.
    stop_clients.store(true, Ordering::Relaxed);
    let load_end = Instant::now();
    for connection in connections.lock().expect("list").iter() {
        let _ = connection.shutdown(Shutdown::Both);
    }
    std::thread::sleep(s.after);
    stop_probes.store(true, Ordering::Relaxed);
    let end = Instant::now();
    for c in clients {
        let _ = c.join();
    }
    let results: Vec<(&str, Probe)> = probes
        .into_iter()
        .map(|(name, t)| (name, t.join().expect("probe")))
        .collect();

    println!(
        "Sutra availability under the most expensive queries ({} run): {} concepts, {} associations, {} clients sending k-best paths (k 10, depth 16, 2,000,000 visited, both directions) for {} s; probes every {} ms\n",
        if quick { "quick" } else { "full" },
        s.concepts,
        s.concepts * s.degree,
        s.clients,
        s.load.as_secs(),
        PROBE_EVERY.as_millis()
    );
    println!("| probe | idle p50 / p99 (peer: no load, same run) | under load p50 / p99 (answers, not 2xx) | ratio of p99 | target | met |");
    println!("|---|---|---|---|---|---|");
    let mut recovered_after = Duration::ZERO;
    for (name, probe) in &results {
        let (i50, i99, _, _) = summary(&probe.times, started, load_start);
        let (l50, l99, n, failed) = summary(&probe.times, load_start, load_end);
        let target = if name.starts_with("write") { 100 } else { 50 };
        println!(
            "| {name} | {} / {} | {} / {} ({n}, {failed}) | {:.1}× | p99 < {target} ms | {} |",
            ms(i50),
            ms(i99),
            ms(l50),
            ms(l99),
            l99.as_secs_f64() / i99.as_secs_f64().max(1e-9),
            if l99 < Duration::from_millis(target) && failed == 0 {
                "yes"
            } else {
                "no"
            }
        );
        // Back to idle: from the end of the load, the moment after which no probe is slower
        // than the slowest one seen idle (half as much again, and at least its p99 + 2 ms: a
        // sync now and then takes a few milliseconds, idle or not).
        let idle_max = probe
            .times
            .iter()
            .filter(|(at, _, _)| *at >= started && *at < load_start)
            .map(|(_, d, _)| *d)
            .max()
            .unwrap_or(Duration::ZERO);
        let bound = (idle_max * 3 / 2).max(i99 + Duration::from_millis(2));
        let last_slow = probe
            .times
            .iter()
            .filter(|(at, d, _)| *at >= load_end && *at < end && *d > bound)
            .map(|(at, d, _)| (*at + *d).duration_since(load_end))
            .max()
            .unwrap_or(Duration::ZERO);
        recovered_after = recovered_after.max(last_slow);
        if std::env::var("SUTRA_AVAILABILITY_TRACE").is_ok() {
            for (at, d, status) in probe
                .times
                .iter()
                .filter(|(at, d, _)| *at >= load_end && *d > bound)
            {
                eprintln!(
                    "{name}: {:?} after the end, took {d:?}, status {status}",
                    at.duration_since(load_end)
                );
            }
        }
    }
    println!(
        "| back to idle latency after the clients stop | — | {} | — | < 1000 ms | {} |",
        ms(recovered_after),
        if recovered_after < Duration::from_secs(1) {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "\nPath queries under load: {} answered, {} stopped at their time limit, {} refused at once (busy; the client waited Retry-After), {} other answers.",
        ok.load(Ordering::Relaxed),
        timed_out.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        other_status.load(Ordering::Relaxed)
    );
    if let Some(peak) = resident_peak_mib(server.child.id()) {
        println!("Server resident memory at its peak: {peak} MiB.");
    }
    let _ = std::io::stdout().flush();
    drop(server);
}
