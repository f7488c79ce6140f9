//! What a node learns by watching its own Raft metrics over time, which openraft's metrics do not
//! say at one instant: how long ago each entry of the leader's log appeared (so a member's lag
//! can be told in milliseconds, not only in entries), and how many elections and leader changes
//! the node has seen since it started.

use crate::network::Node;
use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Most moments of log growth kept. Past it the oldest go, and a member further behind than the
/// oldest kept moment is reported that old (a lower bound of its lag).
pub const GROWTH_KEPT: usize = 65_536;

/// What the watcher has seen; shared with the node that reads it.
#[derive(Default)]
pub struct History {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// While this node leads: when its log first reached each index it was seen to reach,
    /// oldest first (indexes increasing).
    grown: VecDeque<(u64, Instant)>,
    /// The term last seen (none before the first look).
    term: Option<u64>,
    /// The leader last seen.
    leader: Option<u64>,
    /// Terms entered since the node started, each begun by an election.
    elections: u64,
    /// Times the known leader changed to another node (not counting "none").
    leader_changes: u64,
}

/// Counts of what the node saw happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Seens {
    /// Terms this node entered since it started (each began with an election, whether this
    /// node stood or not).
    pub elections: u64,
    /// Times the leader this node knows of changed to another node.
    pub leader_changes: u64,
}

impl History {
    fn lock(&self) -> MutexGuard<'_, Seen> {
        // The watcher only pushes and pops whole items; a panic cannot leave them half done.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes what the metrics say now.
    fn observe(&self, state: ServerState, term: u64, leader: Option<u64>, last_log: Option<u64>) {
        let mut seen = self.lock();
        if let Some(before) = seen.term {
            if term > before {
                seen.elections += 1;
            }
        }
        seen.term = Some(term);
        if leader.is_some() && leader != seen.leader {
            if seen.leader.is_some() {
                seen.leader_changes += 1;
            }
            seen.leader = leader;
        }
        if state != ServerState::Leader {
            seen.grown.clear();
            return;
        }
        let Some(last) = last_log else { return };
        if seen.grown.back().is_none_or(|(index, _)| last > *index) {
            seen.grown.push_back((last, Instant::now()));
            if seen.grown.len() > GROWTH_KEPT {
                seen.grown.pop_front();
            }
        }
    }

    /// Forgets the moments every member has matched but the last (they cannot make a lag).
    pub(crate) fn trim(&self, all_matched: u64) {
        let mut seen = self.lock();
        while seen.grown.len() > 1 && seen.grown.get(1).is_some_and(|(i, _)| *i <= all_matched) {
            seen.grown.pop_front();
        }
    }

    /// How long ago the first entry after `matched` appeared in this leader's log: the age of
    /// the oldest write the member does not hold (0 when it holds everything seen). `None` when
    /// this node has seen no growth as a leader.
    pub fn lag_ms(&self, matched: u64, now: Instant) -> Option<u64> {
        let seen = self.lock();
        let (last, _) = seen.grown.back()?;
        if matched >= *last {
            return Some(0);
        }
        // The first moment the log reached past `matched`: the oldest entry the member lacks
        // was there by then (at most that old, at least as old as the moment before it).
        let first_missing = seen
            .grown
            .iter()
            .find(|(index, _)| *index > matched)
            .map(|(_, at)| *at)?;
        Some(
            now.saturating_duration_since(first_missing)
                .as_millis()
                .min(u64::MAX as u128) as u64,
        )
    }

    /// The counts so far.
    pub fn seens(&self) -> Seens {
        let seen = self.lock();
        Seens {
            elections: seen.elections,
            leader_changes: seen.leader_changes,
        }
    }
}

/// Watches `raft`'s metrics into `history` until the node shuts down.
pub(crate) fn spawn(raft: Node, history: Arc<History>) {
    tokio::spawn(async move {
        let mut metrics = raft.metrics();
        loop {
            {
                let m = metrics.borrow_and_update();
                history.observe(m.state, m.current_term, m.current_leader, m.last_log_index);
                if let Some(replication) = &m.replication {
                    let all_matched = replication
                        .values()
                        .map(|matched| matched.as_ref().map_or(0, |l| l.index))
                        .min()
                        .unwrap_or(0);
                    history.trim(all_matched);
                }
                if m.state == ServerState::Shutdown {
                    return;
                }
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lag_is_the_age_of_the_oldest_missing_entry() {
        let history = History::default();
        assert_eq!(history.lag_ms(0, Instant::now()), None);
        history.observe(ServerState::Leader, 1, Some(1), Some(10));
        let t10 = history
            .lock()
            .grown
            .back()
            .map(|(_, at)| *at)
            .expect("a moment");
        history.observe(ServerState::Leader, 1, Some(1), Some(20));
        let t20 = history
            .lock()
            .grown
            .back()
            .map(|(_, at)| *at)
            .expect("a moment");
        let later = t20 + Duration::from_millis(500);
        // Holding everything: no lag.
        assert_eq!(history.lag_ms(20, later), Some(0));
        assert_eq!(history.lag_ms(25, later), Some(0));
        // Missing 11..=20: the oldest appeared by t20.
        assert_eq!(
            history.lag_ms(15, later),
            Some(later.duration_since(t20).as_millis() as u64)
        );
        // Missing 5..=20: the oldest was there by t10.
        assert_eq!(
            history.lag_ms(4, later),
            Some(later.duration_since(t10).as_millis() as u64)
        );
        // Growth every member holds is forgotten, but the last moment stays.
        history.trim(20);
        assert_eq!(history.lock().grown.len(), 1);
        assert_eq!(history.lag_ms(20, later), Some(0));
        // No longer leading: nothing to tell.
        history.observe(ServerState::Follower, 2, Some(2), Some(20));
        assert_eq!(history.lag_ms(0, later), None);
    }

    #[test]
    fn elections_and_leader_changes_are_counted_from_the_first_look() {
        let history = History::default();
        // A restarted node's first look at term 7 is not an election it saw.
        history.observe(ServerState::Follower, 7, None, Some(3));
        assert_eq!(history.seens(), Seens::default());
        history.observe(ServerState::Follower, 7, Some(2), Some(3));
        assert_eq!(history.seens().leader_changes, 0);
        history.observe(ServerState::Candidate, 8, None, Some(3));
        history.observe(ServerState::Leader, 8, Some(1), Some(4));
        assert_eq!(
            history.seens(),
            Seens {
                elections: 1,
                leader_changes: 1
            }
        );
        // A term skipped over while away counts once: one election seen.
        history.observe(ServerState::Follower, 11, Some(3), Some(9));
        assert_eq!(
            history.seens(),
            Seens {
                elections: 2,
                leader_changes: 2
            }
        );
    }

    #[test]
    fn growth_kept_is_bounded() {
        let history = History::default();
        for i in 1..=(GROWTH_KEPT as u64 + 10) {
            history.observe(ServerState::Leader, 1, Some(1), Some(i));
        }
        assert_eq!(history.lock().grown.len(), GROWTH_KEPT);
        assert_eq!(history.lock().grown.front().map(|(i, _)| *i), Some(11));
        // A member behind the oldest kept moment is reported at least that old.
        assert!(history.lag_ms(0, Instant::now()).is_some());
    }
}
