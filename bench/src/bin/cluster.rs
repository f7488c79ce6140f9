//! A three-node cluster against one node, side by side in one run: real `sutra serve` processes
//! on loopback (the cluster's three and a single server), every write synced on each node that
//! holds it before it is acknowledged. Prints a Markdown table: write latency on the leader and
//! through a follower, 64-writer throughput, vector search spread over the nodes, and failover
//! time over repeated SIGKILLs of the leader (no peer: the target is absolute).
//!
//! `cargo build -p sutra-server --release && cargo run -p sutra-bench --release --bin cluster -- [--quick]`
//! (`--quick` for CI: fewer writes and queries, 3 kills; the full run kills the leader 30 times).
//! The server is `target/release/sutra` beside this binary, or `SUTRA_BIN`. All processes share
//! this machine's cores, so the cluster's figures include two more servers' work on them.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sutra_bench::http::HttpClient;
use sutra_core::sim::Rng;

const TOKEN: &str = "the-cluster-benchmark-token";
const DIM: usize = 32;

struct Scale {
    sequential_writes: usize,
    writers: usize,
    writes_per_writer: usize,
    vectors: usize,
    queries: usize,
    kills: usize,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One `sutra serve` process.
struct Process {
    child: Option<Child>,
    api: SocketAddr,
    args: Vec<String>,
}

impl Process {
    fn start(data: &Path, api: SocketAddr, more: &[String]) -> Process {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            api.to_string(),
            "--ui".into(),
            "/nonexistent".into(),
            "--data".into(),
            data.display().to_string(),
        ];
        args.extend(more.iter().cloned());
        let mut p = Process {
            child: None,
            api,
            args,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let mut child = Command::new(sutra_bench::server_binary())
            .args(&self.args)
            .env("RUST_LOG", "error")
            .env("SUTRA_CLUSTER_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sutra serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the listening line");
        assert!(
            line.contains("listening"),
            "sutra serve did not start: {line}"
        );
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The JSON field `name` of `body`, as a number.
fn number(body: &str, name: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    name.split('.').try_fold(&v, |v, k| v.get(k))?.as_u64()
}

fn leader(nodes: &[Process]) -> Option<usize> {
    for node in nodes.iter().filter(|n| n.child.is_some()) {
        let mut c = HttpClient::try_connect(node.api).ok()?;
        let (status, body) = c.send("GET", "/v1/health", "");
        if status == 200 {
            if let Some(l) = number(&body, "cluster.leader") {
                let i = (l - 1) as usize;
                if nodes.get(i).is_some_and(|n| n.child.is_some()) {
                    return Some(i);
                }
            }
        }
    }
    None
}

fn await_leader(nodes: &[Process]) -> usize {
    let started = Instant::now();
    loop {
        if let Some(l) = leader(nodes) {
            return l;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no leader");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn make_memory(api: SocketAddr, name: &str, dimension: Option<usize>) {
    let mut c = HttpClient::connect(api);
    let body = match dimension {
        Some(d) => format!(r#"{{"name":"{name}","dimension":{d}}}"#),
        None => format!(r#"{{"name":"{name}"}}"#),
    };
    let (status, text) = c.send("POST", "/v1/memories", &body);
    assert_eq!(status, 201, "create {name}: {text}");
}

/// Latencies of `n` sequential writes to `api`.
fn sequential(api: SocketAddr, memory: &str, n: usize, tag: &str) -> Vec<Duration> {
    let mut c = HttpClient::connect(api);
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!(r#"{{"content":"{tag} {i}"}}"#);
        let started = Instant::now();
        let (status, text) = c.send("PUT", &format!("/v1/memories/{memory}/concepts"), &body);
        assert_eq!(status, 200, "write: {text}");
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times
}

/// Writes per second of `writers` clients, each sending `per` writes to the APIs in turn.
fn throughput(apis: &[SocketAddr], memory: &str, writers: usize, per: usize) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let api = apis[w % apis.len()];
            let memory = memory.to_string();
            std::thread::spawn(move || {
                let mut c = HttpClient::connect(api);
                for i in 0..per {
                    let body = format!(r#"{{"content":"writer {w} write {i}"}}"#);
                    let (status, text) =
                        c.send("PUT", &format!("/v1/memories/{memory}/concepts"), &body);
                    assert_eq!(status, 200, "write: {text}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    (writers * per) as f64 / started.elapsed().as_secs_f64()
}

/// The CPU time `process` has used, user and system, all its threads (from `/proc`, on Linux).
fn cpu_seconds(process: &Process) -> Option<f64> {
    let pid = process.child.as_ref()?.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's name, in parentheses: the state (field 3) onwards; utime and stime
    // are fields 14 and 15, in USER_HZ ticks (100 a second on Linux).
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// [`throughput`], and the CPU time each of `processes` used per write meanwhile (µs).
fn throughput_and_cpu(
    apis: &[SocketAddr],
    processes: &[&Process],
    writers: usize,
    per: usize,
) -> (f64, Vec<f64>) {
    let before: Vec<Option<f64>> = processes.iter().map(|p| cpu_seconds(p)).collect();
    let rate = throughput(apis, "w", writers, per);
    let writes = (writers * per) as f64;
    let cpu = processes
        .iter()
        .zip(before)
        .map(|(p, b)| match (b, cpu_seconds(p)) {
            (Some(b), Some(a)) => (a - b) / writes * 1e6,
            _ => f64::NAN,
        })
        .collect();
    (rate, cpu)
}

fn vector(rng: &mut Rng) -> String {
    let v: Vec<String> = (0..DIM)
        .map(|_| format!("{:.4}", rng.unit_f32() * 2.0 - 1.0))
        .collect();
    format!("[{}]", v.join(","))
}

/// Loads `n` vectors through `api` in batches.
fn load_vectors(api: SocketAddr, memory: &str, n: usize) {
    let mut rng = Rng::new(7);
    let mut c = HttpClient::connect(api);
    for start in (0..n).step_by(500) {
        let ops: Vec<String> = (start..(start + 500).min(n))
            .map(|i| {
                format!(
                    r#"{{"op":"put_concept","content":"vector {i}","embedding":{}}}"#,
                    vector(&mut rng)
                )
            })
            .collect();
        let (status, text) = c.send(
            "POST",
            &format!("/v1/memories/{memory}/batch"),
            &format!(r#"{{"ops":[{}]}}"#, ops.join(",")),
        );
        assert_eq!(status, 200, "batch: {}", &text[..text.len().min(300)]);
    }
}

/// Vector searches per second, 4 clients spread over `apis`, `query` appended to the path.
fn searches(apis: &[SocketAddr], memory: &str, queries: usize, query: &str) -> f64 {
    let clients = 4;
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let api = apis[t % apis.len()];
            let path = format!("/v1/memories/{memory}/search{query}");
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                let mut c = HttpClient::connect(api);
                for _ in 0..queries / clients {
                    let body = format!(r#"{{"vector":{},"k":10}}"#, vector(&mut rng));
                    let (status, text) = c.send("POST", &path, &body);
                    assert_eq!(status, 200, "search: {}", &text[..text.len().min(300)]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("searcher");
    }
    (queries / clients * clients) as f64 / started.elapsed().as_secs_f64()
}

/// Failover times: the leader killed under a steady writer, restarted after 2 s; the time from
/// each kill to the first acknowledgement of a write sent after it.
fn failovers(nodes: &mut [Process], kills: usize) -> Vec<Duration> {
    let apis: Vec<SocketAddr> = nodes.iter().map(|n| n.api).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (apis, stop, acks, sent) = (apis.clone(), stop.clone(), acks.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let api = apis[(w + i) % apis.len()];
                    let Ok(mut c) = HttpClient::try_connect(api) else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let body = format!(r#"{{"content":"failover writer {w} write {i}"}}"#);
                    let at = Instant::now();
                    sent.fetch_add(1, Ordering::Relaxed);
                    if let Ok(a) = c.request(
                        "PUT",
                        "/v1/memories/f/concepts",
                        "application/json",
                        body.as_bytes(),
                    ) {
                        if a.status == 200 {
                            acks.lock().expect("acks").push((at, Instant::now()));
                        }
                    }
                }
            })
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_secs(2));
        let l = await_leader(nodes);
        let killed = Instant::now();
        nodes[l].kill();
        let first = loop {
            let found = acks
                .lock()
                .expect("acks")
                .iter()
                .filter(|(at, _)| *at > killed)
                .map(|(_, done)| *done)
                .min();
            if let Some(done) = found {
                break done;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "no write acknowledged within 30 s of a kill"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        times.push(first.duration_since(killed));
        std::thread::sleep(Duration::from_secs(1));
        nodes[l].spawn();
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    times.sort_unstable();
    times
}

fn row(
    workload: &str,
    cluster: String,
    single: String,
    ratio: Option<f64>,
    target: &str,
    met: Option<bool>,
) {
    println!(
        "| {workload} | {cluster} | {single} | {} | {target} | {} |",
        ratio.map_or("—".into(), |r| format!("{r:.2}×")),
        match met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        }
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let s = if quick {
        Scale {
            sequential_writes: 300,
            writers: 64,
            writes_per_writer: 10,
            vectors: 2_000,
            queries: 400,
            kills: 3,
        }
    } else {
        Scale {
            sequential_writes: 3_000,
            writers: 64,
            writes_per_writer: 100,
            vectors: 50_000,
            queries: 8_000,
            kills: 30,
        }
    };
    // A longer throughput row on its own (e.g. to profile it): `SUTRA_BENCH_WRITES_PER_WRITER`.
    let s = Scale {
        writes_per_writer: std::env::var("SUTRA_BENCH_WRITES_PER_WRITER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(s.writes_per_writer),
        ..s
    };
    let dir = tempfile::tempdir().expect("dir");
    let single = Process::start(
        &dir.path().join("single"),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        &[],
    );
    let apis: Vec<SocketAddr> = (0..3)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
        .collect();
    let rafts: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut members = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        members.push("--member".to_string());
        members.push(format!("{}={api}/127.0.0.1:{}", i + 1, rafts[i]));
    }
    let mut nodes: Vec<Process> = (0..3)
        .map(|i| {
            let mut more = vec!["--node-id".to_string(), (i + 1).to_string()];
            more.extend(members.iter().cloned());
            Process::start(&dir.path().join(format!("node{}", i + 1)), apis[i], &more)
        })
        .collect();
    let l = await_leader(&nodes);
    let follower = (l + 1) % 3;
    for (api, name) in [(single.api, "w"), (nodes[l].api, "w")] {
        make_memory(api, name, None);
    }
    make_memory(single.api, "v", Some(DIM));
    make_memory(nodes[l].api, "v", Some(DIM));

    println!(
        "Sutra cluster benchmarks ({} run): 3 nodes against 1, on {} cores\n",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| workload | 3-node cluster | one node | ratio | target | met |");
    println!("|---|---|---|---|---|---|");

    let one = sequential(single.api, "w", s.sequential_writes, "single");
    let on_leader = sequential(nodes[l].api, "w", s.sequential_writes, "leader");
    let via_follower = sequential(nodes[follower].api, "w", s.sequential_writes, "follower");
    let (p50, p99) = (percentile(&one, 0.5), percentile(&one, 0.99));
    let (c50, c99) = (percentile(&on_leader, 0.5), percentile(&on_leader, 0.99));
    let (f50, f99) = (
        percentile(&via_follower, 0.5),
        percentile(&via_follower, 0.99),
    );
    row(
        &format!(
            "write latency p50, one writer on the leader ({} writes)",
            s.sequential_writes
        ),
        ms(c50),
        ms(p50),
        Some(c50.as_secs_f64() / p50.as_secs_f64()),
        "+ ≤ 2 ms",
        Some(c50 <= p50 + Duration::from_millis(2)),
    );
    row(
        "write latency p99, one writer on the leader",
        ms(c99),
        ms(p99),
        Some(c99.as_secs_f64() / p99.as_secs_f64()),
        "+ ≤ 10 ms",
        Some(c99 <= p99 + Duration::from_millis(10)),
    );
    row(
        "write latency p50 / p99 through a follower (forwarded)",
        format!("{} / {}", ms(f50), ms(f99)),
        format!("{} / {}", ms(p50), ms(p99)),
        Some(f50.as_secs_f64() / p50.as_secs_f64()),
        "—",
        None,
    );
    let (single_rate, single_cpu) =
        throughput_and_cpu(&[single.api], &[&single], s.writers, s.writes_per_writer);
    // The leader first, then the followers.
    let by_role: Vec<&Process> = std::iter::once(&nodes[l])
        .chain((0..nodes.len()).filter(|&i| i != l).map(|i| &nodes[i]))
        .collect();
    let (cluster_rate, cluster_cpu) =
        throughput_and_cpu(&apis, &by_role, s.writers, s.writes_per_writer);
    row(
        &format!("{} writers, writes/s (spread over the nodes)", s.writers),
        format!("{cluster_rate:.0}"),
        format!("{single_rate:.0}"),
        Some(cluster_rate / single_rate),
        "≥ 0.50×",
        Some(cluster_rate >= single_rate * 0.5),
    );
    // What bounds that row on one machine: the three servers share its cores, so every write
    // costs the CPU time of all three.
    let (one, all) = (single_cpu[0], cluster_cpu.iter().sum::<f64>());
    row(
        "CPU time per write in that run, µs: the leader / each follower / all three",
        format!(
            "{:.0} / {:.0}, {:.0} / {all:.0}",
            cluster_cpu[0], cluster_cpu[1], cluster_cpu[2]
        ),
        format!("{one:.0}"),
        Some(all / one),
        "—",
        None,
    );
    load_vectors(single.api, "v", s.vectors);
    load_vectors(nodes[l].api, "v", s.vectors);
    let last = {
        let mut c = HttpClient::connect(nodes[l].api);
        let (_, body) = c.send("GET", "/v1/cluster", "");
        number(&body, "last_log_index").unwrap_or(0)
    };
    let single_qps = searches(&[single.api], "v", s.queries, "");
    let spread = searches(&apis, "v", s.queries, &format!("?min_seq={last}"));
    let linearizable = searches(&apis, "v", s.queries, "");
    row(
        &format!(
            "vector search, {} × {DIM}-d, 4 clients spread over the nodes (min_seq), queries/s",
            s.vectors
        ),
        format!("{spread:.0}"),
        format!("{single_qps:.0}"),
        Some(spread / single_qps),
        "—",
        None,
    );
    row(
        "the same, linearizable (read index on each)",
        format!("{linearizable:.0}"),
        format!("{single_qps:.0}"),
        Some(linearizable / single_qps),
        "—",
        None,
    );
    make_memory(nodes[l].api, "f", None);
    let times = failovers(&mut nodes, s.kills);
    let (f50, f99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    row(
        &format!(
            "failover, SIGKILL of the leader → first write acknowledged (p50 / p99 over {} kills)",
            s.kills
        ),
        format!("{} / {}", ms(f50), ms(f99)),
        "—".into(),
        None,
        "p50 < 2.5 s, p99 < 5 s",
        Some(f50 < Duration::from_millis(2500) && f99 < Duration::from_secs(5)),
    );
    drop(single);
}
