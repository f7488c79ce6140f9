//! Graph queries: the explainable reasoning trail.
//!
//! - [`shortest_path`]: fewest hops, bidirectional breadth-first search.
//! - [`most_confident_path`]: maximises the product of confidences (Dijkstra on −ln confidence,
//!   over (concept, depth) states so the depth limit is exact).
//! - [`k_best_paths`]: the k most confident loopless paths (Yen's algorithm).
//! - [`neighbourhood`]: concepts within n hops.
//!
//! Every search counts the concepts it expands against a budget and reports when the budget
//! ran out instead of running unbounded, and when its depth limit cut it short. Results are
//! deterministic: ties are broken by id order.
//!
//! A search reads the state through a [`View`], which it asks between two concepts whether to
//! go on ([`View::pace`]): a host's view may then let a waiting writer in (so one long query
//! never holds every write back, nor the reads queued behind a write), or stop the search when
//! its host cancels it (a deadline passed, the client went away). The core has no clock: the
//! host decides when to cancel.

use crate::adjacency::{assoc, EdgeData};
use crate::error::{Error, Result};
use crate::id::ConceptId;
use crate::limits::*;
use crate::model::{Association, Kind, KindSet};
use crate::state::Db;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

/// Which way associations may be followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Only from source to target.
    #[default]
    Forward,
    /// Either way.
    Both,
}

/// Options for path queries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathOptions {
    /// Which way associations may be followed.
    pub direction: Direction,
    /// Which kinds may be followed.
    pub kinds: KindSet,
    /// Most hops in a path (1..=16; default 6).
    pub max_depth: u32,
    /// Most concepts the search may expand (default 100,000).
    pub visited_max: u32,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            direction: Direction::Forward,
            kinds: KindSet::ALL,
            max_depth: PATH_DEPTH_DEFAULT,
            visited_max: VISITED_NODES_DEFAULT,
        }
    }
}

impl PathOptions {
    fn validate(&self) -> Result<()> {
        Error::check_count("max_depth", self.max_depth, PATH_DEPTH_MAX)?;
        Error::check_count("visited_max", self.visited_max, VISITED_NODES_MAX)
    }
}

/// One hop of a path: the association taken, and whether it was followed against its direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The association (as stored: its own source and target).
    pub association: Association,
    /// True when the hop went from the association's target to its source.
    pub reversed: bool,
}

impl Step {
    /// Where the hop starts.
    pub fn from(&self) -> ConceptId {
        if self.reversed {
            self.association.target
        } else {
            self.association.source
        }
    }

    /// Where the hop ends.
    pub fn to(&self) -> ConceptId {
        if self.reversed {
            self.association.source
        } else {
            self.association.target
        }
    }

    fn key(&self) -> StepKey {
        (
            self.association.source,
            self.association.target,
            self.association.kind,
            self.reversed,
        )
    }
}

type StepKey = (ConceptId, ConceptId, Kind, bool);

/// A path: its concepts in order, the associations taken, and its confidence (the product of
/// the associations' confidences; 1 for a path of no hops).
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// The concepts, from start to end.
    pub concepts: Vec<ConceptId>,
    /// The hops; `steps[i]` leads from `concepts[i]` to `concepts[i + 1]`.
    pub steps: Vec<Step>,
    /// Product of the steps' confidences.
    pub confidence: f32,
}

impl Path {
    fn single(id: ConceptId) -> Path {
        Path {
            concepts: vec![id],
            steps: Vec::new(),
            confidence: 1.0,
        }
    }

    fn from_steps(start: ConceptId, steps: Vec<Step>) -> Path {
        let mut concepts = vec![start];
        concepts.extend(steps.iter().map(Step::to));
        let confidence = steps
            .iter()
            .map(|s| f64::from(s.association.confidence))
            .product::<f64>() as f32;
        Path {
            concepts,
            steps,
            confidence,
        }
    }
}

/// The answer of a path query.
#[derive(Clone, Debug, PartialEq)]
pub struct PathsResult {
    /// The paths found, best first (empty when none within the limits).
    pub paths: Vec<Path>,
    /// How many concepts the search expanded.
    pub visited: u32,
    /// True when the search stopped because it hit its visited-node budget: a path may exist
    /// that was not found.
    pub budget_exhausted: bool,
    /// True when the depth limit (`max_depth`) left concepts unexplored that lead on: a path
    /// longer than the limit may exist (for the shortest path: only said when none was found;
    /// for the most confident and k best: a longer path could also be more confident, or make
    /// up the k).
    pub depth_limited: bool,
    /// The sequence number of the state the answer was read from (every write acknowledged
    /// with this number or a lower one is in it, none after).
    pub seq: u64,
}

/// A flag a host raises to stop a query running on another thread (its deadline passed, its
/// client went away): the search sees it before the next concept it expands and answers
/// [`Error::Interrupted`].
#[derive(Debug, Default)]
pub struct Interrupt(AtomicBool);

impl Interrupt {
    /// A flag not raised.
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// Asks the query to stop.
    pub fn raise(&self) {
        self.0.store(true, AtomicOrdering::Relaxed);
    }

    /// Whether it was asked to stop.
    pub fn is_raised(&self) -> bool {
        self.0.load(AtomicOrdering::Relaxed)
    }
}

/// Which paths a [`PathQuery`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The fewest hops.
    Shortest,
    /// The highest product of confidences.
    MostConfident,
    /// The k most confident loopless paths.
    KBest(u32),
}

/// A path query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathQuery {
    /// Start concept.
    pub from: ConceptId,
    /// End concept.
    pub to: ConceptId,
    /// Which paths.
    pub algorithm: Algorithm,
    /// Direction, kinds and limits.
    pub options: PathOptions,
}

/// Runs a path query on a view.
pub fn run_paths(view: &mut impl View, q: &PathQuery) -> Result<PathsResult> {
    match q.algorithm {
        Algorithm::Shortest => shortest_path(view, q.from, q.to, &q.options),
        Algorithm::MostConfident => most_confident_path(view, q.from, q.to, &q.options),
        Algorithm::KBest(k) => k_best_paths(view, q.from, q.to, k, &q.options),
    }
}

/// Where a graph search reads the state, and what happens between two concepts it expands.
pub trait View {
    /// The state to read now. A reference taken before a [`pace`](Self::pace) must not be used
    /// after it (the borrow checker sees to that): the state may have moved on in between.
    fn db(&self) -> &Db;
    /// Called before each concept a search expands: an error (the host cancelled the query)
    /// stops the search and is its answer.
    fn pace(&mut self) -> Result<()>;
}

/// A plain reference is a view that never pauses (one thread, or a caller holding the lock).
impl View for &Db {
    fn db(&self) -> &Db {
        self
    }
    fn pace(&mut self) -> Result<()> {
        Ok(())
    }
}

struct Budget {
    max: u32,
    used: u32,
    exhausted: bool,
    /// A concept at the depth limit that leads on was left unexpanded.
    depth_cut: bool,
}

impl Budget {
    fn new(max: u32) -> Self {
        Budget {
            max,
            used: 0,
            exhausted: false,
            depth_cut: false,
        }
    }

    /// Takes one unit; false (and remembers it) when none is left.
    fn take(&mut self) -> bool {
        if self.used >= self.max {
            self.exhausted = true;
            return false;
        }
        self.used += 1;
        true
    }
}

/// Calls `f(next, step)` for every hop allowed from `node`, in a deterministic order.
fn for_each_hop(
    db: &Db,
    node: ConceptId,
    direction: Direction,
    kinds: KindSet,
    reverse: bool,
    mut f: impl FnMut(ConceptId, Step),
) {
    // `reverse` walks hops backwards (used by the backward half of the bidirectional search):
    // in Forward mode a backward hop from `node` follows an association that ends at `node`.
    let follow_out = direction == Direction::Both || !reverse;
    let follow_in = direction == Direction::Both || reverse;
    let links = &db.links;
    let Some(slot) = links.slot(&node) else {
        return;
    };
    let edges = links.node(slot);
    if follow_out {
        for (link, data) in edges.out.iter() {
            if kinds.contains(link.kind) {
                let target = links.id(link.slot);
                f(
                    target,
                    Step {
                        association: assoc(node, target, link.kind, data),
                        reversed: false,
                    },
                );
            }
        }
    }
    if follow_in {
        for link in edges.inc.iter() {
            if !kinds.contains(link.kind) {
                continue;
            }
            if let Some(data) = links.get_by_slot(link.slot, slot, link.kind) {
                let source = links.id(link.slot);
                f(
                    source,
                    Step {
                        association: assoc(source, node, link.kind, data),
                        reversed: true,
                    },
                );
            }
        }
    }
}

fn require(db: &Db, id: ConceptId) -> Result<()> {
    if db.concepts.contains_key(&id) {
        Ok(())
    } else {
        Err(Error::ConceptNotFound { id: id.to_string() })
    }
}

/// The most confident single hop from `a` to `b` (several associations may join them).
fn best_hop(db: &Db, a: ConceptId, b: ConceptId, opts: &PathOptions) -> Option<Step> {
    let mut best: Option<Step> = None;
    for_each_hop(db, a, opts.direction, opts.kinds, false, |next, step| {
        if next == b && best.is_none_or(|s| step.association.confidence > s.association.confidence)
        {
            best = Some(step);
        }
    });
    best
}

/// Whether `node` has any hop the search may follow (a concept at the depth limit without one
/// does not make the answer depth-limited).
fn leads_on(db: &Db, node: ConceptId, opts: &PathOptions, reverse: bool) -> bool {
    let mut any = false;
    for_each_hop(db, node, opts.direction, opts.kinds, reverse, |_, _| {
        any = true
    });
    any
}

/// The marker of a search whose trail no longer exists in the state it ended on: a host whose
/// view let writes in during the search runs it again.
const VANISHED: &str = "a hop of the path was removed while the search ran";

/// Fewest-hops path from `from` to `to` (bidirectional BFS). Among the hops between two
/// consecutive concepts the most confident association is reported.
pub fn shortest_path(
    view: &mut impl View,
    from: ConceptId,
    to: ConceptId,
    opts: &PathOptions,
) -> Result<PathsResult> {
    opts.validate()?;
    require(view.db(), from)?;
    require(view.db(), to)?;
    let mut budget = Budget::new(opts.visited_max);
    if from == to {
        return Ok(PathsResult {
            paths: vec![Path::single(from)],
            visited: 0,
            budget_exhausted: false,
            depth_limited: false,
            seq: view.db().last_seq,
        });
    }
    // parent maps: node -> (previous node toward the side's root, depth)
    let mut fwd: FxHashMap<ConceptId, (ConceptId, u32)> = FxHashMap::default();
    let mut bwd: FxHashMap<ConceptId, (ConceptId, u32)> = FxHashMap::default();
    fwd.insert(from, (from, 0));
    bwd.insert(to, (to, 0));
    let mut fwd_layer = vec![from];
    let mut bwd_layer = vec![to];
    let (mut fwd_depth, mut bwd_depth) = (0u32, 0u32);
    let mut meeting: Option<(ConceptId, u32)> = None;
    'search: while !fwd_layer.is_empty()
        && !bwd_layer.is_empty()
        && fwd_depth + bwd_depth < opts.max_depth
    {
        let forward = fwd_layer.len() <= bwd_layer.len();
        let (layer, seen, other, depth) = if forward {
            (&mut fwd_layer, &mut fwd, &bwd, &mut fwd_depth)
        } else {
            (&mut bwd_layer, &mut bwd, &fwd, &mut bwd_depth)
        };
        let mut next_layer = Vec::new();
        for &node in layer.iter() {
            if !budget.take() {
                break 'search;
            }
            view.pace()?;
            for_each_hop(
                view.db(),
                node,
                opts.direction,
                opts.kinds,
                !forward,
                |next, _| {
                    if seen.contains_key(&next) {
                        return;
                    }
                    seen.insert(next, (node, *depth + 1));
                    if let Some(&(_, other_depth)) = other.get(&next) {
                        let total = *depth + 1 + other_depth;
                        if total <= opts.max_depth && meeting.is_none_or(|(_, best)| total < best) {
                            meeting = Some((next, total));
                        }
                    }
                    next_layer.push(next);
                },
            );
        }
        *depth += 1;
        *layer = next_layer;
        if meeting.is_some() {
            break;
        }
    }
    // Stopped by the depth limit with both sides still able to go on: a longer path may exist.
    let depth_limited = meeting.is_none()
        && !budget.exhausted
        && fwd_depth + bwd_depth >= opts.max_depth
        && fwd_layer
            .iter()
            .any(|&n| leads_on(view.db(), n, opts, false))
        && bwd_layer
            .iter()
            .any(|&n| leads_on(view.db(), n, opts, true));
    let paths = match meeting {
        None => Vec::new(),
        Some((middle, _)) => {
            let mut nodes = vec![middle];
            let mut at = middle;
            while at != from {
                at = fwd[&at].0;
                nodes.push(at);
            }
            nodes.reverse();
            let mut at = middle;
            while at != to {
                at = bwd[&at].0;
                nodes.push(at);
            }
            let mut steps = Vec::with_capacity(nodes.len() - 1);
            for pair in nodes.windows(2) {
                match best_hop(view.db(), pair[0], pair[1], opts) {
                    Some(step) => steps.push(step),
                    None => {
                        return Err(Error::Conflict {
                            reason: VANISHED.into(),
                        })
                    }
                }
            }
            vec![Path::from_steps(from, steps)]
        }
    };
    Ok(PathsResult {
        paths,
        visited: budget.used,
        budget_exhausted: budget.exhausted && meeting.is_none(),
        depth_limited,
        seq: view.db().last_seq,
    })
}

#[derive(PartialEq)]
struct QueueItem {
    cost: f64,
    order: u64,
    state: usize,
}

impl Eq for QueueItem {}

impl Ord for QueueItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on cost, then on insertion order (determinism).
        other
            .cost
            .total_cmp(&self.cost)
            .then_with(|| other.order.cmp(&self.order))
    }
}

impl PartialOrd for QueueItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Concepts and hops a spur search of Yen's algorithm may not use.
#[derive(Default)]
struct Bans {
    nodes: FxHashSet<ConceptId>,
    steps: FxHashSet<StepKey>,
}

struct State {
    node: ConceptId,
    depth: u32,
    parent: Option<(usize, Step)>,
}

/// Most confident path from `from` to `to` within `max_depth` hops, avoiding the banned
/// concepts and hops (`None`: there is none, or the budget ran out).
fn dijkstra(
    view: &mut impl View,
    from: ConceptId,
    to: ConceptId,
    opts: &PathOptions,
    max_depth: u32,
    bans: &Bans,
    budget: &mut Budget,
) -> Result<Option<Path>> {
    let mut states = vec![State {
        node: from,
        depth: 0,
        parent: None,
    }];
    let mut heap = BinaryHeap::new();
    heap.push(QueueItem {
        cost: 0.0,
        order: 0,
        state: 0,
    });
    let mut order = 1u64;
    // The smallest depth at which each concept has been settled.
    let mut settled: FxHashMap<ConceptId, u32> = FxHashMap::default();
    while let Some(QueueItem { cost, state, .. }) = heap.pop() {
        let (node, depth) = (states[state].node, states[state].depth);
        if settled.get(&node).is_some_and(|&d| d <= depth) {
            continue;
        }
        settled.insert(node, depth);
        if node == to {
            let mut steps = Vec::with_capacity(depth as usize);
            let mut at = state;
            while let Some((parent, step)) = states[at].parent {
                steps.push(step);
                at = parent;
            }
            steps.reverse();
            return Ok(Some(Path::from_steps(from, steps)));
        }
        if depth >= max_depth {
            if !budget.depth_cut && leads_on(view.db(), node, opts, false) {
                budget.depth_cut = true;
            }
            continue;
        }
        if !budget.take() {
            return Ok(None);
        }
        view.pace()?;
        for_each_hop(
            view.db(),
            node,
            opts.direction,
            opts.kinds,
            false,
            |next, step| {
                let confidence = step.association.confidence;
                if confidence <= 0.0
                    || bans.nodes.contains(&next)
                    || bans.steps.contains(&step.key())
                {
                    return;
                }
                if settled.get(&next).is_some_and(|&d| d <= depth + 1) {
                    return;
                }
                states.push(State {
                    node: next,
                    depth: depth + 1,
                    parent: Some((state, step)),
                });
                heap.push(QueueItem {
                    cost: cost - f64::from(confidence).ln(),
                    order,
                    state: states.len() - 1,
                });
                order += 1;
            },
        );
    }
    Ok(None)
}

/// The path from `from` to `to` whose product of confidences is highest.
pub fn most_confident_path(
    view: &mut impl View,
    from: ConceptId,
    to: ConceptId,
    opts: &PathOptions,
) -> Result<PathsResult> {
    k_best_paths(view, from, to, 1, opts)
}

/// Orders candidate paths: most confident first, then fewer hops, then by concept ids.
fn better(a: &Path, b: &Path) -> Ordering {
    b.confidence
        .total_cmp(&a.confidence)
        .then(a.steps.len().cmp(&b.steps.len()))
        .then_with(|| a.concepts.cmp(&b.concepts))
        .then_with(|| {
            let ka: Vec<StepKey> = a.steps.iter().map(Step::key).collect();
            let kb: Vec<StepKey> = b.steps.iter().map(Step::key).collect();
            ka.cmp(&kb)
        })
}

fn same_route(a: &Path, b: &Path) -> bool {
    a.steps.len() == b.steps.len()
        && a.steps
            .iter()
            .zip(&b.steps)
            .all(|(x, y)| x.key() == y.key())
}

/// The `k` most confident loopless paths (Yen's algorithm), best first.
pub fn k_best_paths(
    view: &mut impl View,
    from: ConceptId,
    to: ConceptId,
    k: u32,
    opts: &PathOptions,
) -> Result<PathsResult> {
    opts.validate()?;
    Error::check_count("k", k, PATHS_K_MAX)?;
    require(view.db(), from)?;
    require(view.db(), to)?;
    if from == to {
        return Ok(PathsResult {
            paths: vec![Path::single(from)],
            visited: 0,
            budget_exhausted: false,
            depth_limited: false,
            seq: view.db().last_seq,
        });
    }
    let mut budget = Budget::new(opts.visited_max);
    let Some(first) = dijkstra(
        view,
        from,
        to,
        opts,
        opts.max_depth,
        &Bans::default(),
        &mut budget,
    )?
    else {
        return Ok(PathsResult {
            paths: Vec::new(),
            visited: budget.used,
            budget_exhausted: budget.exhausted,
            depth_limited: budget.depth_cut,
            seq: view.db().last_seq,
        });
    };
    let mut accepted = vec![first];
    let mut candidates: Vec<Path> = Vec::new();
    while (accepted.len() as u32) < k && !budget.exhausted {
        let last = accepted[accepted.len() - 1].clone();
        for i in 0..last.steps.len() {
            let spur = last.concepts[i];
            let root_steps = &last.steps[..i];
            let mut bans = Bans::default();
            for p in &accepted {
                if p.steps.len() > i
                    && p.steps[..i]
                        .iter()
                        .zip(root_steps)
                        .all(|(x, y)| x.key() == y.key())
                {
                    bans.steps.insert(p.steps[i].key());
                }
            }
            bans.nodes.extend(last.concepts[..i].iter().copied());
            let depth_left = opts.max_depth - i as u32;
            let Some(spur_path) = dijkstra(view, spur, to, opts, depth_left, &bans, &mut budget)?
            else {
                if budget.exhausted {
                    break;
                }
                continue;
            };
            let mut steps = root_steps.to_vec();
            steps.extend(spur_path.steps);
            let candidate = Path::from_steps(from, steps);
            if !accepted
                .iter()
                .chain(&candidates)
                .any(|p| same_route(p, &candidate))
            {
                candidates.push(candidate);
            }
        }
        if candidates.is_empty() {
            break;
        }
        candidates.sort_by(better);
        accepted.push(candidates.remove(0));
    }
    Ok(PathsResult {
        paths: accepted,
        visited: budget.used,
        budget_exhausted: budget.exhausted,
        depth_limited: budget.depth_cut,
        seq: view.db().last_seq,
    })
}

/// Reads every hop of `result`'s paths again from `db` (the state a search that let writes in
/// ended on): each hop's association as it is now, each path's confidence recomputed, the
/// paths put back in order. False if a hop no longer exists (the search must run again).
pub(crate) fn refresh(db: &Db, result: &mut PathsResult, shortest: bool) -> bool {
    for path in &mut result.paths {
        for step in &mut path.steps {
            let a = &step.association;
            match db.links.get(&a.source, &a.target, a.kind) {
                Some(data) => step.association = assoc(a.source, a.target, a.kind, data),
                None => return false,
            }
        }
        let start = path.concepts[0];
        *path = Path::from_steps(start, std::mem::take(&mut path.steps));
    }
    if !shortest {
        result.paths.sort_by(better);
    }
    result.seq = db.last_seq;
    result
        .paths
        .iter()
        .all(|p| p.concepts.iter().all(|c| db.concepts.contains_key(c)))
}

/// Whether a search failed because a hop it had found was removed while it ran.
pub(crate) fn vanished(e: &Error) -> bool {
    matches!(e, Error::Conflict { reason } if reason == VANISHED)
}

/// The concepts a neighbourhood has found: each one's slot → its place in the answer. Most
/// links lead outside the neighbourhood, so a bit per slot (modulo 8,192) in front of the map
/// answers "not found" for nearly all of them without a hash lookup.
struct Found {
    bits: [u64; 128],
    place: FxHashMap<u32, u32>,
}

impl Found {
    fn with_capacity(n: usize) -> Self {
        Found {
            bits: [0; 128],
            place: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    fn bit(slot: u32) -> (usize, u64) {
        let bit = slot as usize % (128 * 64);
        (bit / 64, 1 << (bit % 64))
    }

    #[inline]
    fn insert(&mut self, slot: u32, at: u32) {
        let (word, mask) = Found::bit(slot);
        self.bits[word] |= mask;
        self.place.insert(slot, at);
    }

    #[inline]
    fn get(&self, slot: u32) -> Option<u32> {
        let (word, mask) = Found::bit(slot);
        if self.bits[word] & mask == 0 {
            return None;
        }
        self.place.get(&slot).copied()
    }
}

/// Room reserved up front for a neighbourhood's concepts (it grows past this when needed).
const NEIGHBOURHOOD_PRESIZE: usize = 256;

/// The concepts within some hops of a centre, and the associations among them.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbourhood {
    /// Concepts and their distance in hops from the centre (the centre first, at 0).
    pub concepts: Vec<(ConceptId, u32)>,
    /// Associations whose both ends are in `concepts` and whose kind is allowed.
    pub associations: Vec<Association>,
    /// True when the node or association limit cut the answer short.
    pub truncated: bool,
}

/// Concepts within `depth` hops of `centre` (at most `limit`), and the associations among them.
pub fn neighbourhood(
    db: &Db,
    centre: ConceptId,
    depth: u32,
    direction: Direction,
    kinds: KindSet,
    limit: u32,
) -> Result<Neighbourhood> {
    if depth > NEIGHBOURHOOD_DEPTH_MAX {
        return Err(Error::limit(
            "depth",
            u64::from(NEIGHBOURHOOD_DEPTH_MAX),
            u64::from(depth),
        ));
    }
    Error::check_count("limit", limit, NEIGHBOURHOOD_NODES_MAX)?;
    require(db, centre)?;
    let links = &db.links;
    let mut order = vec![(centre, 0u32)];
    let mut truncated = false;
    let mut associations = Vec::new();
    let Some(centre_slot) = links.slot(&centre) else {
        // No associations at all.
        return Ok(Neighbourhood {
            concepts: order,
            associations,
            truncated,
        });
    };
    // The slot of each concept in `order`, and for each slot found its place in `order`,
    // sized for a typical answer up front (growing a map rehashes it every time it doubles).
    let expected = (limit as usize).min(NEIGHBOURHOOD_PRESIZE);
    let mut slots = Vec::with_capacity(expected);
    slots.push(centre_slot);
    order.reserve(expected);
    associations.reserve(expected);
    let mut found = Found::with_capacity(expected);
    found.insert(centre_slot, 0);
    let both = direction == Direction::Both;
    // Breadth first: `slots` doubles as the queue.
    let mut next_index = 0;
    'bfs: while let Some(&slot) = slots.get(next_index) {
        let d = order[next_index].1;
        next_index += 1;
        if d >= depth {
            continue;
        }
        let node = links.node(slot);
        let outgoing = node.out.iter().map(|(link, _)| link);
        let incoming = node.inc.iter().take(if both { usize::MAX } else { 0 });
        for link in outgoing.chain(incoming) {
            if !kinds.contains(link.kind) || found.get(link.slot).is_some() {
                continue;
            }
            if order.len() >= limit as usize {
                truncated = true;
                break 'bfs;
            }
            found.insert(link.slot, order.len() as u32);
            slots.push(link.slot);
            order.push((links.id(link.slot), d + 1));
        }
    }
    // The associations among them: each one is an outgoing link of its source. Touching every
    // list first lets the cache misses of all of them overlap instead of waiting on each other.
    std::hint::black_box(
        slots
            .iter()
            .map(|&s| links.node(s).out.first_slot().unwrap_or(0))
            .fold(0u32, |a, b| a ^ b),
    );
    for (&slot, &(source, _)) in slots.iter().zip(&order) {
        let complete = links.node(slot).out.each(|link, data| {
            if !kinds.contains(link.kind) {
                return true;
            }
            let Some(at) = found.get(link.slot) else {
                return true;
            };
            if associations.len() >= ASSOCIATIONS_LIMIT_MAX as usize {
                return false;
            }
            associations.push(assoc(source, order[at as usize].0, link.kind, data));
            true
        });
        if !complete {
            truncated = true;
            break;
        }
    }
    Ok(Neighbourhood {
        concepts: order,
        associations,
        truncated,
    })
}

/// Which associations of a concept to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Listing {
    /// Those that start at the concept.
    #[default]
    Out,
    /// Those that end at the concept.
    In,
    /// Both.
    Both,
}

/// The associations of `id` (outgoing first, each side in (other end, kind) order) that pass the
/// filters, at most `limit`.
pub fn associations_of(
    db: &Db,
    id: ConceptId,
    listing: Listing,
    kinds: KindSet,
    min_confidence: f32,
    limit: u32,
) -> Result<Vec<Association>> {
    if limit > ASSOCIATIONS_LIMIT_MAX {
        return Err(Error::limit(
            "limit",
            u64::from(ASSOCIATIONS_LIMIT_MAX),
            u64::from(limit),
        ));
    }
    if !(0.0..=1.0).contains(&min_confidence) {
        return Err(Error::invalid(
            "min_confidence",
            format!("{min_confidence} is outside 0..=1"),
        ));
    }
    require(db, id)?;
    let keep =
        |kind: Kind, data: &EdgeData| kinds.contains(kind) && data.confidence >= min_confidence;
    let mut out = Vec::new();
    if matches!(listing, Listing::Out | Listing::Both) {
        for (target, kind, data) in db.links.outgoing(&id) {
            if out.len() >= limit as usize {
                return Ok(out);
            }
            if keep(kind, data) {
                out.push(assoc(id, target, kind, data));
            }
        }
    }
    if matches!(listing, Listing::In | Listing::Both) {
        for (source, kind, data) in db.links.incoming(&id) {
            if out.len() >= limit as usize {
                return Ok(out);
            }
            if keep(kind, data) {
                out.push(assoc(source, id, kind, data));
            }
        }
    }
    Ok(out)
}
