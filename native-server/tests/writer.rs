//! The writer's back-pressure on vectors: while vectors arrive faster than they are indexed, it
//! waits for the indexer once the fresh tier (which every search scans whole) is over its bound,
//! and never waits when no indexer is running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use sutra_core::{ConceptId, Memory, Op, Options};
use sutra_server::files::storage::FileStorage;
use sutra_server::memories::metrics::Metrics;
use sutra_server::memories::writer::{MemoryHandle, WriterConfig};

const DIMENSION: usize = 16;
const WRITERS: u64 = 4;
const BATCH: u64 = 50;

/// Vector `n`: pseudo-random components in [-0.5, 0.5), a different vector for every `n`.
fn vector(n: u64) -> Vec<f32> {
    (0..DIMENSION as u64)
        .map(|i| {
            let mut x = (n * DIMENSION as u64 + i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 32;
            (x % 10_000) as f32 / 10_000.0 - 0.5
        })
        .collect()
}

/// The write that learns concept `n + 1` with vector `n`.
fn learn(n: u64) -> Op {
    Op::PutConcept {
        id: ConceptId(u128::from(n) + 1),
        content: format!("vector {n}"),
        embedding: Some(vector(n)),
        strength: 1.0,
        confidence: 1.0,
        metadata: Default::default(),
        at_ms: 1,
        created_ms: None,
    }
}

/// Opens a memory of vectors of [`DIMENSION`] in `dir` and starts its writer with `config`.
fn start(dir: &std::path::Path, config: WriterConfig) -> (Arc<MemoryHandle>, Arc<Metrics>) {
    let storage = FileStorage::open(&dir.join("m")).expect("storage");
    let options = Options {
        dimension: Some(DIMENSION as u32),
        ..Options::default()
    };
    let (memory, _) = Memory::open(storage, options).expect("open");
    let metrics = Arc::new(Metrics::default());
    let handle = MemoryHandle::start("m", memory, config, metrics.clone()).expect("start");
    (Arc::new(handle), metrics)
}

/// Starts a memory with `config`, writes `batches` batches of vectors from each of the writers
/// (each batch acknowledged before the next), and returns the most vectors seen in the fresh
/// tier right after an acknowledgement, the handle, and the metrics.
fn write_vectors(
    dir: &std::path::Path,
    config: WriterConfig,
    batches: u64,
) -> (u64, MemoryHandle, Arc<Metrics>) {
    let (handle, metrics) = start(dir, config);
    let most_fresh = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (handle, most_fresh) = (handle.clone(), most_fresh.clone());
            std::thread::spawn(move || {
                for b in 0..batches {
                    let first = (w * batches + b) * BATCH;
                    let ops = (first..first + BATCH).map(learn).collect();
                    sutra_server::http::api::write_blocking(&handle, ops).expect("write");
                    let fresh = handle.reader().stats().vectors.fresh;
                    most_fresh.fetch_max(fresh, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    let handle = Arc::into_inner(handle).expect("the writers are done");
    (most_fresh.load(Ordering::Relaxed), handle, metrics)
}

#[test]
fn writes_wait_for_the_indexer_once_the_fresh_tier_is_over_its_bound() {
    let dir = tempfile::tempdir().expect("temp");
    let bound_vectors = 1_000;
    let config = WriterConfig {
        reseal_fresh_min: 100,
        fresh_bytes_max: bound_vectors * DIMENSION as u64,
        ..WriterConfig::default()
    };
    let batches = 40;
    let (most_fresh, handle, metrics) = write_vectors(dir.path(), config, batches);
    // The writer checks between groups: a group (one batch per writer here) can go over.
    assert!(
        most_fresh <= bound_vectors + WRITERS * BATCH,
        "the fresh tier reached {most_fresh} vectors, bound {bound_vectors}"
    );
    assert!(
        metrics.index_wait() > std::time::Duration::ZERO,
        "the writer never waited for the indexer"
    );
    // Nothing acknowledged was lost on the way, and each vector finds itself.
    let total = WRITERS * batches * BATCH;
    let stats = handle.reader().stats();
    assert_eq!(stats.concepts, total);
    assert_eq!(stats.vectors.sealed + stats.vectors.fresh, total);
    for n in (0..total).step_by(397) {
        let hits = handle
            .reader()
            .search_vectors(&vector(n), 1, None, None)
            .expect("search");
        assert!((hits[0].score - 1.0).abs() < 1e-5, "vector {n}: {hits:?}");
    }
    handle.close();
}

#[test]
fn writes_never_wait_when_no_indexer_runs() {
    let dir = tempfile::tempdir().expect("temp");
    let config = WriterConfig {
        // No background indexing (as in an offline import).
        reseal_fresh_min: u64::MAX,
        fresh_bytes_max: 100 * DIMENSION as u64,
        ..WriterConfig::default()
    };
    let (most_fresh, handle, metrics) = write_vectors(dir.path(), config, 10);
    assert_eq!(most_fresh, WRITERS * 10 * BATCH);
    assert_eq!(metrics.index_wait(), std::time::Duration::ZERO);
    handle.close();
}

/// Searches run with no lock while the writer applies writes and the indexer moves vectors
/// from the fresh tier into the graph: every vector acknowledged before a search began is found
/// by it (its own vector scores 1), and every hit is a concept that exists with an exact score.
#[test]
fn searches_during_writes_and_indexing_find_every_acknowledged_vector() {
    let dir = tempfile::tempdir().expect("temp");
    let config = WriterConfig {
        reseal_fresh_min: 100,
        fresh_bytes_max: 2_000 * DIMENSION as u64,
        ..WriterConfig::default()
    };
    let (handle, _) = start(dir.path(), config);
    // The highest n acknowledged so far (all below it are acknowledged too: one writer).
    let acknowledged = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searcher = {
        let (handle, acknowledged, done) = (handle.clone(), acknowledged.clone(), done.clone());
        std::thread::spawn(move || {
            let mut searches = 0u64;
            let mut n = 0u64;
            while !done.load(Ordering::Acquire) {
                let upto = acknowledged.load(Ordering::Acquire);
                if upto == 0 {
                    std::thread::yield_now();
                    continue;
                }
                n = (n + 7919) % upto;
                let query = vector(n);
                let hits = handle
                    .reader()
                    .search_vectors(&query, 3, None, None)
                    .expect("search");
                assert!(
                    hits.first().is_some_and(|h| (h.score - 1.0).abs() < 1e-5),
                    "vector {n} (acknowledged) not found: {hits:?}"
                );
                let db = handle.reader().db();
                for h in &hits {
                    let concept = db.concept(h.id).expect("a hit that exists");
                    let v = concept.embedding.as_deref().expect("with its vector");
                    let exact = sutra_core::dot(v, &query)
                        * sutra_core::inv_norm(v)
                        * sutra_core::inv_norm(&query);
                    assert!((h.score - exact).abs() < 1e-5, "{h:?} is {exact}");
                }
                searches += 1;
            }
            searches
        })
    };
    let batches = 120;
    for b in 0..batches {
        let first = b * BATCH;
        let ops = (first..first + BATCH).map(learn).collect();
        sutra_server::http::api::write_blocking(&handle, ops).expect("write");
        acknowledged.store(first + BATCH, Ordering::Release);
    }
    done.store(true, Ordering::Release);
    let searches = searcher.join().expect("no search failed");
    assert!(searches > 0);
    let stats = handle.reader().stats();
    assert_eq!(stats.vectors.sealed + stats.vectors.fresh, batches * BATCH);
    assert!(
        stats.vectors.sealed > 0,
        "the indexer ran meanwhile: {stats:?}"
    );
    Arc::into_inner(handle).expect("one handle").close();
}

/// Waits (up to 15 s) until `handle`'s memory holds no fresh vectors; the stats then.
fn indexed(handle: &MemoryHandle) -> sutra_core::Stats {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let stats = handle.reader().stats();
        if stats.vectors.fresh == 0 || std::time::Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Each of vectors `ns` finds its own concept first.
fn assert_found_first(handle: &MemoryHandle, ns: &[u64]) {
    for &n in ns {
        let hits = handle
            .reader()
            .search_vectors(&vector(n), 1, None, None)
            .expect("search");
        assert_eq!(hits[0].id, ConceptId(u128::from(n) + 1), "vector {n}");
    }
}

/// A quiet memory's last vectors are indexed with no write after them (fewer than the budget
/// that makes indexing due while writes come), and so are vectors found at open.
#[test]
fn a_quiet_memory_indexes_its_last_vectors_and_those_it_opens_with() {
    let dir = tempfile::tempdir().expect("temp");
    // Written with no background indexing (as `sutra import` does), closed: fresh on disk.
    let offline = WriterConfig {
        reseal_fresh_min: u64::MAX,
        ..WriterConfig::default()
    };
    let (handle, _) = start(dir.path(), offline);
    sutra_server::http::api::write_blocking(&handle, (0..300).map(learn).collect()).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(2_600));
    assert_eq!(
        handle.reader().stats().vectors.fresh,
        300,
        "no background indexing: all fresh"
    );
    Arc::into_inner(handle).expect("one handle").close();

    // Opened by a server's writer: indexed with no write.
    let (handle, metrics) = start(dir.path(), WriterConfig::default());
    let opened = indexed(&handle);
    assert_eq!(
        (opened.vectors.fresh, opened.vectors.sealed),
        (0, 300),
        "{opened:?}"
    );
    assert!(metrics.reseals() > 0, "the indexer ran");
    // A few more, well under the budget of 5,000, then nothing: indexed once quiet.
    sutra_server::http::api::write_blocking(&handle, (300..310).map(learn).collect())
        .expect("write");
    assert_eq!(handle.reader().stats().vectors.fresh, 10);
    let quiet = indexed(&handle);
    assert_eq!(
        (quiet.vectors.fresh, quiet.vectors.sealed),
        (0, 310),
        "{quiet:?}"
    );
    assert_found_first(&handle, &[0, 299, 305, 309]);
    Arc::into_inner(handle).expect("one handle").close();
}

/// A memory filled over several runs of the server, each indexing its vectors and checkpointing
/// as it closes: every run's vectors go on into the one growing graph (a snapshot stores it
/// packed, the next open takes it up again), so four runs leave one graph, not four segments.
#[test]
fn runs_of_the_server_leave_one_graph_behind_not_one_each() {
    let dir = tempfile::tempdir().expect("temp");
    for run in 0..4u64 {
        let (handle, _) = start(dir.path(), WriterConfig::default());
        let first = run * 300;
        sutra_server::http::api::write_blocking(&handle, (first..first + 300).map(learn).collect())
            .expect("write");
        let stats = indexed(&handle);
        assert_eq!(
            (
                stats.vectors.fresh,
                stats.vectors.sealed,
                stats.vectors.segments
            ),
            (0, first + 300, 1),
            "run {run}: {stats:?}"
        );
        Arc::into_inner(handle).expect("one handle").close();
    }
    let (handle, _) = start(dir.path(), WriterConfig::default());
    let stats = handle.reader().stats();
    assert_eq!(
        (
            stats.vectors.fresh,
            stats.vectors.sealed,
            stats.vectors.segments
        ),
        (0, 1_200, 1),
        "{stats:?}"
    );
    assert_found_first(&handle, &[0, 299, 300, 899, 1_199]);
    Arc::into_inner(handle).expect("one handle").close();
}
