//! Graph queries: the explainable reasoning trail.
//!
//! - [`shortest_path`]: fewest hops, bidirectional breadth-first search.
//! - [`most_confident_path`]: maximises the product of confidences (Dijkstra on −ln confidence,
//!   over (concept, depth) states so the depth limit is exact).
//! - [`k_best_paths`]: the k most confident loopless paths (Yen's algorithm).
//! - [`neighbourhood`]: concepts within n hops.
//! - [`expand`]: the concepts search hits lead to, each with its trail.
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

pub mod adjacency;
mod expand;
mod neighbourhood;
mod paths;
mod walk;

pub use expand::{expand, ExpandOptions, Reached};
pub use neighbourhood::{associations_of, neighbourhood, Listing, Neighbourhood, Which};
pub use paths::{k_best_paths, most_confident_path, shortest_path};
pub(crate) use paths::{refresh, vanished};

use crate::error::{Error, Result};
use crate::graph::adjacency::Adjacency;
use crate::limits::*;
use crate::model::ConceptId;
use crate::model::{Association, Kind, KindSet, Label, ValidAt};

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
    /// Which associations may be followed: those valid at a time (what a host asks by
    /// default, at its "now": the core has no clock), or all of them.
    pub valid_at: ValidAt,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            direction: Direction::Forward,
            kinds: KindSet::ALL,
            max_depth: PATH_DEPTH_DEFAULT,
            visited_max: VISITED_NODES_DEFAULT,
            valid_at: ValidAt::Any,
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
#[derive(Clone, Debug, PartialEq)]
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
            self.association.label.clone(),
            self.reversed,
        )
    }
}

type StepKey = (ConceptId, ConceptId, Kind, Label, bool);

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

/// What a graph search reads: the associations both ways, which concepts exist, and which
/// state that is. The state implements it; the searches know nothing else of it.
pub trait Graph {
    /// The associations, both ways.
    fn links(&self) -> &Adjacency;
    /// Whether the concept exists (a concept with no association is in no list).
    fn has_concept(&self, id: &ConceptId) -> bool;
    /// The sequence number of the last record the state applied.
    fn seq(&self) -> u64;
}

/// Where a graph search reads the state, and what happens between two concepts it expands.
pub trait View {
    /// The graph to read now. A reference taken before a [`pace`](Self::pace) must not be used
    /// after it (the borrow checker sees to that): the state may have moved on in between.
    fn graph(&self) -> &dyn Graph;
    /// Called before each concept a search expands: an error (the host cancelled the query)
    /// stops the search and is its answer.
    fn pace(&mut self) -> Result<()>;
}
