//! What every search shares: the budget of expanded concepts and the walk over one concept's
//! hops in a deterministic order.

use crate::error::{Error, Result};
use crate::graph::adjacency::{assoc, Adjacency, EdgeData, Link};
use crate::graph::{Direction, Graph, PathOptions, Step};
use crate::model::{ConceptId, KindSet, Label, ValidAt};
use rustc_hash::FxHashMap;

pub(super) struct Budget {
    pub(super) max: u32,
    pub(super) used: u32,
    pub(super) exhausted: bool,
    /// A concept at the depth limit that leads on was left unexpanded.
    pub(super) depth_cut: bool,
}

impl Budget {
    pub(super) fn new(max: u32) -> Self {
        Budget {
            max,
            used: 0,
            exhausted: false,
            depth_cut: false,
        }
    }

    /// Takes one unit; false (and remembers it) when none is left.
    pub(super) fn take(&mut self) -> bool {
        if self.used >= self.max {
            self.exhausted = true;
            return false;
        }
        self.used += 1;
        true
    }
}

/// One hop a walk may take: where it leads, and the association it follows, made into a
/// [`Step`] only when the walk keeps it (most hops a search looks at it does not).
pub(super) struct Hop<'a> {
    links: &'a Adjacency,
    /// Where the hop starts and where it leads.
    from: ConceptId,
    to: ConceptId,
    link: Link,
    data: &'a EdgeData,
    reversed: bool,
}

impl Hop<'_> {
    /// The association's confidence.
    #[inline]
    pub(super) fn confidence(&self) -> f32 {
        self.data.confidence
    }

    /// The association's label.
    #[inline]
    pub(super) fn label(&self) -> &Label {
        self.links.label(self.link.label())
    }

    /// The hop as a step of a path.
    pub(super) fn step(&self) -> Step {
        let (source, target) = if self.reversed {
            (self.to, self.from)
        } else {
            (self.from, self.to)
        };
        Step {
            association: assoc(source, target, self.link.kind(), self.label(), self.data),
            reversed: self.reversed,
        }
    }
}

/// Calls `f(next, hop)` for every hop allowed from `node`, in a deterministic order.
pub(super) fn for_each_hop(
    db: &dyn Graph,
    node: ConceptId,
    direction: Direction,
    kinds: KindSet,
    valid_at: ValidAt,
    reverse: bool,
    mut f: impl FnMut(ConceptId, Hop<'_>),
) {
    // `reverse` walks hops backwards (used by the backward half of the bidirectional search):
    // in Forward mode a backward hop from `node` follows an association that ends at `node`.
    let follow_out = direction == Direction::Both || !reverse;
    let follow_in = direction == Direction::Both || reverse;
    let links = db.links();
    let Some(slot) = links.slot(&node) else {
        return;
    };
    let edges = links.node(slot);
    if follow_out {
        for (link, data) in edges.out.iter() {
            if kinds.contains(link.kind()) && data.seen_at(valid_at) {
                let target = links.id(link.slot);
                f(
                    target,
                    Hop {
                        links,
                        from: node,
                        to: target,
                        link,
                        data,
                        reversed: false,
                    },
                );
            }
        }
    }
    if follow_in {
        for link in edges.inc.iter() {
            if !kinds.contains(link.kind()) {
                continue;
            }
            let Some(data) = links.get_by_slot(link.slot, slot, link.kind(), link.label()) else {
                continue;
            };
            if data.seen_at(valid_at) {
                let source = links.id(link.slot);
                f(
                    source,
                    Hop {
                        links,
                        from: node,
                        to: source,
                        link,
                        data,
                        reversed: true,
                    },
                );
            }
        }
    }
}

pub(super) fn require(db: &dyn Graph, id: ConceptId) -> Result<()> {
    if db.has_concept(&id) {
        Ok(())
    } else {
        Err(Error::ConceptNotFound { id: id.to_string() })
    }
}

/// The most confident single hop from `a` to `b` (several associations may join them).
pub(super) fn best_hop(
    db: &dyn Graph,
    a: ConceptId,
    b: ConceptId,
    opts: &PathOptions,
) -> Option<Step> {
    let mut best: Option<Step> = None;
    for_each_hop(
        db,
        a,
        opts.direction,
        opts.kinds,
        opts.valid_at,
        false,
        |next, hop| {
            if next == b
                && best
                    .as_ref()
                    .is_none_or(|s| hop.confidence() > s.association.confidence)
            {
                best = Some(hop.step());
            }
        },
    );
    best
}

/// Whether `node` has any hop the search may follow (a concept at the depth limit without one
/// does not make the answer depth-limited).
pub(super) fn leads_on(db: &dyn Graph, node: ConceptId, opts: &PathOptions, reverse: bool) -> bool {
    let mut any = false;
    for_each_hop(
        db,
        node,
        opts.direction,
        opts.kinds,
        opts.valid_at,
        reverse,
        |_, _| any = true,
    );
    any
}

/// The concepts a neighbourhood has found: each one's slot → its place in the answer. Most
/// links lead outside the neighbourhood, so a bit per slot (modulo 8,192) in front of the map
/// answers "not found" for nearly all of them without a hash lookup.
pub(super) struct Found {
    pub(super) bits: [u64; 128],
    pub(super) place: FxHashMap<u32, u32>,
}

impl Found {
    pub(super) fn with_capacity(n: usize) -> Self {
        Found {
            bits: [0; 128],
            place: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    pub(super) fn bit(slot: u32) -> (usize, u64) {
        let bit = slot as usize % (128 * 64);
        (bit / 64, 1 << (bit % 64))
    }

    #[inline]
    pub(super) fn insert(&mut self, slot: u32, at: u32) {
        let (word, mask) = Found::bit(slot);
        self.bits[word] |= mask;
        self.place.insert(slot, at);
    }

    #[inline]
    pub(super) fn get(&self, slot: u32) -> Option<u32> {
        let (word, mask) = Found::bit(slot);
        if self.bits[word] & mask == 0 {
            return None;
        }
        self.place.get(&slot).copied()
    }
}
