//! The concepts of a state, kept in id order.

use crate::model::Concept;
use crate::model::ConceptId;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

/// A concept ordered by its id alone. A set of these is a map by id that keeps each id once (a
/// `BTreeMap<ConceptId, Concept>` keeps it as the key and again in the concept: 16 bytes in
/// every slot of every node).
struct ById(Concept);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ById {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.id.cmp(&other.0.id)
    }
}

/// Consistent with the ordering above: a `ById` compares exactly as its id does.
impl Borrow<ConceptId> for ById {
    fn borrow(&self) -> &ConceptId {
        &self.0.id
    }
}

/// Every concept of a state, by id.
#[derive(Default)]
pub(crate) struct Concepts(BTreeSet<ById>);

impl Concepts {
    /// From concepts in any order (a later one with an id already seen replaces it); built in
    /// one pass over the sorted concepts, with every B-tree node full.
    pub fn from_concepts(concepts: Vec<Concept>) -> Self {
        Concepts(concepts.into_iter().map(ById).collect())
    }

    pub fn get(&self, id: &ConceptId) -> Option<&Concept> {
        self.0.get(id).map(|c| &c.0)
    }

    pub fn contains_key(&self, id: &ConceptId) -> bool {
        self.0.contains(id)
    }

    /// Adds `concept`, or replaces the one with its id (returned).
    pub fn insert(&mut self, concept: Concept) -> Option<Concept> {
        self.0.replace(ById(concept)).map(|c| c.0)
    }

    pub fn remove(&mut self, id: &ConceptId) -> Option<Concept> {
        self.0.take(id).map(|c| c.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every concept, in id order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Concept> + ExactSizeIterator + Clone {
        self.0.iter().map(|c| &c.0)
    }

    /// The concepts after `after` (all when `None`), in id order.
    pub fn after(&self, after: Option<ConceptId>) -> impl Iterator<Item = &Concept> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.0
            .range::<ConceptId, _>((start, Bound::Unbounded))
            .map(|c| &c.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metadata;

    fn concept(id: u128, content: &str) -> Concept {
        Concept {
            id: ConceptId(id),
            content: content.into(),
            embedding: None,
            strength: 1.0,
            confidence: 1.0,
            metadata: Metadata::new().into(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn a_map_by_id() {
        let mut store = Concepts::from_concepts(vec![concept(5, "e"), concept(1, "a")]);
        assert_eq!(store.insert(concept(3, "c")), None);
        // Same id, new content: replaces, and gives the old one back.
        assert_eq!(store.insert(concept(1, "A")), Some(concept(1, "a")));
        assert_eq!(store.len(), 3);
        assert_eq!(store.get(&ConceptId(1)).map(|c| &*c.content), Some("A"));
        assert!(store.contains_key(&ConceptId(5)) && !store.contains_key(&ConceptId(4)));
        let ids = |it: &mut dyn Iterator<Item = &Concept>| it.map(|c| c.id.0).collect::<Vec<_>>();
        assert_eq!(ids(&mut store.values()), [1, 3, 5]);
        assert_eq!(ids(&mut store.after(Some(ConceptId(1)))), [3, 5]);
        assert_eq!(ids(&mut store.after(Some(ConceptId(2)))), [3, 5]);
        assert_eq!(ids(&mut store.after(None)), [1, 3, 5]);
        assert_eq!(store.remove(&ConceptId(3)), Some(concept(3, "c")));
        assert_eq!(store.remove(&ConceptId(3)), None);
        assert_eq!(ids(&mut store.values()), [1, 5]);
    }

    #[test]
    fn later_duplicate_wins_when_built() {
        let store = Concepts::from_concepts(vec![concept(2, "old"), concept(2, "new")]);
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(&ConceptId(2)).map(|c| &*c.content), Some("new"));
    }

    #[test]
    fn a_concept_is_80_bytes() {
        assert_eq!(std::mem::size_of::<Concept>(), 80);
    }
}
