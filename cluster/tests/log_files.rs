//! The Raft log on files keeps Sutra's log rules: what was appended (synced) is there after a
//! reopen, with the vote, the truncations and the purges; a record torn at any byte at the end
//! of the file is dropped, and only it; a damaged record with records after it refuses the open
//! (each byte of the file flipped in turn).

use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::testing::{blank_ent, log_id};
use std::path::Path;
use sutra_cluster::command::Command;
use sutra_cluster::log::LogStore;
use sutra_cluster::raft::{Entry, Payload, TypeConfig, Vote};
use sutra_core::{ConceptInput, Op};

fn batch(term: u64, index: u64, text: &str) -> Entry {
    Entry {
        log_id: log_id::<TypeConfig>(term, 1, index),
        payload: Payload::Normal(Command::Batch {
            memory: "notes".into(),
            ops: vec![Op::put_concept(ConceptInput::new(text), index)],
        }),
    }
}

async fn append(log: &mut LogStore, entries: Vec<Entry>) {
    log.append(entries, IOFlushed::noop())
        .await
        .expect("append");
}

async fn indexes(log: &mut LogStore) -> Vec<u64> {
    log.try_get_log_entries(..)
        .await
        .expect("read")
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

/// A log of entries 1..=5 (a blank, then batches) in `dir`; the file's length after each.
async fn five(dir: &Path) -> Vec<u64> {
    let mut log = LogStore::open(dir).expect("open");
    let mut ends = Vec::new();
    append(&mut log, vec![blank_ent::<TypeConfig>(1, 1, 1)]).await;
    ends.push(file_len(dir));
    for index in 2..=5 {
        append(&mut log, vec![batch(1, index, &format!("fact {index}"))]).await;
        ends.push(file_len(dir));
    }
    ends
}

fn file_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("raft.log"))
        .expect("log file")
        .len()
}

#[tokio::test]
async fn what_was_appended_truncated_purged_and_voted_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    five(dir.path()).await;
    let mut log = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(indexes(&mut log).await, [1, 2, 3, 4, 5]);
    let entries = log.try_get_log_entries(3..4).await.expect("read");
    assert_eq!(
        entries,
        vec![batch(1, 3, "fact 3")],
        "the entry's bytes round-trip"
    );
    let vote = Vote::new(2, 1);
    log.save_vote(&vote).await.expect("vote");
    log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 3)))
        .await
        .expect("truncate");
    append(&mut log, vec![batch(2, 4, "fact 4, term 2")]).await;
    log.purge(log_id::<TypeConfig>(1, 1, 2))
        .await
        .expect("purge");
    drop(log);

    let mut log = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(indexes(&mut log).await, [3, 4]);
    assert_eq!(
        log.try_get_log_entries(4..5).await.expect("read"),
        vec![batch(2, 4, "fact 4, term 2")]
    );
    assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
    let state = log.get_log_state().await.expect("state");
    assert_eq!(
        state.last_purged_log_id,
        Some(log_id::<TypeConfig>(1, 1, 2))
    );
    assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(2, 1, 4)));
}

#[tokio::test]
async fn a_torn_last_record_is_dropped_at_every_byte_and_only_it() {
    let dir = tempfile::tempdir().expect("dir");
    let ends = five(dir.path()).await;
    let whole = std::fs::read(dir.path().join("raft.log")).expect("read");
    let (start, end) = (ends[3], ends[4]);
    let mut cuts = 0;
    for cut in start..end {
        let torn = tempfile::tempdir().expect("dir");
        std::fs::write(torn.path().join("raft.log"), &whole[..cut as usize]).expect("write");
        let mut log = LogStore::open(torn.path()).expect("a torn tail opens");
        assert_eq!(indexes(&mut log).await, [1, 2, 3, 4], "cut at byte {cut}");
        assert_eq!(file_len(torn.path()), start, "the torn bytes are cut off");
        // And the log goes on from there.
        append(&mut log, vec![batch(1, 5, "again")]).await;
        drop(log);
        let mut log = LogStore::open(torn.path()).expect("reopen");
        assert_eq!(indexes(&mut log).await, [1, 2, 3, 4, 5]);
        cuts += 1;
    }
    assert_eq!(cuts, end - start);
}

#[tokio::test]
async fn a_damaged_record_refuses_the_open_unless_it_is_the_torn_end() {
    let dir = tempfile::tempdir().expect("dir");
    let ends = five(dir.path()).await;
    let whole = std::fs::read(dir.path().join("raft.log")).expect("read");
    let mut refused = 0;
    for at in 0..whole.len() {
        let mut damaged = whole.clone();
        damaged[at] ^= 0x40;
        let copy = tempfile::tempdir().expect("dir");
        std::fs::write(copy.path().join("raft.log"), &damaged).expect("write");
        let last_record = at as u64 >= ends[3];
        match LogStore::open(copy.path()) {
            Ok(mut log) => {
                assert!(
                    last_record,
                    "flip at byte {at}, before the last record, opened"
                );
                assert_eq!(indexes(&mut log).await, [1, 2, 3, 4], "flip at byte {at}");
            }
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData,
                    "flip at byte {at}"
                );
                assert!(!last_record, "flip at byte {at} in the last record: {e}");
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused, ends[3],
        "every flip before the last record is refused"
    );
}

#[tokio::test]
async fn the_committed_hint_survives_a_reopen_and_never_points_past_the_log() {
    let dir = tempfile::tempdir().expect("dir");
    five(dir.path()).await;
    let mut log = LogStore::open(dir.path()).expect("open");
    assert_eq!(log.read_committed().await.expect("read"), None);
    log.save_committed(Some(log_id::<TypeConfig>(1, 1, 4)))
        .await
        .expect("save");
    drop(log);
    let mut log = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(
        log.read_committed().await.expect("read"),
        Some(log_id::<TypeConfig>(1, 1, 4))
    );
    // A hint past the log's end (entries gone since) is no hint; a damaged one neither.
    log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 2)))
        .await
        .expect("truncate");
    assert_eq!(log.read_committed().await.expect("read"), None);
    std::fs::write(dir.path().join("committed"), b"garbage").expect("write");
    assert_eq!(log.read_committed().await.expect("read"), None);
}

/// Entries are read back from the file, not kept in memory: a record the disk changes after it
/// was written is refused when read, never served; a long run of records is read in pieces
/// (and across segments) and comes back whole, before and after a purge removes a segment.
#[tokio::test]
async fn entries_are_read_back_from_the_file_and_checked_again() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = LogStore::open_with(dir.path(), Default::default(), 8 << 20).expect("open");
    // 24 entries of 1 MiB, appended 8 at a time: a segment each (sealed at 8 MiB), more than
    // one read's worth (16 MiB).
    let big = |index: u64| Entry {
        log_id: log_id::<TypeConfig>(1, 1, index),
        payload: Payload::Normal(Command::CreateMemory {
            name: format!("{index}:{}", "x".repeat(1 << 20)),
            dimension: None,
        }),
    };
    for first in [1, 9, 17] {
        append(&mut log, (first..first + 8).map(big).collect()).await;
    }
    for first in [1u64, 9, 17] {
        assert!(dir.path().join(format!("raft-{first:020}.log")).is_file());
    }
    let read = log.try_get_log_entries(1..=24).await.expect("read");
    assert_eq!(read.len(), 24);
    for (entry, index) in read.iter().zip(1u64..) {
        match &entry.payload {
            Payload::Normal(Command::CreateMemory { name, .. }) => {
                assert!(name.starts_with(&format!("{index}:")), "entry {index}");
                assert_eq!(name.len(), format!("{index}:").len() + (1 << 20));
            }
            other => panic!("entry {index}: {other:?}"),
        }
    }
    // Purged up to 10: the first segment (1-8) goes whole; 9 and 10 stay in theirs, unread.
    log.purge(log_id::<TypeConfig>(1, 1, 10))
        .await
        .expect("purge");
    assert!(!dir.path().join(format!("raft-{:020}.log", 1)).exists());
    let after: Vec<Entry> = log.try_get_log_entries(11..=24).await.expect("read");
    assert_eq!(after, read[10..].to_vec());
    assert!(sutra_cluster::log::files_bytes(dir.path()) < 17 << 20);
    // A byte of entry 12's record changed on disk: reading it is refused; 11 still reads.
    let record = |e: &Entry| postcard::to_allocvec(e).expect("encode").len() as u64 + 8;
    let at = record(&read[8]) + record(&read[9]) + record(&read[10]) + 1000;
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.path().join(format!("raft-{:020}.log", 9)))
            .expect("the segment");
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, at).expect("read a byte");
        file.write_all_at(&[byte[0] ^ 0x20], at).expect("flip it");
    }
    let refused = log.try_get_log_entries(11..=13).await;
    let error = refused.expect_err("a changed record is refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("entry 12"), "{error}");
    assert_eq!(
        log.try_get_log_entries(11..=11).await.expect("read").len(),
        1
    );
    // And a sealed segment with a changed byte does not open.
    drop(log);
    let refused = LogStore::open(dir.path());
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidData)
    );
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("raft"))
        .collect();
    names.sort();
    names
}

/// The log in segments: sealed as the active one fills, read across them after a reopen, cut
/// back into a sealed one (which becomes the active one), purged a segment at a time, and every
/// crash state of those steps opens to a log with no gap.
#[tokio::test]
async fn segments_seal_reopen_truncate_purge_and_survive_crashes_between_steps() {
    let dir = tempfile::tempdir().expect("dir");
    let small = 400; // bytes: a segment every few entries
    let mut log = LogStore::open_with(dir.path(), Default::default(), small).expect("open");
    for index in 1..=40 {
        append(&mut log, vec![batch(1, index, &format!("fact {index}"))]).await;
    }
    let sealed = segments(dir.path()).len() - 1;
    assert!(sealed >= 5, "{:?}", segments(dir.path()));
    assert_eq!(indexes(&mut log).await, (1..=40).collect::<Vec<_>>());
    drop(log);
    let mut log = LogStore::open_with(dir.path(), Default::default(), small).expect("reopen");
    assert_eq!(indexes(&mut log).await, (1..=40).collect::<Vec<_>>());

    // Cut after 12 (inside a sealed segment): the later segments go, the cut one is active.
    log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 12)))
        .await
        .expect("truncate");
    assert_eq!(indexes(&mut log).await, (1..=12).collect::<Vec<_>>());
    for index in 13..=20 {
        append(&mut log, vec![batch(2, index, &format!("again {index}"))]).await;
    }
    drop(log);
    let mut log = LogStore::open_with(dir.path(), Default::default(), small).expect("reopen");
    let entries = log.try_get_log_entries(..).await.expect("read");
    assert_eq!(
        entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(entries[12].log_id, log_id::<TypeConfig>(2, 1, 13));

    // Purged to 15: the segments holding only 1-15 go; the rest reads the same.
    let before = segments(dir.path());
    let kept = tempfile::tempdir().expect("copy");
    for name in &before {
        std::fs::copy(dir.path().join(name), kept.path().join(name)).expect("copy");
    }
    log.purge(log_id::<TypeConfig>(2, 1, 15))
        .await
        .expect("purge");
    let after = segments(dir.path());
    assert!(after.len() < before.len(), "{before:?} -> {after:?}");
    assert_eq!(indexes(&mut log).await, (16..=20).collect::<Vec<_>>());
    drop(log);

    // Crash states. A purge that wrote its mark and removed nothing: the segments it would
    // have removed go at the next open.
    std::fs::copy(dir.path().join("purged"), kept.path().join("purged")).expect("copy");
    let mut reopened =
        LogStore::open_with(kept.path(), Default::default(), small).expect("open the copy");
    assert_eq!(indexes(&mut reopened).await, (16..=20).collect::<Vec<_>>());
    assert_eq!(segments(kept.path()), after, "the purged segments went");
    drop(reopened);
    // A seal that renamed the active segment but did not begin the next: it opens, and appends.
    let active = std::fs::read(dir.path().join("raft.log")).expect("the active segment");
    if active.is_empty() {
        std::fs::remove_file(dir.path().join("raft.log")).expect("remove");
    } else {
        let len = u32::from_le_bytes(active[..4].try_into().expect("length")) as usize;
        let first: Entry = postcard::from_bytes(&active[8..8 + len]).expect("first entry");
        let sealed = format!("raft-{:020}.log", first.log_id.index);
        std::fs::rename(dir.path().join("raft.log"), dir.path().join(sealed)).expect("seal");
    }
    let mut log = LogStore::open_with(dir.path(), Default::default(), small).expect("reopen");
    let last = indexes(&mut log).await.last().copied().expect("entries");
    assert!(last >= 16);
    append(&mut log, vec![batch(2, last + 1, "after a crash")]).await;
    assert_eq!(indexes(&mut log).await.last(), Some(&(last + 1)));

    // A purge past the log's end (a snapshot installed): everything goes, the next entry
    // follows nothing, and the log reopens.
    log.purge(log_id::<TypeConfig>(3, 1, 100))
        .await
        .expect("purge");
    append(&mut log, vec![batch(3, 101, "after the snapshot")]).await;
    drop(log);
    let mut log = LogStore::open_with(dir.path(), Default::default(), small).expect("reopen");
    assert_eq!(indexes(&mut log).await, vec![101]);
}

/// Group commit: appends return before they are synced and are acknowledged (their callbacks
/// called) only by a sync; a vote, a truncation or a purge first syncs and acknowledges every
/// append before it; after a failed sync, nothing is acknowledged and nothing more is taken.
#[tokio::test]
async fn appends_are_acknowledged_by_a_sync_in_order_and_never_after_a_failed_one() {
    use openraft::type_config::TypeConfigExt;
    let dir = tempfile::tempdir().expect("dir");
    let faults = std::sync::Arc::new(sutra_cluster::log::Faults::default());
    let mut log = LogStore::open_with_faults(dir.path(), faults.clone()).expect("open");
    append(&mut log, vec![blank_ent::<TypeConfig>(1, 1, 1)]).await;
    // On this single-threaded runtime the flusher cannot run until the test waits: what
    // acknowledges the appends below is the vote, which syncs them first.
    let mut acks = Vec::new();
    for index in 2..=41 {
        let (tx, rx) = TypeConfig::oneshot();
        log.append(
            vec![batch(1, index, &format!("fact {index}"))],
            IOFlushed::signal(tx),
        )
        .await
        .expect("append");
        acks.push(rx);
    }
    assert_eq!(indexes(&mut log).await.len(), 41, "readable before synced");
    log.save_vote(&Vote::new(2, 1)).await.expect("vote");
    for (i, mut rx) in acks.into_iter().enumerate() {
        match rx.try_recv() {
            Ok(Ok(())) => {}
            other => panic!(
                "append {} not acknowledged before the vote: {other:?}",
                i + 2
            ),
        }
    }
    // The flusher acknowledges on its own once the test waits.
    let (tx, rx) = TypeConfig::oneshot();
    log.append(vec![batch(2, 42, "fact 42")], IOFlushed::signal(tx))
        .await
        .expect("append");
    rx.await.expect("answer").expect("synced");
    // A sync fails: the appends it covered get the error, later ones are refused.
    faults.fail_sync(1);
    let (tx, rx) = TypeConfig::oneshot();
    log.append(vec![batch(2, 43, "fact 43")], IOFlushed::signal(tx))
        .await
        .expect("written, not yet synced");
    let failed = rx.await.expect("answer");
    assert!(
        failed
            .as_ref()
            .is_err_and(|e| e.to_string().contains("injected")),
        "{failed:?}"
    );
    let (tx, _rx) = TypeConfig::oneshot();
    assert!(log
        .append(vec![batch(2, 44, "fact 44")], IOFlushed::signal(tx))
        .await
        .is_err());
    assert!(log.save_vote(&Vote::new(3, 1)).await.is_err());
    drop(log);
    // Reopened (the disk works again), the log holds what was written, the vote with it.
    let mut log = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(indexes(&mut log).await, (1..=43).collect::<Vec<u64>>());
    assert_eq!(log.read_vote().await.expect("vote"), Some(Vote::new(2, 1)));
}
