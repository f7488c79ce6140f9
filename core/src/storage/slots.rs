//! The two-slot snapshot rule, for a storage that cannot replace a file atomically (OPFS has no
//! rename that survives a crash): a snapshot is written into the slot that is not current and
//! flushed, and opening loads the slot whose checksums all pass with the highest sequence
//! number. A torn or damaged slot is never chosen over a whole one, and a crash in the middle of
//! a write leaves the other slot as it was. `docs/FORMAT.md` argues each crash case.

use crate::format::snapshot;

/// Which of the two slots to load, given their bytes (empty: never written). The slot whose
/// snapshot passes every header and section checksum with the highest covered sequence number
/// (the second on a tie: it cannot happen, as each checkpoint covers more than the last);
/// when none passes, the first that holds bytes, for recovery to judge (it refuses them unless
/// the log was never trimmed — a first checkpoint cut short); `None` when both are empty.
pub fn choose(slots: [&[u8]; 2]) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    let mut damaged: Option<usize> = None;
    for (slot, bytes) in slots.iter().enumerate() {
        if bytes.is_empty() {
            continue;
        }
        match snapshot::covered_seq(bytes) {
            Ok(seq) if best.is_none_or(|(_, best_seq)| seq >= best_seq) => best = Some((slot, seq)),
            Ok(_) => {}
            Err(_) => {
                damaged.get_or_insert(slot);
            }
        }
    }
    best.map(|(slot, _)| slot).or(damaged)
}

/// The slot the next snapshot is written to: the one that is not current (slot 0 when neither
/// is).
pub fn next(current: Option<usize>) -> usize {
    debug_assert!(current.is_none_or(|c| c < 2), "two slots");
    match current {
        Some(current) => 1 - current,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_covering(seq: u64) -> Vec<u8> {
        snapshot::assemble(seq, &[])
    }

    #[test]
    fn the_whole_slot_with_the_highest_sequence_number_is_loaded() {
        let (old, new) = (snapshot_covering(5), snapshot_covering(9));
        let mut torn = snapshot_covering(12);
        torn.truncate(torn.len() / 2);
        let mut flipped = snapshot_covering(14);
        flipped[20] ^= 1;
        assert_eq!(choose([&[], &[]]), None, "never written");
        assert_eq!(choose([&old, &[]]), Some(0));
        assert_eq!(choose([&[], &old]), Some(1));
        assert_eq!(
            choose([&old, &new]),
            Some(1),
            "the newer of two whole slots"
        );
        assert_eq!(choose([&new, &old]), Some(0));
        // A crash while the next snapshot was written: the torn slot, newer or not, is passed
        // over while the other one is whole.
        assert_eq!(choose([&old, &torn]), Some(0));
        assert_eq!(choose([&torn, &new]), Some(1));
        assert_eq!(choose([&flipped, &old]), Some(1), "a damaged header loses");
        // Neither whole: the first that holds bytes goes to recovery to judge.
        assert_eq!(choose([&torn, &flipped]), Some(0));
        assert_eq!(choose([&[], &flipped]), Some(1));
    }

    #[test]
    fn the_next_snapshot_goes_to_the_other_slot() {
        assert_eq!(next(None), 0);
        assert_eq!(next(Some(0)), 1);
        assert_eq!(next(Some(1)), 0);
    }
}
