//! The association graph's adjacency, both ways, numbered densely.
//!
//! Every concept that has at least one association gets a *slot*: a small number that indexes
//! plain arrays. A concept's outgoing associations are a compact list of [`Link`]s (the other
//! end's slot and the kind, 8 bytes each) with the associations' data in a list beside it, and
//! its incoming associations are a list of links to their sources. A walk therefore reads one or
//! two cache lines per concept and needs no hash lookup per hop; only the entry point (a concept
//! id) is looked up in a hash map.
//!
//! Each list is kept in the order of the other end's concept id, then kind — the order in which
//! callers see associations — so answers never depend on slot numbers, which differ between a
//! replayed and a restored memory. Slots of concepts that lose their last association are reused.

use crate::id::ConceptId;
use crate::model::{Association, Kind};
use crate::state::{assoc, EdgeData};
use rustc_hash::FxHashMap;
use std::cmp::Ordering;

/// One end of an association as seen from the other: the slot of the concept and the kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Link {
    pub slot: u32,
    pub kind: Kind,
}

/// The associations of one concept.
#[derive(Default)]
pub(crate) struct Node {
    /// Outgoing associations, in (target id, kind) order.
    pub out: Vec<Link>,
    /// The data of each outgoing association (`data[i]` belongs to `out[i]`).
    pub data: Vec<EdgeData>,
    /// Incoming associations, in (source id, kind) order.
    pub inc: Vec<Link>,
}

/// Lists at most this long are searched by scanning their slots (a cache line or two) instead
/// of by a binary search on concept ids (a random read per step).
const SCAN_MAX: usize = 16;

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

    fn key(&self, link: &Link) -> (ConceptId, Kind) {
        (self.ids[link.slot as usize], link.kind)
    }

    /// Where `(id, kind)` is (`Ok`) or would go (`Err`) in a list kept in key order.
    fn search(&self, list: &[Link], id: ConceptId, kind: Kind) -> Result<usize, usize> {
        list.binary_search_by(|l| self.key(l).cmp(&(id, kind)))
    }

    /// The position of the link to `slot` (whose id is `id`) with `kind` in `list`.
    fn find(&self, list: &[Link], slot: u32, id: ConceptId, kind: Kind) -> Option<usize> {
        if list.len() <= SCAN_MAX {
            list.iter().position(|l| l.slot == slot && l.kind == kind)
        } else {
            self.search(list, id, kind).ok()
        }
    }

    /// Where to insert `(id, kind)` in a list kept in key order (the end when it sorts last,
    /// as when a snapshot is loaded in key order).
    fn insertion_point(&self, list: &[Link], id: ConceptId, kind: Kind) -> Result<usize, usize> {
        match list.last() {
            None => Err(0),
            Some(last) => match self.key(last).cmp(&(id, kind)) {
                Ordering::Less => Err(list.len()),
                Ordering::Equal => Ok(list.len() - 1),
                Ordering::Greater => self.search(list, id, kind),
            },
        }
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
        if node.out.is_empty() && node.inc.is_empty() {
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
        let node = &self.nodes[s as usize];
        let i = self.find(&node.out, t, *target, kind)?;
        node.data.get(i)
    }

    /// The data of the association from slot `source` to slot `target` of `kind`.
    pub fn get_by_slot(&self, source: u32, target: u32, kind: Kind) -> Option<&EdgeData> {
        let node = &self.nodes[source as usize];
        let i = self.find(&node.out, target, self.id(target), kind)?;
        node.data.get(i)
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
        let node = &self.nodes[s as usize];
        match self.insertion_point(&node.out, target, kind) {
            Ok(i) => {
                let node = &mut self.nodes[s as usize];
                Some(std::mem::replace(&mut node.data[i], data))
            }
            Err(i) => {
                let j = match self.insertion_point(&self.nodes[t as usize].inc, source, kind) {
                    Ok(j) | Err(j) => j,
                };
                let node = &mut self.nodes[s as usize];
                node.out.insert(i, Link { slot: t, kind });
                node.data.insert(i, data);
                self.nodes[t as usize].inc.insert(j, Link { slot: s, kind });
                self.len += 1;
                None
            }
        }
    }

    /// Removes an association; returns whether it existed.
    pub fn remove(&mut self, source: &ConceptId, target: &ConceptId, kind: Kind) -> bool {
        let (Some(s), Some(t)) = (self.slot(source), self.slot(target)) else {
            return false;
        };
        let Some(i) = self.find(&self.nodes[s as usize].out, t, *target, kind) else {
            return false;
        };
        let node = &mut self.nodes[s as usize];
        node.out.remove(i);
        node.data.remove(i);
        if let Some(j) = self.find(&self.nodes[t as usize].inc, s, *source, kind) {
            self.nodes[t as usize].inc.remove(j);
        }
        self.len -= 1;
        self.release_if_bare(s);
        if t != s {
            self.release_if_bare(t);
        }
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
        for link in &node.out {
            if link.slot == slot {
                continue;
            }
            let other = &self.nodes[link.slot as usize];
            if let Some(j) = self.find(&other.inc, slot, *id, link.kind) {
                self.nodes[link.slot as usize].inc.remove(j);
            }
            self.release_if_bare(link.slot);
        }
        for link in &node.inc {
            if link.slot == slot {
                continue;
            }
            let other = &self.nodes[link.slot as usize];
            if let Some(j) = self.find(&other.out, slot, *id, link.kind) {
                let other = &mut self.nodes[link.slot as usize];
                other.out.remove(j);
                other.data.remove(j);
                self.len -= 1;
            }
            self.release_if_bare(link.slot);
        }
        self.release_if_bare(slot);
    }

    /// The outgoing associations of `id`: (target, kind, data) in (target, kind) order.
    pub fn outgoing(
        &self,
        id: &ConceptId,
    ) -> impl Iterator<Item = (ConceptId, Kind, &EdgeData)> + '_ {
        let node = self.slot(id).map(|s| &self.nodes[s as usize]);
        node.into_iter().flat_map(move |n| {
            n.out
                .iter()
                .zip(&n.data)
                .map(|(l, d)| (self.id(l.slot), l.kind, d))
        })
    }

    /// The incoming associations of `id`: (source, kind, data) in (source, kind) order.
    pub fn incoming(
        &self,
        id: &ConceptId,
    ) -> impl Iterator<Item = (ConceptId, Kind, &EdgeData)> + '_ {
        let slot = self.slot(id);
        let node = slot.map(|s| (s, &self.nodes[s as usize]));
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
                .zip(&n.data)
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

    /// The adjacency against an ordered map of (source, target, kind) through random inserts,
    /// removals and concept deletions, including loops and lists long enough to be searched.
    #[test]
    fn matches_an_ordered_map_through_random_changes() {
        let mut adj = Adjacency::default();
        let mut truth: BTreeMap<(ConceptId, ConceptId, Kind), EdgeData> = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for step in 0..20_000u64 {
            // Concept 0 is a hub: its lists grow past the scanned length.
            let pick = |r: u64| ConceptId(u128::from(if r < 8 { 0 } else { r % 40 }));
            let (a, b) = (pick(next(50)), pick(next(50)));
            let kind = KINDS[next(3) as usize];
            match next(10) {
                0..=5 => {
                    let replaced = adj.insert(a, b, kind, data(step));
                    assert_eq!(replaced, truth.insert((a, b, kind), data(step)));
                }
                6..=8 => {
                    assert_eq!(
                        adj.remove(&a, &b, kind),
                        truth.remove(&(a, b, kind)).is_some()
                    );
                }
                _ => {
                    adj.remove_concept(&a);
                    truth.retain(|(s, t, _), _| *s != a && *t != a);
                }
            }
            assert_eq!(adj.len(), truth.len() as u64);
            if step % 500 == 0 || step == 19_999 {
                for c in 0..40u128 {
                    let id = ConceptId(c);
                    let out: Vec<_> = adj.outgoing(&id).map(|(t, k, d)| (t, k, *d)).collect();
                    let want: Vec<_> = truth
                        .iter()
                        .filter(|((s, _, _), _)| *s == id)
                        .map(|((_, t, k), d)| (*t, *k, *d))
                        .collect();
                    assert_eq!(out, want, "outgoing of {c}");
                    let inc: Vec<_> = adj.incoming(&id).map(|(s, k, d)| (s, k, *d)).collect();
                    let mut want: Vec<_> = truth
                        .iter()
                        .filter(|((_, t, _), _)| *t == id)
                        .map(|((s, _, k), d)| (*s, *k, *d))
                        .collect();
                    want.sort_by_key(|(s, k, _)| (*s, *k));
                    assert_eq!(inc, want, "incoming of {c}");
                    for t in 0..40u128 {
                        for kind in KINDS {
                            let key = (id, ConceptId(t), kind);
                            assert_eq!(
                                adj.get(&id, &ConceptId(t), kind),
                                truth.get(&key),
                                "{key:?}"
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
        }
        assert!(!truth.is_empty(), "the walk must leave some associations");
    }
}
