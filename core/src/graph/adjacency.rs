//! The association graph's adjacency, both ways, numbered densely.
//!
//! Every concept that has at least one association gets a *slot*: a small number that indexes
//! plain arrays. A concept's outgoing associations are a compact list of [`Link`]s (the other
//! end's slot and the kind, 8 bytes each) with the associations' data in a list beside it, and
//! its incoming associations are a list of links to their sources. A walk therefore reads one or
//! two cache lines per concept and needs no hash lookup per hop; only the entry point (a concept
//! id) is looked up in a hash map.
//!
//! A hub's lists (more than a thousand associations) are ordered trees instead, so that adding
//! or removing one of its associations stays logarithmic; a hub that shrinks under half that
//! gets flat lists back.
//!
//! Each list is kept in the order of the other end's concept id, then kind — the order in which
//! callers see associations — so answers never depend on slot numbers, which differ between a
//! replayed and a restored memory. Slots of concepts that lose their last association are reused.

use crate::model::ConceptId;
use crate::model::{Association, Kind};
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The stored part of an association (its key is where it is stored).
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) struct EdgeData {
    pub confidence: f32,
    pub weight: f32,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// The association `source → target` of `kind` with its stored data.
pub(crate) fn assoc(
    source: ConceptId,
    target: ConceptId,
    kind: Kind,
    data: &EdgeData,
) -> Association {
    Association {
        source,
        target,
        kind,
        confidence: data.confidence,
        weight: data.weight,
        created_ms: data.created_ms,
        updated_ms: data.updated_ms,
    }
}

/// One end of an association as seen from the other: the slot of the concept and the kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Link {
    pub slot: u32,
    pub kind: Kind,
}

/// Lists at most this long are searched by scanning their slots (a cache line or two) instead
/// of by a binary search on concept ids (a random read per step).
const SCAN_MAX: usize = 16;

/// Lists longer than this become ordered trees, so that a hub's insertions and removals stay
/// logarithmic instead of moving the whole list each time.
const TREE_MIN: usize = 1024;

/// A tree shorter than this becomes a flat list again (half of [`TREE_MIN`], so that a list
/// whose length goes back and forth around it does not change form at every step).
const FLAT_MAX: usize = TREE_MIN / 2;

fn key(ids: &[ConceptId], link: &Link) -> (ConceptId, Kind) {
    (ids[link.slot as usize], link.kind)
}

/// Where `(id, kind)` is (`Ok`) or would go (`Err`) in a flat list kept in key order (checking
/// the end first: a snapshot is loaded in key order).
fn flat_search(
    ids: &[ConceptId],
    list: &[Link],
    id: ConceptId,
    kind: Kind,
) -> Result<usize, usize> {
    match list.last() {
        None => Err(0),
        Some(last) => match key(ids, last).cmp(&(id, kind)) {
            Ordering::Less => Err(list.len()),
            Ordering::Equal => Ok(list.len() - 1),
            Ordering::Greater => list.binary_search_by(|l| key(ids, l).cmp(&(id, kind))),
        },
    }
}

/// The position of the link to `slot` (whose id is `id`) with `kind` in a flat list.
fn flat_find(
    ids: &[ConceptId],
    list: &[Link],
    slot: u32,
    id: ConceptId,
    kind: Kind,
) -> Option<usize> {
    if list.len() <= SCAN_MAX {
        list.iter().position(|l| l.slot == slot && l.kind == kind)
    } else {
        flat_search(ids, list, id, kind).ok()
    }
}

/// A concept's outgoing associations, in (target id, kind) order.
pub(crate) enum OutList {
    /// Links with the data beside them (`data[i]` belongs to `links[i]`).
    Flat {
        links: Vec<Link>,
        data: Vec<EdgeData>,
    },
    /// A hub's list.
    Tree(BTreeMap<(ConceptId, Kind), (u32, EdgeData)>),
}

impl Default for OutList {
    fn default() -> Self {
        OutList::Flat {
            links: Vec::new(),
            data: Vec::new(),
        }
    }
}

impl OutList {
    pub fn len(&self) -> usize {
        match self {
            OutList::Flat { links, .. } => links.len(),
            OutList::Tree(tree) => tree.len(),
        }
    }

    /// The links with their data, in order.
    pub fn iter(&self) -> OutIter<'_> {
        match self {
            OutList::Flat { links, data } => OutIter::Flat(links.iter().zip(data.iter())),
            OutList::Tree(tree) => OutIter::Tree(tree.iter()),
        }
    }

    /// The links with their data that come after `(id, kind)` in the list's order (all of them
    /// for `None`): a seek, not a scan, so that paging through a hub's list costs each page
    /// only its own length.
    // Used by the export (feature `json`).
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    pub fn iter_after(&self, ids: &[ConceptId], after: Option<(ConceptId, Kind)>) -> OutIter<'_> {
        let Some((id, kind)) = after else {
            return self.iter();
        };
        match self {
            OutList::Flat { links, data } => {
                let start = match flat_search(ids, links, id, kind) {
                    Ok(i) => i + 1,
                    Err(i) => i,
                };
                OutIter::Flat(links[start..].iter().zip(data[start..].iter()))
            }
            OutList::Tree(tree) => OutIter::TreeRange(tree.range((
                std::ops::Bound::Excluded((id, kind)),
                std::ops::Bound::Unbounded,
            ))),
        }
    }

    /// Calls `f` on every link with its data, in order, while it returns true; returns whether
    /// it went through the whole list. (A loop per representation: faster than [`iter`] in a
    /// hot loop.)
    ///
    /// [`iter`]: Self::iter
    #[inline]
    pub fn each(&self, mut f: impl FnMut(Link, &EdgeData) -> bool) -> bool {
        match self {
            OutList::Flat { links, data } => links.iter().zip(data).all(|(l, d)| f(*l, d)),
            OutList::Tree(tree) => tree.iter().all(|((_, kind), (slot, d))| {
                f(
                    Link {
                        slot: *slot,
                        kind: *kind,
                    },
                    d,
                )
            }),
        }
    }

    /// The first link's slot (to touch the list's memory early), for flat lists.
    pub fn first_slot(&self) -> Option<u32> {
        match self {
            OutList::Flat { links, .. } => links.first().map(|l| l.slot),
            OutList::Tree(_) => None,
        }
    }

    fn get(&self, ids: &[ConceptId], slot: u32, kind: Kind) -> Option<&EdgeData> {
        let id = ids[slot as usize];
        match self {
            OutList::Flat { links, data } => data.get(flat_find(ids, links, slot, id, kind)?),
            OutList::Tree(tree) => tree.get(&(id, kind)).map(|(_, d)| d),
        }
    }

    fn insert(
        &mut self,
        ids: &[ConceptId],
        slot: u32,
        kind: Kind,
        value: EdgeData,
    ) -> Option<EdgeData> {
        let id = ids[slot as usize];
        let grow = match self {
            OutList::Flat { links, data } => match flat_search(ids, links, id, kind) {
                Ok(i) => return Some(std::mem::replace(&mut data[i], value)),
                Err(i) => {
                    links.insert(i, Link { slot, kind });
                    data.insert(i, value);
                    links.len() > TREE_MIN
                }
            },
            OutList::Tree(tree) => return tree.insert((id, kind), (slot, value)).map(|(_, d)| d),
        };
        if grow {
            let tree = self
                .iter()
                .map(|(l, d)| (key(ids, &l), (l.slot, *d)))
                .collect();
            *self = OutList::Tree(tree);
        }
        None
    }

    fn remove(&mut self, ids: &[ConceptId], slot: u32, kind: Kind) -> bool {
        let id = ids[slot as usize];
        match self {
            OutList::Flat { links, data } => match flat_find(ids, links, slot, id, kind) {
                Some(i) => {
                    links.remove(i);
                    data.remove(i);
                    true
                }
                None => false,
            },
            OutList::Tree(tree) => {
                let removed = tree.remove(&(id, kind)).is_some();
                if tree.len() < FLAT_MAX {
                    let (links, data) = tree
                        .iter()
                        .map(|((_, kind), (slot, d))| {
                            (
                                Link {
                                    slot: *slot,
                                    kind: *kind,
                                },
                                *d,
                            )
                        })
                        .unzip();
                    *self = OutList::Flat { links, data };
                }
                removed
            }
        }
    }
}

/// Iterator over an [`OutList`].
pub(crate) enum OutIter<'a> {
    Flat(std::iter::Zip<std::slice::Iter<'a, Link>, std::slice::Iter<'a, EdgeData>>),
    Tree(std::collections::btree_map::Iter<'a, (ConceptId, Kind), (u32, EdgeData)>),
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    TreeRange(std::collections::btree_map::Range<'a, (ConceptId, Kind), (u32, EdgeData)>),
}

impl<'a> Iterator for OutIter<'a> {
    type Item = (Link, &'a EdgeData);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            OutIter::Flat(it) => it.next().map(|(l, d)| (*l, d)),
            OutIter::Tree(it) => it.next().map(tree_entry),
            OutIter::TreeRange(it) => it.next().map(tree_entry),
        }
    }
}

#[inline]
fn tree_entry<'a>(
    ((_, kind), (slot, d)): (&'a (ConceptId, Kind), &'a (u32, EdgeData)),
) -> (Link, &'a EdgeData) {
    (
        Link {
            slot: *slot,
            kind: *kind,
        },
        d,
    )
}

/// A concept's incoming associations (links to their sources), in (source id, kind) order.
pub(crate) enum IncList {
    Flat(Vec<Link>),
    /// A hub's list.
    Tree(BTreeMap<(ConceptId, Kind), u32>),
}

impl Default for IncList {
    fn default() -> Self {
        IncList::Flat(Vec::new())
    }
}

impl IncList {
    pub fn len(&self) -> usize {
        match self {
            IncList::Flat(links) => links.len(),
            IncList::Tree(tree) => tree.len(),
        }
    }

    /// The links, in order.
    pub fn iter(&self) -> IncIter<'_> {
        match self {
            IncList::Flat(links) => IncIter::Flat(links.iter()),
            IncList::Tree(tree) => IncIter::Tree(tree.iter()),
        }
    }

    fn insert(&mut self, ids: &[ConceptId], slot: u32, kind: Kind) {
        let id = ids[slot as usize];
        let grow = match self {
            IncList::Flat(links) => match flat_search(ids, links, id, kind) {
                Ok(_) => false,
                Err(i) => {
                    links.insert(i, Link { slot, kind });
                    links.len() > TREE_MIN
                }
            },
            IncList::Tree(tree) => {
                tree.insert((id, kind), slot);
                false
            }
        };
        if grow {
            let tree = self.iter().map(|l| (key(ids, &l), l.slot)).collect();
            *self = IncList::Tree(tree);
        }
    }

    fn remove(&mut self, ids: &[ConceptId], slot: u32, kind: Kind) {
        let id = ids[slot as usize];
        match self {
            IncList::Flat(links) => {
                if let Some(i) = flat_find(ids, links, slot, id, kind) {
                    links.remove(i);
                }
            }
            IncList::Tree(tree) => {
                tree.remove(&(id, kind));
                if tree.len() < FLAT_MAX {
                    let links = tree
                        .iter()
                        .map(|((_, kind), slot)| Link {
                            slot: *slot,
                            kind: *kind,
                        })
                        .collect();
                    *self = IncList::Flat(links);
                }
            }
        }
    }
}

/// Iterator over an [`IncList`].
pub(crate) enum IncIter<'a> {
    Flat(std::slice::Iter<'a, Link>),
    Tree(std::collections::btree_map::Iter<'a, (ConceptId, Kind), u32>),
}

impl Iterator for IncIter<'_> {
    type Item = Link;

    #[inline]
    fn next(&mut self) -> Option<Link> {
        match self {
            IncIter::Flat(it) => it.next().copied(),
            IncIter::Tree(it) => it.next().map(|((_, kind), slot)| Link {
                slot: *slot,
                kind: *kind,
            }),
        }
    }
}

/// The associations of one concept.
#[derive(Default)]
pub(crate) struct Node {
    /// Outgoing associations.
    pub out: OutList,
    /// Incoming associations.
    pub inc: IncList,
}

/// Both-way adjacency of the association graph.
#[derive(Default)]
pub(crate) struct Adjacency {
    slots: FxHashMap<ConceptId, u32>,
    /// The concept id of each slot (stale for a free slot).
    ids: Vec<ConceptId>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Number of associations.
    len: u64,
}

impl Adjacency {
    /// Number of associations.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Checks that the adjacency agrees with itself (the integrity checker's part for it): the
    /// slot map and the slots' ids name each other; a free slot is empty and unmapped, a used
    /// one holds a list; every outgoing link has its incoming link at the other end and every
    /// incoming link its outgoing one; each list is in (other end's id, kind) order with no
    /// repeat, flat lists no longer than a tree's threshold and trees no shorter than a flat
    /// list's; and the count is the number of outgoing links.
    pub fn check(&self) -> Result<(), String> {
        if self.ids.len() != self.nodes.len() {
            return Err(format!(
                "{} ids for {} slots",
                self.ids.len(),
                self.nodes.len()
            ));
        }
        let free: std::collections::BTreeSet<u32> = self.free.iter().copied().collect();
        if free.len() != self.free.len() {
            return Err("a slot is free twice".into());
        }
        for (id, &slot) in &self.slots {
            if self.ids.get(slot as usize) != Some(id) || free.contains(&slot) {
                return Err(format!("{id} maps to slot {slot}, which is not its"));
            }
        }
        if self.slots.len() + free.len() != self.nodes.len() {
            return Err(format!(
                "{} mapped and {} free slots of {}",
                self.slots.len(),
                free.len(),
                self.nodes.len()
            ));
        }
        let mut links = 0u64;
        for (slot, node) in self.nodes.iter().enumerate() {
            let slot = slot as u32;
            let id = self.ids[slot as usize];
            if free.contains(&slot) {
                if node.out.len() + node.inc.len() > 0 {
                    return Err(format!("free slot {slot} holds links"));
                }
                continue;
            }
            if node.out.len() + node.inc.len() == 0 {
                return Err(format!("{id} holds a slot with no link"));
            }
            let in_order = |keys: &[(ConceptId, Kind)]| keys.windows(2).all(|w| w[0] < w[1]);
            let mut out_keys = Vec::with_capacity(node.out.len());
            for (link, _) in node.out.iter() {
                let Some(&other) = self.ids.get(link.slot as usize) else {
                    return Err(format!(
                        "{id} links to slot {}, which does not exist",
                        link.slot
                    ));
                };
                if free.contains(&link.slot) {
                    return Err(format!("{id} links to free slot {}", link.slot));
                }
                if !self.nodes[link.slot as usize].inc.iter().any(|l| {
                    l == Link {
                        slot,
                        kind: link.kind,
                    }
                }) {
                    return Err(format!(
                        "{id} -[{}]-> {other} is missing at {other}",
                        link.kind
                    ));
                }
                out_keys.push((other, link.kind));
            }
            let mut inc_keys = Vec::with_capacity(node.inc.len());
            for link in node.inc.iter() {
                let Some(&other) = self.ids.get(link.slot as usize) else {
                    return Err(format!(
                        "{id} is linked from slot {}, which does not exist",
                        link.slot
                    ));
                };
                if self.get_by_slot(link.slot, slot, link.kind).is_none() {
                    return Err(format!(
                        "{other} -[{}]-> {id} is missing at {other}",
                        link.kind
                    ));
                }
                inc_keys.push((other, link.kind));
            }
            if !in_order(&out_keys) || !in_order(&inc_keys) {
                return Err(format!("{id}'s lists are out of order"));
            }
            let shapes = [
                (matches!(node.out, OutList::Flat { .. }), node.out.len()),
                (matches!(node.inc, IncList::Flat(_)), node.inc.len()),
            ];
            for (flat, len) in shapes {
                if (flat && len > TREE_MIN) || (!flat && len < FLAT_MAX) {
                    return Err(format!(
                        "{id} keeps a list of {len} as a {}",
                        if flat { "flat list" } else { "tree" }
                    ));
                }
            }
            if let OutList::Flat { links, data } = &node.out {
                if links.len() != data.len() {
                    return Err(format!(
                        "{id}'s list has {} links and {} data",
                        links.len(),
                        data.len()
                    ));
                }
            }
            links += node.out.len() as u64;
        }
        if links != self.len {
            return Err(format!("{links} links counted as {}", self.len));
        }
        Ok(())
    }

    /// The slot of `id`, if it has any association.
    #[inline]
    pub fn slot(&self, id: &ConceptId) -> Option<u32> {
        self.slots.get(id).copied()
    }

    /// The concept id of a slot.
    #[inline]
    pub fn id(&self, slot: u32) -> ConceptId {
        self.ids[slot as usize]
    }

    /// The associations of a slot.
    #[inline]
    pub fn node(&self, slot: u32) -> &Node {
        &self.nodes[slot as usize]
    }

    fn slot_or_new(&mut self, id: ConceptId) -> u32 {
        if let Some(&slot) = self.slots.get(&id) {
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.ids[slot as usize] = id;
                slot
            }
            None => {
                self.ids.push(id);
                self.nodes.push(Node::default());
                (self.nodes.len() - 1) as u32
            }
        };
        self.slots.insert(id, slot);
        slot
    }

    /// Gives the slot back when its concept has no association left.
    fn release_if_bare(&mut self, slot: u32) {
        let node = &mut self.nodes[slot as usize];
        if node.out.len() == 0 && node.inc.len() == 0 {
            // Drop the lists' memory too: a reused slot starts small.
            *node = Node::default();
            self.slots.remove(&self.ids[slot as usize]);
            self.free.push(slot);
        }
    }

    /// The data of the association `source → target` of `kind`.
    pub fn get(&self, source: &ConceptId, target: &ConceptId, kind: Kind) -> Option<&EdgeData> {
        let s = self.slot(source)?;
        let t = self.slot(target)?;
        self.get_by_slot(s, t, kind)
    }

    /// The data of the association from slot `source` to slot `target` of `kind`.
    pub fn get_by_slot(&self, source: u32, target: u32, kind: Kind) -> Option<&EdgeData> {
        self.nodes[source as usize].out.get(&self.ids, target, kind)
    }

    /// Inserts or replaces an association; returns the data it replaced.
    pub fn insert(
        &mut self,
        source: ConceptId,
        target: ConceptId,
        kind: Kind,
        data: EdgeData,
    ) -> Option<EdgeData> {
        let s = self.slot_or_new(source);
        let t = self.slot_or_new(target);
        let replaced = self.nodes[s as usize].out.insert(&self.ids, t, kind, data);
        if replaced.is_none() {
            self.nodes[t as usize].inc.insert(&self.ids, s, kind);
            self.len += 1;
        }
        debug_assert_eq!(self.get(&source, &target, kind), Some(&data));
        debug_assert!(
            self.nodes[s as usize].out.len() <= TREE_MIN
                || !matches!(self.nodes[s as usize].out, OutList::Flat { .. }),
            "a list longer than the threshold is a tree"
        );
        replaced
    }

    /// Removes an association; returns whether it existed.
    pub fn remove(&mut self, source: &ConceptId, target: &ConceptId, kind: Kind) -> bool {
        let (Some(s), Some(t)) = (self.slot(source), self.slot(target)) else {
            return false;
        };
        if !self.nodes[s as usize].out.remove(&self.ids, t, kind) {
            return false;
        }
        self.nodes[t as usize].inc.remove(&self.ids, s, kind);
        self.len -= 1;
        self.release_if_bare(s);
        if t != s {
            self.release_if_bare(t);
        }
        debug_assert!(self.get(source, target, kind).is_none());
        true
    }

    /// Removes every association that starts or ends at `id`.
    pub fn remove_concept(&mut self, id: &ConceptId) {
        let Some(slot) = self.slot(id) else {
            return;
        };
        let node = std::mem::take(&mut self.nodes[slot as usize]);
        // Loops (an association from the concept to itself) appear in both lists; they go with
        // the taken lists and are counted once, as outgoing.
        self.len -= node.out.len() as u64;
        for (link, _) in node.out.iter() {
            if link.slot != slot {
                self.nodes[link.slot as usize]
                    .inc
                    .remove(&self.ids, slot, link.kind);
                self.release_if_bare(link.slot);
            }
        }
        for link in node.inc.iter() {
            if link.slot != slot {
                if self.nodes[link.slot as usize]
                    .out
                    .remove(&self.ids, slot, link.kind)
                {
                    self.len -= 1;
                }
                self.release_if_bare(link.slot);
            }
        }
        self.release_if_bare(slot);
    }

    /// The outgoing associations of `id`: (target, kind, data) in (target, kind) order.
    pub fn outgoing(
        &self,
        id: &ConceptId,
    ) -> impl Iterator<Item = (ConceptId, Kind, &EdgeData)> + '_ {
        let node = self.slot(id).map(|s| &self.nodes[s as usize]);
        node.into_iter()
            .flat_map(move |n| n.out.iter().map(|(l, d)| (self.id(l.slot), l.kind, d)))
    }

    /// The outgoing associations of `id` after `(target, kind)` (all for `None`), in (target,
    /// kind) order: where a page of them left off.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    pub fn outgoing_after(
        &self,
        id: &ConceptId,
        after: Option<(ConceptId, Kind)>,
    ) -> impl Iterator<Item = (ConceptId, Kind, &EdgeData)> + '_ {
        let node = self.slot(id).map(|s| &self.nodes[s as usize]);
        node.into_iter().flat_map(move |n| {
            n.out
                .iter_after(&self.ids, after)
                .map(|(l, d)| (self.id(l.slot), l.kind, d))
        })
    }

    /// The incoming associations of `id`: (source, kind, data) in (source, kind) order.
    pub fn incoming(
        &self,
        id: &ConceptId,
    ) -> impl Iterator<Item = (ConceptId, Kind, &EdgeData)> + '_ {
        let node = self.slot(id).map(|s| (s, &self.nodes[s as usize]));
        node.into_iter().flat_map(move |(s, n)| {
            n.inc.iter().filter_map(move |l| {
                let data = self.get_by_slot(l.slot, s, l.kind)?;
                Some((self.id(l.slot), l.kind, data))
            })
        })
    }

    /// Every association, grouped by source (sources in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = Association> + '_ {
        self.nodes.iter().enumerate().flat_map(move |(s, n)| {
            let source = self.ids[s];
            n.out
                .iter()
                .map(move |(l, d)| assoc(source, self.id(l.slot), l.kind, d))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn data(x: u64) -> EdgeData {
        EdgeData {
            confidence: 0.5,
            weight: 1.0,
            created_ms: x,
            updated_ms: x,
        }
    }

    const KINDS: [Kind; 3] = [Kind::Semantic, Kind::Causal, Kind::Temporal];

    /// Runs random inserts, removals and concept deletions over `concepts` concepts (a share
    /// `hub_percent` of the ends being concept 0) against an ordered map of (source, target,
    /// kind), checking every list, lookups and counts every `check_every` steps.
    fn random_walk(concepts: u64, hub_percent: u64, steps: u64, check_every: u64) {
        let mut adj = Adjacency::default();
        let mut truth: BTreeMap<(ConceptId, ConceptId, Kind), EdgeData> = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut largest = 0;
        for step in 0..steps {
            let mut pick = || {
                let r = next(100);
                let c = next(concepts);
                ConceptId(u128::from(if r < hub_percent { 0 } else { c }))
            };
            let (a, b) = (pick(), pick());
            let kind = KINDS[next(3) as usize];
            match next(20) {
                0..=12 => {
                    let replaced = adj.insert(a, b, kind, data(step));
                    assert_eq!(replaced, truth.insert((a, b, kind), data(step)));
                }
                13..=18 => {
                    assert_eq!(
                        adj.remove(&a, &b, kind),
                        truth.remove(&(a, b, kind)).is_some()
                    );
                }
                _ => {
                    // The hub survives these (it goes at the end), so that its lists grow long.
                    if hub_percent == 0 || a != ConceptId(0) {
                        adj.remove_concept(&a);
                        truth.retain(|(s, t, _), _| *s != a && *t != a);
                    }
                }
            }
            assert_eq!(adj.len(), truth.len() as u64);
            if step % check_every != check_every - 1 {
                continue;
            }
            assert_eq!(adj.check(), Ok(()), "step {step}");
            for c in 0..concepts as u128 {
                let id = ConceptId(c);
                let out: Vec<_> = adj.outgoing(&id).map(|(t, k, d)| (t, k, *d)).collect();
                let want: Vec<_> = truth
                    .range((id, ConceptId(0), Kind::Semantic)..)
                    .take_while(|((s, _, _), _)| *s == id)
                    .map(|((_, t, k), d)| (*t, *k, *d))
                    .collect();
                assert_eq!(out, want, "outgoing of {c}");
                // Pages that each start where the last one ended cover the list exactly.
                let mut paged = Vec::new();
                let mut after = None;
                loop {
                    let page: Vec<_> = adj
                        .outgoing_after(&id, after)
                        .take(7)
                        .map(|(t, k, d)| (t, k, *d))
                        .collect();
                    let Some(last) = page.last() else { break };
                    after = Some((last.0, last.1));
                    paged.extend(page);
                }
                assert_eq!(paged, want, "outgoing of {c}, paged");
                largest = largest.max(out.len());
                let inc: Vec<_> = adj.incoming(&id).map(|(s, k, d)| (s, k, *d)).collect();
                let mut want: Vec<_> = truth
                    .iter()
                    .filter(|((_, t, _), _)| *t == id)
                    .map(|((s, _, k), d)| (*s, *k, *d))
                    .collect();
                want.sort_by_key(|(s, k, _)| (*s, *k));
                assert_eq!(inc, want, "incoming of {c}");
            }
            for _ in 0..2000 {
                let (s, t) = (
                    ConceptId(u128::from(next(concepts))),
                    ConceptId(u128::from(next(concepts))),
                );
                for key in [(s, t), (ConceptId(0), t), (s, ConceptId(0))] {
                    for kind in KINDS {
                        assert_eq!(
                            adj.get(&key.0, &key.1, kind),
                            truth.get(&(key.0, key.1, kind)),
                            "{key:?} {kind:?}"
                        );
                    }
                }
            }
            let mut all: Vec<_> = adj.iter().map(|a| (a.source, a.target, a.kind)).collect();
            all.sort();
            let want: Vec<_> = truth.keys().copied().collect();
            assert_eq!(all, want);
            // A concept without associations holds no slot.
            let holding = truth
                .keys()
                .flat_map(|(s, t, _)| [*s, *t])
                .collect::<std::collections::BTreeSet<_>>();
            assert_eq!(adj.slots.len(), holding.len());
        }
        assert!(!truth.is_empty(), "the walk must leave some associations");
        if hub_percent > 0 {
            assert!(
                largest > TREE_MIN,
                "the hub's list must become a tree: {largest}"
            );
            let hub = ConceptId(0);
            adj.remove_concept(&hub);
            truth.retain(|(s, t, _), _| *s != hub && *t != hub);
            let mut all: Vec<_> = adj.iter().map(|a| (a.source, a.target, a.kind)).collect();
            all.sort();
            assert_eq!(all, truth.keys().copied().collect::<Vec<_>>());
            assert_eq!(adj.len(), truth.len() as u64);
            assert_eq!(adj.slot(&hub), None);
        }
    }

    /// The checker finds what breaks the adjacency's rules (so that its silence means
    /// something): a link missing at its other end, a wrong count, a list out of order.
    #[test]
    fn the_checker_finds_broken_rules() {
        let build = || {
            let mut adj = Adjacency::default();
            for (a, b) in [(1u128, 2u128), (1, 3), (2, 3), (3, 1)] {
                adj.insert(ConceptId(a), ConceptId(b), Kind::Causal, data(a as u64));
            }
            assert_eq!(adj.check(), Ok(()));
            adj
        };
        let mut adj = build();
        let s2 = adj.slot(&ConceptId(2)).expect("slot");
        adj.nodes[s2 as usize].inc = IncList::default();
        assert!(adj.check().expect_err("missing").contains("is missing at"));
        let mut adj = build();
        adj.len += 1;
        assert!(adj.check().expect_err("count").contains("links counted as"));
        let mut adj = build();
        let s1 = adj.slot(&ConceptId(1)).expect("slot");
        if let OutList::Flat { links, .. } = &mut adj.nodes[s1 as usize].out {
            links.reverse();
        }
        assert!(adj.check().expect_err("order").contains("out of order"));
        let mut adj = build();
        adj.slots.insert(ConceptId(9), s1);
        assert!(adj.check().is_err());
    }

    /// Small lists: scanned (≤ 16) and searched ones, loops, parallel kinds.
    #[test]
    fn matches_an_ordered_map_through_random_changes() {
        random_walk(40, 0, 20_000, 500);
    }

    /// A hub whose lists grow past the flat length into trees, and shrink again.
    #[test]
    fn a_hub_matches_an_ordered_map_through_random_changes() {
        random_walk(3000, 40, 30_000, 7_500);
    }

    /// A hub's lists become trees past [`TREE_MIN`] and flat again under [`FLAT_MAX`] as it
    /// loses associations, in order and with their data throughout.
    #[test]
    fn a_shrinking_hub_turns_flat_again() {
        let hub = ConceptId(0);
        let n = TREE_MIN as u64 + 200;
        let mut adj = Adjacency::default();
        // Others in an order unrelated to their ids.
        let others: Vec<ConceptId> = (0..n)
            .map(|i| ConceptId(u128::from(1 + (i * 7919) % n)))
            .collect();
        for (i, other) in others.iter().enumerate() {
            adj.insert(hub, *other, Kind::Semantic, data(i as u64));
            adj.insert(*other, hub, Kind::Causal, data(i as u64));
        }
        let forms = |adj: &Adjacency| {
            let node = adj.node(adj.slot(&hub).expect("the hub has a slot"));
            (
                matches!(node.out, OutList::Tree(_)),
                matches!(node.inc, IncList::Tree(_)),
            )
        };
        assert_eq!(forms(&adj), (true, true));
        for (removed, other) in others.iter().enumerate() {
            assert!(adj.remove(&hub, other, Kind::Semantic));
            assert!(adj.remove(other, &hub, Kind::Causal));
            let left = others.len() - removed - 1;
            if left == 0 {
                break;
            }
            let flat = left < FLAT_MAX;
            assert_eq!(forms(&adj), (!flat, !flat), "{left} left");
            if left.is_multiple_of(97) || left == FLAT_MAX - 1 || left == FLAT_MAX {
                let mut want: Vec<(ConceptId, EdgeData)> = others[removed + 1..]
                    .iter()
                    .enumerate()
                    .map(|(j, o)| (*o, data((removed + 1 + j) as u64)))
                    .collect();
                want.sort_by_key(|(o, _)| *o);
                let out: Vec<(ConceptId, EdgeData)> =
                    adj.outgoing(&hub).map(|(t, _, d)| (t, *d)).collect();
                assert_eq!(out, want, "{left} left");
                let inc: Vec<(ConceptId, EdgeData)> =
                    adj.incoming(&hub).map(|(s, _, d)| (s, *d)).collect();
                assert_eq!(inc, want, "{left} left");
                assert_eq!(adj.get(&hub, &want[0].0, Kind::Semantic), Some(&want[0].1));
            }
        }
        assert_eq!((adj.len(), adj.slot(&hub)), (0, None));
    }

    /// Adding a hub's associations in random order stays fast (flat lists would move the whole
    /// list on every insertion: quadratic).
    #[test]
    fn a_hub_of_a_hundred_thousand_takes_insertions_in_any_order() {
        let mut adj = Adjacency::default();
        let n = 100_000u64;
        let mut x: u64 = 7;
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let other = ConceptId(u128::from(1 + (x >> 33) % (4 * n)));
            adj.insert(ConceptId(0), other, Kind::Semantic, data(i));
            adj.insert(other, ConceptId(0), Kind::Causal, data(i));
        }
        let out: Vec<ConceptId> = adj.outgoing(&ConceptId(0)).map(|(t, _, _)| t).collect();
        assert!(out.windows(2).all(|w| w[0] < w[1]), "out of order");
        assert_eq!(out.len() as u64 * 2, adj.len());
        adj.remove_concept(&ConceptId(0));
        assert_eq!(adj.len(), 0);
        assert!(adj.slots.is_empty());
    }
}
