//! The HNSW search of one graph, written once for both kinds of graph: the packed graph of a
//! sealed segment ([`super::hnsw`]) and the growing graph new vectors are inserted into
//! ([`super::growing`]). A greedy descent through the upper layers, then a beam of `ef`
//! candidates in the bottom one (the paper's algorithms 2 and 5), ties broken by point id as
//! instant-distance breaks them.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::model::ConceptId;

/// A query's code: its scale and components.
pub(crate) type Point<'a> = (f32, &'a [i8]);

/// What the search reads of a graph.
pub(crate) trait Layers {
    /// Point ids are below this (the size of the visited set).
    fn id_bound(&self) -> usize;
    /// A layer, as the graph reaches it (looked up once per layer a search walks).
    type Layer<'a>: Copy
    where
        Self: 'a;
    /// Layer `l` (0 is the bottom), if the graph has it.
    fn layer(&self, l: usize) -> Option<Self::Layer<'_>>;
    /// The neighbours of `pid` in `layer`: the graph's own list where it can lend it, else
    /// copied into `buffer`.
    fn neighbours<'g: 'a, 'a>(
        &'g self,
        layer: Self::Layer<'g>,
        pid: u32,
        buffer: &'a mut Vec<u32>,
    ) -> &'a [u32];
    /// Starts loading point `pid`'s code and scale into the cache (see
    /// [`crate::distance::prefetch`]), ahead of its distance.
    fn prefetch(&self, pid: u32);
    /// 1 − the approximate similarity of point `pid` to `query`; `None` if the point is not
    /// there (a growing graph's node not published yet).
    fn distance(&self, query: Point<'_>, pid: u32) -> Option<f32>;
    /// The concept point `pid` stands for, if the point is there.
    fn concept(&self, pid: u32) -> Option<ConceptId>;
}

/// One candidate of a search: its distance and point id, ordered by both (as instant-distance
/// orders them, so ties go the same way).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Near {
    pub(crate) distance: f32,
    pub(crate) pid: u32,
}

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.pid.cmp(&other.pid))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A search's working state, kept per thread so a query neither allocates nor clears a visited
/// set the size of the graph.
#[derive(Default)]
pub(crate) struct Scratch {
    /// `seen[p] == mark`: point `p` was visited in this layer.
    seen: Vec<u8>,
    mark: u8,
    pub(crate) candidates: BinaryHeap<Reverse<Near>>,
    /// Nearest first, at most the layer's beam width.
    pub(crate) nearest: Vec<Near>,
    /// The neighbours of the candidate being widened that were not visited yet.
    pub(crate) unvisited: Vec<u32>,
    /// A neighbour list copied out of a graph that cannot lend it.
    links: Vec<u32>,
}

impl Scratch {
    /// Forgets every visit, for a graph of `n` points.
    pub(crate) fn forget_visits(&mut self, n: usize) {
        self.mark = self.mark.wrapping_add(1);
        if self.mark == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.mark = 1;
        }
        if self.seen.len() < n {
            self.seen.resize(n, 0);
        }
    }

    /// Marks `pid` visited; false if it already was (or is past the `n` points it was sized
    /// for).
    #[inline]
    pub(crate) fn visit(&mut self, pid: u32) -> bool {
        match self.seen.get_mut(pid as usize) {
            Some(s) if *s != self.mark => {
                *s = self.mark;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's search scratch (a fresh one if a search on this thread is
/// already using it).
pub(crate) fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Starts a descent from the entry point `ep`: it is the only candidate and visited. False if
/// the graph does not have it.
pub(crate) fn start(g: &impl Layers, s: &mut Scratch, ep: u32, query: Point<'_>) -> bool {
    s.candidates.clear();
    s.nearest.clear();
    s.forget_visits(g.id_bound());
    let Some(distance) = g.distance(query, ep) else {
        return false;
    };
    s.visit(ep);
    let near = Near { distance, pid: ep };
    s.nearest.push(near);
    s.candidates.push(Reverse(near));
    true
}

/// Which concepts a search may return; `None`: every one.
pub(crate) type AdmitId<'a> = Option<&'a dyn Fn(&ConceptId) -> bool>;

/// The search of one layer (the paper's algorithm 2): widens from the candidates through their
/// neighbours, keeping the `ef` nearest points seen in `s.nearest`, nearest first.
///
/// With `admit`, only points it admits are kept, but the beam widens through every point
/// near enough (closer than the furthest kept, or any while fewer than `ef` are kept): a
/// filter's points are reached through the graph's other points, and the walk stops only when
/// `ef` points are kept and no candidate left is nearer than the furthest of them.
#[inline]
pub(crate) fn beam(
    g: &impl Layers,
    s: &mut Scratch,
    layer: usize,
    ef: usize,
    query: Point<'_>,
    admit: AdmitId<'_>,
) {
    debug_assert!(ef > 0, "a beam keeps at least one point");
    let Some(layer) = g.layer(layer) else {
        return;
    };
    let admits = |pid: u32| {
        g.concept(pid)
            .is_some_and(|id| admit.is_none_or(|a| a(&id)))
    };
    if admit.is_some() {
        s.nearest.retain(|n| admits(n.pid));
    }
    let full = |s: &Scratch| admit.is_none() || s.nearest.len() >= ef;
    while let Some(Reverse(candidate)) = s.candidates.pop() {
        if full(s)
            && s.nearest
                .last()
                .is_some_and(|furthest| candidate.distance > furthest.distance)
        {
            break;
        }
        let mut unvisited = std::mem::take(&mut s.unvisited);
        let mut links = std::mem::take(&mut s.links);
        unvisited.clear();
        for &pid in g.neighbours(layer, candidate.pid, &mut links) {
            if s.visit(pid) {
                unvisited.push(pid);
            }
        }
        s.links = links;
        for &pid in &unvisited {
            g.prefetch(pid);
        }
        for &pid in &unvisited {
            let Some(distance) = g.distance(query, pid) else {
                continue;
            };
            let near = Near { distance, pid };
            if s.nearest.len() >= ef && s.nearest.last().is_some_and(|last| near >= *last) {
                // (Most candidates: no better than the furthest kept.)
                continue;
            }
            if admit.is_some() && !admits(pid) {
                // Not kept, but widened from.
                s.candidates.push(Reverse(near));
                continue;
            }
            match s.nearest.binary_search(&near) {
                Err(at) if at < ef => {
                    s.nearest.insert(at, near);
                    s.candidates.push(Reverse(near));
                }
                _ => {}
            }
        }
        s.unvisited = unvisited;
        s.nearest.truncate(ef);
    }
    debug_assert!(s.nearest.len() <= ef && s.nearest.is_sorted());
}

/// The nearest found so far become the candidates of the next layer down.
pub(crate) fn next_layer(g: &impl Layers, s: &mut Scratch) {
    s.candidates.clear();
    s.candidates.extend(s.nearest.iter().copied().map(Reverse));
    s.forget_visits(g.id_bound());
    for i in 0..s.nearest.len() {
        let pid = s.nearest[i].pid;
        s.visit(pid);
    }
}

/// The whole search from entry point `ep` at layer `top`: one nearest point per upper layer,
/// then `ef` at the bottom (of those `admit` admits), left in `s.nearest`. False if the graph
/// does not have `ep`.
pub(crate) fn descend(
    g: &impl Layers,
    s: &mut Scratch,
    ep: u32,
    top: usize,
    ef: usize,
    query: Point<'_>,
    admit: AdmitId<'_>,
) -> bool {
    if !start(g, s, ep, query) {
        return false;
    }
    for layer in (1..=top).rev() {
        beam(g, s, layer, 1, query, None);
        next_layer(g, s);
    }
    beam(g, s, 0, ef, query, admit);
    true
}
