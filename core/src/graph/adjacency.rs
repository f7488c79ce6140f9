//! The association graph's adjacency, both ways, numbered densely.
//!
//! Every concept that has at least one association gets a *slot*: a small number that indexes
//! plain arrays. A concept's outgoing associations are a compact list of [`Link`]s (the other
//! end's slot, the kind and the label's number, 12 bytes each) with the associations' data in a
//! list beside it, and its incoming associations are a list of links to their sources. A walk
//! therefore reads one or two cache lines per concept and needs no hash lookup per hop; only
//! the entry point (a concept id) is looked up in a hash map.
//!
//! Labels are numbered by a table of their own ([`Labels`]): a link holds a label's number,
//! and the table its text and how many associations use it (a label no association uses any
//! more gives its number back).
//!
//! A hub's lists (more than a thousand associations) are ordered trees instead, so that adding
//! or removing one of its associations stays logarithmic; a hub that shrinks under half that
//! gets flat lists back.
//!
//! Each list is kept in the order of the other end's concept id, then kind, then label text —
//! the order in which callers see associations — so answers never depend on slot or label
//! numbers, which differ between a replayed and a restored memory. Slots of concepts that lose
//! their last association are reused.

use crate::limits::LABELS_MAX;
use crate::model::{Association, Kind, Label, ValidAt, Validity};
use crate::model::{ConceptId, KeptMetadata};
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The stored part of an association (its key is where it is stored).
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct EdgeData {
    pub confidence: f32,
    pub weight: f32,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub metadata: KeptMetadata,
    /// When it holds, unless always (most associations: one pointer, null).
    pub validity: Option<Box<Validity>>,
}

impl EdgeData {
    /// When it holds.
    #[inline]
    pub fn validity(&self) -> Validity {
        self.validity.as_deref().copied().unwrap_or_default()
    }

    /// Whether a read at `at` sees it.
    #[inline]
    pub fn seen_at(&self, at: ValidAt) -> bool {
        self.validity.as_deref().is_none_or(|v| at.admits(v))
    }

    /// The validity as kept: nothing when always valid.
    pub fn keep_validity(validity: Validity) -> Option<Box<Validity>> {
        (validity != Validity::ALWAYS).then(|| Box::new(validity))
    }
}

/// The association `source → target` of `kind` and `label` with its stored data.
pub(crate) fn assoc(
    source: ConceptId,
    target: ConceptId,
    kind: Kind,
    label: &Label,
    data: &EdgeData,
) -> Association {
    Association {
        source,
        target,
        kind,
        label: label.clone(),
        confidence: data.confidence,
        weight: data.weight,
        created_ms: data.created_ms,
        updated_ms: data.updated_ms,
        validity: data.validity(),
        metadata: data.metadata.clone(),
    }
}

/// One end of an association as seen from the other: the slot of the concept, and the kind
/// and the label's number packed in one word (`label << 3 | kind`), so that a link is 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Link {
    pub slot: u32,
    rel: u32,
}

impl Link {
    #[inline]
    pub fn new(slot: u32, kind: Kind, label: u32) -> Link {
        debug_assert!(label <= LABELS_MAX, "label number {label} out of range");
        Link {
            slot,
            rel: label << 3 | kind as u32,
        }
    }

    /// The association's kind.
    #[inline]
    pub fn kind(self) -> Kind {
        Kind::ALL[(self.rel & 7) as usize]
    }

    /// The number of the association's label.
    #[inline]
    pub fn label(self) -> u32 {
        self.rel >> 3
    }
}

/// The labels in use, numbered: number 0 is the empty label, always.
pub(crate) struct Labels {
    texts: Vec<Label>,
    /// How many associations use each label (not counted for the empty one).
    uses: Vec<u64>,
    numbers: FxHashMap<Label, u32>,
    free: Vec<u32>,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            texts: vec![Label::EMPTY],
            uses: vec![0],
            numbers: FxHashMap::default(),
            free: Vec::new(),
        }
    }
}

impl Labels {
    /// The label numbered `n`.
    #[inline]
    pub fn text(&self, n: u32) -> &Label {
        &self.texts[n as usize]
    }

    /// The number of `label`, if any association uses it.
    pub fn number(&self, label: &Label) -> Option<u32> {
        if label.is_empty() {
            Some(0)
        } else {
            self.numbers.get(label).copied()
        }
    }

    /// The number of `label` for one more association that uses it.
    fn take(&mut self, label: &Label) -> u32 {
        if label.is_empty() {
            return 0;
        }
        let n = match self.numbers.get(label) {
            Some(&n) => n,
            None => {
                let n = match self.free.pop() {
                    Some(n) => {
                        self.texts[n as usize] = label.clone();
                        n
                    }
                    None => {
                        self.texts.push(label.clone());
                        self.uses.push(0);
                        (self.texts.len() - 1) as u32
                    }
                };
                self.numbers.insert(label.clone(), n);
                n
            }
        };
        self.uses[n as usize] += 1;
        n
    }

    /// One association fewer uses label `n`.
    fn give_back(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let uses = &mut self.uses[n as usize];
        debug_assert!(*uses > 0, "label {n} given back more often than taken");
        *uses -= 1;
        if *uses == 0 {
            let text = std::mem::take(&mut self.texts[n as usize]);
            self.numbers.remove(&text);
            self.free.push(n);
        }
    }

    /// How many distinct labels are in use (the empty one not counted).
    pub fn len(&self) -> usize {
        self.numbers.len()
    }
}

/// Counts `data` in or out of a count of associations with a validity.
fn count_timed(timed: &mut u64, data: &EdgeData, delta: i64) {
    if data.validity.is_some() {
        *timed = timed.wrapping_add_signed(delta);
    }
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

/// The key of a hub's tree: the other end's id, the kind, the label.
type TreeKey = (ConceptId, Kind, Label);

/// What lists are searched with: the slots' ids and the labels' texts.
#[derive(Clone, Copy)]
struct Names<'a> {
    ids: &'a [ConceptId],
    labels: &'a Labels,
}

impl Names<'_> {
    /// How `link` compares with the key `(id, kind, label)`.
    #[inline]
    fn cmp(&self, link: &Link, id: ConceptId, kind: Kind, label: &Label) -> Ordering {
        (self.ids[link.slot as usize], link.kind())
            .cmp(&(id, kind))
            .then_with(|| {
                if link.label() == 0 && label.is_empty() {
                    Ordering::Equal
                } else {
                    self.labels.text(link.label()).cmp(label)
                }
            })
    }

    fn tree_key(&self, link: &Link) -> TreeKey {
        (
            self.ids[link.slot as usize],
            link.kind(),
            self.labels.text(link.label()).clone(),
        )
    }
}

/// What a list is searched for: the other end (slot and id), the kind, the label (number and
/// text).
#[derive(Clone, Copy)]
struct Target<'a> {
    slot: u32,
    id: ConceptId,
    kind: Kind,
    label: u32,
    text: &'a Label,
}

impl Target<'_> {
    fn link(&self) -> Link {
        Link::new(self.slot, self.kind, self.label)
    }

    fn tree_key(&self) -> TreeKey {
        (self.id, self.kind, self.text.clone())
    }
}

/// Where `at` is (`Ok`) or would go (`Err`) in a flat list kept in key order (checking the end
/// first: a snapshot is loaded in key order).
fn flat_search(names: Names<'_>, list: &[Link], at: &Target<'_>) -> Result<usize, usize> {
    let cmp = |l: &Link| names.cmp(l, at.id, at.kind, at.text);
    match list.last() {
        None => Err(0),
        Some(last) => match cmp(last) {
            Ordering::Less => Err(list.len()),
            Ordering::Equal => Ok(list.len() - 1),
            Ordering::Greater => list.binary_search_by(cmp),
        },
    }
}

/// The position of the link to `at` in a flat list.
fn flat_find(names: Names<'_>, list: &[Link], at: &Target<'_>) -> Option<usize> {
    if list.len() <= SCAN_MAX {
        let want = at.link();
        list.iter().position(|l| *l == want)
    } else {
        flat_search(names, list, at).ok()
    }
}

/// A concept's outgoing associations, in (target id, kind, label) order.
pub(crate) enum OutList {
    /// Links with the data beside them (`data[i]` belongs to `links[i]`).
    Flat {
        links: Vec<Link>,
        data: Vec<EdgeData>,
    },
    /// A hub's list: the key, then the target's slot, the label's number and the data.
    Tree(BTreeMap<TreeKey, (u32, u32, EdgeData)>),
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

    /// The links with their data that come after `(id, kind, label)` in the list's order (all
    /// of them for `None`): a seek, not a scan, so that paging through a hub's list costs each
    /// page only its own length.
    // Used by the export (feature `json`).
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    fn iter_after(&self, names: Names<'_>, after: Option<&TreeKey>) -> OutIter<'_> {
        let Some((id, kind, label)) = after else {
            return self.iter();
        };
        match self {
            OutList::Flat { links, data } => {
                let start = links.partition_point(|l| names.cmp(l, *id, *kind, label).is_le());
                OutIter::Flat(links[start..].iter().zip(data[start..].iter()))
            }
            OutList::Tree(tree) => OutIter::TreeRange(tree.range((
                std::ops::Bound::Excluded((*id, *kind, label.clone())),
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
            OutList::Tree(tree) => tree.iter().all(|(key, value)| {
                let (link, d) = tree_entry((key, value));
                f(link, d)
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

    fn get(&self, names: Names<'_>, at: &Target<'_>) -> Option<&EdgeData> {
        match self {
            OutList::Flat { links, data } => data.get(flat_find(names, links, at)?),
            OutList::Tree(tree) => tree.get(&at.tree_key()).map(|(_, _, d)| d),
        }
    }

    fn get_mut(&mut self, names: Names<'_>, at: &Target<'_>) -> Option<&mut EdgeData> {
        match self {
            OutList::Flat { links, data } => data.get_mut(flat_find(names, links, at)?),
            OutList::Tree(tree) => tree.get_mut(&at.tree_key()).map(|(_, _, d)| d),
        }
    }

    fn insert(&mut self, names: Names<'_>, at: &Target<'_>, value: EdgeData) -> Option<EdgeData> {
        let grow = match self {
            OutList::Flat { links, data } => match flat_search(names, links, at) {
                Ok(i) => return Some(std::mem::replace(&mut data[i], value)),
                Err(i) => {
                    links.insert(i, at.link());
                    data.insert(i, value);
                    links.len() > TREE_MIN
                }
            },
            OutList::Tree(tree) => {
                return tree
                    .insert(at.tree_key(), (at.slot, at.label, value))
                    .map(|(_, _, d)| d)
            }
        };
        if grow {
            let tree = self
                .iter()
                .map(|(l, d)| (names.tree_key(&l), (l.slot, l.label(), d.clone())))
                .collect();
            *self = OutList::Tree(tree);
        }
        None
    }

    fn remove(&mut self, names: Names<'_>, at: &Target<'_>) -> Option<EdgeData> {
        match self {
            OutList::Flat { links, data } => {
                let i = flat_find(names, links, at)?;
                links.remove(i);
                Some(data.remove(i))
            }
            OutList::Tree(tree) => {
                let removed = tree.remove(&at.tree_key()).map(|(_, _, d)| d);
                if tree.len() < FLAT_MAX {
                    let (links, data) = std::mem::take(tree)
                        .into_iter()
                        .map(|((_, kind, _), (slot, label, d))| (Link::new(slot, kind, label), d))
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
    Tree(std::collections::btree_map::Iter<'a, TreeKey, (u32, u32, EdgeData)>),
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    TreeRange(std::collections::btree_map::Range<'a, TreeKey, (u32, u32, EdgeData)>),
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
    ((_, kind, _), (slot, label, d)): (&'a TreeKey, &'a (u32, u32, EdgeData)),
) -> (Link, &'a EdgeData) {
    (Link::new(*slot, *kind, *label), d)
}

/// A concept's incoming associations (links to their sources), in (source id, kind, label)
/// order.
pub(crate) enum IncList {
    Flat(Vec<Link>),
    /// A hub's list: the key, then the source's slot and the label's number.
    Tree(BTreeMap<TreeKey, (u32, u32)>),
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

    fn insert(&mut self, names: Names<'_>, at: &Target<'_>) {
        let grow = match self {
            IncList::Flat(links) => match flat_search(names, links, at) {
                Ok(_) => false,
                Err(i) => {
                    links.insert(i, at.link());
                    links.len() > TREE_MIN
                }
            },
            IncList::Tree(tree) => {
                tree.insert(at.tree_key(), (at.slot, at.label));
                false
            }
        };
        if grow {
            let tree = self
                .iter()
                .map(|l| (names.tree_key(&l), (l.slot, l.label())))
                .collect();
            *self = IncList::Tree(tree);
        }
    }

    fn remove(&mut self, names: Names<'_>, at: &Target<'_>) {
        match self {
            IncList::Flat(links) => {
                if let Some(i) = flat_find(names, links, at) {
                    links.remove(i);
                }
            }
            IncList::Tree(tree) => {
                tree.remove(&at.tree_key());
                if tree.len() < FLAT_MAX {
                    let links = std::mem::take(tree)
                        .into_iter()
                        .map(|((_, kind, _), (slot, label))| Link::new(slot, kind, label))
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
    Tree(std::collections::btree_map::Iter<'a, TreeKey, (u32, u32)>),
}

impl Iterator for IncIter<'_> {
    type Item = Link;

    #[inline]
    fn next(&mut self) -> Option<Link> {
        match self {
            IncIter::Flat(it) => it.next().copied(),
            IncIter::Tree(it) => it
                .next()
                .map(|((_, kind, _), (slot, label))| Link::new(*slot, *kind, *label)),
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
    /// The labels, numbered.
    labels: Labels,
    /// Number of associations.
    len: u64,
    /// Number of associations with a validity (not always valid): while there is none, a walk
    /// that asks what holds at a time needs no association's data.
    timed: u64,
}

impl Adjacency {
    /// Number of associations.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Number of associations with a validity.
    #[inline]
    pub fn timed(&self) -> u64 {
        self.timed
    }

    /// The labels in use.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    fn names(&self) -> Names<'_> {
        Names {
            ids: &self.ids,
            labels: &self.labels,
        }
    }

    /// Checks that the adjacency agrees with itself (the integrity checker's part for it): the
    /// slot map and the slots' ids name each other; a free slot is empty and unmapped, a used
    /// one holds a list; every outgoing link has its incoming link at the other end and every
    /// incoming link its outgoing one; each list is in (other end's id, kind, label) order with
    /// no repeat, flat lists no longer than a tree's threshold and trees no shorter than a flat
    /// list's; each label's count is the number of associations that use it; and the count is
    /// the number of outgoing links.
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
        let mut label_uses = vec![0u64; self.labels.texts.len()];
        let mut links = 0u64;
        let mut timed = 0u64;
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
            let in_order = |keys: &[TreeKey]| keys.windows(2).all(|w| w[0] < w[1]);
            let mut out_keys = Vec::with_capacity(node.out.len());
            for (link, data) in node.out.iter() {
                timed += u64::from(data.validity.is_some());
                let Some(&other) = self.ids.get(link.slot as usize) else {
                    return Err(format!(
                        "{id} links to slot {}, which does not exist",
                        link.slot
                    ));
                };
                if free.contains(&link.slot) {
                    return Err(format!("{id} links to free slot {}", link.slot));
                }
                let Some(uses) = label_uses.get_mut(link.label() as usize) else {
                    return Err(format!(
                        "{id} links with label {}, which does not exist",
                        link.label()
                    ));
                };
                *uses += 1;
                if !self.nodes[link.slot as usize]
                    .inc
                    .iter()
                    .any(|l| l == Link::new(slot, link.kind(), link.label()))
                {
                    return Err(format!(
                        "{id} -[{}]-> {other} is missing at {other}",
                        link.kind()
                    ));
                }
                out_keys.push(self.names().tree_key(&link));
            }
            let mut inc_keys = Vec::with_capacity(node.inc.len());
            for link in node.inc.iter() {
                let Some(&other) = self.ids.get(link.slot as usize) else {
                    return Err(format!(
                        "{id} is linked from slot {}, which does not exist",
                        link.slot
                    ));
                };
                if link.label() as usize >= label_uses.len()
                    || self
                        .get_by_slot(link.slot, slot, link.kind(), link.label())
                        .is_none()
                {
                    return Err(format!(
                        "{other} -[{}]-> {id} is missing at {other}",
                        link.kind()
                    ));
                }
                inc_keys.push(self.names().tree_key(&link));
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
        if timed != self.timed {
            return Err(format!("{timed} timed links counted as {}", self.timed));
        }
        let labels = &self.labels;
        for (n, (&uses, &counted)) in labels.uses.iter().zip(&label_uses).enumerate().skip(1) {
            let text = &labels.texts[n];
            let numbered = !text.is_empty() && labels.numbers.get(text) == Some(&(n as u32));
            if uses != counted || (uses > 0) != numbered {
                return Err(format!(
                    "label {n} ({text:?}) is counted {uses} times, used {counted}"
                ));
            }
        }
        if labels.numbers.len() + labels.free.len() + 1 != labels.texts.len() {
            return Err("the label table's free and used numbers do not add up".into());
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

    /// The label numbered `n`.
    #[inline]
    pub fn label(&self, n: u32) -> &Label {
        self.labels.text(n)
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

    /// Where the association `source → target` of `kind` and `label` is looked for: its
    /// source's slot, and what that slot's outgoing list holds of it (none when the concepts or
    /// the label have no association at all).
    fn find<'a>(
        &self,
        source: &ConceptId,
        target: &ConceptId,
        kind: Kind,
        label: &'a Label,
    ) -> Option<(u32, Target<'a>)> {
        let at = Target {
            slot: self.slot(target)?,
            id: *target,
            kind,
            label: self.labels.number(label)?,
            text: label,
        };
        Some((self.slot(source)?, at))
    }

    /// The data of the association `source → target` of `kind` and `label`.
    pub fn get(
        &self,
        source: &ConceptId,
        target: &ConceptId,
        kind: Kind,
        label: &Label,
    ) -> Option<&EdgeData> {
        let (s, at) = self.find(source, target, kind, label)?;
        self.nodes[s as usize].out.get(self.names(), &at)
    }

    /// The data of the association from slot `source` to slot `target` of `kind` and label
    /// number `label`.
    pub fn get_by_slot(
        &self,
        source: u32,
        target: u32,
        kind: Kind,
        label: u32,
    ) -> Option<&EdgeData> {
        let at = Target {
            slot: target,
            id: self.ids[target as usize],
            kind,
            label,
            text: self.labels.text(label),
        };
        self.nodes[source as usize].out.get(self.names(), &at)
    }

    /// Closes an association's validity at `until_ms` (or keeps the earlier end it has) and
    /// marks it updated at `at_ms`; false if it does not exist.
    pub fn invalidate(
        &mut self,
        source: &ConceptId,
        target: &ConceptId,
        kind: Kind,
        label: &Label,
        until_ms: u64,
        at_ms: u64,
    ) -> bool {
        let Some((s, at)) = self.find(source, target, kind, label) else {
            return false;
        };
        let names = Names {
            ids: &self.ids,
            labels: &self.labels,
        };
        let Some(data) = self.nodes[s as usize].out.get_mut(names, &at) else {
            return false;
        };
        let newly_timed = data.validity.is_none();
        data.validity = Some(Box::new(data.validity().ended_at(until_ms)));
        data.updated_ms = at_ms;
        self.timed += u64::from(newly_timed);
        true
    }

    /// Inserts or replaces an association; returns the data it replaced.
    pub fn insert(
        &mut self,
        source: ConceptId,
        target: ConceptId,
        kind: Kind,
        label: &Label,
        data: EdgeData,
    ) -> Option<EdgeData> {
        let s = self.slot_or_new(source);
        let t = self.slot_or_new(target);
        let n = self.labels.take(label);
        let names = Names {
            ids: &self.ids,
            labels: &self.labels,
        };
        let to = Target {
            slot: t,
            id: target,
            kind,
            label: n,
            text: label,
        };
        count_timed(&mut self.timed, &data, 1);
        let replaced = self.nodes[s as usize].out.insert(names, &to, data);
        if let Some(old) = &replaced {
            count_timed(&mut self.timed, old, -1);
        }
        if replaced.is_none() {
            let from = Target {
                slot: s,
                id: source,
                kind,
                label: n,
                text: label,
            };
            self.nodes[t as usize].inc.insert(names, &from);
            self.len += 1;
        } else {
            // The association already held its use of the label.
            self.labels.give_back(n);
        }
        debug_assert!(self.get(&source, &target, kind, label).is_some());
        debug_assert!(
            self.nodes[s as usize].out.len() <= TREE_MIN
                || !matches!(self.nodes[s as usize].out, OutList::Flat { .. }),
            "a list longer than the threshold is a tree"
        );
        replaced
    }

    /// Removes an association; returns whether it existed.
    pub fn remove(
        &mut self,
        source: &ConceptId,
        target: &ConceptId,
        kind: Kind,
        label: &Label,
    ) -> bool {
        let Some((s, to)) = self.find(source, target, kind, label) else {
            return false;
        };
        let (t, n) = (to.slot, to.label);
        let names = Names {
            ids: &self.ids,
            labels: &self.labels,
        };
        let Some(data) = self.nodes[s as usize].out.remove(names, &to) else {
            return false;
        };
        count_timed(&mut self.timed, &data, -1);
        let from = Target {
            slot: s,
            id: *source,
            kind,
            label: n,
            text: label,
        };
        self.nodes[t as usize].inc.remove(names, &from);
        self.len -= 1;
        self.labels.give_back(n);
        self.release_if_bare(s);
        if t != s {
            self.release_if_bare(t);
        }
        debug_assert!(self.get(source, target, kind, label).is_none());
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
        fn here<'a>(slot: u32, id: ConceptId, link: &Link, labels: &'a Labels) -> Target<'a> {
            Target {
                slot,
                id,
                kind: link.kind(),
                label: link.label(),
                text: labels.text(link.label()),
            }
        }
        let mut released = Vec::with_capacity(node.out.len() + node.inc.len());
        for (link, data) in node.out.iter() {
            released.push(link.label());
            count_timed(&mut self.timed, data, -1);
            if link.slot != slot {
                let names = Names {
                    ids: &self.ids,
                    labels: &self.labels,
                };
                self.nodes[link.slot as usize]
                    .inc
                    .remove(names, &here(slot, *id, &link, &self.labels));
                self.release_if_bare(link.slot);
            }
        }
        for link in node.inc.iter() {
            if link.slot != slot {
                let names = Names {
                    ids: &self.ids,
                    labels: &self.labels,
                };
                if let Some(data) = self.nodes[link.slot as usize]
                    .out
                    .remove(names, &here(slot, *id, &link, &self.labels))
                {
                    self.len -= 1;
                    count_timed(&mut self.timed, &data, -1);
                    released.push(link.label());
                }
                self.release_if_bare(link.slot);
            }
        }
        for n in released {
            self.labels.give_back(n);
        }
        self.release_if_bare(slot);
    }

    /// The outgoing associations of `id`: (target, kind, label, data) in (target, kind, label)
    /// order.
    pub fn outgoing(
        &self,
        id: &ConceptId,
    ) -> impl Iterator<Item = (ConceptId, Kind, &Label, &EdgeData)> + '_ {
        let node = self.slot(id).map(|s| &self.nodes[s as usize]);
        node.into_iter().flat_map(move |n| {
            n.out
                .iter()
                .map(|(l, d)| (self.id(l.slot), l.kind(), self.label(l.label()), d))
        })
    }

    /// The outgoing associations of `id` after `(target, kind, label)` (all for `None`), in
    /// (target, kind, label) order: where a page of them left off.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    pub fn outgoing_after<'a>(
        &'a self,
        id: &ConceptId,
        after: Option<&(ConceptId, Kind, Label)>,
    ) -> impl Iterator<Item = (ConceptId, Kind, &'a Label, &'a EdgeData)> + 'a {
        let node = self.slot(id).map(|s| &self.nodes[s as usize]);
        let start = node.map(|n| n.out.iter_after(self.names(), after));
        start.into_iter().flat_map(move |it| {
            it.map(|(l, d)| (self.id(l.slot), l.kind(), self.label(l.label()), d))
        })
    }

    /// The incoming associations of `id`: (source, kind, label, data) in (source, kind, label)
    /// order.
    pub fn incoming(
        &self,
        id: &ConceptId,
    ) -> impl Iterator<Item = (ConceptId, Kind, &Label, &EdgeData)> + '_ {
        let node = self.slot(id).map(|s| (s, &self.nodes[s as usize]));
        node.into_iter().flat_map(move |(s, n)| {
            n.inc.iter().filter_map(move |l| {
                let data = self.get_by_slot(l.slot, s, l.kind(), l.label())?;
                Some((self.id(l.slot), l.kind(), self.label(l.label()), data))
            })
        })
    }

    /// Every association, grouped by source (sources in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = Association> + '_ {
        self.nodes.iter().enumerate().flat_map(move |(s, n)| {
            let source = self.ids[s];
            n.out.iter().map(move |(l, d)| {
                assoc(source, self.id(l.slot), l.kind(), self.label(l.label()), d)
            })
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
            metadata: KeptMetadata::default(),
            validity: None,
        }
    }

    const KINDS: [Kind; 3] = [Kind::Semantic, Kind::Causal, Kind::Temporal];
    const LABELS: [&str; 3] = ["", "founded", "works_at"];

    fn label(i: u64) -> Label {
        Label::from(LABELS[i as usize])
    }

    type Key = (ConceptId, ConceptId, Kind, Label);

    /// Runs random inserts, removals and concept deletions over `concepts` concepts (a share
    /// `hub_percent` of the ends being concept 0) against an ordered map of (source, target,
    /// kind, label), checking every list, lookups, counts and the label table every
    /// `check_every` steps.
    fn random_walk(concepts: u64, hub_percent: u64, steps: u64, check_every: u64) {
        let mut adj = Adjacency::default();
        let mut truth: BTreeMap<Key, EdgeData> = BTreeMap::new();
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
            let lab = label(next(3));
            match next(20) {
                0..=12 => {
                    let replaced = adj.insert(a, b, kind, &lab, data(step));
                    assert_eq!(replaced, truth.insert((a, b, kind, lab), data(step)));
                }
                13..=18 => {
                    assert_eq!(
                        adj.remove(&a, &b, kind, &lab),
                        truth.remove(&(a, b, kind, lab)).is_some()
                    );
                }
                _ => {
                    // The hub survives these (it goes at the end), so that its lists grow long.
                    if hub_percent == 0 || a != ConceptId(0) {
                        adj.remove_concept(&a);
                        truth.retain(|(s, t, _, _), _| *s != a && *t != a);
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
                let out: Vec<_> = adj
                    .outgoing(&id)
                    .map(|(t, k, l, d)| (t, k, l.clone(), d.clone()))
                    .collect();
                let want: Vec<_> = truth
                    .range((id, ConceptId(0), Kind::Semantic, Label::EMPTY)..)
                    .take_while(|((s, _, _, _), _)| *s == id)
                    .map(|((_, t, k, l), d)| (*t, *k, l.clone(), d.clone()))
                    .collect();
                assert_eq!(out, want, "outgoing of {c}");
                // Pages that each start where the last one ended cover the list exactly.
                let mut paged = Vec::new();
                let mut after = None;
                loop {
                    let page: Vec<_> = adj
                        .outgoing_after(&id, after.as_ref())
                        .take(7)
                        .map(|(t, k, l, d)| (t, k, l.clone(), d.clone()))
                        .collect();
                    let Some(last) = page.last() else { break };
                    after = Some((last.0, last.1, last.2.clone()));
                    paged.extend(page);
                }
                assert_eq!(paged, want, "outgoing of {c}, paged");
                largest = largest.max(out.len());
                let inc: Vec<_> = adj
                    .incoming(&id)
                    .map(|(s, k, l, d)| (s, k, l.clone(), d.clone()))
                    .collect();
                let mut want: Vec<_> = truth
                    .iter()
                    .filter(|((_, t, _, _), _)| *t == id)
                    .map(|((s, _, k, l), d)| (*s, *k, l.clone(), d.clone()))
                    .collect();
                want.sort_by(|x, y| (x.0, x.1, &x.2).cmp(&(y.0, y.1, &y.2)));
                assert_eq!(inc, want, "incoming of {c}");
            }
            for _ in 0..2000 {
                let (s, t) = (
                    ConceptId(u128::from(next(concepts))),
                    ConceptId(u128::from(next(concepts))),
                );
                for key in [(s, t), (ConceptId(0), t), (s, ConceptId(0))] {
                    for kind in KINDS {
                        let lab = label(next(3));
                        assert_eq!(
                            adj.get(&key.0, &key.1, kind, &lab),
                            truth.get(&(key.0, key.1, kind, lab.clone())),
                            "{key:?} {kind:?} {lab:?}"
                        );
                    }
                }
            }
            let mut all: Vec<_> = adj
                .iter()
                .map(|a| (a.source, a.target, a.kind, a.label))
                .collect();
            all.sort();
            let want: Vec<_> = truth.keys().cloned().collect();
            assert_eq!(all, want);
            let labels_used = truth
                .keys()
                .filter(|k| !k.3.is_empty())
                .map(|k| &k.3)
                .collect::<std::collections::BTreeSet<_>>();
            assert_eq!(adj.labels().len(), labels_used.len());
            // A concept without associations holds no slot.
            let holding = truth
                .keys()
                .flat_map(|(s, t, _, _)| [*s, *t])
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
            truth.retain(|(s, t, _, _), _| *s != hub && *t != hub);
            let mut all: Vec<_> = adj
                .iter()
                .map(|a| (a.source, a.target, a.kind, a.label))
                .collect();
            all.sort();
            assert_eq!(all, truth.keys().cloned().collect::<Vec<_>>());
            assert_eq!(adj.check(), Ok(()));
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
                adj.insert(
                    ConceptId(a),
                    ConceptId(b),
                    Kind::Causal,
                    &Label::EMPTY,
                    data(a as u64),
                );
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
            adj.insert(hub, *other, Kind::Semantic, &Label::EMPTY, data(i as u64));
            adj.insert(*other, hub, Kind::Causal, &Label::from("x"), data(i as u64));
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
            assert!(adj.remove(&hub, other, Kind::Semantic, &Label::EMPTY));
            assert!(adj.remove(other, &hub, Kind::Causal, &Label::from("x")));
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
                let out: Vec<(ConceptId, EdgeData)> = adj
                    .outgoing(&hub)
                    .map(|(t, _, _, d)| (t, d.clone()))
                    .collect();
                assert_eq!(out, want, "{left} left");
                let inc: Vec<(ConceptId, EdgeData)> = adj
                    .incoming(&hub)
                    .map(|(s, _, _, d)| (s, d.clone()))
                    .collect();
                assert_eq!(inc, want, "{left} left");
                assert_eq!(
                    adj.get(&hub, &want[0].0, Kind::Semantic, &Label::EMPTY),
                    Some(&want[0].1)
                );
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
            adj.insert(ConceptId(0), other, Kind::Semantic, &Label::EMPTY, data(i));
            adj.insert(other, ConceptId(0), Kind::Causal, &Label::EMPTY, data(i));
        }
        let out: Vec<ConceptId> = adj.outgoing(&ConceptId(0)).map(|(t, _, _, _)| t).collect();
        assert!(out.windows(2).all(|w| w[0] < w[1]), "out of order");
        assert_eq!(out.len() as u64 * 2, adj.len());
        adj.remove_concept(&ConceptId(0));
        assert_eq!(adj.len(), 0);
        assert!(adj.slots.is_empty());
    }
}
