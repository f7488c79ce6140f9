//! A linearizability checker for registers whose writes are unique (every write puts a value no
//! other write puts), as the tests' register workload makes them: each key is checked on its
//! own (linearizability is local: a history is linearizable iff each object's is).
//!
//! With unique values every read names the write it saw, and Gibbons and Korach's zone test
//! ("Testing shared memories", SIAM J. Computing 1997; the form used here is Golab, Li and
//! Shah's, PODC 2011) decides a key's history in O(n log n) instead of searching orders: group
//! each write with the reads that returned its value (a cluster); its zone runs from the
//! earliest end of an operation in it to the latest start. A zone whose earliest end comes
//! before its latest start is a forward zone (its operations cannot all overlap: the value had
//! to hold over that interval); otherwise a backward zone. The history is linearizable iff
//! every read returns a value written (or the initial one) by a write that began before the
//! read ended, no two forward zones overlap, and no backward zone lies inside a forward zone.
//!
//! Writes whose outcome the client does not know take effect at some time after they start, or
//! never: they end at +infinity, and one nobody read is left out (it may never have happened,
//! or been overwritten unseen). A write the cluster answered "not written" must never be read.
//! The initial value (absent) is a write that ended before everything.

use std::collections::BTreeMap;

/// Times in microseconds since the run began; `i64` leaves room for the two infinities.
pub type Micros = i64;
const MINUS_INFINITY: Micros = i64::MIN / 4;
const PLUS_INFINITY: Micros = i64::MAX / 4;

/// How a write ended, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Acknowledged, at this time.
    Acked(Micros),
    /// Answered "not written": it never took effect.
    NotWritten,
    /// No answer, or "outcome unknown": it took effect after it started, or never.
    Unknown,
}

/// One operation on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A write of a value, from `start`.
    Write {
        key: String,
        value: String,
        start: Micros,
        ended: Ended,
    },
    /// A read from `start` to `end` that returned `value` (`None`: the key was absent).
    Read {
        key: String,
        value: Option<String>,
        start: Micros,
        end: Micros,
    },
}

impl Op {
    fn key(&self) -> &str {
        match self {
            Op::Write { key, .. } | Op::Read { key, .. } => key,
        }
    }

    /// One line of a history file (tab-separated), for checking a run again offline.
    pub fn line(&self) -> String {
        match self {
            Op::Write {
                key,
                value,
                start,
                ended,
            } => format!("write\t{key}\t{value}\t{start}\t{ended:?}"),
            Op::Read {
                key,
                value,
                start,
                end,
            } => format!(
                "read\t{key}\t{}\t{start}\t{end}",
                value.as_deref().unwrap_or("-")
            ),
        }
    }
}

/// One value's cluster: its write's interval (if the value was written) and its reads'.
#[derive(Default)]
struct Cluster {
    write: Option<(Micros, Micros)>,
    not_written: bool,
    reads: Vec<(Micros, Micros)>,
}

/// Checks `history`; `Ok(keys checked)` or every violation found, described.
pub fn check(history: &[Op]) -> Result<usize, Vec<String>> {
    let mut keys: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        keys.entry(op.key()).or_default().push(op);
    }
    let mut violations = Vec::new();
    for (key, ops) in &keys {
        violations.extend(check_key(key, ops));
    }
    if violations.is_empty() {
        Ok(keys.len())
    } else {
        Err(violations)
    }
}

fn check_key(key: &str, ops: &[&Op]) -> Vec<String> {
    let mut violations = Vec::new();
    // Values by cluster; `None` is the initial value, written before everything.
    let mut clusters: BTreeMap<Option<&str>, Cluster> = BTreeMap::new();
    clusters.entry(None).or_default().write = Some((MINUS_INFINITY, MINUS_INFINITY));
    for op in ops {
        match op {
            Op::Write {
                value,
                start,
                ended,
                ..
            } => {
                let cluster = clusters.entry(Some(value.as_str())).or_default();
                if cluster.write.is_some() || cluster.not_written {
                    violations.push(format!("{key}: value {value:?} written twice"));
                }
                match ended {
                    Ended::Acked(end) => cluster.write = Some((*start, *end)),
                    Ended::Unknown => cluster.write = Some((*start, PLUS_INFINITY)),
                    Ended::NotWritten => cluster.not_written = true,
                }
            }
            Op::Read {
                value, start, end, ..
            } => clusters
                .entry(value.as_deref())
                .or_default()
                .reads
                .push((*start, *end)),
        }
    }
    let mut forward: Vec<(Micros, Micros, Option<&str>)> = Vec::new();
    let mut backward: Vec<(Micros, Micros, Option<&str>)> = Vec::new();
    for (value, cluster) in &clusters {
        let unsure = cluster.write.is_none_or(|(_, end)| end == PLUS_INFINITY);
        if cluster.reads.is_empty() && unsure {
            // A write nobody read that may never have happened (its outcome unknown), or did
            // not (answered "not written"): nothing to check.
            continue;
        }
        let Some((write_start, write_end)) = cluster.write else {
            if cluster.not_written {
                violations.push(format!(
                    "{key}: {} reads returned {value:?}, whose write was answered \"not written\"",
                    cluster.reads.len()
                ));
            } else {
                violations.push(format!(
                    "{key}: {} reads returned {value:?}, which nobody wrote",
                    cluster.reads.len()
                ));
            }
            continue;
        };
        for (read_start, read_end) in &cluster.reads {
            if *read_end < write_start {
                violations.push(format!(
                    "{key}: a read ({read_start}..{read_end} µs) returned {value:?} before its write started ({write_start} µs)"
                ));
            }
        }
        let earliest_end = cluster
            .reads
            .iter()
            .map(|(_, end)| *end)
            .fold(write_end, Micros::min);
        let latest_start = cluster
            .reads
            .iter()
            .map(|(start, _)| *start)
            .fold(write_start, Micros::max);
        if earliest_end < latest_start {
            forward.push((earliest_end, latest_start, *value));
        } else {
            backward.push((latest_start, earliest_end, *value));
        }
    }
    forward.sort();
    for pair in forward.windows(2) {
        let ((a_from, a_to, a), (b_from, b_to, b)) = (pair[0], pair[1]);
        if b_from < a_to {
            violations.push(format!(
                "{key}: {a:?} held over {a_from}..{a_to} µs and {b:?} over {b_from}..{b_to} µs: they overlap"
            ));
        }
    }
    for (from, to, value) in &backward {
        // Forward zones are disjoint (or reported above) and sorted: the one starting last
        // before this zone is the only one that can hold it.
        let holder = forward.partition_point(|(f, ..)| f < from);
        if let Some((f_from, f_to, f_value)) = holder.checked_sub(1).map(|i| forward[i]) {
            if *to < f_to && f_value != *value {
                violations.push(format!(
                    "{key}: {value:?} was written and read within {from}..{to} µs, inside the interval {f_from}..{f_to} µs over which {f_value:?} held"
                ));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(value: &str, start: Micros, end: Micros) -> Op {
        Op::Write {
            key: "k".into(),
            value: value.into(),
            start,
            ended: Ended::Acked(end),
        }
    }
    fn w_with(value: &str, start: Micros, ended: Ended) -> Op {
        Op::Write {
            key: "k".into(),
            value: value.into(),
            start,
            ended,
        }
    }
    fn r(value: Option<&str>, start: Micros, end: Micros) -> Op {
        Op::Read {
            key: "k".into(),
            value: value.map(str::to_string),
            start,
            end,
        }
    }

    #[test]
    fn sequential_and_concurrent_histories_that_are_linearizable_pass() {
        // One after another.
        let history = vec![
            r(None, 0, 1),
            w("a", 2, 3),
            r(Some("a"), 4, 5),
            w("b", 6, 7),
            r(Some("b"), 8, 9),
        ];
        assert_eq!(check(&history), Ok(1));
        // A read overlapping a write may see either value.
        let history = vec![
            w("a", 0, 1),
            w("b", 2, 10),
            r(Some("a"), 3, 4),
            r(Some("b"), 5, 6),
            r(Some("b"), 11, 12),
        ];
        assert_eq!(check(&history), Ok(1));
        // Two overlapping writes, read in either order by overlapping reads.
        let history = vec![
            w("a", 0, 10),
            w("b", 0, 10),
            r(Some("b"), 1, 2),
            r(Some("a"), 3, 11),
        ];
        assert_eq!(check(&history), Ok(1));
        // An unknown write nobody read, and one read later: both fine.
        let history = vec![
            w("a", 0, 1),
            w_with("x", 2, Ended::Unknown),
            r(Some("a"), 3, 4),
            w_with("y", 5, Ended::Unknown),
            r(Some("y"), 50, 51),
            r(Some("y"), 60, 61),
        ];
        assert_eq!(check(&history), Ok(1));
    }

    #[test]
    fn a_stale_read_is_caught() {
        // b was acknowledged before the read began, and the read returned a.
        let history = vec![w("a", 0, 1), w("b", 2, 3), r(Some("a"), 4, 5)];
        let found = check(&history).expect_err("stale");
        assert!(found[0].contains("inside the interval"), "{found:?}");
        // The initial value read after a write was acknowledged.
        let history = vec![w("a", 0, 1), r(None, 2, 3)];
        assert!(check(&history).is_err());
    }

    #[test]
    fn values_going_back_and_forth_are_caught() {
        // Reads see a, then b, then a again, all after both writes ended.
        let history = vec![
            w("a", 0, 5),
            w("b", 0, 5),
            r(Some("a"), 6, 7),
            r(Some("b"), 8, 9),
            r(Some("a"), 10, 11),
        ];
        let found = check(&history).expect_err("flip-flop");
        assert!(found.iter().any(|v| v.contains("overlap")), "{found:?}");
    }

    #[test]
    fn reads_of_the_future_of_nothing_and_of_refused_writes_are_caught() {
        let history = vec![r(Some("a"), 0, 1), w("a", 2, 3)];
        assert!(check(&history).expect_err("future")[0].contains("before its write started"));
        let history = vec![r(Some("ghost"), 0, 1)];
        assert!(check(&history).expect_err("ghost")[0].contains("nobody wrote"));
        let history = vec![w_with("a", 0, Ended::NotWritten), r(Some("a"), 5, 6)];
        assert!(check(&history).expect_err("refused")[0].contains("not written"));
        // A write answered "not written" that nobody read is no violation.
        let history = vec![
            w("a", 0, 1),
            w_with("b", 2, Ended::NotWritten),
            r(Some("a"), 5, 6),
        ];
        assert_eq!(check(&history), Ok(1));
    }

    /// Whether some order of `ops` that keeps real-time order (an operation that ended before
    /// another started comes first) makes every read return the last value written before it.
    /// Writes answered "not written" are left out; each write of unknown outcome is tried both
    /// left out and in (ending at +infinity).
    fn brute_force(ops: &[Op]) -> bool {
        let unknown: Vec<usize> = (0..ops.len())
            .filter(|&i| {
                matches!(
                    ops[i],
                    Op::Write {
                        ended: Ended::Unknown,
                        ..
                    }
                )
            })
            .collect();
        (0..1u32 << unknown.len()).any(|chosen| {
            let kept: Vec<Op> = ops
                .iter()
                .enumerate()
                .filter(|(i, op)| match op {
                    Op::Write {
                        ended: Ended::NotWritten,
                        ..
                    } => false,
                    Op::Write {
                        ended: Ended::Unknown,
                        ..
                    } => {
                        let bit = unknown.iter().position(|u| u == i).unwrap_or(0);
                        chosen & (1 << bit) != 0
                    }
                    _ => true,
                })
                .map(|(_, op)| op.clone())
                .collect();
            orders(&kept)
        })
    }

    fn orders(ops: &[Op]) -> bool {
        fn interval(op: &Op) -> (Micros, Micros) {
            match op {
                Op::Write {
                    start,
                    ended: Ended::Acked(end),
                    ..
                } => (*start, *end),
                Op::Write { start, .. } => (*start, PLUS_INFINITY),
                Op::Read { start, end, .. } => (*start, *end),
            }
        }
        fn search(ops: &[Op], used: &mut Vec<bool>, value: Option<&str>) -> bool {
            if used.iter().all(|u| *u) {
                return true;
            }
            for i in 0..ops.len() {
                if used[i] {
                    continue;
                }
                // Minimal: nothing left unplaced ended before this one started.
                let (start, _) = interval(&ops[i]);
                if (0..ops.len()).any(|j| !used[j] && j != i && interval(&ops[j]).1 < start) {
                    continue;
                }
                let next = match &ops[i] {
                    Op::Write { value, .. } => Some(value.as_str()),
                    Op::Read { value: read, .. } => {
                        if read.as_deref() != value {
                            continue;
                        }
                        value
                    }
                };
                used[i] = true;
                if search(ops, used, next) {
                    return true;
                }
                used[i] = false;
            }
            false
        }
        search(ops, &mut vec![false; ops.len()], None)
    }

    #[test]
    fn agrees_with_a_search_of_every_order_on_small_random_histories() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut linearizable, mut not) = (0, 0);
        for _ in 0..4000 {
            let mut ops = Vec::new();
            let writes = 1 + next(3);
            for i in 0..writes {
                let start = next(20) as Micros;
                let ended = match next(10) {
                    0 | 1 => Ended::Unknown,
                    2 => Ended::NotWritten,
                    _ => Ended::Acked(start + 1 + next(8) as Micros),
                };
                ops.push(w_with(&format!("v{i}"), start, ended));
            }
            for _ in 0..(1 + next(4)) {
                let start = next(24) as Micros;
                let value = next(writes + 1);
                let value = (value < writes).then(|| format!("v{value}"));
                ops.push(r(value.as_deref(), start, start + 1 + next(6) as Micros));
            }
            let expected = brute_force(&ops);
            assert_eq!(check(&ops).is_ok(), expected, "{ops:#?}");
            if expected {
                linearizable += 1;
            } else {
                not += 1;
            }
        }
        // Both kinds were tried, many times.
        assert!(linearizable > 500 && not > 500, "{linearizable} / {not}");
    }

    #[test]
    fn keys_are_checked_apart() {
        let mut history = vec![w("a", 0, 1), r(Some("a"), 2, 3)];
        history.push(Op::Read {
            key: "other".into(),
            value: None,
            start: 4,
            end: 5,
        });
        assert_eq!(check(&history), Ok(2));
    }
}
