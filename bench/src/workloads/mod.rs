//! The workloads, each against its peer, and what they share: the scale of a run, a table row,
//! the data they generate, the peer's setup.
//!
//! - [`writes`]: 1 and 2, durable writes (in process, over HTTP).
//! - [`reads`]: 3 and 4, bulk import and lookups (also under write load).
//! - [`graph`]: 5, paths and neighbourhoods.
//! - [`vectors`]: 6 and 6b, vector search and continuous insertion.
//! - [`recovery`]: 7, opening after a crash.
//! - [`resident`]: 9, resident memory.

pub(crate) mod graph;
pub(crate) mod reads;
pub(crate) mod recovery;
pub(crate) mod resident;
pub(crate) mod vectors;
pub(crate) mod writes;

pub(crate) use rusqlite::{params, Connection};
pub(crate) use std::collections::HashMap;
pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};
pub(crate) use sutra_bench::http::HttpClient;
pub(crate) use sutra_core::sim::Rng;
pub(crate) use sutra_core::{
    ConceptId, ConceptInput, Direction, HnswParams, Kind, KindSet, Memory, Op, Options, PathOptions,
};
pub(crate) use sutra_server::files::storage::FileStorage;
pub(crate) use sutra_server::memories::metrics::Metrics;
pub(crate) use sutra_server::memories::writer::{MemoryHandle, WriterConfig};

pub(crate) const DIM: usize = 128;

#[derive(Clone, Copy)]
pub(crate) struct Scale {
    pub(crate) writers: usize,
    pub(crate) writes_per_writer: usize,
    pub(crate) bulk: usize,
    pub(crate) lookups: usize,
    pub(crate) lookups_under_load: usize,
    pub(crate) load_window: Duration,
    pub(crate) http_writes_per_connection: usize,
    pub(crate) graph_nodes: usize,
    pub(crate) graph_degree: usize,
    pub(crate) graph_queries: usize,
    pub(crate) hood_queries: usize,
    pub(crate) vectors: usize,
    pub(crate) vector_queries: usize,
    pub(crate) replay_records: usize,
    pub(crate) continuous_secs: u64,
    pub(crate) memory_concepts: usize,
}

impl Scale {
    pub(crate) fn quick() -> Scale {
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

    pub(crate) fn full() -> Scale {
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

pub(crate) struct Row {
    pub(crate) id: &'static str,
    pub(crate) workload: String,
    pub(crate) sutra: String,
    pub(crate) peer: String,
    pub(crate) ratio: Option<f64>,
    pub(crate) target: &'static str,
    pub(crate) met: Option<bool>,
}

pub(crate) fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

pub(crate) fn fmt_rate(r: f64, unit: &str) -> String {
    if r >= 1e6 {
        format!("{:.2} M {unit}/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k {unit}/s", r / 1e3)
    } else {
        format!("{r:.1} {unit}/s")
    }
}

pub(crate) fn gaussian(rng: &mut Rng) -> f32 {
    (0..6).map(|_| rng.unit_f32()).sum::<f32>() - 3.0
}

pub(crate) fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

pub(crate) fn clustered(rng: &mut Rng, centres: &[Vec<f32>]) -> Vec<f32> {
    let c = &centres[rng.below(centres.len() as u64) as usize];
    c.iter().map(|x| x + 0.35 * gaussian(rng)).collect()
}

pub(crate) fn concept_op(i: usize, vector: Option<Vec<f32>>) -> Op {
    let mut input = ConceptInput::new(format!("concept number {i} of the benchmark"));
    input.id = Some(ConceptId(i as u128 + 1));
    input.embedding = vector;
    Op::put_concept(input, 1_700_000_000_000 + i as u64)
}

pub(crate) fn sqlite(path: &std::path::Path) -> Connection {
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

pub(crate) fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The server's writer thread (group commit, background indexing) on `memory`.
pub(crate) fn start_writer(
    memory: Memory<FileStorage>,
    metrics: Arc<Metrics>,
) -> Arc<MemoryHandle> {
    Arc::new(
        MemoryHandle::start("bench", memory, WriterConfig::default(), metrics).expect("writer"),
    )
}

/// The `q`th percentile of sorted durations.
pub(crate) fn percentile(sorted: &[Duration], q: usize) -> Duration {
    sorted
        .get(sorted.len() * q / 100)
        .copied()
        .unwrap_or_default()
}
