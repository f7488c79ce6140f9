//! Expanding search hits along the graph: the concepts that the hits' associations lead to, each
//! with the trail of associations that pulled it in.
//!
//! A concept reached from a hit scores the hit's score times the confidences of the trail's
//! associations, so it never outranks the hit that found it, and a confident fact outranks a
//! doubtful one. Each concept keeps its best trail over at most `depth` hops (relaxed level by
//! level from every hit at once, so the best trail of up to `depth` hops is found exactly); a
//! trail never passes the same concept twice, and hits are not reached (they are already found).
//! From each concept at most `per_concept` associations are followed, the most confident first:
//! the work a query can do is bounded before it starts ([`ExpandOptions::validate`]).

use crate::error::{Error, Result};
use crate::graph::walk::for_each_hop;
use crate::graph::{Direction, Graph, Step};
use crate::limits::{EXPAND_DEPTH_MAX, EXPAND_HOPS_MAX, EXPAND_PER_CONCEPT_MAX};
use crate::model::{ConceptId, KindSet, Label, ValidAt};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Ordering;

/// How hits are expanded.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpandOptions {
    /// Most hops from a hit (1..=[`EXPAND_DEPTH_MAX`]).
    pub depth: u32,
    /// Which way associations are followed.
    pub direction: Direction,
    /// Which kinds are followed.
    pub kinds: KindSet,
    /// Which labels are followed (`None`: every label, none included).
    pub labels: Option<Vec<Label>>,
    /// Most associations followed from one concept, the most confident first
    /// (1..=[`EXPAND_PER_CONCEPT_MAX`]).
    pub per_concept: u32,
    /// Which associations are followed: those valid at a time, or all.
    pub valid_at: ValidAt,
}

impl Default for ExpandOptions {
    fn default() -> Self {
        ExpandOptions {
            depth: 1,
            direction: Direction::Both,
            kinds: KindSet::ALL,
            labels: None,
            per_concept: 10,
            valid_at: ValidAt::Any,
        }
    }
}

impl ExpandOptions {
    /// Checks the options for an expansion from `hits` hits: each count in range, and the most
    /// hops it could follow (`hits × (p + p² + … + p^depth)` for `per_concept` p) within
    /// [`EXPAND_HOPS_MAX`].
    pub fn validate(&self, hits: u32) -> Result<()> {
        Error::check_count("expand.depth", self.depth, EXPAND_DEPTH_MAX)?;
        Error::check_count(
            "expand.per_concept",
            self.per_concept,
            EXPAND_PER_CONCEPT_MAX,
        )?;
        let hops = self.most_hops(hits);
        if hops > EXPAND_HOPS_MAX {
            return Err(Error::invalid(
                "expand",
                format!(
                    "{hits} hits × ({} associations per concept, up to {} hops deep) could follow {hops} associations, over the limit of {EXPAND_HOPS_MAX}: lower k, expand.per_concept or expand.depth",
                    self.per_concept, self.depth
                ),
            ));
        }
        Ok(())
    }

    /// The most hops an expansion from `hits` hits can follow.
    fn most_hops(&self, hits: u32) -> u64 {
        let per = u64::from(self.per_concept);
        let (mut level, mut total) = (u64::from(hits), 0u64);
        for _ in 0..self.depth {
            level = level.saturating_mul(per);
            total = total.saturating_add(level);
        }
        total
    }
}

/// A concept reached from a hit.
#[derive(Clone, Debug, PartialEq)]
pub struct Reached {
    /// The concept.
    pub id: ConceptId,
    /// The hit's score times the trail's confidences.
    pub score: f64,
    /// The associations from the hit to the concept, in walking order (`trail[0].from()` is
    /// the hit).
    pub trail: Vec<Step>,
}

/// The concepts reached from `hits` (each with its score; in rank order, which breaks ties),
/// best first, ties by id. `options` must be valid for `hits.len()` hits.
pub fn expand(db: &dyn Graph, hits: &[(ConceptId, f64)], options: &ExpandOptions) -> Vec<Reached> {
    debug_assert!(options.validate(hits.len() as u32).is_ok());
    let found: FxHashSet<ConceptId> = hits.iter().map(|(id, _)| *id).collect();
    let mut best: FxHashMap<ConceptId, Reached> = FxHashMap::default();
    // The concepts whose best trail changed at the last level, with the trail they had then
    // (a concept improved at this level must be extended from its trail of the level before).
    let mut frontier: Vec<(ConceptId, f64, Vec<Step>)> = hits
        .iter()
        .map(|(id, score)| (*id, *score, Vec::new()))
        .collect();
    let mut hops = Vec::new();
    for _ in 0..options.depth {
        let mut improved: FxHashSet<ConceptId> = FxHashSet::default();
        for (node, score, trail) in &frontier {
            hops.clear();
            for_each_hop(
                db,
                *node,
                options.direction,
                options.kinds,
                options.valid_at,
                false,
                |next, hop| {
                    if options
                        .labels
                        .as_ref()
                        .is_none_or(|l| l.contains(hop.label()))
                    {
                        hops.push((next, hop.step()));
                    }
                },
            );
            most_confident_first(&mut hops, options.per_concept as usize);
            for (next, step) in &hops {
                let on_trail = trail.iter().any(|s| s.from() == *next);
                if found.contains(next) || on_trail {
                    continue;
                }
                let reached = score * f64::from(step.association.confidence);
                if best.get(next).is_some_and(|b| b.score >= reached) {
                    continue;
                }
                let mut longer = trail.clone();
                longer.push(step.clone());
                best.insert(
                    *next,
                    Reached {
                        id: *next,
                        score: reached,
                        trail: longer,
                    },
                );
                improved.insert(*next);
            }
        }
        frontier = improved
            .into_iter()
            .map(|id| {
                let r = &best[&id];
                (id, r.score, r.trail.clone())
            })
            .collect();
        // The order a level is walked in decides ties: make it independent of hashing.
        frontier.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    let mut reached: Vec<Reached> = best.into_values().collect();
    reached.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    reached
}

/// Keeps the `keep` most confident hops, in that order (ties by the association's source,
/// target and kind, outgoing before incoming).
fn most_confident_first(hops: &mut Vec<(ConceptId, Step)>, keep: usize) {
    let by_confidence = |a: &(ConceptId, Step), b: &(ConceptId, Step)| -> Ordering {
        b.1.association
            .confidence
            .total_cmp(&a.1.association.confidence)
    };
    if hops.len() > keep {
        hops.select_nth_unstable_by(keep, |a, b| {
            by_confidence(a, b).then_with(|| a.1.key().cmp(&b.1.key()))
        });
        hops.truncate(keep);
    }
    hops.sort_by(|a, b| by_confidence(a, b).then_with(|| a.1.key().cmp(&b.1.key())));
}
