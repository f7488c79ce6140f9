//! The path searches: fewest hops (bidirectional breadth-first), most confident (Dijkstra on
//! −ln confidence over (concept, depth) states), the k most confident loopless paths (Yen).

use crate::error::{Error, Result};
use crate::graph::adjacency::assoc;
use crate::graph::walk::*;
use crate::graph::{Graph, Path, PathOptions, PathsResult, Step, StepKey, View};
use crate::limits::*;
use crate::model::ConceptId;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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
    require(view.graph(), from)?;
    require(view.graph(), to)?;
    let mut budget = Budget::new(opts.visited_max);
    if from == to {
        return Ok(PathsResult {
            paths: vec![Path::single(from)],
            visited: 0,
            budget_exhausted: false,
            depth_limited: false,
            seq: view.graph().seq(),
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
                view.graph(),
                node,
                opts.direction,
                opts.kinds,
                opts.valid_at,
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
            .any(|&n| leads_on(view.graph(), n, opts, false))
        && bwd_layer
            .iter()
            .any(|&n| leads_on(view.graph(), n, opts, true));
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
                match best_hop(view.graph(), pair[0], pair[1], opts) {
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
        seq: view.graph().seq(),
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
            while let Some((parent, step)) = &states[at].parent {
                steps.push(step.clone());
                at = *parent;
            }
            steps.reverse();
            return Ok(Some(Path::from_steps(from, steps)));
        }
        if depth >= max_depth {
            if !budget.depth_cut && leads_on(view.graph(), node, opts, false) {
                budget.depth_cut = true;
            }
            continue;
        }
        if !budget.take() {
            return Ok(None);
        }
        view.pace()?;
        for_each_hop(
            view.graph(),
            node,
            opts.direction,
            opts.kinds,
            opts.valid_at,
            false,
            |next, hop| {
                let confidence = hop.confidence();
                if confidence <= 0.0 || bans.nodes.contains(&next) {
                    return;
                }
                if settled.get(&next).is_some_and(|&d| d <= depth + 1) {
                    return;
                }
                let step = hop.step();
                if !bans.steps.is_empty() && bans.steps.contains(&step.key()) {
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
    require(view.graph(), from)?;
    require(view.graph(), to)?;
    if from == to {
        return Ok(PathsResult {
            paths: vec![Path::single(from)],
            visited: 0,
            budget_exhausted: false,
            depth_limited: false,
            seq: view.graph().seq(),
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
            seq: view.graph().seq(),
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
        seq: view.graph().seq(),
    })
}

/// Reads every hop of `result`'s paths again from `db` (the state a search that let writes in
/// ended on): each hop's association as it is now, each path's confidence recomputed, the
/// paths put back in order. False if a hop no longer exists (the search must run again).
pub(crate) fn refresh(db: &dyn Graph, result: &mut PathsResult, shortest: bool) -> bool {
    for path in &mut result.paths {
        for step in &mut path.steps {
            let a = &step.association;
            match db.links().get(&a.source, &a.target, a.kind, &a.label) {
                Some(data) => step.association = assoc(a.source, a.target, a.kind, &a.label, data),
                None => return false,
            }
        }
        let start = path.concepts[0];
        *path = Path::from_steps(start, std::mem::take(&mut path.steps));
    }
    if !shortest {
        result.paths.sort_by(better);
    }
    result.seq = db.seq();
    result
        .paths
        .iter()
        .all(|p| p.concepts.iter().all(|c| db.has_concept(c)))
}

/// Whether a search failed because a hop it had found was removed while it ran.
pub(crate) fn vanished(e: &Error) -> bool {
    matches!(e, Error::Conflict { reason } if reason == VANISHED)
}
