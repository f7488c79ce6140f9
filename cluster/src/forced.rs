//! `force-new-cluster`: a new cluster of one node, made from one node's files, for a cluster
//! whose quorum is lost for good (most of its machines gone). It loses data, by design and
//! explicitly: the new cluster holds what this node knew committed (its snapshot and its log up
//! to the committed hint), and drops the entries of its log past that (never acknowledged by
//! this node's knowledge — they may have been acknowledged by a quorum that is gone). Nothing is
//! deleted: the node's old files are moved aside.
//!
//! The new node's files are a snapshot of that state whose membership is this node alone, the
//! vote of the leader that proposed the last entry it keeps (a vote that leader really held, so
//! replaying it is a long-delayed legitimate message, the approach openraft documents for a
//! restore), and an empty log purged up to that entry. Started, the node elects itself (the
//! only voter) and goes on; other nodes join it as learners (`sutra cluster add`).

use crate::machine::StateMachine;
use crate::raft::{Entry, LogId, Member, Membership, StoredMembership, Vote};
use futures_util::stream;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use sutra_core::HnswParams;

/// What `force_new_cluster` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reformed {
    /// The last entry the new cluster holds (`None`: an empty state).
    pub kept_up_to: Option<u64>,
    /// Entries of the old log past what the node knew committed: dropped.
    pub dropped_entries: u64,
    /// Where the node's old files are.
    pub old_files: PathBuf,
    /// The memories the new cluster holds.
    pub memories: Vec<String>,
}

/// Makes the node whose files are in `dir` (stopped) a new cluster of one voter, `id`, reached
/// at `member` (default: its own entry in the old membership). The old files move to
/// `DIR.before-force-<suffix>`.
pub async fn force_new_cluster(
    dir: &Path,
    id: u64,
    member: Option<Member>,
    suffix: &str,
    params: HnswParams,
) -> io::Result<Reformed> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    if crate::log::files_bytes(dir) == 0 && !dir.join("raft.log").is_file() {
        return Err(invalid(format!(
            "{} holds no node's files (no raft.log)",
            dir.display()
        )));
    }
    let aside = dir.with_file_name(format!(
        "{}.before-force-{suffix}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("cluster")
    ));
    std::fs::rename(dir, &aside)?;

    let mut log = crate::log::LogStore::open(&aside)?;
    let mut machine = StateMachine::open(&aside, params)?;
    let committed = log.read_committed().await?;
    let state = log.get_log_state().await?;
    let (applied, membership) = machine.applied_state().await?;
    let from = applied.map_or(0, |l| l.index + 1);
    let to = committed.map_or(0, |c| c.index);
    let entries: Vec<Entry> = if to >= from {
        log.try_get_log_entries(from..=to).await?
    } else {
        Vec::new()
    };
    let kept = entries.last().map(|e| e.log_id).or(applied);
    let dropped_entries = state.last_log_id.map_or(0, |last| {
        last.index.saturating_sub(kept.map_or(0, |k| k.index))
    });
    // The old membership (the last one applied) knows how to reach this node.
    let mut known = membership.membership().get_node(&id).cloned();
    for entry in &entries {
        if let openraft::EntryPayload::Membership(m) = &entry.payload {
            known = m.get_node(&id).cloned().or(known);
        }
    }
    let member = member.or(known).ok_or_else(|| {
        invalid(format!(
            "node {id} is not in the old membership: give its addresses (--api, --cluster)"
        ))
    })?;
    machine
        .apply(stream::iter(entries.into_iter().map(|e| Ok((e, None)))))
        .await?;
    std::fs::create_dir_all(dir)?;
    let alone = Membership::new(vec![BTreeSet::from([id])], BTreeMap::from([(id, member)]))
        .map_err(|e| invalid(e.to_string()))?;
    machine.reform(StoredMembership::new(kept, alone), dir);
    if let Some(kept) = kept {
        // The vote of the leader that proposed the last entry kept: one it held.
        let leader = kept.committed_leader_id();
        let vote = Vote::new_committed(leader.term, leader.node_id);
        crate::log::write_small(dir, "vote", &vote)?;
        crate::log::write_small(dir, "purged", &kept)?;
        let mut builder = machine.get_snapshot_builder().await;
        builder.build_snapshot().await?;
    }
    // An empty log after the snapshot.
    std::fs::File::create(dir.join("raft.log"))?.sync_all()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Reformed {
        kept_up_to: kept.map(|k: LogId| k.index),
        dropped_entries,
        old_files: aside,
        memories: machine.memories(),
    })
}
