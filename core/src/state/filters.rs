//! The index of the metadata keys a memory declares: for each key and value, the concepts that
//! have it, so that a filter finds the concepts it keeps without reading every concept.
//! Maintained as operations apply, like the text index; answers never depend on the order
//! concepts were written in.

use crate::error::{Error, Result};
use crate::model::{ConceptId, Filter, Metadata, Scalar};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// The concepts of each value of each indexed key.
#[derive(Default, Debug)]
pub(crate) struct MetadataIndex {
    /// Each indexed key's values, each with its concepts (a value no concept has is not kept).
    keys: BTreeMap<Box<str>, BTreeMap<Scalar, Postings>>,
    /// What the filters asked for lately kept: a memory's readers ask the same few (one
    /// user's, one agent's) again and again. Forgotten whenever the index changes.
    recent: Mutex<Recent>,
}

/// The same index: the same concepts under the same values (what the filters asked for lately
/// is no part of it).
impl PartialEq for MetadataIndex {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

/// One value's concepts: an array in id order, shared with the filters' answers made from it
/// (a filter on one value is answered without copying a thing), and the changes made since,
/// folded into a new array once they pass an eighth of it (so that each change costs about
/// eight ids copied, however large the value's share).
#[derive(Default, Debug)]
struct Postings {
    sorted: Arc<[ConceptId]>,
    /// Added since `sorted` was made: none of them in it.
    added: BTreeSet<ConceptId>,
    /// Removed since: each of them in it.
    removed: BTreeSet<ConceptId>,
}

/// Changes a value's array takes before they are folded in, however small it is.
const FOLD_AFTER_MIN: usize = 32;

impl Postings {
    fn from_sorted(sorted: Vec<ConceptId>) -> Postings {
        debug_assert!(
            sorted.windows(2).all(|w| w[0] < w[1]),
            "in id order, each once"
        );
        Postings {
            sorted: sorted.into(),
            ..Postings::default()
        }
    }

    fn insert(&mut self, id: ConceptId) {
        if !self.removed.remove(&id) && self.sorted.binary_search(&id).is_err() {
            self.added.insert(id);
        }
        self.fold_if_due();
    }

    fn remove(&mut self, id: ConceptId) {
        if !self.added.remove(&id) && self.sorted.binary_search(&id).is_ok() {
            self.removed.insert(id);
        }
        self.fold_if_due();
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.added.len() - self.removed.len()
    }

    fn fold_if_due(&mut self) {
        if self.added.len() + self.removed.len() > FOLD_AFTER_MIN.max(self.sorted.len() / 8) {
            *self = Postings::from_sorted(self.ids().collect());
        }
    }

    /// The concepts, in id order.
    fn ids(&self) -> impl Iterator<Item = ConceptId> + '_ {
        let mut kept = self
            .sorted
            .iter()
            .copied()
            .filter(|id| !self.removed.contains(id))
            .peekable();
        let mut added = self.added.iter().copied().peekable();
        std::iter::from_fn(move || match (kept.peek(), added.peek()) {
            (Some(k), Some(a)) if a < k => added.next(),
            (Some(_), _) => kept.next(),
            (None, _) => added.next(),
        })
    }

    /// The concepts in id order, as one array (the one kept, when nothing changed since).
    fn whole(&self) -> Arc<[ConceptId]> {
        if self.added.is_empty() && self.removed.is_empty() {
            self.sorted.clone()
        } else {
            self.ids().collect()
        }
    }
}

/// The same concepts, however they are kept.
impl PartialEq for Postings {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.ids().eq(other.ids())
    }
}

/// Filters and the concepts they kept, the latest last; at most [`RECENT_FILTERS`] of them
/// and [`RECENT_IDS_MAX`] ids in all.
#[derive(Default, Debug)]
struct Recent {
    kept: VecDeque<(Filter, Arc<[ConceptId]>)>,
    ids: usize,
}

/// How many filters' answers are kept.
const RECENT_FILTERS: usize = 8;

/// How many ids the answers kept hold at most, in all (16 MiB).
const RECENT_IDS_MAX: usize = 1 << 20;

impl Recent {
    fn get(&self, filter: &Filter) -> Option<Arc<[ConceptId]>> {
        self.kept
            .iter()
            .find(|(f, _)| f == filter)
            .map(|(_, ids)| ids.clone())
    }

    fn keep(&mut self, filter: &Filter, ids: Arc<[ConceptId]>) {
        if ids.len() > RECENT_IDS_MAX {
            return;
        }
        self.ids += ids.len();
        self.kept.push_back((filter.clone(), ids));
        while self.kept.len() > RECENT_FILTERS || self.ids > RECENT_IDS_MAX {
            if let Some((_, oldest)) = self.kept.pop_front() {
                self.ids -= oldest.len();
            }
        }
    }

    fn forget(&mut self) {
        self.kept.clear();
        self.ids = 0;
    }
}

impl MetadataIndex {
    /// An index of `keys`, of `concepts`.
    pub fn build<'a>(
        keys: &[Box<str>],
        concepts: impl Iterator<Item = (ConceptId, &'a Metadata)>,
    ) -> MetadataIndex {
        let mut lists: BTreeMap<&str, BTreeMap<Scalar, Vec<ConceptId>>> =
            keys.iter().map(|k| (&**k, BTreeMap::new())).collect();
        for (id, metadata) in concepts {
            for (key, values) in &mut lists {
                if let Some(value) = metadata.get(*key) {
                    for scalar in Scalar::of(value) {
                        values.entry(scalar).or_default().push(id);
                    }
                }
            }
        }
        let keys = lists
            .into_iter()
            .map(|(key, values)| {
                let values = values
                    .into_iter()
                    .map(|(scalar, mut ids)| {
                        ids.sort_unstable();
                        ids.dedup();
                        (scalar, Postings::from_sorted(ids))
                    })
                    .collect();
                (Box::from(key), values)
            })
            .collect();
        MetadataIndex {
            keys,
            recent: Mutex::default(),
        }
    }

    /// The keys indexed, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(|k| &**k)
    }

    /// Indexes concept `id`'s `metadata` (the concept must not be indexed already).
    pub fn add(&mut self, id: ConceptId, metadata: &Metadata) {
        for (key, values) in &mut self.keys {
            if let Some(value) = metadata.get(&**key) {
                Self::recent_mut(&mut self.recent).forget();
                for scalar in Scalar::of(value) {
                    values.entry(scalar).or_default().insert(id);
                }
            }
        }
    }

    /// Removes concept `id`, whose indexed metadata is `metadata`.
    pub fn remove(&mut self, id: ConceptId, metadata: &Metadata) {
        for (key, values) in &mut self.keys {
            if let Some(value) = metadata.get(&**key) {
                Self::recent_mut(&mut self.recent).forget();
                for scalar in Scalar::of(value) {
                    if let Some(ids) = values.get_mut(&scalar) {
                        ids.remove(id);
                        if ids.len() == 0 {
                            values.remove(&scalar);
                        }
                    }
                }
            }
        }
    }

    /// The concepts `filter` keeps, in id order; refused, naming `field` and the key, when it
    /// names a key this memory does not index.
    pub fn matching(&self, field: &str, filter: &Filter) -> Result<Arc<[ConceptId]>> {
        let recent = || self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ids) = recent().get(filter) {
            debug_assert!(
                *ids == *self.evaluate(field, filter)?,
                "a filter's ids kept are its ids now"
            );
            return Ok(ids);
        }
        let ids = self.evaluate(field, filter)?;
        recent().keep(filter, ids.clone());
        Ok(ids)
    }

    /// What the filters asked for lately kept, to change.
    fn recent_mut(recent: &mut Mutex<Recent>) -> &mut Recent {
        recent.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`matching`](Self::matching), from the index.
    fn evaluate(&self, field: &str, filter: &Filter) -> Result<Arc<[ConceptId]>> {
        let mut each: Vec<Arc<[ConceptId]>> = Vec::with_capacity(filter.clauses().len());
        for clause in filter.clauses() {
            let Some(values) = self.keys.get(clause.key.as_str()) else {
                let indexed: Vec<&str> = self.keys().collect();
                return Err(Error::invalid(
                    format!("{field}[{:?}]", clause.key),
                    if indexed.is_empty() {
                        "is not an indexed metadata key: this memory indexes none (declare the keys filters may name)".to_string()
                    } else {
                        format!(
                            "is not an indexed metadata key: this memory indexes {}",
                            indexed.join(", ")
                        )
                    },
                ));
            };
            let lists: Vec<&Postings> = clause
                .any_of
                .iter()
                .filter_map(|scalar| values.get(scalar))
                .collect();
            each.push(match lists[..] {
                [] => Arc::from([]),
                [one] => one.whole(),
                _ => {
                    let mut ids = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
                    for list in &lists {
                        ids.extend(list.ids());
                    }
                    // Runs in order, one per value: the stable sort merges runs it finds.
                    ids.sort();
                    ids.dedup();
                    ids.into()
                }
            });
        }
        // Intersect, smallest first: each next list is searched for the survivors.
        each.sort_by_key(|ids| ids.len());
        let mut lists = each.into_iter();
        let Some(first) = lists.next() else {
            return Ok(Arc::from([]));
        };
        let mut lists = lists.peekable();
        if lists.peek().is_none() {
            return Ok(first);
        }
        let mut kept = first.to_vec();
        for list in lists {
            kept.retain(|id| list.binary_search(id).is_ok());
        }
        Ok(kept.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clause, Value};

    fn id(n: u128) -> ConceptId {
        ConceptId(n)
    }

    fn metadata(pairs: &[(&str, Value)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn filter(clauses: &[(&str, &[Value])]) -> Filter {
        Filter::new(
            "filter",
            clauses
                .iter()
                .map(|(key, values)| Clause {
                    key: key.to_string(),
                    any_of: values
                        .iter()
                        .map(|v| Scalar::wanted("filter", v).expect("scalar"))
                        .collect(),
                })
                .collect(),
        )
        .expect("valid")
    }

    /// The concepts a filter keeps, read from every concept: what the index must answer.
    fn by_reading(concepts: &[(ConceptId, Metadata)], f: &Filter) -> Vec<ConceptId> {
        let mut ids: Vec<ConceptId> = concepts
            .iter()
            .filter(|(_, m)| f.matches(m))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn the_index_keeps_what_reading_every_concept_keeps() {
        let users = ["alice", "bob", "carol"];
        let mut concepts: Vec<(ConceptId, Metadata)> = (0..300u128)
            .map(|i| {
                (
                    id(i * 7919 % 1009),
                    metadata(&[
                        ("user", users[(i % 3) as usize].into()),
                        ("year", Value::Integer(2020 + (i % 5) as i64)),
                        (
                            "tags",
                            Value::List((0..i % 4).map(|t| format!("t{t}")).collect()),
                        ),
                        ("unindexed", "x".into()),
                    ]),
                )
            })
            .collect();
        let keys: Vec<Box<str>> = vec!["tags".into(), "user".into(), "year".into()];
        let mut index = MetadataIndex::build(&keys, concepts.iter().map(|(i, m)| (*i, m)));
        // Some removed and written again with other values.
        for (i, m) in concepts.iter_mut().step_by(11) {
            index.remove(*i, m);
            m.insert("user".into(), "dave".into());
            index.add(*i, m);
        }
        let filters = [
            filter(&[("user", &["alice".into()])]),
            filter(&[("user", &["dave".into(), "bob".into()])]),
            filter(&[("year", &[Value::Integer(2022)]), ("tags", &["t1".into()])]),
            filter(&[
                ("user", &["carol".into()]),
                ("year", &[Value::Number(2021.0), Value::Integer(2024)]),
                ("tags", &["t2".into()]),
            ]),
            filter(&[("user", &["nobody".into()])]),
        ];
        for f in &filters {
            let want = by_reading(&concepts, f);
            assert_eq!(
                *index.matching("filter", f).expect("indexed"),
                *want,
                "{f:?}"
            );
        }
        assert!(
            !by_reading(&concepts, &filters[2]).is_empty(),
            "a test of something"
        );
        // Every concept removed: nothing is left, not even empty value sets.
        for (i, m) in &concepts {
            index.remove(*i, m);
        }
        assert_eq!(index, MetadataIndex::build(&keys, std::iter::empty()));
    }

    #[test]
    fn a_values_array_and_its_changes_hold_what_a_set_would() {
        // Inserts and removals in a scrambled order, folded many times over: after each, the
        // ids read back are the model's, and an unchanged array is shared, not copied.
        let mut postings = Postings::from_sorted((0..200u128).map(|i| id(i * 3)).collect());
        let mut model: BTreeSet<ConceptId> = (0..200u128).map(|i| id(i * 3)).collect();
        let mut folds = 0;
        for step in 0..5_000u128 {
            let n = id(step * 7919 % 997);
            let before = postings.sorted.clone();
            if step % 3 == 0 {
                postings.remove(n);
                model.remove(&n);
            } else {
                postings.insert(n);
                model.insert(n);
            }
            if !Arc::ptr_eq(&postings.sorted, &before) {
                folds += 1;
                assert!(postings.added.is_empty() && postings.removed.is_empty());
                let whole = postings.whole();
                assert!(
                    Arc::ptr_eq(&whole, &postings.sorted),
                    "shared when unchanged"
                );
            }
            assert_eq!(postings.len(), model.len());
            if step % 97 == 0 {
                assert!(postings.ids().eq(model.iter().copied()), "step {step}");
                assert_eq!(
                    *postings.whole(),
                    *model.iter().copied().collect::<Vec<_>>()
                );
            }
        }
        assert!(folds > 20, "folded {folds} times");
        assert!(postings.ids().eq(model.iter().copied()));
    }

    #[test]
    fn a_key_not_indexed_is_refused_by_name() {
        let index = MetadataIndex::build(&["user".into()], std::iter::empty());
        let err = index
            .matching("filter", &filter(&[("year", &[Value::Integer(1)])]))
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "invalid filter[\"year\"]: is not an indexed metadata key: this memory indexes user"
        );
        assert_eq!(err.field().as_deref(), Some("filter[\"year\"]"));
    }
}
