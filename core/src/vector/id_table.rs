//! A map from concept id to a small value, for one entry per concept at millions of concepts.
//!
//! A hash table of 32-byte entries costs 33 bytes per bucket and is between 44% and 87% full
//! (at a million entries, just past a doubling: 69 bytes per entry). This keeps the entries in
//! one array sorted by id (32 bytes each, nothing spare) with a directory from an id's top bits
//! to its range of the array, and keeps ids added since the array was last rebuilt in a small
//! hash table beside it. Removing an entry of the array marks it (one bit); the array is rebuilt,
//! in one merge, once the additions and marks reach an eighth of it, so each change costs a
//! constant amortized share of the rebuilds.

use crate::model::ConceptId;
use rustc_hash::FxHashMap;

/// Changes (additions and removals from the array) that always fit before a rebuild.
const CHANGES_MIN: usize = 1024;
/// The directory has about one bucket per this many entries of the array.
const BUCKET_ENTRIES: usize = 8;
/// The directory has at most 2^this buckets (32 MiB of offsets).
const DIRECTORY_BITS_MAX: u32 = 22;

pub(crate) struct IdTable<V> {
    /// Sorted by id, each id once.
    sorted: Vec<(ConceptId, V)>,
    /// One bit per entry of `sorted`: removed.
    gone: Vec<u64>,
    gone_count: usize,
    /// `sorted[directory[b]..directory[b + 1]]` holds the ids whose top `bits` bits are `b`.
    directory: Vec<usize>,
    bits: u32,
    /// Ids not in `sorted` (not even removed).
    added: FxHashMap<ConceptId, V>,
}

impl<V> Default for IdTable<V> {
    fn default() -> Self {
        IdTable {
            sorted: Vec::new(),
            gone: Vec::new(),
            gone_count: 0,
            directory: vec![0, 0],
            bits: 0,
            added: FxHashMap::default(),
        }
    }
}

impl<V: Copy> IdTable<V> {
    /// From entries sorted by id; an id out of order or repeated is returned as the error.
    pub fn from_sorted(entries: Vec<(ConceptId, V)>) -> Result<Self, ConceptId> {
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 >= pair[1].0) {
            return Err(pair[1].0);
        }
        let mut table = IdTable::default();
        table.set_sorted(entries);
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.sorted.len() - self.gone_count + self.added.len()
    }

    /// Checks the table's own rules (the integrity checker's part for it): the array sorted
    /// with each id once, the removal marks counted right, the directory covering the array in
    /// order with each id in its bucket, and no id both in the array (not removed) and added.
    pub fn check(&self) -> Result<(), String> {
        if let Some(pair) = self.sorted.windows(2).find(|p| p[0].0 >= p[1].0) {
            return Err(format!(
                "ids out of order: {} before {}",
                pair[0].0, pair[1].0
            ));
        }
        let marked: usize = self.gone.iter().map(|w| w.count_ones() as usize).sum();
        if marked != self.gone_count || self.gone.len() * 64 < self.sorted.len() {
            return Err(format!(
                "{marked} removal marks for a count of {}",
                self.gone_count
            ));
        }
        let buckets = 1usize << self.bits;
        if self.directory.len() != buckets + 1
            || self.directory.first() != Some(&0)
            || self.directory.last() != Some(&self.sorted.len())
            || self.directory.windows(2).any(|w| w[0] > w[1])
        {
            return Err("the directory does not cover the array in order".into());
        }
        for b in 0..buckets {
            for (id, _) in &self.sorted[self.directory[b]..self.directory[b + 1]] {
                if self.bucket(id) != b {
                    return Err(format!("{id} is in bucket {b}, not its own"));
                }
            }
        }
        // An id in the array (even removed) is changed there, never added beside it.
        if let Some(id) = self.added.keys().find(|id| self.position(id).is_some()) {
            return Err(format!("{id} is both in the array and added"));
        }
        Ok(())
    }

    pub fn get(&self, id: &ConceptId) -> Option<&V> {
        if let Some(v) = self.added.get(id) {
            return Some(v);
        }
        let i = self.position(id)?;
        (!self.is_gone(i)).then(|| &self.sorted[i].1)
    }

    pub fn get_mut(&mut self, id: &ConceptId) -> Option<&mut V> {
        if self.added.contains_key(id) {
            return self.added.get_mut(id);
        }
        let i = self.position(id)?;
        (!self.is_gone(i)).then(|| &mut self.sorted[i].1)
    }

    /// Sets `id`'s value; returns the one it replaces.
    pub fn insert(&mut self, id: ConceptId, value: V) -> Option<V> {
        if let Some(i) = self.position(&id) {
            let old = (!self.is_gone(i)).then_some(self.sorted[i].1);
            if old.is_none() {
                self.gone[i / 64] &= !(1 << (i % 64));
                self.gone_count -= 1;
            }
            self.sorted[i].1 = value;
            return old;
        }
        let old = self.added.insert(id, value);
        self.rebuild_if_due();
        old
    }

    pub fn remove(&mut self, id: &ConceptId) -> Option<V> {
        if let Some(v) = self.added.remove(id) {
            return Some(v);
        }
        let i = self.position(id)?;
        if self.is_gone(i) {
            return None;
        }
        let value = self.sorted[i].1;
        self.gone[i / 64] |= 1 << (i % 64);
        self.gone_count += 1;
        self.rebuild_if_due();
        Some(value)
    }

    /// Every entry (the sorted ones in id order, then the added ones in no order).
    pub fn iter(&self) -> impl Iterator<Item = (&ConceptId, &V)> {
        self.sorted
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_gone(*i))
            .map(|(_, (id, v))| (id, v))
            .chain(self.added.iter())
    }

    /// Every entry, in id order: the sorted array merged with the added entries (only those
    /// are sorted here, a small part).
    pub fn to_sorted_vec(&self) -> Vec<(ConceptId, V)> {
        let mut added: Vec<(ConceptId, V)> = self.added.iter().map(|(k, v)| (*k, *v)).collect();
        added.sort_unstable_by_key(|(id, _)| *id);
        let mut merged = Vec::with_capacity(self.len());
        let mut added = added.into_iter().peekable();
        for (i, &(id, v)) in self.sorted.iter().enumerate() {
            if self.is_gone(i) {
                continue;
            }
            while let Some(a) = added.next_if(|(a, _)| *a < id) {
                merged.push(a);
            }
            merged.push((id, v));
        }
        merged.extend(added);
        merged
    }

    pub fn keys(&self) -> impl Iterator<Item = &ConceptId> {
        self.iter().map(|(id, _)| id)
    }

    fn is_gone(&self, i: usize) -> bool {
        self.gone[i / 64] & (1 << (i % 64)) != 0
    }

    fn bucket(&self, id: &ConceptId) -> usize {
        if self.bits == 0 {
            0
        } else {
            (id.0 >> (128 - self.bits)) as usize
        }
    }

    /// Where `id` is in `sorted`, removed or not.
    fn position(&self, id: &ConceptId) -> Option<usize> {
        let b = self.bucket(id);
        let (start, end) = (self.directory[b], self.directory[b + 1]);
        self.sorted[start..end]
            .binary_search_by(|(k, _)| k.cmp(id))
            .ok()
            .map(|i| start + i)
    }

    fn rebuild_if_due(&mut self) {
        if self.added.len() + self.gone_count > CHANGES_MIN.max(self.sorted.len() / 8) {
            self.rebuild();
        }
    }

    /// Merges the added entries into the sorted ones, leaving the removed ones out.
    fn rebuild(&mut self) {
        let merged = self.to_sorted_vec();
        self.added = FxHashMap::default();
        self.set_sorted(merged);
    }

    fn set_sorted(&mut self, sorted: Vec<(ConceptId, V)>) {
        let n = sorted.len();
        self.bits = (n / BUCKET_ENTRIES)
            .checked_ilog2()
            .unwrap_or(0)
            .min(DIRECTORY_BITS_MAX);
        self.sorted = sorted;
        let buckets = 1usize << self.bits;
        let mut directory = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for b in 0..buckets {
            directory.push(at);
            while at < n && self.bucket(&self.sorted[at].0) == b {
                at += 1;
            }
        }
        directory.push(n);
        self.directory = directory;
        self.gone = vec![0; n.div_ceil(64)];
        self.gone_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Deterministic ids spread over the whole range, and some crowded at its start (ids a
    /// caller chose, not hashes).
    fn id(x: u64) -> ConceptId {
        if x.is_multiple_of(3) {
            ConceptId(u128::from(x))
        } else {
            ConceptId(u128::from(x).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
        }
    }

    fn check(table: &IdTable<u64>, model: &BTreeMap<ConceptId, u64>) {
        assert_eq!(table.check(), Ok(()));
        assert_eq!(table.len(), model.len());
        let mut all: Vec<(ConceptId, u64)> = table.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort_unstable();
        let expected: Vec<(ConceptId, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, expected);
        assert_eq!(table.to_sorted_vec(), expected);
    }

    #[test]
    fn the_checker_finds_broken_rules() {
        let mut table = IdTable::default();
        for i in 0..5000u64 {
            table.insert(id(i * 7919 % 100_000), i);
        }
        table.remove(&id(7919));
        assert_eq!(table.check(), Ok(()));
        let mut broken = IdTable::from_sorted(table.to_sorted_vec()).expect("sorted");
        broken.sorted.swap(10, 11);
        assert!(broken.check().expect_err("order").contains("out of order"));
        let mut broken = IdTable::from_sorted(table.to_sorted_vec()).expect("sorted");
        broken.gone_count += 1;
        assert!(broken.check().expect_err("marks").contains("removal marks"));
        let mut broken = IdTable::from_sorted(table.to_sorted_vec()).expect("sorted");
        let first = broken.sorted[0];
        broken.added.insert(first.0, first.1);
        assert!(broken
            .check()
            .expect_err("twice")
            .contains("both in the array and added"));
    }

    #[test]
    fn behaves_as_a_map_through_rebuilds() {
        let mut table = IdTable::default();
        let mut model = BTreeMap::new();
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for step in 0..60_000u64 {
            let key = id(next() % 20_000);
            match next() % 4 {
                0 | 1 => assert_eq!(table.insert(key, step), model.insert(key, step)),
                2 => assert_eq!(table.remove(&key), model.remove(&key)),
                _ => {
                    if let Some(v) = table.get_mut(&key) {
                        *v += 1;
                    }
                    if let Some(v) = model.get_mut(&key) {
                        *v += 1;
                    }
                }
            }
            assert_eq!(table.get(&key), model.get(&key));
            if step % 5_000 == 0 {
                check(&table, &model);
            }
        }
        check(&table, &model);
        // It rebuilt: most entries are in the sorted array, looked up through the directory.
        assert!(
            table.sorted.len() > 5_000 && table.bits > 8,
            "{}",
            table.bits
        );
        for k in 0..20_000 {
            assert_eq!(table.get(&id(k)), model.get(&id(k)));
        }
    }

    #[test]
    fn from_sorted_checks_the_order() {
        let entries: Vec<(ConceptId, u64)> =
            (1..=100).map(|x| (ConceptId(x * 1000), x as u64)).collect();
        let table = IdTable::from_sorted(entries.clone()).expect("sorted");
        assert_eq!(table.get(&ConceptId(5000)), Some(&5));
        assert_eq!(table.get(&ConceptId(5001)), None);
        let mut repeated = entries.clone();
        repeated[10].0 = repeated[9].0;
        assert_eq!(
            IdTable::from_sorted(repeated).err(),
            Some(ConceptId(10_000))
        );
        let mut swapped = entries;
        swapped.swap(3, 4);
        assert_eq!(IdTable::from_sorted(swapped).err(), Some(ConceptId(4000)));
    }

    #[test]
    fn a_removed_entry_comes_back_in_place() {
        let mut table =
            IdTable::from_sorted(vec![(ConceptId(1), 10u64), (ConceptId(2), 20)]).expect("sorted");
        assert_eq!(table.remove(&ConceptId(1)), Some(10));
        assert_eq!(table.remove(&ConceptId(1)), None);
        assert_eq!((table.get(&ConceptId(1)), table.len()), (None, 1));
        assert_eq!(table.insert(ConceptId(1), 11), None);
        assert_eq!((table.get(&ConceptId(1)), table.len()), (Some(&11), 2));
        assert!(table.added.is_empty());
    }
}
