//! The in-memory state of a memory: concepts, both-way association adjacency, the vector
//! index, the text index, and the validation and application of operations.

pub(crate) mod concepts;
pub(crate) mod filters;
mod image;
pub mod query;

use crate::error::{Error, Result};
use crate::graph::adjacency::{assoc, Adjacency, EdgeData};
use crate::graph::{Graph, View};
use crate::limits::{BATCH_OPS_MAX, LABELS_MAX};
use crate::model::ConceptId;
use crate::model::Language;
use crate::model::{
    check_dimension, Association, AssociationKey, Concept, Label, Op, Rules, Validity,
};
use crate::state::concepts::Concepts;
use crate::text::TextIndex;
use crate::vector::{HnswParams, VectorIndex};
use rustc_hash::{FxHashMap, FxHashSet};

/// Everything readers see: the state as of the last applied (acknowledged) record.
pub struct Db {
    pub(crate) concepts: Concepts,
    /// The associations, both ways.
    pub(crate) links: Adjacency,
    pub(crate) dimension: Option<u32>,
    /// The language texts are stemmed in for full-text search (none: not stemmed).
    pub(crate) language: Option<Language>,
    /// The metadata keys indexed for filters, in order.
    pub(crate) indexed: Vec<Box<str>>,
    /// The index of those keys: built from the concepts at the first filtered read (as the
    /// text index is at the first search by words), then kept up to date as operations apply.
    pub(crate) filters: std::sync::OnceLock<filters::MetadataIndex>,
    pub(crate) vectors: VectorIndex,
    /// The concepts' texts, for full-text search: built from the concepts the first time the
    /// memory is searched by words (a memory never searched so costs nothing for it, in time
    /// to open or in memory), then kept up to date as operations apply.
    pub(crate) text: std::sync::OnceLock<TextIndex>,
    /// Sequence number of the last applied record (0: none).
    pub(crate) last_seq: u64,
}

impl Db {
    pub(crate) fn new(params: HnswParams) -> Self {
        Db {
            concepts: Concepts::default(),
            links: Adjacency::default(),
            dimension: None,
            language: None,
            indexed: Vec::new(),
            filters: std::sync::OnceLock::new(),
            vectors: VectorIndex::new(params),
            text: std::sync::OnceLock::new(),
            last_seq: 0,
        }
    }

    /// An empty state (no concepts, no dimension, nothing applied), for a host that applies
    /// batches itself with [`Db::apply_checked`] (a replica of a replicated log).
    pub fn empty(params: HnswParams) -> Self {
        Db::new(params)
    }

    /// Applies batch `ops` as number `seq` — above [`Db::last_seq`]; a replicated log numbers
    /// its entries, with gaps where an entry was no batch or a refused one — if it applies to
    /// this state, or leaves the state exactly as it was and says why.
    ///
    /// The verdict depends only on the state and the batch, so every replica that applies the
    /// same log reaches the same state, refusals included: what a cluster's apply step needs.
    /// The values' own rules (ranges, limits) are those a log record is read under
    /// ([`Rules::Logged`]): the node that accepted the write checked today's rules before it
    /// proposed it, and a rule made stricter by an upgrade must not make a node refuse an entry
    /// that the others applied. What the state decides (a concept an association needs, the
    /// dimension, a key that must exist) is checked here, against this state, and binds.
    pub fn apply_checked(&mut self, seq: u64, ops: Vec<Op>) -> Result<()> {
        if seq <= self.last_seq {
            return Err(Error::Conflict {
                reason: format!(
                    "batch {seq} comes after batch {} in the log, not before",
                    self.last_seq
                ),
            });
        }
        let mut check = Overlay::default();
        check.stage(self, &ops, Rules::Logged)?;
        self.apply(seq, ops);
        Ok(())
    }

    /// The embedding of concept `id`, if it exists and has one.
    pub(crate) fn embedding(&self, id: &ConceptId) -> Option<&[f32]> {
        self.concepts.get(id)?.embedding.as_deref()
    }

    /// The validity of the association `key`, if it exists.
    pub(crate) fn association_validity(&self, key: &AssociationKey) -> Option<Validity> {
        let data = self
            .links
            .get(&key.source, &key.target, key.kind, &key.label)?;
        Some(data.validity())
    }

    pub(crate) fn association(&self, key: &AssociationKey) -> Option<Association> {
        let data = self
            .links
            .get(&key.source, &key.target, key.kind, &key.label)?;
        Some(assoc(key.source, key.target, key.kind, &key.label, data))
    }

    /// Applies one validated batch. Validation guarantees it cannot fail; replay re-checks and
    /// reports a violation as corruption instead of applying half a batch.
    /// (Takes the operations by value: their text, vectors and metadata move into the state
    /// instead of being copied while readers wait on the lock.)
    pub(crate) fn apply(&mut self, seq: u64, ops: Vec<Op>) {
        debug_assert!(
            seq > self.last_seq,
            "batch {seq} applied after {}",
            self.last_seq
        );
        debug_assert!(!ops.is_empty(), "an empty batch is refused by validation");
        for op in ops {
            self.apply_op(op);
        }
        self.last_seq = seq;
    }

    fn apply_op(&mut self, op: Op) {
        match op {
            Op::PutConcept {
                id,
                content,
                embedding,
                strength,
                confidence,
                metadata,
                at_ms,
                created_ms,
            } => {
                let created_ms = created_ms
                    .unwrap_or_else(|| self.concepts.get(&id).map_or(at_ms, |c| c.created_ms));
                match &embedding {
                    Some(v) => {
                        if self.dimension.is_none() {
                            self.dimension = Some(v.len() as u32);
                        }
                        debug_assert_eq!(
                            self.dimension,
                            Some(v.len() as u32),
                            "validation checks the dimension"
                        );
                        self.vectors.upsert(id, v);
                    }
                    None => self.vectors.remove(&id),
                }
                if let Some(index) = self.filters.get_mut() {
                    if let Some(old) = self.concepts.get(&id) {
                        index.remove(id, &old.metadata);
                    }
                    index.add(id, &metadata);
                }
                if let Some(text) = self.text.get_mut() {
                    match self.concepts.get(&id) {
                        Some(old) if *old.content == *content => {}
                        old => {
                            if let Some(old) = old {
                                text.remove(id, &old.content);
                            }
                            text.add(id, &content);
                        }
                    }
                }
                self.concepts.insert(Concept {
                    id,
                    content: content.into_boxed_str(),
                    embedding: embedding.map(Vec::into_boxed_slice),
                    strength,
                    confidence,
                    metadata: metadata.into(),
                    created_ms,
                    updated_ms: at_ms,
                });
            }
            Op::DeleteConcept { id } => {
                let Some(old) = self.concepts.remove(&id) else {
                    return;
                };
                if let Some(text) = self.text.get_mut() {
                    text.remove(id, &old.content);
                }
                if let Some(index) = self.filters.get_mut() {
                    index.remove(id, &old.metadata);
                }
                self.vectors.remove(&id);
                self.links.remove_concept(&id);
                debug_assert!(self.links.slot(&id).is_none(), "{id} keeps associations");
            }
            Op::PutAssociation {
                source,
                target,
                kind,
                label,
                confidence,
                weight,
                metadata,
                validity,
                at_ms,
                created_ms,
            } => {
                debug_assert!(
                    self.concepts.contains_key(&source) && self.concepts.contains_key(&target),
                    "validation checks that an association's ends exist"
                );
                let created_ms = created_ms.unwrap_or_else(|| {
                    self.links
                        .get(&source, &target, kind, &label)
                        .map_or(at_ms, |e| e.created_ms)
                });
                self.links.insert(
                    source,
                    target,
                    kind,
                    &label,
                    EdgeData {
                        confidence,
                        weight,
                        created_ms,
                        updated_ms: at_ms,
                        metadata: metadata.into(),
                        validity: EdgeData::keep_validity(validity),
                    },
                );
            }
            Op::DeleteAssociation { key } => {
                self.links
                    .remove(&key.source, &key.target, key.kind, &key.label);
            }
            Op::InvalidateAssociation {
                key,
                until_ms,
                at_ms,
            } => {
                let done = self.links.invalidate(
                    &key.source,
                    &key.target,
                    key.kind,
                    &key.label,
                    until_ms,
                    at_ms,
                );
                debug_assert!(done, "validation checks that {key} exists");
            }
            Op::SetDimension { dimension } => {
                self.dimension = Some(dimension);
            }
            Op::IndexMetadata { keys } => {
                self.indexed = keys.into_iter().map(String::into_boxed_str).collect();
                // Built again, of these keys, at the next filtered read.
                self.filters = std::sync::OnceLock::new();
            }
            Op::SetLanguage { language } => {
                debug_assert!(
                    self.language.is_none_or(|l| l == language),
                    "validation refuses another language"
                );
                if self.language != Some(language) {
                    self.language = Some(language);
                    // Its terms were not stemmed: the next search by words indexes the texts
                    // again.
                    self.text = std::sync::OnceLock::new();
                }
            }
        }
    }
}

/// The graph searches read the state through this.
impl Graph for Db {
    fn links(&self) -> &Adjacency {
        &self.links
    }
    fn has_concept(&self, id: &ConceptId) -> bool {
        self.concepts.contains_key(id)
    }
    fn seq(&self) -> u64 {
        self.last_seq
    }
}

/// A plain reference is a view that never pauses (one thread, or a caller holding the lock).
impl View for &Db {
    fn graph(&self) -> &dyn Graph {
        *self
    }
    fn pace(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What operations staged but not yet applied will change, so that a batch is validated
/// against the state it will really be applied to (the committed state plus everything staged
/// before it).
#[derive(Default)]
pub(crate) struct Overlay {
    concepts: FxHashMap<ConceptId, bool>,
    /// Concepts deleted by a staged op: their committed associations are gone.
    deleted: FxHashSet<ConceptId>,
    /// Associations staged: `Some(validity)` when put (or invalidated), `None` when deleted.
    associations: FxHashMap<AssociationKey, Option<Validity>>,
    /// Labels staged that the state does not have yet (counted against [`LABELS_MAX`]).
    labels: FxHashSet<Label>,
    dimension: Option<u32>,
    language: Option<Language>,
}

impl Overlay {
    pub(crate) fn clear(&mut self) {
        *self = Overlay::default();
    }

    fn concept_exists(&self, db: &Db, id: &ConceptId) -> bool {
        self.concepts
            .get(id)
            .copied()
            .unwrap_or_else(|| db.concepts.contains_key(id))
    }

    /// The validity of the association `key` if it exists.
    fn association(&self, db: &Db, key: &AssociationKey) -> Option<Validity> {
        if let Some(&staged) = self.associations.get(key) {
            return staged;
        }
        if self.deleted.contains(&key.source) || self.deleted.contains(&key.target) {
            return None;
        }
        db.association_validity(key)
    }

    fn dimension(&self, db: &Db) -> Option<u32> {
        self.dimension.or(db.dimension)
    }

    fn language(&self, db: &Db) -> Option<Language> {
        self.language.or(db.language)
    }

    /// Validates a batch against `db` as changed by this overlay and, when it is valid, records
    /// its effects. On error the overlay is unchanged.
    pub(crate) fn stage(&mut self, db: &Db, ops: &[Op], rules: Rules) -> Result<()> {
        if ops.is_empty() {
            return Err(Error::invalid(
                "ops",
                "a batch needs at least one operation",
            ));
        }
        if ops.len() > BATCH_OPS_MAX {
            return Err(Error::limit(
                "ops (operations in a batch)",
                BATCH_OPS_MAX as u64,
                ops.len() as u64,
            ));
        }
        // Validate on a scratch copy of what this batch touches, so a failure leaves no trace.
        let mut scratch = Overlay {
            concepts: FxHashMap::default(),
            deleted: FxHashSet::default(),
            associations: FxHashMap::default(),
            labels: FxHashSet::default(),
            dimension: self.dimension,
            language: self.language,
        };
        let view = Layered {
            base: self,
            top: &mut scratch,
        };
        view.check(db, ops, rules)?;
        self.concepts.extend(scratch.concepts);
        if !scratch.deleted.is_empty() {
            let gone = &scratch.deleted;
            self.associations
                .retain(|k, _| !gone.contains(&k.source) && !gone.contains(&k.target));
        }
        self.deleted.extend(scratch.deleted);
        self.associations.extend(scratch.associations);
        self.labels.extend(scratch.labels);
        self.dimension = scratch.dimension;
        self.language = scratch.language;
        Ok(())
    }
}

/// The overlay of the batch being validated on top of the overlay of staged batches.
struct Layered<'a> {
    base: &'a Overlay,
    top: &'a mut Overlay,
}

impl Layered<'_> {
    fn concept_exists(&self, db: &Db, id: &ConceptId) -> bool {
        match self.top.concepts.get(id) {
            Some(&e) => e,
            None => self.base.concept_exists(db, id),
        }
    }

    /// The validity of the association `key` if it exists.
    fn association(&self, db: &Db, key: &AssociationKey) -> Option<Validity> {
        if let Some(&staged) = self.top.associations.get(key) {
            return staged;
        }
        if self.top.deleted.contains(&key.source) || self.top.deleted.contains(&key.target) {
            return None;
        }
        self.base.association(db, key)
    }

    /// Takes note of `label` for an association staged, refusing it when it would be one
    /// distinct label more than a memory holds.
    fn take_label(&mut self, db: &Db, label: &Label) -> Result<()> {
        let known = db.links.labels().number(label).is_some()
            || self.base.labels.contains(label)
            || self.top.labels.contains(label);
        if known {
            return Ok(());
        }
        let in_use = db.links.labels().len() + self.base.labels.len() + self.top.labels.len();
        if in_use as u64 >= u64::from(LABELS_MAX) {
            return Err(Error::limit(
                "label (distinct labels in a memory)",
                u64::from(LABELS_MAX),
                in_use as u64 + 1,
            ));
        }
        self.top.labels.insert(label.clone());
        Ok(())
    }

    fn missing(key: &AssociationKey) -> Error {
        Error::AssociationNotFound {
            key: key.to_string().into(),
        }
    }

    fn check(mut self, db: &Db, ops: &[Op], rules: Rules) -> Result<()> {
        for (i, op) in ops.iter().enumerate() {
            let field = format!("ops[{i}]");
            op.validate_under(&field, rules)?;
            match op {
                Op::PutConcept { id, embedding, .. } => {
                    if let Some(v) = embedding {
                        let actual = v.len() as u32;
                        match self.top.dimension.or(self.base.dimension(db)) {
                            Some(expected) if expected != actual => {
                                return Err(Error::DimensionMismatch { expected, actual });
                            }
                            Some(_) => {}
                            None => self.top.dimension = Some(actual),
                        }
                    }
                    self.top.concepts.insert(*id, true);
                }
                Op::DeleteConcept { id } => {
                    if !self.concept_exists(db, id) {
                        return Err(Error::ConceptNotFound { id: id.to_string() });
                    }
                    self.top.concepts.insert(*id, false);
                    self.top.deleted.insert(*id);
                    // Associations staged in this batch touching it go too.
                    self.top
                        .associations
                        .retain(|k, _| k.source != *id && k.target != *id);
                }
                Op::PutAssociation {
                    source,
                    target,
                    kind,
                    label,
                    validity,
                    ..
                } => {
                    for end in [source, target] {
                        if !self.concept_exists(db, end) {
                            return Err(Error::ConceptNotFound {
                                id: end.to_string(),
                            });
                        }
                    }
                    self.take_label(db, label)?;
                    let key = AssociationKey {
                        source: *source,
                        target: *target,
                        kind: *kind,
                        label: label.clone(),
                    };
                    self.top.associations.insert(key, Some(*validity));
                }
                Op::DeleteAssociation { key } => {
                    if self.association(db, key).is_none() {
                        return Err(Self::missing(key));
                    }
                    self.top.associations.insert(key.clone(), None);
                }
                Op::InvalidateAssociation { key, until_ms, .. } => {
                    let Some(validity) = self.association(db, key) else {
                        return Err(Self::missing(key));
                    };
                    if let Some(from) = validity.from_ms.filter(|from| until_ms < from) {
                        return Err(Error::invalid(
                            format!("{field}.valid_until_ms"),
                            format!(
                                "{} is before the association's valid_from_ms {}",
                                crate::model::rules::time_text(*until_ms),
                                crate::model::rules::time_text(from)
                            ),
                        ));
                    }
                    let ended = validity.ended_at(*until_ms);
                    self.top.associations.insert(key.clone(), Some(ended));
                }
                Op::SetDimension { dimension } => {
                    check_dimension(&format!("{field}.dimension"), *dimension)?;
                    match self.top.dimension.or(self.base.dimension(db)) {
                        Some(existing) if existing != *dimension => {
                            return Err(Error::DimensionMismatch {
                                expected: existing,
                                actual: *dimension,
                            });
                        }
                        _ => self.top.dimension = Some(*dimension),
                    }
                }
                // Any keys may be indexed at any time (validated on their own).
                Op::IndexMetadata { .. } => {}
                Op::SetLanguage { language } => {
                    match self.top.language.or(self.base.language(db)) {
                        Some(existing) if existing != *language => {
                            return Err(Error::Conflict {
                                reason: format!(
                                    "this memory stems its texts in {}, not {}: a memory's \
                                     language is chosen once",
                                    existing.as_str(),
                                    language.as_str()
                                ),
                            });
                        }
                        _ => self.top.language = Some(*language),
                    }
                }
            }
        }
        Ok(())
    }
}
