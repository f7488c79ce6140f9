//! The JSON wire format shared by every host — the HTTP server and the browser build — so that
//! a request means the same thing and gets the same answer (and the same error code) in both:
//! request bodies and query options, the answers built from the state, and the JSON Lines
//! export format ([`jsonl`]). Feature `json`.
//!
//! Every function here validates its input and returns the core's [`Error`]; hosts map the
//! error's code onto their transport (HTTP status, typed JavaScript error).

pub mod answers;
pub mod bounded;
pub mod jsonl;
mod search;
pub mod wording;

pub use search::{
    parse_filter, search, similar, ExpandBody, MmrBody, SearchBody, MMR_K_MAX, MMR_LAMBDA_DEFAULT,
    MMR_POOL_PER_HIT, RRF_DEPTH_MIN, RRF_K, SEARCH_K_DEFAULT,
};
#[cfg(feature = "openapi")]
pub use search::{FilterOneOf, FilterScalar, FilterValue};

use bounded::{Capped, MetadataIn};

use crate::error::{Error, Result};
use crate::graph::{Algorithm, Direction, Interrupt, Listing, PathOptions, PathQuery};
use crate::model::Validity;
use crate::{AssociationKey, ConceptId, Db, Kind, KindSet, Label, Op, Reader, ValidAt};
use crate::{SortCursor, SortedBy};
use answers::{
    AssociationAnswer, AssociationsAnswer, ConceptAnswer, NeighbourAnswer, NeighbourhoodAnswer,
    PageAnswer, PathsAnswer,
};
use serde::Deserialize;

/// Default page size of concept scans.
pub const SCAN_LIMIT_DEFAULT: u32 = 100;
/// Default number of associations listed.
pub const ASSOCIATIONS_LIMIT_DEFAULT: u32 = 100;
/// Default k of a k-best-paths query.
pub const PATHS_K_DEFAULT: u32 = 3;
/// Default neighbourhood size limit.
pub const NEIGHBOURHOOD_LIMIT_DEFAULT: u32 = 200;

/// An embedding or query vector as read from JSON: at most [`crate::limits::DIMENSION_MAX`]
/// components kept.
pub type VectorIn = Capped<f32, { crate::limits::DIMENSION_MAX as usize }>;

/// Most kinds a filter may list.
pub const KINDS_LISTED_MAX: usize = 16;
/// Most labels a filter may list.
pub const LABELS_LISTED_MAX: usize = 64;

/// The names of the operations of a batch, as the wire spells them (for the schema; the
/// parser is [`BatchOp`]'s, and a test holds the two together).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum OpName {
    /// Learn a concept.
    PutConcept,
    /// Delete a concept and its associations.
    DeleteConcept,
    /// Learn an association.
    PutAssociation,
    /// Delete an association.
    DeleteAssociation,
    /// Close an association's validity without deleting it.
    InvalidateAssociation,
    /// Index these metadata keys (and no others) for filters.
    IndexMetadata,
}

/// The path algorithms, as the wire spells them (for the schema; the parser is
/// [`PathsBody::query`]'s, and a test holds the two together).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PathAlgorithm {
    /// Fewest hops.
    Shortest,
    /// Highest product of confidences.
    MostConfident,
    /// The k most confident.
    KBest,
}

/// The directions a path may follow associations in (for the schema; the parser is
/// `parse_direction`'s, and a test holds the two together).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PathDirection {
    /// From source to target only.
    Forward,
    /// Either way.
    Both,
}

/// Longest memory name, in bytes.
pub const MEMORY_NAME_BYTES_MAX: usize = 64;

/// What is wrong with a memory name, if anything: names are 1–64 of `a-z 0-9 _ -`, starting with
/// a letter or digit, so they are safe as directory names everywhere. Hosts answer with the
/// code `invalid_name`.
pub fn memory_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= MEMORY_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    (!ok).then(|| {
        format!(
            "memory name {:?} is not valid: use 1 to {MEMORY_NAME_BYTES_MAX} characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
            name.chars().take(80).collect::<String>()
        )
    })
}

/// Parses an id, naming the field in the error.
pub fn parse_id(field: &str, text: &str) -> Result<ConceptId> {
    ConceptId::parse_field(field, text)
}

/// Parses a comma-separated list of kinds (`None`: every kind).
pub fn parse_kinds(text: Option<&str>) -> Result<KindSet> {
    match text {
        None => Ok(KindSet::ALL),
        Some(list) => Ok(KindSet::of(
            &list
                .split(',')
                .filter(|k| !k.is_empty())
                .map(Kind::parse)
                .collect::<Result<Vec<_>>>()?,
        )),
    }
}

fn parse_kind_list(kinds: Option<&[String]>) -> Result<KindSet> {
    match kinds {
        None => Ok(KindSet::ALL),
        Some(list) => Ok(KindSet::of(
            &list
                .iter()
                .map(|k| Kind::parse(k))
                .collect::<Result<Vec<_>>>()?,
        )),
    }
}

/// Which associations a read sees: with `include_invalid`, all of them; otherwise those valid
/// at `as_of`, by default `now_ms` (the host's clock: the core has none).
pub fn valid_at(as_of: Option<u64>, include_invalid: Option<bool>, now_ms: u64) -> Result<ValidAt> {
    match (include_invalid.unwrap_or(false), as_of) {
        (true, Some(_)) => Err(Error::invalid(
            "include_invalid",
            "give as_of (what held at a time) or include_invalid (everything), not both",
        )),
        (true, None) => Ok(ValidAt::Any),
        (false, at) => Ok(ValidAt::Time(at.unwrap_or(now_ms))),
    }
}

fn parse_direction(text: Option<&str>, default: Direction) -> Result<Direction> {
    match text {
        None => Ok(default),
        Some("forward") => Ok(Direction::Forward),
        Some("both") => Ok(Direction::Both),
        Some(other) => Err(Error::invalid(
            "direction",
            format!("{other:?} is not valid: use forward or both"),
        )),
    }
}

/// A concept as a client sends it. Defaults: id derived from the content, strength 1,
/// confidence 1, no embedding, no metadata.
#[derive(Deserialize, Debug, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConceptBody {
    /// The id (32 hex characters); derived from the content when absent.
    pub id: Option<String>,
    /// The text.
    pub content: String,
    /// The embedding.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<f32>>))]
    pub embedding: Option<VectorIn>,
    /// Strength (finite, ≥ 0).
    pub strength: Option<f32>,
    /// Confidence (0..=1).
    pub confidence: Option<f32>,
    /// Metadata: string keys to a string, a number, a boolean or a list of strings.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, crate::exchange::bounded::MetadataValue>>))]
    pub metadata: Option<MetadataIn>,
}

impl ConceptBody {
    /// The operation that learns it at `at_ms`, and its id.
    pub fn into_op(self, at_ms: u64) -> Result<(ConceptId, Op)> {
        let id = match &self.id {
            Some(text) => parse_id("id", text)?,
            None => ConceptId::from_content(&self.content),
        };
        let embedding = self
            .embedding
            .map(|e| e.check("embedding (dimension)"))
            .transpose()?;
        let metadata = MetadataIn::or_none(self.metadata)?;
        let op = Op::PutConcept {
            id,
            content: self.content,
            embedding,
            strength: self.strength.unwrap_or(1.0),
            confidence: self.confidence.unwrap_or(1.0),
            metadata,
            at_ms,
            created_ms: None,
        };
        // Checked here, before it is queued, so that errors name the fields as sent.
        op.validate("")?;
        Ok((id, op))
    }
}

/// An association as a client sends it. Defaults: no label, confidence 1, weight 1, no
/// metadata, always valid. The key is (source, target, kind, label): learning it again
/// replaces every other field.
#[derive(Deserialize, Debug, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssociationBody {
    /// Source id.
    pub source: String,
    /// Target id.
    pub target: String,
    /// Kind.
    #[cfg_attr(feature = "openapi", schema(value_type = Kind))]
    pub kind: String,
    /// Label: the predicate (`works_at`), at most 256 bytes, one line (default: none).
    pub label: Option<String>,
    /// Confidence (0..=1).
    pub confidence: Option<f32>,
    /// Weight (finite, ≥ 0).
    pub weight: Option<f32>,
    /// Metadata: string keys to a string, a number, a boolean or a list of strings.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, crate::exchange::bounded::MetadataValue>>))]
    pub metadata: Option<MetadataIn>,
    /// Since when it holds (ms since the epoch; default: always did).
    pub valid_from_ms: Option<u64>,
    /// The first moment it no longer holds (default: it still does); not before
    /// `valid_from_ms`.
    pub valid_until_ms: Option<u64>,
}

impl AssociationBody {
    /// The operation that learns it at `at_ms`.
    pub fn into_op(self, at_ms: u64) -> Result<Op> {
        let metadata = MetadataIn::or_none(self.metadata)?;
        let op = Op::PutAssociation {
            source: parse_id("source", &self.source)?,
            target: parse_id("target", &self.target)?,
            kind: Kind::parse(&self.kind)?,
            label: Label::from(self.label.unwrap_or_default()),
            confidence: self.confidence.unwrap_or(1.0),
            weight: self.weight.unwrap_or(1.0),
            metadata,
            validity: Validity {
                from_ms: self.valid_from_ms,
                until_ms: self.valid_until_ms,
            },
            at_ms,
            created_ms: None,
        };
        op.validate("")?;
        Ok(op)
    }
}

/// The key of an association as a client names it (no label: the empty one), checked.
pub fn association_key(
    source: &str,
    target: &str,
    kind: &str,
    label: Option<&str>,
) -> Result<AssociationKey> {
    let key = AssociationKey {
        source: parse_id("source", source)?,
        target: parse_id("target", target)?,
        kind: Kind::parse(kind)?,
        label: Label::from(label.unwrap_or_default()),
    };
    crate::model::rules::check_label("label", &key.label)?;
    Ok(key)
}

/// The label of the association a path names (its source, target and kind).
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct LabelQuery {
    /// The association's label (default: none).
    pub label: Option<String>,
}

/// Which association to invalidate (by its label, with source, target and kind in the path)
/// and when it stopped holding.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct InvalidateQuery {
    /// The association's label (default: none).
    pub label: Option<String>,
    /// The first moment it no longer holds (ms since the epoch; default: now). An earlier end
    /// it already has stays; it may not be before the association's `valid_from_ms`.
    pub valid_until_ms: Option<u64>,
}

/// The operation that invalidates `key` (checked by [`association_key`]) at `until_ms`
/// (default `at_ms`).
pub fn invalidate_op(key: AssociationKey, until_ms: Option<u64>, at_ms: u64) -> Op {
    Op::InvalidateAssociation {
        key,
        until_ms: until_ms.unwrap_or(at_ms),
        at_ms,
    }
}

/// One operation of a batch: `op` names it (`put_concept`, `delete_concept`,
/// `put_association`, `delete_association`) and the other fields are those of its kind of
/// operation. Read as one flat object (not as an enum tagged by `op`, which serde would buffer
/// whole before reading it), so that its metadata and embedding are read within their limits.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchOp {
    /// Which operation.
    #[cfg_attr(feature = "openapi", schema(value_type = OpName))]
    pub op: String,
    /// The concept's id (`put_concept`: optional; `delete_concept`: required).
    pub id: Option<String>,
    /// `put_concept`: the text.
    pub content: Option<String>,
    /// `put_concept`: the embedding.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<f32>>))]
    pub embedding: Option<VectorIn>,
    /// `put_concept`: strength.
    pub strength: Option<f32>,
    /// `put_concept`, `put_association`: confidence.
    pub confidence: Option<f32>,
    /// `put_concept`, `put_association`: metadata.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, crate::exchange::bounded::MetadataValue>>))]
    pub metadata: Option<MetadataIn>,
    /// Associations: source id.
    pub source: Option<String>,
    /// Associations: target id.
    pub target: Option<String>,
    /// Associations: kind.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Kind>))]
    pub kind: Option<String>,
    /// Associations: label (default none).
    pub label: Option<String>,
    /// `put_association`: weight.
    pub weight: Option<f32>,
    /// `put_association`: since when it holds.
    pub valid_from_ms: Option<u64>,
    /// `put_association`: until when it holds; `invalidate_association`: when it stopped
    /// (default: now).
    pub valid_until_ms: Option<u64>,
    /// `index_metadata`: the metadata keys filters may name (at most 16; they replace the
    /// keys indexed before; `[]` indexes none).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>, max_items = 16))]
    pub keys: Option<Capped<String, { crate::limits::INDEXED_KEYS_MAX }>>,
}

/// The first field given (`present`: name, given) that is not `allowed`: what a flat object
/// read for several kinds of records (batch operations, import lines) may not carry for this one.
pub(crate) fn stray_field<'a>(present: &[(&'a str, bool)], allowed: &[&str]) -> Option<&'a str> {
    present
        .iter()
        .find(|(name, given)| *given && !allowed.contains(name))
        .map(|(name, _)| *name)
}

/// A required field, or the error that names it.
fn required<T>(value: Option<T>, field: &str, op: &str) -> Result<T> {
    value.ok_or_else(|| Error::invalid(field, format!("{op} needs {field}")))
}

impl BatchOp {
    /// Refuses the fields present that `op` does not take.
    fn only(&self, op: &str, allowed: &[&str]) -> Result<()> {
        let present = [
            ("id", self.id.is_some()),
            ("content", self.content.is_some()),
            ("embedding", self.embedding.is_some()),
            ("strength", self.strength.is_some()),
            ("confidence", self.confidence.is_some()),
            ("metadata", self.metadata.is_some()),
            ("source", self.source.is_some()),
            ("target", self.target.is_some()),
            ("kind", self.kind.is_some()),
            ("label", self.label.is_some()),
            ("weight", self.weight.is_some()),
            ("valid_from_ms", self.valid_from_ms.is_some()),
            ("valid_until_ms", self.valid_until_ms.is_some()),
            ("keys", self.keys.is_some()),
        ];
        match stray_field(&present, allowed) {
            Some(name) => Err(Error::invalid(
                name,
                format!("{op} takes no {name} (it takes {})", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// The key of the association it names.
    fn key(self, op: &str) -> Result<AssociationKey> {
        association_key(
            &required(self.source, "source", op)?,
            &required(self.target, "target", op)?,
            &required(self.kind, "kind", op)?,
            self.label.as_deref(),
        )
    }

    /// The operation at `at_ms`, and the id of the concept it learns, if it learns one.
    fn into_op(self, at_ms: u64) -> Result<(Op, Option<ConceptId>)> {
        match self.op.as_str() {
            "put_concept" => {
                self.only(
                    "put_concept",
                    &["id", "content", "embedding", "strength", "confidence", "metadata"],
                )?;
                let body = ConceptBody {
                    id: self.id,
                    content: required(self.content, "content", "put_concept")?,
                    embedding: self.embedding,
                    strength: self.strength,
                    confidence: self.confidence,
                    metadata: self.metadata,
                };
                body.into_op(at_ms).map(|(id, op)| (op, Some(id)))
            }
            "delete_concept" => {
                self.only("delete_concept", &["id"])?;
                let id = parse_id("id", &required(self.id, "id", "delete_concept")?)?;
                Ok((Op::DeleteConcept { id }, None))
            }
            "put_association" => {
                self.only(
                    "put_association",
                    &[
                        "source",
                        "target",
                        "kind",
                        "label",
                        "confidence",
                        "weight",
                        "metadata",
                        "valid_from_ms",
                        "valid_until_ms",
                    ],
                )?;
                let body = AssociationBody {
                    source: required(self.source, "source", "put_association")?,
                    target: required(self.target, "target", "put_association")?,
                    kind: required(self.kind, "kind", "put_association")?,
                    label: self.label,
                    confidence: self.confidence,
                    weight: self.weight,
                    metadata: self.metadata,
                    valid_from_ms: self.valid_from_ms,
                    valid_until_ms: self.valid_until_ms,
                };
                Ok((body.into_op(at_ms)?, None))
            }
            "delete_association" => {
                self.only("delete_association", &["source", "target", "kind", "label"])?;
                let key = self.key("delete_association")?;
                Ok((Op::DeleteAssociation { key }, None))
            }
            "invalidate_association" => {
                self.only(
                    "invalidate_association",
                    &["source", "target", "kind", "label", "valid_until_ms"],
                )?;
                let until = self.valid_until_ms;
                Ok((invalidate_op(self.key("invalidate_association")?, until, at_ms), None))
            }
            "index_metadata" => {
                self.only("index_metadata", &["keys"])?;
                let keys = required(self.keys, "keys", "index_metadata")?;
                let op = Op::index_metadata(keys.check("keys")?);
                op.validate("")?;
                Ok((op, None))
            }
            other => Err(Error::invalid(
                "op",
                format!(
                    "{:?} is not an operation: use put_concept, delete_concept, put_association, delete_association, invalidate_association or index_metadata",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }
}

/// A batch: operations applied atomically.
#[derive(Deserialize, Debug, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// The operations, at most [`crate::limits::BATCH_OPS_MAX`].
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<BatchOp>, max_items = 10_000))]
    pub ops: Capped<BatchOp, { crate::limits::BATCH_OPS_MAX }>,
}

impl BatchBody {
    /// The operations at `at_ms`, and the ids of the concepts it learns (in order).
    pub fn into_ops(self, at_ms: u64) -> Result<(Vec<Op>, Vec<ConceptId>)> {
        let batch = self.ops.check("ops (operations in a batch)")?;
        let mut ids = Vec::new();
        let mut ops = Vec::with_capacity(batch.len());
        for (i, op) in batch.into_iter().enumerate() {
            let (op, learnt) = op
                .into_op(at_ms)
                .map_err(|e| e.within(&format!("ops[{i}]")))?;
            ids.extend(learnt);
            ops.push(op);
        }
        Ok((ops, ids))
    }
}

/// A path query.
#[derive(Deserialize, Debug, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PathsBody {
    /// Start concept.
    pub from: String,
    /// End concept.
    pub to: String,
    /// `shortest` (default), `most_confident` or `k_best`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PathAlgorithm>))]
    pub algorithm: Option<String>,
    /// Paths for `k_best` (default 3, at most 10).
    pub k: Option<u32>,
    /// `forward` (default) or `both`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PathDirection>))]
    pub direction: Option<String>,
    /// Kinds that may be followed (default all).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Kind>>))]
    pub kinds: Option<Capped<String, KINDS_LISTED_MAX>>,
    /// Most hops (default 6, at most 16).
    pub max_depth: Option<u32>,
    /// Visited-concept budget (default 100,000).
    pub visited_max: Option<u32>,
    /// Follow the associations valid at this time (ms since the epoch; default: now).
    pub as_of: Option<u64>,
    /// Follow invalidated associations too (default false).
    pub include_invalid: Option<bool>,
}

impl PathsBody {
    /// The query it asks for, at `now_ms` unless it asks for another time.
    pub fn query(&self, now_ms: u64) -> Result<PathQuery> {
        let from = parse_id("from", &self.from)?;
        let to = parse_id("to", &self.to)?;
        let defaults = PathOptions::default();
        let options = PathOptions {
            direction: parse_direction(self.direction.as_deref(), Direction::Forward)?,
            kinds: match &self.kinds {
                None => KindSet::ALL,
                Some(kinds) => parse_kind_list(Some(kinds.checked("kinds")?))?,
            },
            max_depth: self.max_depth.unwrap_or(defaults.max_depth),
            visited_max: self.visited_max.unwrap_or(defaults.visited_max),
            valid_at: valid_at(self.as_of, self.include_invalid, now_ms)?,
        };
        let algorithm = match self.algorithm.as_deref().unwrap_or("shortest") {
            "shortest" => Algorithm::Shortest,
            "most_confident" => Algorithm::MostConfident,
            "k_best" => Algorithm::KBest(self.k.unwrap_or(PATHS_K_DEFAULT)),
            other => {
                return Err(Error::invalid(
                    "algorithm",
                    format!("{other:?} is not valid: use shortest, most_confident or k_best"),
                ))
            }
        };
        Ok(PathQuery {
            from,
            to,
            algorithm,
            options,
        })
    }
}

/// The name of an algorithm on the wire.
fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Shortest => "shortest",
        Algorithm::MostConfident => "most_confident",
        Algorithm::KBest(_) => "k_best",
    }
}

/// Runs a path query (see [`Reader::paths`]: writers are let in while it runs, and `interrupt`
/// stops it): the paths with each concept's content, each hop's association, and the path's
/// confidence.
pub fn paths(
    reader: &Reader,
    body: &PathsBody,
    now_ms: u64,
    interrupt: &Interrupt,
) -> Result<PathsAnswer> {
    let query = body.query(now_ms)?;
    let result = reader.paths(&query, interrupt)?;
    let db = reader.db();
    Ok(PathsAnswer::new(
        algorithm_name(query.algorithm),
        &result,
        &db,
    ))
}

/// A concept by id.
pub fn concept(db: &Db, id: &str) -> Result<ConceptAnswer> {
    let id = parse_id("id", id)?;
    db.concept(id)
        .map(ConceptAnswer::from)
        .ok_or_else(|| Error::ConceptNotFound { id: id.to_string() })
}

/// Options of a concept scan.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ScanQuery {
    /// The order: `id` (default), `updated` (the last updated first) or `content`. The other
    /// orders than the ids' read every concept listed (at most 2,000,000) to sort them.
    pub order: Option<String>,
    /// Continue after this: the previous page's `next`, in the same order.
    pub after: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only concepts whose content starts with this.
    pub prefix: Option<String>,
    /// Only concepts a filter keeps: a JSON object as a search's `filter`, e.g.
    /// `{"user":"alice"}` (URL-encoded), on the keys the memory indexes.
    pub filter: Option<String>,
}

/// A page of concepts.
pub fn scan(db: &Db, q: &ScanQuery) -> Result<PageAnswer> {
    let sorted = match q.order.as_deref() {
        None | Some("id") => None,
        Some("updated") => Some(SortedBy::Updated),
        Some("content") => Some(SortedBy::Content),
        Some(other) => {
            return Err(Error::invalid(
                "order",
                format!("{other:?} is not an order: use id, updated or content"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(SCAN_LIMIT_DEFAULT);
    let among = match q.filter.as_deref() {
        Some(text) => {
            let body = json_param("filter", text, "a JSON object of metadata keys and values")?;
            Some(db.filtered("filter", &search::parse_filter("filter", &body)?)?)
        }
        None => None,
    };
    let prefix = q.prefix.as_deref();
    let after = q.after.as_deref();
    let (concepts, next) = match sorted {
        None => {
            let after = after.map(|a| parse_id("after", a)).transpose()?;
            let page = db.scan_where(prefix, among.as_deref(), after, limit)?;
            (page.concepts, page.next.map(|n| n.to_string()))
        }
        Some(by) => {
            let after = after.map(parse_sort_cursor).transpose()?;
            let page = db.scan_sorted(by, prefix, among.as_deref(), after, limit)?;
            let next = page.next.map(|n| format!("{}-{}", n.updated_ms, n.id));
            (page.concepts, next)
        }
    };
    Ok(PageAnswer {
        concepts: concepts.into_iter().map(ConceptAnswer::from).collect(),
        next,
    })
}

/// A sorted page's `next` (`<updated_ms>-<id>`), read back.
fn parse_sort_cursor(text: &str) -> Result<SortCursor> {
    let wrong = || {
        Error::invalid(
            "after",
            "is not the next of a page in this order: pass the previous page's next as it was",
        )
    };
    let (ms, id) = text.split_once('-').ok_or_else(wrong)?;
    Ok(SortCursor {
        updated_ms: ms.parse().map_err(|_| wrong())?,
        id: parse_id("after", id)?,
    })
}

/// A query parameter holding JSON (`field` names it, `what` says what it must be).
fn json_param<T: serde::de::DeserializeOwned>(field: &str, text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let problem = wording::json_problem(&e);
        let problem = problem.strip_prefix("not valid JSON: ").unwrap_or(&problem);
        Error::invalid(field, format!("is not {what}: {problem}"))
    })
}

/// Options of an association listing.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AssociationsQuery {
    /// `out`, `in` or `both` (default).
    pub direction: Option<String>,
    /// Comma-separated kinds.
    pub kinds: Option<String>,
    /// Minimum confidence.
    pub min_confidence: Option<f32>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
    /// Those valid at this time (ms since the epoch; default: now).
    pub as_of: Option<u64>,
    /// Invalidated ones too (default false).
    pub include_invalid: Option<bool>,
    /// Only those with one of these labels: a JSON array of strings (URL-encoded), e.g.
    /// `["works_at","founded"]` (at most 64; `""` is the label of an unlabelled one).
    pub labels: Option<String>,
}

/// A concept's associations, as of `now_ms` unless the query asks for another time.
pub fn associations(
    db: &Db,
    id: &str,
    q: &AssociationsQuery,
    now_ms: u64,
) -> Result<AssociationsAnswer> {
    let id = parse_id("id", id)?;
    let listing = match q.direction.as_deref() {
        None | Some("both") => Listing::Both,
        Some("out") => Listing::Out,
        Some("in") => Listing::In,
        Some(other) => {
            return Err(Error::invalid(
                "direction",
                format!("{other:?} is not valid: use out, in or both"),
            ))
        }
    };
    let labels: Option<Vec<Label>> = match q.labels.as_deref() {
        Some(text) => Some(
            json_param::<Vec<String>>("labels", text, "a JSON array of strings")?
                .into_iter()
                .map(Label::from)
                .collect(),
        ),
        None => None,
    };
    let which = crate::graph::Which {
        kinds: parse_kinds(q.kinds.as_deref())?,
        labels: labels.as_deref(),
        valid_at: valid_at(q.as_of, q.include_invalid, now_ms)?,
        min_confidence: q.min_confidence.unwrap_or(0.0),
    };
    let list = db.associations_which(
        id,
        listing,
        &which,
        q.limit.unwrap_or(ASSOCIATIONS_LIMIT_DEFAULT),
    )?;
    Ok(AssociationsAnswer {
        associations: list.iter().map(AssociationAnswer::from).collect(),
    })
}

/// Options of a neighbourhood query.
#[derive(Deserialize, Debug, Clone, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct NeighbourhoodQuery {
    /// Hops (default 1, at most 4).
    pub depth: Option<u32>,
    /// `forward` or `both` (default).
    pub direction: Option<String>,
    /// Comma-separated kinds.
    pub kinds: Option<String>,
    /// At most this many concepts (default 200, at most 2000).
    pub limit: Option<u32>,
    /// Follow the associations valid at this time (ms since the epoch; default: now).
    pub as_of: Option<u64>,
    /// Follow invalidated associations too (default false).
    pub include_invalid: Option<bool>,
}

/// Concepts within some hops of `id`, and the associations among them, as of `now_ms` unless
/// the query asks for another time.
pub fn neighbourhood(
    db: &Db,
    id: &str,
    q: &NeighbourhoodQuery,
    now_ms: u64,
) -> Result<NeighbourhoodAnswer> {
    let id = parse_id("id", id)?;
    let direction = parse_direction(q.direction.as_deref(), Direction::Both)?;
    let kinds = parse_kinds(q.kinds.as_deref())?;
    let n = db.neighbourhood(
        id,
        q.depth.unwrap_or(1),
        direction,
        kinds,
        valid_at(q.as_of, q.include_invalid, now_ms)?,
        q.limit.unwrap_or(NEIGHBOURHOOD_LIMIT_DEFAULT),
    )?;
    Ok(NeighbourhoodAnswer {
        concepts: n
            .concepts
            .iter()
            .map(|(cid, hops)| {
                let c = db.concept(*cid);
                NeighbourAnswer {
                    id: cid.to_string(),
                    hops: *hops,
                    content: c.map(|c| c.content.to_string()),
                    strength: c.map(|c| c.strength),
                    confidence: c.map(|c| c.confidence),
                }
            })
            .collect(),
        associations: n.associations.iter().map(AssociationAnswer::from).collect(),
        truncated: n.truncated,
    })
}
