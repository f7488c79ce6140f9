//! Sutra against the peers a user would choose instead, measured side by side in one run on one
//! machine. Prints a Markdown table: workload, Sutra's figure, the peer's, the ratio, the target.
//! Every durable write on both sides is synced before it counts.
//!
//! `cargo run -p sutra-bench --release -- [--quick]` (`--quick` fits in a few minutes for CI).

use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sutra_bench::http::HttpClient;
use sutra_core::sim::Rng;
use sutra_core::{
    ConceptId, ConceptInput, Direction, HnswParams, Kind, KindSet, Memory, Op, Options, PathOptions,
};
use sutra_server::files::storage::FileStorage;
use sutra_server::memories::metrics::Metrics;
use sutra_server::memories::writer::{MemoryHandle, WriterConfig};

const DIM: usize = 128;

#[derive(Clone, Copy)]
struct Scale {
    writers: usize,
    writes_per_writer: usize,
    bulk: usize,
    lookups: usize,
    lookups_under_load: usize,
    load_window: Duration,
    http_writes_per_connection: usize,
    graph_nodes: usize,
    graph_degree: usize,
    graph_queries: usize,
    hood_queries: usize,
    vectors: usize,
    vector_queries: usize,
    replay_records: usize,
    continuous_secs: u64,
    memory_concepts: usize,
}

impl Scale {
    fn quick() -> Scale {
        Scale {
            writers: 64,
            writes_per_writer: 20,
            bulk: 20_000,
            lookups: 200_000,
            lookups_under_load: 20_000,
            load_window: Duration::from_millis(500),
            http_writes_per_connection: 20,
            graph_nodes: 10_000,
            graph_degree: 10,
            graph_queries: 20,
            hood_queries: 500,
            vectors: 10_000,
            vector_queries: 200,
            replay_records: 100_000,
            continuous_secs: 3,
            memory_concepts: 20_000,
        }
    }

    fn full() -> Scale {
        Scale {
            writers: 64,
            writes_per_writer: 2_000,
            bulk: 200_000,
            lookups: 1_000_000,
            lookups_under_load: 200_000,
            load_window: Duration::from_secs(3),
            http_writes_per_connection: 1_000,
            graph_nodes: 100_000,
            graph_degree: 10,
            graph_queries: 50,
            hood_queries: 5_000,
            vectors: 100_000,
            vector_queries: 1_000,
            replay_records: 1_000_000,
            continuous_secs: 600,
            memory_concepts: 1_000_000,
        }
    }
}

struct Row {
    id: &'static str,
    workload: String,
    sutra: String,
    peer: String,
    ratio: Option<f64>,
    target: &'static str,
    met: Option<bool>,
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn fmt_rate(r: f64, unit: &str) -> String {
    if r >= 1e6 {
        format!("{:.2} M {unit}/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k {unit}/s", r / 1e3)
    } else {
        format!("{r:.1} {unit}/s")
    }
}

fn gaussian(rng: &mut Rng) -> f32 {
    (0..6).map(|_| rng.unit_f32()).sum::<f32>() - 3.0
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn clustered(rng: &mut Rng, centres: &[Vec<f32>]) -> Vec<f32> {
    let c = &centres[rng.below(centres.len() as u64) as usize];
    c.iter().map(|x| x + 0.35 * gaussian(rng)).collect()
}

fn concept_op(i: usize, vector: Option<Vec<f32>>) -> Op {
    let mut input = ConceptInput::new(format!("concept number {i} of the benchmark"));
    input.id = Some(ConceptId(i as u128 + 1));
    input.embedding = vector;
    Op::put_concept(input, 1_700_000_000_000 + i as u64)
}

fn sqlite(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).expect("sqlite open");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL").expect("full");
    c.busy_timeout(Duration::from_secs(60))
        .expect("busy timeout");
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS concepts (id BLOB PRIMARY KEY, content TEXT NOT NULL, vector BLOB) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS edges (src INTEGER NOT NULL, dst INTEGER NOT NULL, kind INTEGER NOT NULL, confidence REAL NOT NULL, PRIMARY KEY (src, dst, kind)) WITHOUT ROWID;",
    )
    .expect("schema");
    c
}

fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The server's writer thread (group commit, background indexing) on `memory`.
fn start_writer(memory: Memory<FileStorage>, metrics: Arc<Metrics>) -> Arc<MemoryHandle> {
    Arc::new(
        MemoryHandle::start("bench", memory, WriterConfig::default(), metrics).expect("writer"),
    )
}

/// The `q`th percentile of sorted durations.
fn percentile(sorted: &[Duration], q: usize) -> Duration {
    sorted
        .get(sorted.len() * q / 100)
        .copied()
        .unwrap_or_default()
}

/// 1: durable single-operation writes from 64 concurrent writers.
fn concurrent_writes(s: &Scale, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp");
    let storage = FileStorage::open(&dir.path().join("w1")).expect("storage");
    let (memory, _) = Memory::open(storage, Options::default()).expect("memory");
    let handle = start_writer(memory, Arc::new(Metrics::default()));
    let total = s.writers * s.writes_per_writer;
    let started = Instant::now();
    let threads: Vec<_> = (0..s.writers)
        .map(|w| {
            let handle = handle.clone();
            let n = s.writes_per_writer;
            std::thread::spawn(move || {
                for i in 0..n {
                    let op = concept_op(w * 1_000_000 + i, None);
                    sutra_server::http::api::write_blocking(&handle, vec![op]).expect("write");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let sutra = rate(total, started.elapsed());
    handle.close();

    let db = dir.path().join("w1.sqlite");
    drop(sqlite(&db));
    let started = Instant::now();
    let threads: Vec<_> = (0..s.writers)
        .map(|w| {
            let db = db.clone();
            let n = s.writes_per_writer;
            std::thread::spawn(move || {
                let c = sqlite(&db);
                let mut stmt = c.prepare("INSERT OR REPLACE INTO concepts (id, content, vector) VALUES (?1, ?2, NULL)").expect("prepare");
                for i in 0..n {
                    let id = ((w * 1_000_000 + i) as u128 + 1).to_le_bytes();
                    stmt.execute(params![&id[..], format!("concept number {i} of the benchmark")]).expect("insert");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let peer = rate(total, started.elapsed());
    rows.push(Row {
        id: "1",
        workload: format!(
            "durable single-op writes, {} concurrent writers, in process ({total} writes)",
            s.writers
        ),
        sutra: fmt_rate(sutra, "writes"),
        peer: format!("SQLite WAL, synchronous=FULL: {}", fmt_rate(peer, "writes")),
        ratio: Some(sutra / peer),
        target: "≥ 20× and ≥ 100,000/s",
        met: Some(sutra / peer >= 20.0 && sutra >= 100_000.0),
    });
}

/// 2: durable single-concept writes over HTTP from 64 connections, against the real router on
/// a loopback socket (the clients share the machine's two cores with the server).
fn http_writes(s: &Scale, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp");
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(
        sutra_server::memories::registry::Registry::open(
            dir.path(),
            WriterConfig::default(),
            metrics.clone(),
        )
        .expect("registry"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let address = listener.local_addr().expect("address");
    let state = sutra_server::http::api::AppState {
        registry: registry.clone(),
        metrics,
        access: Arc::new(sutra_server::http::access::Access::new(
            address,
            None,
            &[],
            vec![],
        )),
        ui_dir: None,
        queries: Arc::new(
            sutra_server::memories::queries::QueryPool::start(Default::default())
                .expect("query pool"),
        ),
        transfers: Arc::default(),
    };
    let app = sutra_server::http::api::router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The server's own connection handling (timeouts, cap), as `sutra serve` runs it.
    let server = runtime.spawn(sutra_server::http::serve::serve(
        listener,
        app,
        sutra_server::http::serve::ConnectionLimits::default(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let (status, body) =
        HttpClient::connect(address).send("POST", "/v1/memories", r#"{"name":"bench"}"#);
    assert!(status < 300, "create memory: {status} {body}");
    let total = s.writers * s.http_writes_per_connection;
    let started = Instant::now();
    let clients: Vec<_> = (0..s.writers)
        .map(|w| {
            let n = s.http_writes_per_connection;
            std::thread::spawn(move || {
                let mut client = HttpClient::connect(address);
                let mut times = Vec::with_capacity(n);
                for i in 0..n {
                    let body = format!(
                        r#"{{"content":"concept number {i} of connection {w}","metadata":{{"connection":"{w}"}}}}"#
                    );
                    let sent = Instant::now();
                    let (status, answer) =
                        client.send("PUT", "/v1/memories/bench/concepts", &body);
                    times.push(sent.elapsed());
                    assert!(status < 300, "write: {status} {answer}");
                }
                times
            })
        })
        .collect();
    let mut times: Vec<Duration> = clients
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    let elapsed = started.elapsed();
    // Every acknowledged write is there.
    let (_, stats) = HttpClient::connect(address).send("GET", "/v1/memories/bench", "");
    let concepts = serde_json::from_str::<serde_json::Value>(&stats)
        .ok()
        .and_then(|s| s["concepts"].as_u64());
    assert_eq!(
        concepts,
        Some(total as u64),
        "every acknowledged write must be stored: {stats}"
    );
    let _ = stop_tx.send(());
    let _ = runtime.block_on(server);
    registry.shutdown();
    times.sort_unstable();
    let at = |q: usize| percentile(&times, q);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let sutra = rate(total, elapsed);
    rows.push(Row {
        id: "2",
        workload: format!(
            "durable single-concept writes over HTTP, {} connections ({total} writes)",
            s.writers
        ),
        sutra: format!(
            "{}, p50 {:.2} ms, p99 {:.2} ms",
            fmt_rate(sutra, "writes"),
            ms(at(50)),
            ms(at(99))
        ),
        peer: "—".into(),
        ratio: None,
        target: "≥ 30,000/s",
        met: Some(sutra >= 30_000.0),
    });
}

/// 3 and 4: bulk import with vectors, then lookups by id.
fn bulk_and_lookups(s: &Scale, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp");
    let mut rng = Rng::new(3);
    let vectors: Vec<Vec<f32>> = (0..s.bulk)
        .map(|_| (0..DIM).map(|_| gaussian(&mut rng)).collect())
        .collect();
    let storage = FileStorage::open(&dir.path().join("w3")).expect("storage");
    let (mut memory, _) = Memory::open(storage, Options::default()).expect("memory");
    let started = Instant::now();
    for chunk in (0..s.bulk).collect::<Vec<_>>().chunks(1000) {
        memory
            .write(
                chunk
                    .iter()
                    .map(|&i| concept_op(i, Some(vectors[i].clone())))
                    .collect(),
            )
            .expect("write");
    }
    let sutra = rate(s.bulk, started.elapsed());

    let c = sqlite(&dir.path().join("w3.sqlite"));
    let started = Instant::now();
    c.execute_batch("BEGIN").expect("begin");
    {
        let mut stmt = c
            .prepare("INSERT INTO concepts (id, content, vector) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for (i, v) in vectors.iter().enumerate() {
            let id = (i as u128 + 1).to_le_bytes();
            stmt.execute(params![
                &id[..],
                format!("concept number {i} of the benchmark"),
                vector_blob(v)
            ])
            .expect("insert");
        }
    }
    c.execute_batch("COMMIT").expect("commit");
    let peer = rate(s.bulk, started.elapsed());
    rows.push(Row {
        id: "3",
        workload: format!("bulk import of {} concepts with {DIM}-d vectors", s.bulk),
        sutra: fmt_rate(sutra, "concepts"),
        peer: format!("SQLite, one transaction: {}", fmt_rate(peer, "concepts")),
        ratio: Some(sutra / peer),
        target: "≥ 1.0×",
        met: Some(sutra / peer >= 1.0),
    });

    let ids: Vec<usize> = (0..s.lookups)
        .map(|_| rng.below(s.bulk as u64) as usize)
        .collect();
    let reader = memory.reader();
    let started = Instant::now();
    let mut found = 0usize;
    for &i in &ids {
        let db = reader.db();
        if let Some(c) = db.concept(ConceptId(i as u128 + 1)) {
            found += c.content.len();
        }
    }
    let sutra = rate(s.lookups, started.elapsed());
    let mut stmt = c
        .prepare("SELECT content, vector FROM concepts WHERE id = ?1")
        .expect("prepare");
    let started = Instant::now();
    let mut peer_found = 0usize;
    for &i in &ids {
        let id = (i as u128 + 1).to_le_bytes();
        let content: String = stmt.query_row(params![&id[..]], |r| r.get(0)).expect("row");
        peer_found += content.len();
    }
    let peer = rate(s.lookups, started.elapsed());
    assert_eq!(
        found, peer_found,
        "both sides must return the same concepts"
    );
    rows.push(Row {
        id: "4",
        workload: format!("get concept by id, in process ({} lookups)", s.lookups),
        sutra: fmt_rate(sutra, "gets"),
        peer: format!("SQLite primary key: {}", fmt_rate(peer, "gets")),
        ratio: Some(sutra / peer),
        target: "≥ 5×",
        met: Some(sutra / peer >= 5.0),
    });
    drop(stmt);
    drop(c);
    reads_under_write_load(s, memory, &ids, rows);
}

/// Latencies of gets by id, one at a time on this thread.
struct GetLatencies {
    mean: Duration,
    p50: Duration,
    p99: Duration,
    /// Content bytes found on the first pass over the ids.
    found: usize,
}

/// Gets by id, one at a time on this thread, repeating the list until `at_least` has passed.
fn get_latencies(reader: &sutra_core::Reader, ids: &[usize], at_least: Duration) -> GetLatencies {
    let mut times = Vec::with_capacity(ids.len());
    let mut found = 0usize;
    let started = Instant::now();
    let mut first = true;
    while first || started.elapsed() < at_least {
        for &i in ids {
            let sent = Instant::now();
            let db = reader.db();
            if let Some(c) = db.concept(ConceptId(i as u128 + 1)) {
                if first {
                    found += c.content.len();
                }
            }
            drop(db);
            times.push(sent.elapsed());
        }
        first = false;
    }
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    times.sort_unstable();
    GetLatencies {
        mean,
        p50: percentile(&times, 50),
        p99: percentile(&times, 99),
        found,
    }
}

/// 4 under load: the same gets while 64 writers make durable single-operation writes.
fn reads_under_write_load(
    s: &Scale,
    memory: Memory<FileStorage>,
    ids: &[usize],
    rows: &mut Vec<Row>,
) {
    let reader = memory.reader();
    let ids = &ids[..ids.len().min(s.lookups_under_load)];
    let idle = get_latencies(&reader, ids, s.load_window);
    let handle = start_writer(memory, Arc::new(Metrics::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..s.writers)
        .map(|w| {
            let (handle, stop) = (handle.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut written = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // New concepts (ids far above the ones read), so reads see the same data.
                    let op = concept_op(10_000_000 + w * 1_000_000 + written, None);
                    sutra_server::http::api::write_blocking(&handle, vec![op]).expect("write");
                    written += 1;
                }
                written
            })
        })
        .collect();
    // Let the writers reach full speed before measuring.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let busy = get_latencies(&reader, ids, s.load_window);
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written: usize = writers.into_iter().map(|t| t.join().expect("writer")).sum();
    handle.close();
    assert_eq!(
        idle.found, busy.found,
        "reads under load must see the same concepts"
    );
    let ratio = busy.mean.as_secs_f64() / idle.mean.as_secs_f64().max(1e-12);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    rows.push(Row {
        id: "4",
        workload: format!(
            "get by id while {} writers make durable writes ({} writes acknowledged during {:.1} s of gets)",
            s.writers,
            written,
            elapsed.as_secs_f64()
        ),
        sutra: format!(
            "mean {:.2} µs, p50 {:.2} µs, p99 {:.2} µs under load",
            us(busy.mean),
            us(busy.p50),
            us(busy.p99)
        ),
        peer: format!(
            "same gets idle: mean {:.2} µs, p50 {:.2} µs, p99 {:.2} µs",
            us(idle.mean),
            us(idle.p50),
            us(idle.p99)
        ),
        ratio: Some(ratio),
        target: "≤ 2× idle latency",
        met: Some(ratio <= 2.0),
    });
}

/// 5: shortest path and 2-hop neighbourhood.
fn graph(s: &Scale, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp");
    let mut rng = Rng::new(5);
    let n = s.graph_nodes;
    let edges: Vec<(usize, usize)> = (0..n * s.graph_degree)
        .map(|i| (i / s.graph_degree, rng.below(n as u64) as usize))
        .filter(|(a, b)| a != b)
        .collect();
    let storage = FileStorage::open(&dir.path().join("w5")).expect("storage");
    let (mut memory, _) = Memory::open(storage, Options::default()).expect("memory");
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        memory
            .write(chunk.iter().map(|&i| concept_op(i, None)).collect())
            .expect("concepts");
    }
    for chunk in edges.chunks(5000) {
        let ops = chunk
            .iter()
            .map(|&(a, b)| {
                Op::put_association(
                    ConceptId(a as u128 + 1),
                    ConceptId(b as u128 + 1),
                    Kind::Causal,
                    0.9,
                    1.0,
                    1,
                )
            })
            .collect();
        memory.write(ops).expect("edges");
    }
    let c = sqlite(&dir.path().join("w5.sqlite"));
    c.execute_batch("BEGIN").expect("begin");
    {
        let mut stmt = c
            .prepare(
                "INSERT OR IGNORE INTO edges (src, dst, kind, confidence) VALUES (?1, ?2, 1, 0.9)",
            )
            .expect("prepare");
        for &(a, b) in &edges {
            stmt.execute(params![a as i64, b as i64]).expect("edge");
        }
    }
    c.execute_batch("COMMIT").expect("commit");
    let pairs: Vec<(usize, usize)> = (0..s.graph_queries)
        .map(|_| (rng.below(n as u64) as usize, rng.below(n as u64) as usize))
        .collect();
    let depth = 4u32;
    let opts = PathOptions {
        max_depth: depth,
        visited_max: 2_000_000,
        direction: Direction::Forward,
        kinds: KindSet::ALL,
    };
    let db = memory.db();
    let started = Instant::now();
    let mut sutra_hops = Vec::new();
    for &(a, b) in &pairs {
        let r = db
            .shortest_path(ConceptId(a as u128 + 1), ConceptId(b as u128 + 1), &opts)
            .expect("path");
        sutra_hops.push(r.paths.first().map(|p| p.steps.len() as i64));
    }
    let sutra = rate(pairs.len(), started.elapsed());
    let mut stmt = c
        .prepare(
            "WITH RECURSIVE reach(node, depth) AS (SELECT ?1, 0 UNION SELECT e.dst, r.depth + 1 FROM reach r JOIN edges e ON e.src = r.node WHERE r.depth < ?3)
             SELECT min(depth) FROM reach WHERE node = ?2",
        )
        .expect("prepare");
    let started = Instant::now();
    let mut peer_hops = Vec::new();
    for &(a, b) in &pairs {
        let hops: Option<i64> = stmt
            .query_row(params![a as i64, b as i64, depth], |r| r.get(0))
            .expect("cte");
        peer_hops.push(hops);
    }
    let peer = rate(pairs.len(), started.elapsed());
    assert_eq!(
        sutra_hops, peer_hops,
        "both sides must find the same path lengths"
    );
    rows.push(Row {
        id: "5a",
        workload: format!(
            "shortest path (≤ {depth} hops), {n} concepts / {} associations",
            edges.len()
        ),
        sutra: fmt_rate(sutra, "queries"),
        peer: format!("SQLite recursive CTE: {}", fmt_rate(peer, "queries")),
        ratio: Some(sutra / peer),
        target: "≥ 10×",
        met: Some(sutra / peer >= 10.0),
    });
    let centres: Vec<usize> = (0..s.hood_queries)
        .map(|_| rng.below(n as u64) as usize)
        .collect();
    // Both sides answer the same question: every concept within two hops (with its distance) and
    // every association among them.
    type Hood = (Vec<(i64, i64)>, Vec<(i64, i64)>);
    let started = Instant::now();
    let mut sutra_hoods = Vec::with_capacity(centres.len());
    for &a in &centres {
        sutra_hoods.push(
            db.neighbourhood(
                ConceptId(a as u128 + 1),
                2,
                Direction::Forward,
                KindSet::ALL,
                2000,
            )
            .expect("hood"),
        );
    }
    let sutra = rate(centres.len(), started.elapsed());
    let sutra_hoods: Vec<Hood> = sutra_hoods
        .into_iter()
        .map(|h| {
            let id = |c: ConceptId| c.0 as i64 - 1;
            let mut nodes: Vec<(i64, i64)> = h
                .concepts
                .iter()
                .map(|&(c, d)| (id(c), i64::from(d)))
                .collect();
            let mut links: Vec<(i64, i64)> = h
                .associations
                .iter()
                .map(|a| (id(a.source), id(a.target)))
                .collect();
            nodes.sort_unstable();
            links.sort_unstable();
            (nodes, links)
        })
        .collect();
    // SQLite's best plan here is a breadth-first walk in the application over the primary key:
    // one single-statement recursive CTE that also lists the associations among the concepts
    // measured 4× slower.
    let mut out_stmt = c
        .prepare("SELECT dst FROM edges WHERE src = ?1")
        .expect("prepare");
    let started = Instant::now();
    let mut peer_rows = Vec::with_capacity(centres.len());
    for &a in &centres {
        let mut depth_of: HashMap<i64, i64> = HashMap::from([(a as i64, 0)]);
        let mut order = vec![a as i64];
        let mut outs: Vec<Vec<i64>> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let node = order[i];
            let dsts: Vec<i64> = out_stmt
                .query_map(params![node], |r| r.get(0))
                .expect("out")
                .collect::<Result<_, _>>()
                .expect("rows");
            let d = depth_of[&node];
            if d < 2 {
                for &t in &dsts {
                    if let std::collections::hash_map::Entry::Vacant(e) = depth_of.entry(t) {
                        e.insert(d + 1);
                        order.push(t);
                    }
                }
            }
            outs.push(dsts);
            i += 1;
        }
        let mut found: Vec<(i64, i64, i64)> = order.iter().map(|n| (0, *n, depth_of[n])).collect();
        for (n, dsts) in order.iter().zip(&outs) {
            found.extend(
                dsts.iter()
                    .filter(|t| depth_of.contains_key(t))
                    .map(|t| (1, *n, *t)),
            );
        }
        peer_rows.push(found);
    }
    let peer = rate(centres.len(), started.elapsed());
    let peer_hoods: Vec<Hood> = peer_rows
        .into_iter()
        .map(|found| {
            let (mut nodes, mut links): Hood = (Vec::new(), Vec::new());
            for (tag, x, y) in found {
                if tag == 0 {
                    nodes.push((x, y))
                } else {
                    links.push((x, y))
                }
            }
            nodes.sort_unstable();
            links.sort_unstable();
            (nodes, links)
        })
        .collect();
    assert!(
        sutra_hoods == peer_hoods,
        "both sides must find the same neighbourhoods (concepts, distances and associations)"
    );
    rows.push(Row {
        id: "5b",
        workload: "2-hop neighbourhood (concepts, distances, associations among them), same graph"
            .into(),
        sutra: fmt_rate(sutra, "queries"),
        peer: format!(
            "SQLite, breadth-first over the primary key: {}",
            fmt_rate(peer, "queries")
        ),
        ratio: Some(sutra / peer),
        target: "≥ 10×",
        met: Some(sutra / peer >= 10.0),
    });
}

/// The index parameters for workload 6: the defaults, or `SUTRA_BENCH_HNSW=ef_construction,ef_search`
/// (append `,heuristic` for the neighbour-selection heuristic) for a parameter sweep.
fn hnsw_override() -> HnswParams {
    let mut params = HnswParams::default();
    if let Ok(spec) = std::env::var("SUTRA_BENCH_HNSW") {
        let parts: Vec<&str> = spec.split(',').collect();
        let number = |i: usize| parts.get(i).and_then(|p| p.trim().parse::<usize>().ok());
        match (number(0), number(1)) {
            (Some(c), Some(q)) => {
                params.ef_construction = c;
                params.ef_search = q;
                params.heuristic = parts.get(2).is_some_and(|p| p.trim() == "heuristic");
            }
            _ => panic!("SUTRA_BENCH_HNSW must be ef_construction,ef_search[,heuristic]"),
        }
        eprintln!("workload 6 with {params:?}");
    }
    params
}

/// 6: vector search recall and speed, and index build rate.
fn vectors(s: &Scale, rows: &mut Vec<Row>) {
    // A larger or smaller set on request (recall at a fixed candidate list depends on size).
    let sized;
    let s = match std::env::var("SUTRA_BENCH_6_VECTORS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(vectors) => {
            sized = Scale { vectors, ..*s };
            &sized
        }
        None => s,
    };
    let mut rng = Rng::new(6);
    let centres: Vec<Vec<f32>> = (0..64)
        .map(|_| (0..DIM).map(|_| gaussian(&mut rng)).collect())
        .collect();
    let dir = tempfile::tempdir().expect("temp");
    let storage = FileStorage::open(&dir.path().join("w6")).expect("storage");
    let options = Options {
        hnsw: hnsw_override(),
        ..Options::default()
    };
    let (mut memory, _) = Memory::open(storage, options).expect("memory");
    // The same vectors again, indexed the way new vectors are: inserted into the growing graph.
    let storage = FileStorage::open(&dir.path().join("w6g")).expect("storage");
    let (mut grown, _) = Memory::open(storage, options).expect("memory");
    // The peer: exact search over one flat array of unit vectors (what a user writes by hand).
    let mut flat: Vec<f32> = Vec::with_capacity(s.vectors * DIM);
    for chunk in (0..s.vectors).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Op> = chunk
            .iter()
            .map(|&i| {
                let v = clustered(&mut rng, &centres);
                flat.extend(unit(&v));
                concept_op(i, Some(v))
            })
            .collect();
        memory.write(ops.clone()).expect("write");
        grown.write(ops).expect("write");
    }
    let started = Instant::now();
    memory.seal_vectors().expect("seal the vectors");
    let build = rate(s.vectors, started.elapsed());
    let started = Instant::now();
    while grown.index_vectors_step(1).expect("insert the vectors") {}
    let insert = rate(s.vectors, started.elapsed());
    let counts = grown.db().counts().vectors;
    assert_eq!(
        (counts.fresh, counts.segments),
        (0, 1),
        "all in the growing graph"
    );
    let queries: Vec<Vec<f32>> = (0..s.vector_queries)
        .map(|_| clustered(&mut rng, &centres))
        .collect();
    let search = |memory: &Memory<FileStorage>| {
        let db = memory.db();
        let started = Instant::now();
        let approx: Vec<Vec<ConceptId>> = queries
            .iter()
            .map(|q| {
                db.search_vectors(q, 10)
                    .expect("search")
                    .iter()
                    .map(|h| h.id)
                    .collect()
            })
            .collect();
        (approx, rate(queries.len(), started.elapsed()))
    };
    let (approx, sutra) = search(&memory);
    let (approx_grown, sutra_grown) = search(&grown);
    let started = Instant::now();
    let exact: Vec<Vec<ConceptId>> = queries
        .iter()
        .map(|q| {
            let q = unit(q);
            let mut scored: Vec<(f32, usize)> = flat
                .chunks_exact(DIM)
                .enumerate()
                .map(|(i, v)| (v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>(), i))
                .collect();
            let by_score =
                |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            scored.select_nth_unstable_by(9, by_score);
            scored.truncate(10);
            scored.sort_unstable_by(by_score);
            scored
                .iter()
                .map(|&(_, i)| ConceptId(i as u128 + 1))
                .collect()
        })
        .collect();
    let peer = rate(queries.len(), started.elapsed());
    let recall_of = |approx: &[Vec<ConceptId>]| {
        let found: usize = approx
            .iter()
            .zip(&exact)
            .map(|(a, e)| a.iter().filter(|id| e.contains(id)).count())
            .sum();
        found as f64 / (queries.len() * 10) as f64
    };
    let recall = recall_of(&approx);
    let recall_grown = recall_of(&approx_grown);
    rows.push(Row {
        id: "6",
        workload: format!(
            "vector search, {} × {DIM}-d clustered, one thread",
            s.vectors
        ),
        sutra: format!("{}, recall@10 {recall:.3}", fmt_rate(sutra, "queries")),
        peer: format!("exact search: {}", fmt_rate(peer, "queries")),
        ratio: Some(sutra / peer),
        target: "recall ≥ 0.95 at ≥ 2,000 queries/s",
        met: Some(recall >= 0.95 && sutra >= 2000.0),
    });
    rows.push(Row {
        id: "6",
        workload: format!("vector index build, {} vectors, one thread", s.vectors),
        sutra: fmt_rate(build, "vectors"),
        peer: "—".into(),
        ratio: None,
        target: "≥ 4,000 vectors/s",
        met: Some(build >= 4000.0),
    });
    rows.push(Row {
        id: "6",
        workload: format!(
            "the same {} vectors inserted one by one into the growing graph (how new vectors are indexed), one thread; then the same queries",
            s.vectors
        ),
        sutra: format!(
            "{} inserted; {}, recall@10 {recall_grown:.3}",
            fmt_rate(insert, "vectors"),
            fmt_rate(sutra_grown, "queries")
        ),
        peer: format!("exact search: {}", fmt_rate(peer, "queries")),
        ratio: Some(sutra_grown / peer),
        target: "≥ 4,000 vectors/s; recall ≥ 0.95 at ≥ 2,000 queries/s",
        met: Some(insert >= 4000.0 && recall_grown >= 0.95 && sutra_grown >= 2000.0),
    });
}

/// A query of workload 6b kept to measure recall: when it was sent and what it answered.
struct Sample {
    query: Vec<f32>,
    sent: Instant,
    hits: Vec<(ConceptId, f32)>,
}

/// Recall@10 of the sampled queries of workload 6b, measured once the window is over: the
/// truth for a query is the exact best 10 among the vectors acknowledged before it was sent
/// (`acked` gives when a concept's write was acknowledged) and any it returned (vectors written
/// while it ran may be found; they must not count against it). One sweep over the state's
/// embeddings on two threads, each vector scored against every query sent after it was
/// acknowledged, with the engine's own scoring. Returns (found, asked).
fn recall_after(
    db: &sutra_core::Db,
    samples: &[Sample],
    acked: &(dyn Fn(ConceptId) -> Option<Instant> + Sync),
) -> (usize, usize) {
    use sutra_core::{dot, inv_norm};
    const K: usize = 10;
    let units: Vec<Vec<f32>> = samples
        .iter()
        .map(|s| {
            let inv = inv_norm(&s.query);
            s.query.iter().map(|x| x * inv).collect()
        })
        .collect();
    // Samples were taken in order: those sent after an instant are a suffix.
    let sweep = |part: usize, parts: usize| {
        let mut best: Vec<Vec<(f32, ConceptId)>> = vec![Vec::with_capacity(K + 1); samples.len()];
        let mut floor = vec![f32::NEG_INFINITY; samples.len()];
        for c in db.concepts().skip(part).step_by(parts) {
            let (Some(v), Some(at)) = (c.embedding.as_deref(), acked(c.id)) else {
                continue;
            };
            let inv = inv_norm(v);
            let from = samples.partition_point(|s| s.sent <= at);
            for i in from..samples.len() {
                let score = dot(v, &units[i]) * inv;
                if score < floor[i] {
                    continue;
                }
                let b = &mut best[i];
                b.push((score, c.id));
                if b.len() > K {
                    b.sort_unstable_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
                    b.truncate(K);
                    floor[i] = b[K - 1].0;
                }
            }
        }
        best
    };
    let halves: Vec<Vec<Vec<(f32, ConceptId)>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|part| scope.spawn(move || sweep(part, 2)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("sweep"))
            .collect()
    });
    let (mut found, mut asked) = (0, 0);
    for (i, sample) in samples.iter().enumerate() {
        let mut truth: Vec<(f32, ConceptId)> = halves.iter().flat_map(|h| h[i].clone()).collect();
        truth.extend(sample.hits.iter().map(|&(id, score)| (score, id)));
        truth.sort_unstable_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        truth.dedup_by_key(|t| t.1);
        truth.truncate(K);
        found += sample
            .hits
            .iter()
            .filter(|h| truth.iter().any(|t| t.1 == h.0))
            .count();
        asked += truth.len();
    }
    (found, asked)
}

/// 6b: vectors inserted continuously (durable batches of 100 from 4 writers, paced to 20,000
/// vectors/s) while one thread queries (paced to 200 queries/s); the server's writer indexes
/// in the background as it would in production. Every 20th acknowledged batch is checked to be
/// searchable at once, every query's latency is kept, and recall@10 is measured on a sample of
/// the queries after the window (see [`recall_after`]): an exact search over millions of
/// vectors during the window would hold the state and take a core from the engine measured.
fn continuous_vectors(s: &Scale, rows: &mut Vec<Row>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const TARGET_RATE: f64 = 20_000.0;
    const BATCH: usize = 100;
    const WRITERS: usize = 4;
    const QUERY_RATE: f64 = 200.0;
    let seconds = std::env::var("SUTRA_BENCH_6B_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(s.continuous_secs);
    let window = Duration::from_secs(seconds);
    // About 300 recall samples whatever the window.
    let recall_every = window / 300;
    let dir = tempfile::tempdir().expect("temp");
    let storage = FileStorage::open(&dir.path().join("w6b")).expect("storage");
    let options = Options {
        dimension: Some(DIM as u32),
        ..Options::default()
    };
    let (memory, _) = Memory::open(storage, options).expect("memory");
    let metrics = Arc::new(Metrics::default());
    let handle = start_writer(memory, metrics.clone());
    let mut rng = Rng::new(66);
    let centres: Arc<Vec<Vec<f32>>> = Arc::new(
        (0..64)
            .map(|_| (0..DIM).map(|_| gaussian(&mut rng)).collect())
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let not_found = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (handle, stop, acknowledged, not_found, centres) = (
                handle.clone(),
                stop.clone(),
                acknowledged.clone(),
                not_found.clone(),
                centres.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = Rng::new(600 + w as u64);
                let mut batches = 0usize;
                // When each batch was acknowledged, by batch number, and how long each took.
                let mut acks = Vec::new();
                let mut write_times = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    // Paced: each writer's share of the target rate.
                    let due = Duration::from_secs_f64(
                        (batches * BATCH) as f64 / (TARGET_RATE / WRITERS as f64),
                    );
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    let first = w * 100_000_000 + batches * BATCH;
                    let vectors: Vec<Vec<f32>> =
                        (0..BATCH).map(|_| clustered(&mut rng, &centres)).collect();
                    let ops = vectors
                        .iter()
                        .enumerate()
                        .map(|(i, v)| concept_op(first + i, Some(v.clone())))
                        .collect();
                    let sent = Instant::now();
                    sutra_server::http::api::write_blocking(&handle, ops).expect("write");
                    let acked = Instant::now();
                    acks.push(acked);
                    write_times.push(acked - sent);
                    acknowledged.fetch_add(BATCH, Ordering::Relaxed);
                    batches += 1;
                    if batches % 20 != 1 {
                        continue;
                    }
                    // Acknowledged means searchable (checked on every 20th batch, to keep the
                    // check's own exact scans from taking the writers' CPU): its own vector
                    // finds the batch's last concept.
                    let last = vectors.last().expect("a batch");
                    let hits = handle.reader().search_vectors(last, 1).expect("search");
                    if hits.first().map(|h| h.id) != Some(ConceptId((first + BATCH) as u128)) {
                        not_found.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (acks, write_times)
            })
        })
        .collect();
    // Queries start once there is something to find.
    while acknowledged.load(Ordering::Relaxed) < 1000 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut latencies = Vec::new();
    let mut samples = Vec::new();
    let mut next_recall = Instant::now() + recall_every;
    let queries_started = Instant::now();
    while started.elapsed() < window {
        // Paced at QUERY_RATE, as an application's searches would be.
        let due = Duration::from_secs_f64(latencies.len() as f64 / QUERY_RATE);
        if let Some(wait) = due.checked_sub(queries_started.elapsed()) {
            std::thread::sleep(wait);
        }
        let q = clustered(&mut rng, &centres);
        let sent = Instant::now();
        let hits = handle.reader().search_vectors(&q, 10).expect("search");
        latencies.push(sent.elapsed());
        if Instant::now() >= next_recall {
            samples.push(Sample {
                query: q,
                sent,
                hits: hits.iter().map(|h| (h.id, h.score)).collect(),
            });
            next_recall += recall_every;
        }
    }
    let queries_elapsed = queries_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (acks, write_times): (Vec<Vec<Instant>>, Vec<Vec<Duration>>) = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .unzip();
    let mut write_times: Vec<Duration> = write_times.into_iter().flatten().collect();
    write_times.sort_unstable();
    let elapsed = started.elapsed();
    let counts = handle.reader().db().counts().vectors;
    let (found, asked) = {
        let db = handle.reader().db();
        let acked = |id: ConceptId| {
            let i = (id.0 as usize).checked_sub(1)?;
            acks.get(i / 100_000_000)?
                .get(i % 100_000_000 / BATCH)
                .copied()
        };
        recall_after(&db, &samples, &acked)
    };
    handle.close();
    let total = acknowledged.load(Ordering::Relaxed);
    latencies.sort_unstable();
    let at = |q: usize| percentile(&latencies, q);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let recall = found as f64 / asked.max(1) as f64;
    let ingest = rate(total, elapsed);
    assert_eq!(
        not_found.load(Ordering::Relaxed),
        0,
        "acknowledged vectors must be searchable at once"
    );
    rows.push(Row {
        id: "6b",
        workload: format!(
            "continuous vector insert while querying, {seconds} s ({total} vectors; at the end {} sealed in {} segments, {} fresh; {} seals and merges)",
            counts.sealed, counts.segments, counts.fresh, metrics.reseals()
        ),
        sutra: format!(
            "{} acknowledged and searchable (a batch of 100 acknowledged in p50 {:.1} ms, p99 {:.1} ms; the writer waited {:.0} s in all for the indexer); {} queries, {:.0}/s (paced to at most 200/s: a query starts when it is due or when the one before ends), p50 {:.2} ms, p99 {:.2} ms; recall@10 {recall:.3} ({} samples)",
            fmt_rate(ingest, "vectors"),
            ms(percentile(&write_times, 50)),
            ms(percentile(&write_times, 99)),
            metrics.index_wait().as_secs_f64(),
            latencies.len(),
            rate(latencies.len(), queries_elapsed),
            ms(at(50)),
            ms(at(99)),
            asked / 10
        ),
        peer: "—".into(),
        ratio: None,
        target: "≥ 20,000 vectors/s, recall@10 ≥ 0.95, query p99 ≤ 20 ms",
        met: Some(ingest >= 20_000.0 && recall >= 0.95 && ms(at(99)) <= 20.0),
    });
}

/// 7: open after a crash with a long log, and after a checkpoint.
fn recovery(s: &Scale, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("w7");
    {
        let (mut memory, _) = Memory::open(
            FileStorage::open(&path).expect("storage"),
            Options::default(),
        )
        .expect("memory");
        for chunk in (0..s.replay_records).collect::<Vec<_>>().chunks(1000) {
            for &i in chunk {
                memory.stage(vec![concept_op(i, None)]).expect("stage");
            }
            memory.commit().expect("commit");
        }
        // Dropped without a checkpoint: the next open replays every record.
    }
    let started = Instant::now();
    let (mut memory, report) = Memory::open(
        FileStorage::open(&path).expect("storage"),
        Options::default(),
    )
    .expect("reopen");
    let replay = rate(report.records_replayed as usize, started.elapsed());
    assert_eq!(report.records_replayed as usize, s.replay_records);
    rows.push(Row {
        id: "7",
        workload: format!("open after a crash with {} log records", s.replay_records),
        sutra: fmt_rate(replay, "records"),
        peer: "—".into(),
        ratio: None,
        target: "≥ 1,000,000 records/s",
        met: Some(replay >= 1_000_000.0),
    });
    memory.checkpoint().expect("checkpoint");
    drop(memory);
    let started = Instant::now();
    let (memory, report) = Memory::open(
        FileStorage::open(&path).expect("storage"),
        Options::default(),
    )
    .expect("reopen");
    let took = started.elapsed();
    assert_eq!(memory.stats().concepts as usize, s.replay_records);
    assert_eq!(report.records_replayed, 0);
    rows.push(Row {
        id: "7",
        workload: format!("open after a checkpoint of {} concepts", s.replay_records),
        sutra: format!("{:.3} s", took.as_secs_f64()),
        peer: "—".into(),
        ratio: None,
        target: "≤ 0.5 s (at 1,000,000)",
        met: Some(took.as_secs_f64() <= 0.5),
    });
}

/// 9: resident memory against the raw data size, measured in a fresh process so that memory
/// freed by the other workloads cannot hide (or inflate) what this one uses.
fn resident(s: &Scale, rows: &mut Vec<Row>) {
    let exe = std::env::current_exe().expect("own executable");
    let out = std::process::Command::new(exe)
        .args(["--resident-child", &s.memory_concepts.to_string()])
        .output()
        .expect("run the resident-memory child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    let (Some(fresh), Some(raw), Some(sealed), Some(seal_ms)) = (
        numbers.next(),
        numbers.next(),
        numbers.next(),
        numbers.next(),
    ) else {
        panic!(
            "the resident-memory child failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (state, used) in [
        ("vectors in the fresh tier".to_string(), fresh),
        (
            format!(
                "after sealing them into the HNSW graph ({:.0} s on one thread)",
                seal_ms as f64 / 1000.0
            ),
            sealed,
        ),
    ] {
        rows.push(Row {
            id: "9",
            workload: format!(
                "resident memory, {} concepts with {DIM}-d vectors, {state}",
                s.memory_concepts
            ),
            sutra: format!("{:.1} MiB", used as f64 / 1048576.0),
            peer: format!("raw data: {:.1} MiB", raw as f64 / 1048576.0),
            ratio: Some(used as f64 / raw as f64),
            target: "≤ 2×",
            met: Some(used as f64 / raw as f64 <= 2.0),
        });
    }
}

/// The child of [`resident`]: builds the memory and prints "used raw" in bytes.
fn resident_child(concepts: usize) {
    // Set up as the server sets its process up.
    sutra_server::heap::configure_allocator();
    let dir = tempfile::tempdir().expect("temp");
    let mut rng = Rng::new(9);
    let before = sutra_server::heap::resident_bytes();
    let (mut memory, _) = Memory::open(
        FileStorage::open(&dir.path().join("w9")).expect("storage"),
        Options::default(),
    )
    .expect("memory");
    let mut raw = 0u64;
    for chunk in (0..concepts).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Op> = chunk
            .iter()
            .map(|&i| {
                let v: Vec<f32> = (0..DIM).map(|_| gaussian(&mut rng)).collect();
                let op = concept_op(i, Some(v));
                if let Op::PutConcept { content, .. } = &op {
                    raw += content.len() as u64 + (DIM * 4) as u64;
                }
                op
            })
            .collect();
        memory.write(ops).expect("write");
    }
    // Measured twice: with every vector in the exact fresh tier (just written), and after the
    // HNSW graph is built over all of them (what a memory settles into).
    let fresh = sutra_server::heap::resident_bytes().saturating_sub(before);
    // Printed at once: the sealing below takes minutes at 1,000,000.
    println!("{fresh} {raw}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let started = Instant::now();
    if std::env::var_os("SUTRA_BENCH_9_GROW").is_some() {
        // Indexed as the server indexes new vectors: inserted into the growing graph.
        while memory.index_vectors_step(1).expect("insert the vectors") {}
    } else {
        memory.seal_vectors().expect("seal the vectors");
    }
    // What the server's indexer does after a round of builds: the build's freed temporaries go
    // back to the system.
    sutra_server::heap::release_free_memory();
    let sealed = sutra_server::heap::resident_bytes().saturating_sub(before);
    println!("{sealed} {}", started.elapsed().as_millis());
    drop(memory);
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn print_row(r: &Row) {
    println!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        r.id,
        r.workload,
        r.sutra,
        r.peer,
        r.ratio.map_or("—".to_string(), |x| format!("{x:.2}×")),
        r.target,
        match r.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        }
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--resident-child") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        resident_child(n);
        return;
    }
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let quick = args.iter().any(|a| a == "--quick");
    let scale = if quick { Scale::quick() } else { Scale::full() };
    println!(
        "Sutra benchmarks ({} run) on {}\n",
        if quick { "quick" } else { "full" },
        machine()
    );
    println!("| # | workload | Sutra | peer | ratio | target | met |");
    println!("|---|---|---|---|---|---|---|");
    type Workload = fn(&Scale, &mut Vec<Row>);
    let workloads: [(&str, Workload); 8] = [
        ("1 (concurrent durable writes)", concurrent_writes),
        ("2 (durable writes over HTTP)", http_writes),
        ("3 and 4 (bulk import, lookups)", bulk_and_lookups),
        ("5 (graph)", graph),
        ("6 (vectors)", vectors),
        ("6b (continuous vector insert)", continuous_vectors),
        ("7 (recovery)", recovery),
        ("9 (resident memory)", resident),
    ];
    // Rows are printed as each workload finishes, so a long run shows its progress.
    for (name, run) in workloads {
        // `--only 6` runs workload 6, not 6b: the first word of the name must match.
        if only
            .as_deref()
            .is_some_and(|o| name.split_whitespace().next() != Some(o))
        {
            continue;
        }
        eprintln!("workload {name}…");
        let mut rows = Vec::new();
        run(&scale, &mut rows);
        for row in &rows {
            print_row(row);
        }
    }
}
