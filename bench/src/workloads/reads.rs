//! Workload 3 and 4: bulk import with vectors, lookups by id, and lookups under write load.

use super::*;

/// 3 and 4: bulk import with vectors, then lookups by id.
pub(crate) fn bulk_and_lookups(s: &Scale, rows: &mut Vec<Row>) {
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
