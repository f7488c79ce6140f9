//! Workload 7: opening after a crash with a long log, and after a checkpoint.

use super::*;

/// Opens the memory at `path`, timed.
fn reopen(path: &std::path::Path) -> (Memory<FileStorage>, sutra_core::RecoveryReport, Duration) {
    let started = Instant::now();
    let (memory, report) = Memory::open(
        FileStorage::open(path).expect("storage"),
        Options::default(),
    )
    .expect("reopen");
    (memory, report, started.elapsed())
}

/// 7: open after a crash with a long log, and after a checkpoint.
pub(crate) fn recovery(s: &Scale, rows: &mut Vec<Row>) {
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
    let (mut memory, report, took) = reopen(&path);
    let replay = rate(report.records_replayed as usize, took);
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
    let (memory, report, took) = reopen(&path);
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
    // The text index is built by the first search by words, not by opening.
    let started = Instant::now();
    let hits = memory
        .db()
        .search_text("benchmark number 77", 10)
        .expect("text search");
    let took = started.elapsed();
    assert_eq!(
        hits[0].id,
        sutra_core::ConceptId(78),
        "the concept with 77 in it first"
    );
    rows.push(Row {
        id: "7",
        workload: format!(
            "first search by words after that open (builds the text index of {} concepts)",
            s.replay_records
        ),
        sutra: format!("{:.3} s", took.as_secs_f64()),
        peer: "—".into(),
        ratio: None,
        target: "—",
        met: None,
    });
    // Then a search whose common words are in every text: two postings per concept scored.
    let started = Instant::now();
    let again = memory
        .db()
        .search_text("benchmark number 77", 10)
        .expect("text search");
    let took = started.elapsed();
    assert_eq!(again, hits);
    rows.push(Row {
        id: "7",
        workload: format!(
            "then the same search by words, the index built: its words \"benchmark\" and \"number\" are in all {} texts",
            s.replay_records
        ),
        sutra: format!("{:.1} ms", took.as_secs_f64() * 1e3),
        peer: "—".into(),
        ratio: None,
        target: "—",
        met: None,
    });
    // Once built, the index is stored by the checkpoint and loaded by the next open.
    let index_bytes = memory.db().text_index_bytes();
    let text_bytes: usize = memory.db().concepts().map(|c| c.content.len()).sum();
    let mut memory = memory;
    memory.checkpoint().expect("checkpoint");
    drop(memory);
    let (memory, _, took) = reopen(&path);
    assert!(memory.db().text_index_built(), "loaded with the snapshot");
    let started = Instant::now();
    let loaded = memory
        .db()
        .search_text("benchmark number 77", 10)
        .expect("text search");
    let search = started.elapsed();
    assert_eq!(loaded, hits, "the loaded index answers as the built one");
    let loaded_bytes = memory.db().text_index_bytes();
    rows.push(Row {
        id: "7",
        workload: format!(
            "open after a checkpoint of {} concepts with their text index (stored once built); then a search by words",
            s.replay_records
        ),
        sutra: format!(
            "{:.3} s; the search {:.2} ms",
            took.as_secs_f64(),
            search.as_secs_f64() * 1e3
        ),
        peer: "—".into(),
        ratio: None,
        target: "≤ 0.5 s (at 1,000,000)",
        met: Some(took.as_secs_f64() <= 0.5),
    });
    rows.push(Row {
        id: "7",
        workload: format!(
            "the text index in memory, {} concepts: as loaded from the snapshot (as built from the texts)",
            s.replay_records
        ),
        sutra: format!(
            "{:.1} MiB ({:.1} MiB)",
            loaded_bytes as f64 / (1024.0 * 1024.0),
            index_bytes as f64 / (1024.0 * 1024.0)
        ),
        peer: format!("raw text: {:.1} MiB", text_bytes as f64 / (1024.0 * 1024.0)),
        ratio: Some(loaded_bytes as f64 / text_bytes.max(1) as f64),
        target: "—",
        met: None,
    });
}
