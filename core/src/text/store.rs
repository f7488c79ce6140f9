//! Where the text index keeps its terms and their postings: a *frozen* part, as a snapshot
//! holds it — every term in one buffer, every posting in one array — read in a few large pieces
//! with no table per term to allocate (so a large index loads fast and stays compact), and the
//! terms and lists changed since, on the side (a frozen list is copied out the first time a
//! write changes it).

use crate::model::ConceptId;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;

/// One document holding a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Posting {
    pub doc: u32,
    /// How often the term occurs in it.
    pub count: u32,
}

fn hash(term: &str) -> u64 {
    FxBuildHasher.hash_one(term)
}

/// The terms, each with a number: the frozen terms numbered by their byte order, those added
/// since after them.
#[derive(Default)]
pub(super) struct Vocabulary {
    /// The frozen terms, one after another, in byte order.
    blob: String,
    /// Where each frozen term ends in `blob`.
    ends: Vec<u32>,
    /// A frozen term's number by its hash (a term whose hash another took first is found by a
    /// binary search), made on the first write ([`Vocabulary::prepare_writes`]): a memory
    /// opened only to be read does not pay for it, and a search looks its few terms up by a
    /// binary search.
    by_hash: Option<FxHashMap<u64, u32>>,
    /// The terms added since, with their numbers (from `ends.len()` on).
    added: FxHashMap<Box<str>, u32>,
    /// Numbers of added terms no longer in use.
    free: Vec<u32>,
    /// The next number for an added term.
    next: u32,
}

impl Vocabulary {
    /// Frozen terms from `blob` and `ends` (checked by the caller: non-empty terms in strictly
    /// increasing byte order, each ending on a character boundary).
    pub fn frozen(blob: String, ends: Vec<u32>) -> Self {
        Vocabulary {
            blob,
            next: ends.len() as u32,
            ends,
            ..Vocabulary::default()
        }
    }

    /// Makes the frozen terms' hash table, if it is not made yet: writes look up every term of
    /// every text.
    pub fn prepare_writes(&mut self) {
        if self.by_hash.is_some() || self.ends.is_empty() {
            return;
        }
        let mut by_hash = FxHashMap::default();
        by_hash.reserve(self.ends.len());
        for n in 0..self.frozen_count() {
            by_hash.entry(hash(self.frozen_term(n))).or_insert(n);
        }
        self.by_hash = Some(by_hash);
    }

    fn frozen_count(&self) -> u32 {
        self.ends.len() as u32
    }

    fn frozen_term(&self, n: u32) -> &str {
        let start = match n {
            0 => 0,
            n => self.ends[n as usize - 1] as usize,
        };
        &self.blob[start..self.ends[n as usize] as usize]
    }

    /// Whether term number `n` is a frozen one.
    pub fn is_frozen(&self, n: u32) -> bool {
        n < self.frozen_count()
    }

    /// The number of `term`, if it is known.
    pub fn number(&self, term: &str) -> Option<u32> {
        if let Some(&n) = self.added.get(term) {
            return Some(n);
        }
        let Some(by_hash) = &self.by_hash else {
            return self.frozen_search(term);
        };
        match by_hash.get(&hash(term)) {
            None => None,
            Some(&n) if self.frozen_term(n) == term => Some(n),
            // Another frozen term has this hash.
            Some(_) => self.frozen_search(term),
        }
    }

    fn frozen_search(&self, term: &str) -> Option<u32> {
        let (mut low, mut high) = (0u32, self.frozen_count());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.frozen_term(mid).cmp(term) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Adds `term` (not known yet); its number.
    pub fn insert(&mut self, term: &str) -> u32 {
        debug_assert!(self.number(term).is_none(), "{term:?} is added twice");
        let n = self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        });
        self.added.insert(term.into(), n);
        n
    }

    /// Forgets added term `term` (number `n`), whose list is empty.
    pub fn remove_added(&mut self, term: &str, n: u32) {
        debug_assert!(!self.is_frozen(n));
        if self.added.remove(term).is_some() {
            self.free.push(n);
        }
    }

    /// Every term with its number: the frozen ones, then those added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        (0..self.frozen_count())
            .map(|n| (self.frozen_term(n), n))
            .chain(self.added.iter().map(|(t, n)| (&**t, *n)))
    }

    /// Checks that an added term is not also frozen, and that every frozen term is found.
    pub fn check(&self) -> Result<(), String> {
        if let Some((term, _)) = self
            .added
            .iter()
            .find(|(t, _)| self.frozen_search(t).is_some())
        {
            return Err(format!("{term:?} is both frozen and added"));
        }
        if let Some(n) =
            (0..self.frozen_count()).find(|&n| self.number(self.frozen_term(n)) != Some(n))
        {
            return Err(format!("frozen term {n} is not found by its text"));
        }
        Ok(())
    }

    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.blob.capacity()
            + self.ends.capacity() * size_of::<u32>()
            + self
                .by_hash
                .as_ref()
                .map_or(0, |h| h.capacity() * (size_of::<(u64, u32)>() + 1))
            + self.added.capacity() * (size_of::<(Box<str>, u32)>() + 1)
            + self.added.keys().map(|t| t.len()).sum::<usize>()
            + self.free.capacity() * size_of::<u32>()
    }
}

/// Each term's postings, by term number: the frozen terms' in one array, the lists changed or
/// added since on their own.
#[derive(Default)]
pub(super) struct Store {
    /// The frozen terms' postings, term after term.
    flat: Vec<Posting>,
    /// Where each frozen term's postings start in `flat` (one more entry: the end).
    starts: Vec<u32>,
    /// The frozen terms' lists changed since (copied out: such a list is this one, even empty).
    changed: FxHashMap<u32, Vec<Posting>>,
    /// The added terms' lists, by number (from the frozen terms' count on).
    added: Vec<Vec<Posting>>,
}

impl Store {
    /// Frozen lists: `flat`, term `n`'s from `starts[n]` to `starts[n + 1]` (checked by the
    /// caller: increasing, ending at `flat`'s length).
    pub fn frozen(flat: Vec<Posting>, starts: Vec<u32>) -> Self {
        Store {
            flat,
            starts,
            ..Store::default()
        }
    }

    fn frozen_count(&self) -> u32 {
        self.starts.len().saturating_sub(1) as u32
    }

    fn frozen_list(&self, n: u32) -> &[Posting] {
        let n = n as usize;
        &self.flat[self.starts[n] as usize..self.starts[n + 1] as usize]
    }

    /// Term `n`'s postings (empty for a number with none).
    pub fn list(&self, n: u32) -> &[Posting] {
        let frozen = self.frozen_count();
        if n >= frozen {
            return self.added.get((n - frozen) as usize).map_or(&[], |l| l);
        }
        match self.changed.get(&n) {
            Some(list) => list,
            None => self.frozen_list(n),
        }
    }

    /// Term `n`'s postings to change (a frozen list is copied out first).
    pub fn list_mut(&mut self, n: u32) -> &mut Vec<Posting> {
        let frozen = self.frozen_count();
        if n >= frozen {
            let at = (n - frozen) as usize;
            if self.added.len() <= at {
                self.added.resize_with(at + 1, Vec::new);
            }
            return &mut self.added[at];
        }
        let (flat, starts) = (&self.flat, &self.starts);
        self.changed.entry(n).or_insert_with(|| {
            let n = n as usize;
            flat[starts[n] as usize..starts[n + 1] as usize].to_vec()
        })
    }

    /// Gives back the memory of term `n`'s list, which no document holds any more (a frozen
    /// term's stays an empty list of its own, not the frozen one).
    pub fn forget(&mut self, n: u32) {
        let frozen = self.frozen_count();
        let list = match n.checked_sub(frozen) {
            Some(at) => self.added.get_mut(at as usize),
            None => self.changed.get_mut(&n),
        };
        if let Some(list) = list {
            debug_assert!(list.is_empty(), "term {n} is forgotten with postings");
            *list = Vec::new();
        }
    }

    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let lists = |l: &Vec<Posting>| l.capacity() * size_of::<Posting>();
        self.flat.capacity() * size_of::<Posting>()
            + self.starts.capacity() * size_of::<u32>()
            + self.changed.capacity() * (size_of::<(u32, Vec<Posting>)>() + 1)
            + self.changed.values().map(lists).sum::<usize>()
            + self.added.capacity() * size_of::<Vec<Posting>>()
            + self.added.iter().map(lists).sum::<usize>()
    }
}

/// The documents' numbers by concept: the frozen documents (numbered by their concepts' order,
/// as a snapshot holds them) found by a binary search, those added since in a table.
#[derive(Default)]
pub(super) struct Docs {
    /// The frozen documents' concepts, in increasing order: document `i` is `frozen[i]`.
    frozen: Vec<ConceptId>,
    /// Whether each frozen document is still indexed.
    live: Vec<bool>,
    live_count: usize,
    /// The documents added since (a number may be a frozen document's, reused).
    added: FxHashMap<ConceptId, u32>,
}

impl Docs {
    /// Frozen documents: `ids` in strictly increasing order (checked by the caller).
    pub fn frozen(ids: Vec<ConceptId>) -> Self {
        Docs {
            live: vec![true; ids.len()],
            live_count: ids.len(),
            frozen: ids,
            added: FxHashMap::default(),
        }
    }

    pub fn reserve(&mut self, n: usize) {
        self.added.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.live_count + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn frozen_position(&self, id: &ConceptId) -> Option<usize> {
        let at = self.frozen.binary_search(id).ok()?;
        self.live[at].then_some(at)
    }

    /// Concept `id`'s document number, if it is indexed.
    pub fn get(&self, id: &ConceptId) -> Option<u32> {
        match self.added.get(id) {
            Some(&doc) => Some(doc),
            None => self.frozen_position(id).map(|at| at as u32),
        }
    }

    /// Records concept `id` (not indexed) as document `doc`.
    pub fn insert(&mut self, id: ConceptId, doc: u32) {
        debug_assert!(self.get(&id).is_none(), "{id} is indexed twice");
        self.added.insert(id, doc);
    }

    /// Forgets concept `id`; its document number, if it was indexed.
    pub fn remove(&mut self, id: &ConceptId) -> Option<u32> {
        if let Some(doc) = self.added.remove(id) {
            return Some(doc);
        }
        let at = self.frozen_position(id)?;
        self.live[at] = false;
        self.live_count -= 1;
        Some(at as u32)
    }

    /// Every indexed concept with its document number.
    pub fn iter(&self) -> impl Iterator<Item = (ConceptId, u32)> + '_ {
        self.frozen
            .iter()
            .zip(&self.live)
            .enumerate()
            .filter(|(_, (_, live))| **live)
            .map(|(at, (id, _))| (*id, at as u32))
            .chain(self.added.iter().map(|(id, doc)| (*id, *doc)))
    }

    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.frozen.capacity() * size_of::<ConceptId>()
            + self.live.capacity()
            + self.added.capacity() * (size_of::<(ConceptId, u32)>() + 1)
    }
}
