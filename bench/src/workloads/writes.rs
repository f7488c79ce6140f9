//! Workload 1 and 2: durable writes from concurrent writers, in process and over HTTP.

use super::*;

/// 1: durable single-operation writes from 64 concurrent writers.
pub(crate) fn concurrent_writes(s: &Scale, rows: &mut Vec<Row>) {
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
pub(crate) fn http_writes(s: &Scale, rows: &mut Vec<Row>) {
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
        home: sutra_server::memories::home::Home::Local(registry.clone()),
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
