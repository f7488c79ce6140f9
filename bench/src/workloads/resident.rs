//! Workload 9: resident memory against the raw data size, in a fresh process.

use super::*;

/// 9: resident memory against the raw data size, measured in a fresh process so that memory
/// freed by the other workloads cannot hide (or inflate) what this one uses.
pub(crate) fn resident(s: &Scale, rows: &mut Vec<Row>) {
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
pub(crate) fn resident_child(concepts: usize) {
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
