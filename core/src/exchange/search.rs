//! Search as a client asks for it: by words, by a vector (or a concept's own embedding), or both
//! fused by rank; optionally expanded along the graph from the hits, and optionally diversified.
//!
//! The stages, each explainable in the answer (every hit lists the retrievers that found it):
//! 1. **Retrieve**: the full-text index (BM25) and/or the vector index, each its own ranked list.
//! 2. **Fuse**: with both, reciprocal rank fusion — a hit ranked `r` by a retriever adds
//!    `1 / (RRF_K + r)` to its score. With one, its own scores.
//! 3. **Expand** (`expand`): from the best `k` hits, follow associations; a concept reached
//!    scores the hit's score times the confidences on the way, with its trail (see
//!    [`crate::graph::expand`]). A concept both found and reached keeps the better score.
//! 4. **Choose** the best `k`, or with `mmr`, by maximal marginal relevance over the stored
//!    embeddings: each next hit is the one with the best `λ · relevance − (1 − λ) · its highest
//!    similarity to a hit already chosen`.

use super::answers::{FoundBy, HitAnswer, HitsAnswer, Retriever, StepAnswer};
use super::bounded::Capped;
use super::{
    parse_direction, parse_id, parse_kind_list, VectorIn, KINDS_LISTED_MAX, LABELS_LISTED_MAX,
};
use crate::distance::{dot, inv_norm};
use crate::error::{Error, Result};
use crate::graph::{Direction, ExpandOptions, Reached};
use crate::limits::VECTOR_K_MAX;
use crate::{
    Clause, ConceptId, Db, Filter, Hit, Reader, Scalar, Value, FILTER_CLAUSES_MAX,
    FILTER_VALUES_MAX,
};
use serde::Deserialize;

/// Default number of hits.
pub const SEARCH_K_DEFAULT: u32 = 10;
/// How far down each retriever's list a search with both text and a vector looks: each is
/// asked for `max(k, RRF_DEPTH_MIN)` hits (at most the search limit) before they are fused.
pub const RRF_DEPTH_MIN: u32 = 50;
const _: () = assert!(RRF_DEPTH_MIN <= VECTOR_K_MAX);
/// Reciprocal rank fusion's constant: a hit ranked `r` by a retriever adds `1 / (RRF_K + r)`.
pub const RRF_K: f32 = 60.0;
/// Most hits a search diversified by maximal marginal relevance returns.
pub const MMR_K_MAX: u32 = 250;
/// A diversified search chooses among this many times `k` candidates (at least
/// [`RRF_DEPTH_MIN`], at most the search limit).
pub const MMR_POOL_PER_HIT: u32 = 4;
const _: () = assert!(MMR_K_MAX * MMR_POOL_PER_HIT <= VECTOR_K_MAX);
/// The default weight of relevance in maximal marginal relevance.
pub const MMR_LAMBDA_DEFAULT: f32 = 0.5;

/// A search: by words (full text, BM25), by a vector or a concept's own embedding, or both at
/// once (the two lists fused by reciprocal rank fusion); optionally expanded along the graph and
/// diversified.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// Words to find in the concepts' content (Unicode words, case-insensitive; common English
    /// words such as "the" are not indexed). At most 4096 bytes and 64 distinct words.
    pub text: Option<String>,
    /// The query vector.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<f32>>))]
    pub vector: Option<VectorIn>,
    /// Or: the concept whose embedding is the query (itself left out).
    pub id: Option<String>,
    /// Results (default 10, at most 1000; at most 250 with `mmr`).
    pub k: Option<u32>,
    /// Search effort: the candidate list each index graph is searched with (at least k + 1;
    /// at most 4096). Higher finds more of the true nearest at a lower speed. Default: the
    /// memory's own (96, grown with a graph's size past 100,000 vectors).
    pub ef: Option<u32>,
    /// Also find the concepts the best `k` hits' associations lead to.
    pub expand: Option<ExpandBody>,
    /// Diversify the hits by maximal marginal relevance over their stored embeddings.
    pub mmr: Option<MmrBody>,
    /// Keep only the concepts whose metadata match: `{"user": "alice", "year": {"in": [2023,
    /// 2024]}}` (every key must match; a key's value is a string, a number or a flag, or `{"in":
    /// [...]}` for one of up to 64; a list of strings matches when it holds the string). Only
    /// the keys the memory indexes (`index_metadata`), at most 16. Applied inside each
    /// retriever (the best hits among those kept, never fewer than there are) and to the
    /// concepts an expansion reaches. A vector search walks the graphs keeping only the
    /// concepts kept (with the effort `ef`); a filter keeping few (at most 4,096, or one
    /// vector in 32) has each of them scored exactly.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, FilterValue>>))]
    pub filter: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What a filter allows for one metadata key (for the schema; the parser is [`parse_filter`]).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema, serde::Serialize)]
#[serde(untagged)]
pub enum FilterValue {
    /// Equal to this (a list of strings: holds it).
    One(FilterScalar),
    /// One of these.
    OneOf(FilterOneOf),
}

/// A value a filter compares with.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema, serde::Serialize)]
#[serde(untagged)]
pub enum FilterScalar {
    /// A string.
    Text(String),
    /// A number.
    Number(f64),
    /// A flag.
    Flag(bool),
}

/// Several values a key may have (at most 64).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct FilterOneOf {
    /// The values.
    #[schema(max_items = 64)]
    pub r#in: Vec<FilterScalar>,
}

/// The filter a search body gives, checked (`field` names it in errors).
pub fn parse_filter(
    field: &str,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<Filter> {
    use serde_json::Value as Json;
    let scalar = |at: &str, value: &Json| -> Result<Scalar> {
        let value = match value {
            Json::String(s) => Value::Text(s.clone()),
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::Integer(i),
                (None, Some(x)) => Value::Number(x),
                (None, None) => return Err(Error::invalid(at, format!("{n} is not a number"))),
            },
            _ => {
                return Err(Error::invalid(
                    at,
                    "a filter's value is a string, a number or a flag; to allow several, give them as {\"in\": [...]}",
                ))
            }
        };
        Scalar::wanted(at, &value)
    };
    let mut clauses = Vec::with_capacity(body.len());
    if body.len() > FILTER_CLAUSES_MAX {
        return Err(Error::limit(
            format!("{field} (keys)"),
            FILTER_CLAUSES_MAX as u64,
            body.len() as u64,
        ));
    }
    for (key, value) in body {
        let at = format!("{field}[{key:?}]");
        let any_of = match value {
            Json::Object(set) => match (set.len(), set.get("in")) {
                (1, Some(Json::Array(values))) => {
                    if values.len() > FILTER_VALUES_MAX {
                        return Err(Error::limit(
                            format!("{at} (values)"),
                            FILTER_VALUES_MAX as u64,
                            values.len() as u64,
                        ));
                    }
                    values
                        .iter()
                        .map(|v| scalar(&at, v))
                        .collect::<Result<Vec<Scalar>>>()?
                }
                _ => {
                    return Err(Error::invalid(
                        at,
                        "an object in a filter is {\"in\": [values]}",
                    ))
                }
            },
            single => vec![scalar(&at, single)?],
        };
        clauses.push(Clause {
            key: key.clone(),
            any_of,
        });
    }
    Filter::new(field, clauses)
}

/// How a search follows associations from its hits. A concept reached scores the hit's score
/// times the confidences of the associations on the way (so never more than the hit), and lists
/// that trail.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExpandBody {
    /// Most hops from a hit (default 1, at most 3).
    pub depth: Option<u32>,
    /// `both` (default) or `forward` (only from an association's source to its target).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::PathDirection>))]
    pub direction: Option<String>,
    /// Kinds that may be followed (default all).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::Kind>>))]
    pub kinds: Option<Capped<String, KINDS_LISTED_MAX>>,
    /// Labels that may be followed (default all; `""` names the associations without one), at
    /// most 64.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>, max_items = 64))]
    pub labels: Option<Capped<String, LABELS_LISTED_MAX>>,
    /// Most associations followed from one concept, the most confident first (default 10, at
    /// most 100). `k × (per_concept + per_concept² + …)` up to `depth` must stay within 100,000.
    pub per_concept: Option<u32>,
    /// Follow the associations valid at this time (ms since the epoch; default: now).
    pub as_of: Option<u64>,
    /// Follow invalidated associations too (default false).
    pub include_invalid: Option<bool>,
}

impl ExpandBody {
    fn options(&self, now_ms: u64) -> Result<ExpandOptions> {
        let defaults = ExpandOptions::default();
        Ok(ExpandOptions {
            valid_at: super::valid_at(self.as_of, self.include_invalid, now_ms)
                .map_err(|e| e.within("expand"))?,
            depth: self.depth.unwrap_or(defaults.depth),
            direction: parse_direction(self.direction.as_deref(), Direction::Both)
                .map_err(|e| e.within("expand"))?,
            kinds: match &self.kinds {
                None => defaults.kinds,
                Some(kinds) => {
                    parse_kind_list(Some(kinds.checked("expand.kinds")?)).map_err(|e| match e {
                        Error::Invalid { reason, .. } => Error::invalid("expand.kinds", reason),
                        other => other,
                    })?
                }
            },
            labels: match &self.labels {
                None => None,
                Some(labels) => Some(
                    labels
                        .checked("expand.labels")?
                        .iter()
                        .map(|l| crate::Label::from(l.as_str()))
                        .collect(),
                ),
            },
            per_concept: self.per_concept.unwrap_or(defaults.per_concept),
        })
    }
}

/// Maximal marginal relevance: how a search trades relevance for variety among its hits.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MmrBody {
    /// The weight of relevance, from 0 to 1 (default 0.5): 1 ranks by relevance alone, lower
    /// values prefer hits unlike those already chosen (cosine similarity of the stored
    /// embeddings; a concept without one is like none).
    pub lambda: Option<f32>,
}

impl MmrBody {
    fn lambda(&self) -> Result<f32> {
        let lambda = self.lambda.unwrap_or(MMR_LAMBDA_DEFAULT);
        crate::model::rules::check_unit("mmr.lambda", lambda)?;
        Ok(lambda)
    }
}

/// A candidate hit: its score and which retrievers found it.
#[derive(Debug)]
struct Ranked {
    id: ConceptId,
    score: f32,
    found_by: Vec<FoundBy>,
}

impl Ranked {
    /// Only reached along the graph (found by no retriever).
    fn only_reached(&self) -> bool {
        self.found_by
            .iter()
            .all(|f| f.retriever == Retriever::Graph)
    }
}

/// Best first; at equal scores a hit found by a retriever before one only reached from it,
/// then by id.
fn best_first(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.only_reached().cmp(&b.only_reached()))
        .then(a.id.cmp(&b.id))
}

/// A hit found by one retriever, at its rank there (from 1).
fn found_by(retriever: Retriever, rank: usize, score: f32) -> FoundBy {
    FoundBy {
        retriever,
        rank: rank as u32 + 1,
        score,
        trail: None,
    }
}

/// One retriever's hits as candidates.
fn ranked(retriever: Retriever, hits: &[Hit]) -> Vec<Ranked> {
    hits.iter()
        .enumerate()
        .map(|(rank, h)| Ranked {
            id: h.id,
            score: h.score,
            found_by: vec![found_by(retriever, rank, h.score)],
        })
        .collect()
}

/// Fuses ranked lists by reciprocal rank fusion: each hit scores `Σ 1 / (RRF_K + rank)` over
/// the lists that hold it; best first, ties by id.
fn fuse(lists: &[(Retriever, &[Hit])]) -> Vec<Ranked> {
    let mut by_id: std::collections::BTreeMap<ConceptId, Ranked> = Default::default();
    for (retriever, hits) in lists {
        for (rank, hit) in hits.iter().enumerate() {
            let entry = by_id.entry(hit.id).or_insert(Ranked {
                id: hit.id,
                score: 0.0,
                found_by: Vec::new(),
            });
            entry.score += 1.0 / (RRF_K + (rank + 1) as f32);
            entry.found_by.push(found_by(*retriever, rank, hit.score));
        }
    }
    let mut fused: Vec<Ranked> = by_id.into_values().collect();
    fused.sort_by(best_first);
    fused
}

/// Adds the concepts reached from the hits (`reached`, best first): a candidate already there
/// keeps the better of its two scores and lists both; then orders all best first.
fn merge_reached(candidates: &mut Vec<Ranked>, reached: Vec<Reached>) {
    let mut at: rustc_hash::FxHashMap<ConceptId, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    for (rank, r) in reached.into_iter().enumerate() {
        let score = r.score as f32;
        let mut by_graph = found_by(Retriever::Graph, rank, score);
        by_graph.trail = Some(r.trail.iter().map(StepAnswer::from).collect());
        match at.get(&r.id) {
            Some(&i) => {
                let c = &mut candidates[i];
                c.score = c.score.max(score);
                c.found_by.push(by_graph);
            }
            None => {
                at.insert(r.id, candidates.len());
                candidates.push(Ranked {
                    id: r.id,
                    score,
                    found_by: vec![by_graph],
                });
            }
        }
    }
    candidates.sort_by(best_first);
}

/// Chooses `k` of `candidates` (best first) by maximal marginal relevance with weight `lambda`
/// (see the module's documentation). Relevance is the score scaled to 0..=1 over the candidates;
/// ties go to the better-ranked candidate.
fn choose_diverse(db: &Db, mut candidates: Vec<Ranked>, k: usize, lambda: f32) -> Vec<Ranked> {
    let (low, high) = candidates.iter().fold((f32::MAX, f32::MIN), |(lo, hi), c| {
        (lo.min(c.score), hi.max(c.score))
    });
    let relevance = |score: f32| {
        if high > low {
            (score - low) / (high - low)
        } else {
            1.0
        }
    };
    // Unit-length embeddings, so that a dot product is the cosine.
    let units: Vec<Option<Vec<f32>>> = candidates
        .iter()
        .map(|c| {
            let e = db.embedding(&c.id)?;
            let scale = inv_norm(e);
            (scale > 0.0).then(|| e.iter().map(|x| x * scale).collect())
        })
        .collect();
    let mut closest = vec![f32::MIN; candidates.len()];
    let mut taken = vec![false; candidates.len()];
    let mut order = Vec::with_capacity(k.min(candidates.len()));
    while order.len() < k && order.len() < candidates.len() {
        let mut best: Option<(usize, f32)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if taken[i] {
                continue;
            }
            let penalty = if order.is_empty() { 0.0 } else { closest[i] };
            let value = lambda * relevance(c.score) - (1.0 - lambda) * penalty;
            if best.is_none_or(|(_, v)| value > v) {
                best = Some((i, value));
            }
        }
        let Some((pick, _)) = best else { break };
        taken[pick] = true;
        order.push(pick);
        for (i, unit) in units.iter().enumerate() {
            let similarity = match (unit, &units[pick]) {
                (Some(a), Some(b)) => dot(a, b),
                _ => 0.0,
            };
            closest[i] = closest[i].max(similarity);
        }
    }
    let mut slots: Vec<Option<Ranked>> = candidates.drain(..).map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The chosen hits with their contents. A concept deleted after its search began is left out.
fn answer(db: &Db, hits: Vec<Ranked>) -> HitsAnswer {
    HitsAnswer {
        hits: hits
            .into_iter()
            .filter_map(|r| {
                let concept = db.concept(r.id)?;
                Some(HitAnswer {
                    id: r.id.to_string(),
                    score: r.score,
                    content: concept.content.to_string(),
                    found_by: r.found_by,
                })
            })
            .collect(),
    }
}

/// Runs a search (see the module's documentation). A vector search holds the memory's lock only
/// to start and to finish (see [`Reader::search_vectors`]).
pub fn search(reader: &Reader, body: &SearchBody, now_ms: u64) -> Result<HitsAnswer> {
    const ONE_OF: &str = "give text (words to find), a vector (an array of numbers) or an id (a concept to search by): text may come with a vector or an id, a vector not with an id";
    let (k, ef) = (body.k.unwrap_or(SEARCH_K_DEFAULT), body.ef);
    Error::check_count("k", k, VECTOR_K_MAX)?;
    let expand = match &body.expand {
        Some(expand) => {
            let options = expand.options(now_ms)?;
            options.validate(k)?;
            Some(options)
        }
        None => None,
    };
    let lambda = match &body.mmr {
        Some(mmr) => {
            if k > MMR_K_MAX {
                return Err(Error::limit("k (with mmr)", u64::from(MMR_K_MAX), k.into()));
            }
            Some(mmr.lambda()?)
        }
        None => None,
    };
    let both = body.text.is_some() && (body.vector.is_some() || body.id.is_some());
    // Each list of a fused search looks deeper than k, so that a hit ranked low by one
    // retriever and high by the other can make the best k; a diversified one, so that it has
    // hits to choose from.
    let depth = if lambda.is_some() {
        (k * MMR_POOL_PER_HIT).clamp(RRF_DEPTH_MIN, VECTOR_K_MAX)
    } else if both {
        k.clamp(RRF_DEPTH_MIN, VECTOR_K_MAX)
    } else {
        k
    };
    let among = match &body.filter {
        Some(filter) => Some(
            reader
                .db()
                .filtered("filter", &parse_filter("filter", filter)?)?,
        ),
        None => None,
    };
    let vector_hits = match (&body.vector, &body.id) {
        (Some(vector), None) => Some(reader.search_vectors(
            vector.checked("vector (dimension)")?,
            depth,
            ef,
            among.clone(),
        )?),
        (None, Some(id)) => {
            Some(reader.similar_to(parse_id("id", id)?, depth, ef, among.clone())?)
        }
        (None, None) => None,
        (Some(_), Some(_)) => return Err(Error::invalid("search", ONE_OF)),
    };
    let text_hits = match &body.text {
        Some(text) => Some(
            reader
                .db()
                .search_text_among(text, depth, among.as_deref())?,
        ),
        None => None,
    };
    let db = reader.db();
    let mut candidates = match (text_hits, vector_hits) {
        (Some(text), Some(vector)) => fuse(&[
            (Retriever::Text, &text[..]),
            (Retriever::Vector, &vector[..]),
        ]),
        (Some(text), None) => ranked(Retriever::Text, &text),
        (None, Some(vector)) => ranked(Retriever::Vector, &vector),
        (None, None) => return Err(Error::invalid("search", ONE_OF)),
    };
    if let Some(options) = &expand {
        let hits: Vec<(ConceptId, f64)> = candidates
            .iter()
            .take(k as usize)
            .map(|c| (c.id, f64::from(c.score)))
            .collect();
        merge_reached(&mut candidates, db.expand(&hits, options)?);
        if let Some(among) = &among {
            // A concept reached is a hit too: the filter keeps it or not.
            candidates.retain(|c| among.binary_search(&c.id).is_ok());
        }
    }
    let chosen = match lambda {
        Some(lambda) => {
            candidates.truncate(depth as usize);
            choose_diverse(&db, candidates, k as usize, lambda)
        }
        None => {
            candidates.truncate(k as usize);
            candidates
        }
    };
    Ok(answer(&db, chosen))
}

/// The concepts most similar to concept `id`, searched with effort `ef` (see
/// [`SearchBody::ef`]).
pub fn similar(reader: &Reader, id: &str, k: Option<u32>, ef: Option<u32>) -> Result<HitsAnswer> {
    let hits = reader.similar_to(parse_id("id", id)?, k.unwrap_or(SEARCH_K_DEFAULT), ef, None)?;
    Ok(answer(&reader.db(), ranked(Retriever::Vector, &hits)))
}
