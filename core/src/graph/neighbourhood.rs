//! Around one concept: its neighbourhood within n hops, and its association lists.

use crate::error::{Error, Result};
use crate::graph::adjacency::{assoc, EdgeData};
use crate::graph::walk::*;
use crate::graph::{Direction, Graph};
use crate::limits::*;
use crate::model::{Association, ConceptId, Kind, KindSet, Label, ValidAt};

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

/// Concepts within `depth` hops of `centre` (at most `limit`), and the associations among them,
/// following the associations of `kinds` seen at `valid_at`.
pub fn neighbourhood(
    db: &dyn Graph,
    centre: ConceptId,
    depth: u32,
    direction: Direction,
    kinds: KindSet,
    valid_at: ValidAt,
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
    let links = db.links();
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
    // Only a memory that holds associations with a validity needs their data to walk.
    let timed = links.timed() > 0 && valid_at != ValidAt::Any;
    // Breadth first: `slots` doubles as the queue.
    let mut next_index = 0;
    'bfs: while let Some(&slot) = slots.get(next_index) {
        let d = order[next_index].1;
        next_index += 1;
        if d >= depth {
            continue;
        }
        let node = links.node(slot);
        let outgoing = node.out.iter().map(|(link, data)| (link, Some(data)));
        let incoming = node.inc.iter().take(if both { usize::MAX } else { 0 });
        for (link, data) in outgoing.chain(incoming.map(|link| (link, None))) {
            if !kinds.contains(link.kind()) || found.get(link.slot).is_some() {
                continue;
            }
            if timed {
                let data =
                    data.or_else(|| links.get_by_slot(link.slot, slot, link.kind(), link.label()));
                if !data.is_some_and(|d| d.seen_at(valid_at)) {
                    continue;
                }
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
            if !kinds.contains(link.kind()) {
                return true;
            }
            // Most links lead outside: the association's data is read only for those inside.
            let Some(at) = found.get(link.slot) else {
                return true;
            };
            if timed && !data.seen_at(valid_at) {
                return true;
            }
            if associations.len() >= ASSOCIATIONS_LIMIT_MAX as usize {
                return false;
            }
            associations.push(assoc(
                source,
                order[at as usize].0,
                link.kind(),
                links.label(link.label()),
                data,
            ));
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

/// Which of a concept's associations a listing keeps.
#[derive(Clone, Copy, Debug)]
pub struct Which<'a> {
    /// Of these kinds.
    pub kinds: KindSet,
    /// With one of these labels (`None`: any).
    pub labels: Option<&'a [Label]>,
    /// Seen at this time (or all).
    pub valid_at: ValidAt,
    /// With at least this confidence (0..=1).
    pub min_confidence: f32,
}

/// The associations of `id` (outgoing first, each side in (other end, kind, label) order) that
/// `which` keeps, at most `limit`.
pub fn associations_of(
    db: &dyn Graph,
    id: ConceptId,
    listing: Listing,
    which: &Which<'_>,
    limit: u32,
) -> Result<Vec<Association>> {
    let Which {
        kinds,
        labels,
        valid_at,
        min_confidence,
    } = *which;
    if limit > ASSOCIATIONS_LIMIT_MAX {
        return Err(Error::limit(
            "limit",
            u64::from(ASSOCIATIONS_LIMIT_MAX),
            u64::from(limit),
        ));
    }
    crate::model::rules::check_unit("min_confidence", min_confidence)?;
    require(db, id)?;
    if let Some(labels) = labels {
        if labels.len() > LISTING_LABELS_MAX {
            return Err(Error::limit(
                "labels",
                LISTING_LABELS_MAX as u64,
                labels.len() as u64,
            ));
        }
    }
    let keep = |kind: Kind, label: &Label, data: &EdgeData| {
        kinds.contains(kind)
            && labels.is_none_or(|l| l.contains(label))
            && data.confidence >= min_confidence
            && data.seen_at(valid_at)
    };
    let mut out = Vec::new();
    if matches!(listing, Listing::Out | Listing::Both) {
        for (target, kind, label, data) in db.links().outgoing(&id) {
            if out.len() >= limit as usize {
                return Ok(out);
            }
            if keep(kind, label, data) {
                out.push(assoc(id, target, kind, label, data));
            }
        }
    }
    if matches!(listing, Listing::In | Listing::Both) {
        for (source, kind, label, data) in db.links().incoming(&id) {
            if out.len() >= limit as usize {
                return Ok(out);
            }
            if keep(kind, label, data) {
                out.push(assoc(source, id, kind, label, data));
            }
        }
    }
    Ok(out)
}
