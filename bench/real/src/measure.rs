//! The measurements: the exact top ten (the ground truth), Sutra's index, and hnswlib's.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sutra_core::sim::SimDisk;
use sutra_core::{ConceptId, ConceptInput, Memory, Op, Options};

use crate::embed::Data;
use crate::{env_count, fail};

/// Results per query.
const K: usize = 10;
/// Vectors written per batch.
const WRITE_BATCH: usize = 1_000;
/// Times each effort's queries are run, on each side; the fastest run counts (on a shared
/// machine a run can lose its core for a while, and the noise is all on the slow side).
const REPEATS: usize = 3;

/// Recall@10 and queries/s at one search effort.
pub(crate) struct Point {
    pub(crate) ef: u32,
    pub(crate) recall: f64,
    pub(crate) per_s: f64,
}

/// One side's build rate and its recall/speed curve, by increasing effort.
pub(crate) struct Curve {
    pub(crate) build_per_s: f64,
    pub(crate) points: Vec<Point>,
}

/// Queries/s at recall `level`, interpolated (in log queries/s) between the two efforts whose
/// recalls bracket it; the lowest effort's speed if that already reaches it (so a side is never
/// credited with more than it was measured at); `None` if no effort reaches it.
pub(crate) fn at_recall(curve: &Curve, level: f64) -> Option<f64> {
    let first = curve.points.first()?;
    if first.recall >= level {
        return Some(first.per_s);
    }
    curve.points.windows(2).find_map(|w| {
        let (a, b) = (&w[0], &w[1]);
        (a.recall < level && b.recall >= level).then(|| {
            let t = (level - a.recall) / (b.recall - a.recall);
            (a.per_s.ln() + t * (b.per_s.ln() - a.per_s.ln())).exp()
        })
    })
}

/// The row numbers of the `K` vectors nearest each query (exhaustive, by cosine: the vectors
/// are unit length), from the cache if computed before; also written there for the peer.
pub(crate) fn truth(cache: &Path, data: &Data) -> Vec<[u32; K]> {
    let path = data
        .vectors_path
        .parent()
        .unwrap_or(cache)
        .join("truth.u32");
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == data.query_rows() * K * 4 {
            return bytes
                .chunks_exact(K * 4)
                .map(|row| {
                    let mut ids = [0u32; K];
                    for (id, b) in ids.iter_mut().zip(row.chunks_exact(4)) {
                        *id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    }
                    ids
                })
                .collect();
        }
    }
    let started = Instant::now();
    let queries: Vec<usize> = (0..data.query_rows()).collect();
    let halves: Vec<&[usize]> = queries.chunks(queries.len().div_ceil(2).max(1)).collect();
    let truth: Vec<[u32; K]> = std::thread::scope(|s| {
        let workers: Vec<_> = halves
            .into_iter()
            .map(|part| s.spawn(move || part.iter().map(|&q| nearest(data, q)).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| fail("a ground-truth thread panicked"))
            })
            .collect()
    });
    eprintln!("workload 10: ground truth in {:.0?}", started.elapsed());
    let bytes: Vec<u8> = truth
        .iter()
        .flatten()
        .flat_map(|id| id.to_le_bytes())
        .collect();
    if let Err(e) = std::fs::write(&path, bytes) {
        fail(format!("cannot write {}: {e}", path.display()));
    }
    truth
}

fn nearest(data: &Data, q: usize) -> [u32; K] {
    let query = data.query(q);
    let mut scored: Vec<(f32, u32)> = (0..data.rows())
        .map(|i| {
            let v = data.vector(i);
            (
                v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>(),
                i as u32,
            )
        })
        .collect();
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    scored.select_nth_unstable_by(K - 1, order);
    scored.truncate(K);
    scored.sort_unstable_by(order);
    let mut ids = [0u32; K];
    for (id, (_, i)) in ids.iter_mut().zip(scored) {
        *id = i;
    }
    ids
}

fn recall(found: &[Vec<u32>], truth: &[[u32; K]]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|id| t.contains(id)).count())
        .sum();
    hits as f64 / (K * truth.len()) as f64
}

/// Sutra: a memory (in memory, on the simulated disk: the index is what is measured) holding
/// every text's vector, indexed as the background indexer does (the growing graph), then each
/// query through the engine's own search at every effort in `efs`, one thread.
pub(crate) fn sutra(data: &Data, truth: &[[u32; K]], efs: &[u32]) -> Curve {
    let disk = SimDisk::new(10);
    let mut options = Options {
        dimension: Some(data.dim as u32),
        ..Options::default()
    };
    if let Some(efc) = env_count("SUTRA_BENCH_10_EF_CONSTRUCTION") {
        options.hnsw.ef_construction = efc;
        eprintln!("workload 10: Sutra with {:?}", options.hnsw);
    }
    let (mut memory, _) =
        Memory::open(disk.open(), options).unwrap_or_else(|e| fail(format!("open: {e}")));
    for start in (0..data.rows()).step_by(WRITE_BATCH) {
        let ops: Vec<Op> = (start..(start + WRITE_BATCH).min(data.rows()))
            .map(|i| {
                let mut input = ConceptInput::new(format!("gcide entry {i}"));
                input.id = Some(ConceptId(i as u128 + 1));
                input.embedding = Some(data.vector(i).to_vec());
                Op::put_concept(input, 1_700_000_000_000)
            })
            .collect();
        memory
            .write(ops)
            .unwrap_or_else(|e| fail(format!("write: {e}")));
    }
    let started = Instant::now();
    while memory
        .index_vectors_step(1)
        .unwrap_or_else(|e| fail(format!("indexing: {e}")))
    {}
    let build_per_s = data.rows() as f64 / started.elapsed().as_secs_f64();
    let counts = memory.stats().vectors;
    if counts.fresh != 0 || counts.segments != 1 {
        fail(format!("indexing left {counts:?}"));
    }
    let db = memory.db();
    let search = |ef: u32| -> Vec<Vec<u32>> {
        (0..data.query_rows())
            .map(|q| {
                db.search_vectors(data.query(q), K as u32, Some(ef))
                    .unwrap_or_else(|e| fail(format!("search: {e}")))
                    .iter()
                    .map(|hit| (hit.id.0 - 1) as u32)
                    .collect()
            })
            .collect()
    };
    // Once untimed, so that the first effort measured does not pay for a cold graph.
    search(64);
    let points = efs
        .iter()
        .map(|&ef| {
            let mut fastest = f64::MAX;
            let mut found = Vec::new();
            for _ in 0..REPEATS {
                let started = Instant::now();
                found = search(ef);
                fastest = fastest.min(started.elapsed().as_secs_f64());
            }
            Point {
                ef,
                recall: recall(&found, truth),
                per_s: data.query_rows() as f64 / fastest,
            }
        })
        .collect();
    Curve {
        build_per_s,
        points,
    }
}

/// hnswlib (`bench/peers/hnswlib_peer.py`, PyPI's hnswlib and numpy) on the same files, M 16 and
/// `ef_construction` 200, each effort in `efs`, one thread.
pub(crate) fn hnswlib(data: &Data, efs: &[u32]) -> Curve {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../peers/hnswlib_peer.py");
    let truth = data
        .vectors_path
        .parent()
        .map(|d| d.join("truth.u32"))
        .unwrap_or_else(|| fail("no cache folder"));
    let efs: Vec<String> = efs.iter().map(u32::to_string).collect();
    let output = Command::new("python3")
        .arg(&script)
        .arg(&data.vectors_path)
        .arg(&data.queries_path)
        .arg(&truth)
        .arg(data.dim.to_string())
        .args(["16", "200"])
        .arg(efs.join(","))
        .arg(REPEATS.to_string())
        .output()
        .unwrap_or_else(|e| fail(format!("python3 did not start: {e}")));
    if !output.status.success() {
        fail(format!(
            "the hnswlib peer failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| fail(format!("the hnswlib peer's answer: {e}")));
    let number = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| fail(format!("the hnswlib peer's answer has no {key}")))
    };
    let points = answer
        .get("curve")
        .and_then(serde_json::Value::as_array)
        .unwrap_or_else(|| fail("the hnswlib peer's answer has no curve"))
        .iter()
        .map(|p| Point {
            ef: number(p, "ef") as u32,
            recall: number(p, "recall"),
            per_s: number(p, "per_s"),
        })
        .collect();
    Curve {
        build_per_s: number(&answer, "build_per_s"),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(f64, f64)]) -> Curve {
        Curve {
            build_per_s: 1.0,
            points: points
                .iter()
                .enumerate()
                .map(|(i, &(recall, per_s))| Point {
                    ef: i as u32,
                    recall,
                    per_s,
                })
                .collect(),
        }
    }

    #[test]
    fn speed_at_a_recall_is_interpolated_between_the_efforts_that_bracket_it() {
        let c = curve(&[(0.90, 10_000.0), (0.96, 4_000.0), (0.99, 1_000.0)]);
        assert_eq!(
            at_recall(&c, 0.85),
            Some(10_000.0),
            "the lowest effort already reaches it"
        );
        let near = |level: f64, expected: f64| {
            let got = at_recall(&c, level).expect("bracketed");
            assert!(
                (got - expected).abs() < 1.0,
                "{got} at {level}, expected {expected}"
            );
        };
        near(0.96, 4_000.0);
        // Halfway in recall: the geometric middle in speed.
        near(0.93, 6_324.6);
        near(0.975, 2_000.0);
        assert_eq!(at_recall(&c, 0.995), None, "never reached");
    }
}
