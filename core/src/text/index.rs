//! The inverted index: for every term, the documents (concepts) that hold it and how often,
//! and BM25 scoring over it.
//!
//! Documents are numbered densely (a number is reused once its concept is gone), and each term's
//! postings are kept in document order. Only concepts with at least one term are documents; a
//! concept whose text is all stop words can match nothing and is not counted. Answers never
//! depend on the numbering (ties are broken by concept id), so a memory rebuilt from its log and
//! one restored from a snapshot answer alike.

use super::{tokens, BM25_B, BM25_K1};
use crate::model::ConceptId;
use rustc_hash::FxHashMap;
use std::borrow::Cow;

/// A concept and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    pub id: ConceptId,
    pub score: f32,
}

/// One document holding a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Posting {
    doc: u32,
    /// How often the term occurs in it.
    count: u32,
}

/// Scores gather in an array over every document when the query's postings number at least
/// one per this many documents (scanning the array then costs less than a map of that many).
const DENSE_PER_POSTING: usize = 16;

/// The inverted index of a memory's concept texts.
#[derive(Default)]
pub(crate) struct TextIndex {
    /// Each term's number.
    terms: FxHashMap<Box<str>, u32>,
    /// Each term's postings, in document order (empty for a number not in use).
    postings: Vec<Vec<Posting>>,
    /// Term numbers not in use.
    free_terms: Vec<u32>,
    /// Each document's number.
    docs: FxHashMap<ConceptId, u32>,
    /// Each document's concept.
    ids: Vec<ConceptId>,
    /// Each document's length in terms (0: a number not in use).
    lengths: Vec<u32>,
    /// Document numbers not in use.
    free_docs: Vec<u32>,
    /// The lengths of all documents, summed.
    total_terms: u64,
}

/// How often each term occurs in a text (in term order), and its length in terms.
fn counts(text: &str) -> (Vec<(Cow<'_, str>, u32)>, u32) {
    let mut terms: Vec<Cow<'_, str>> = tokens(text).collect();
    let length = u32::try_from(terms.len()).unwrap_or(u32::MAX);
    // A text's terms are few: sorting them is cheaper than a map.
    terms.sort_unstable();
    let mut counts: Vec<(Cow<'_, str>, u32)> = Vec::with_capacity(terms.len());
    for term in terms {
        match counts.last_mut() {
            Some((last, count)) if *last == term => *count += 1,
            _ => counts.push((term, 1)),
        }
    }
    (counts, length)
}

/// The distinct terms of a query, in the order they first occur (a term repeated in a query
/// counts once).
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    let mut seen = rustc_hash::FxHashSet::default();
    tokens(query)
        .map(Cow::into_owned)
        .filter(|term| seen.insert(term.clone()))
        .collect()
}

impl TextIndex {
    /// An empty index with room for `docs` documents (an index built at once grows no table).
    pub fn with_capacity(docs: usize) -> Self {
        let mut index = TextIndex::default();
        index.docs.reserve(docs);
        index.ids.reserve(docs);
        index.lengths.reserve(docs);
        index
    }

    /// Documents indexed (concepts with at least one term).
    pub fn docs(&self) -> usize {
        self.docs.len()
    }

    /// Distinct terms indexed.
    #[cfg(test)]
    pub fn terms(&self) -> usize {
        self.terms.len()
    }

    /// Indexes concept `id`'s text (the concept must not be indexed already).
    pub fn add(&mut self, id: ConceptId, text: &str) {
        debug_assert!(!self.docs.contains_key(&id), "{id} is indexed twice");
        let (counts, length) = counts(text);
        if length == 0 {
            return;
        }
        let doc = match self.free_docs.pop() {
            Some(doc) => {
                self.ids[doc as usize] = id;
                self.lengths[doc as usize] = length;
                doc
            }
            None => {
                self.ids.push(id);
                self.lengths.push(length);
                (self.ids.len() - 1) as u32
            }
        };
        self.docs.insert(id, doc);
        self.total_terms += u64::from(length);
        for (term, count) in counts {
            let number = match self.terms.get(&*term) {
                Some(&n) => n,
                None => {
                    let n = match self.free_terms.pop() {
                        Some(n) => n,
                        None => {
                            self.postings.push(Vec::new());
                            (self.postings.len() - 1) as u32
                        }
                    };
                    self.terms.insert(term.into_owned().into_boxed_str(), n);
                    n
                }
            };
            let list = &mut self.postings[number as usize];
            // Appending is the common case: a new document takes the highest number.
            let at = match list.last() {
                Some(last) if last.doc > doc => list.partition_point(|p| p.doc < doc),
                _ => list.len(),
            };
            list.insert(at, Posting { doc, count });
        }
    }

    /// Removes concept `id`, whose indexed text is `text`, from the index (nothing if it was
    /// not indexed: a text of stop words only).
    pub fn remove(&mut self, id: ConceptId, text: &str) {
        let Some(doc) = self.docs.remove(&id) else {
            return;
        };
        let (counts, length) = counts(text);
        debug_assert_eq!(
            length, self.lengths[doc as usize],
            "{id} is removed with the text it was indexed with"
        );
        for (term, _) in counts {
            let Some(&number) = self.terms.get(&*term) else {
                debug_assert!(false, "{term:?} of {id} is not indexed");
                continue;
            };
            let list = &mut self.postings[number as usize];
            if let Ok(at) = list.binary_search_by_key(&doc, |p| p.doc) {
                list.remove(at);
            }
            if list.is_empty() {
                // Give the memory back: a term no text holds any more costs nothing.
                *list = Vec::new();
                self.terms.remove(&*term);
                self.free_terms.push(number);
            }
        }
        self.total_terms -= u64::from(self.lengths[doc as usize]);
        self.lengths[doc as usize] = 0;
        self.free_docs.push(doc);
    }

    /// The `k` concepts whose texts best match the query's distinct `terms` ([`query_terms`])
    /// by BM25 (Okapi, with Lucene's idf `ln(1 + (N − df + 0.5) / (df + 0.5))`, never
    /// negative), best first, ties by concept id. No terms (a query of stop words only) match
    /// nothing.
    pub fn search(&self, terms: &[String], k: usize) -> Vec<Scored> {
        let lists: Vec<&Vec<Posting>> = terms
            .iter()
            .filter_map(|t| self.terms.get(t.as_str()))
            .map(|&number| &self.postings[number as usize])
            .collect();
        // Scores gather in an array over every document when the postings are many against
        // the documents (a common word), in a map otherwise: the same sums either way.
        let postings: usize = lists.iter().map(|l| l.len()).sum();
        let dense = postings.saturating_mul(DENSE_PER_POSTING) >= self.ids.len();
        self.search_lists(&lists, k, dense)
    }

    /// Calls `f(document, score)` for every posting of `lists`, a term's list at a time: its
    /// BM25 score for that term (Okapi, Lucene's idf).
    fn each_score(&self, lists: &[&Vec<Posting>], mut f: impl FnMut(u32, f64)) {
        let n = self.docs.len() as f64;
        let average = self.total_terms as f64 / n;
        let (k1, b) = (f64::from(BM25_K1), f64::from(BM25_B));
        for list in lists {
            let df = list.len() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for p in list.iter() {
                let tf = f64::from(p.count);
                let length = f64::from(self.lengths[p.doc as usize]);
                let norm = tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * length / average));
                f(p.doc, idf * norm);
            }
        }
    }

    /// [`search`](Self::search) over the postings of the query's terms, gathering the scores
    /// in an array over every document (`dense`) or in a map.
    fn search_lists(&self, lists: &[&Vec<Posting>], k: usize, dense: bool) -> Vec<Scored> {
        if self.docs.is_empty() || k == 0 {
            return Vec::new();
        }
        let scored = |(doc, score): (u32, f64)| Scored {
            id: self.ids[doc as usize],
            score: score as f32,
        };
        let mut hits: Vec<Scored> = if dense {
            // Every term scores above 0 (the idf is positive): a document with a score matched.
            let mut scores = vec![0f64; self.ids.len()];
            self.each_score(lists, |doc, s| scores[doc as usize] += s);
            scores
                .into_iter()
                .enumerate()
                .filter(|(_, s)| *s > 0.0)
                .map(|(doc, s)| scored((doc as u32, s)))
                .collect()
        } else {
            let mut scores: FxHashMap<u32, f64> = FxHashMap::default();
            self.each_score(lists, |doc, s| *scores.entry(doc).or_insert(0.0) += s);
            scores.into_iter().map(scored).collect()
        };
        let order = |a: &Scored, b: &Scored| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id));
        if hits.len() > k {
            hits.select_nth_unstable_by(k - 1, order);
            hits.truncate(k);
        }
        hits.sort_unstable_by(order);
        hits
    }

    /// Checks that the index agrees with itself: every posting names a document in use, in
    /// order, each document's length is the sum of its counts, and the totals add up.
    pub fn check(&self) -> Result<(), String> {
        let mut lengths = vec![0u32; self.lengths.len()];
        for (term, &number) in &self.terms {
            let list = &self.postings[number as usize];
            if list.is_empty() {
                return Err(format!("term {term:?} has no postings"));
            }
            if !list.windows(2).all(|w| w[0].doc < w[1].doc) {
                return Err(format!("postings of {term:?} are not in document order"));
            }
            for p in list {
                match lengths.get_mut(p.doc as usize) {
                    Some(length) if self.lengths[p.doc as usize] > 0 => *length += p.count,
                    _ => return Err(format!("{term:?} names document {}, not in use", p.doc)),
                }
            }
        }
        if lengths != self.lengths {
            return Err("document lengths differ from their postings".into());
        }
        let total: u64 = self.lengths.iter().map(|&l| u64::from(l)).sum();
        let in_use = self.lengths.iter().filter(|&&l| l > 0).count();
        if total != self.total_terms || in_use != self.docs.len() {
            return Err("the totals differ from the documents".into());
        }
        for (id, &doc) in &self.docs {
            if self.ids.get(doc as usize) != Some(id) {
                return Err(format!("{id} is document {doc}, which names another"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> ConceptId {
        ConceptId(n)
    }

    /// The index searched for `query`'s terms, as [`crate::Db::search_text`] searches it.
    fn find(index: &TextIndex, query: &str, k: usize) -> Vec<Scored> {
        index.search(&query_terms(query), k)
    }

    /// BM25 by hand for a corpus of three texts:
    /// d1 "rain rain streets" (3 terms), d2 "rain umbrella" (2), d3 "sunny days" (2):
    /// N = 3, average length 7/3. For "rain": df = 2, idf = ln(1 + 1.5/2.5) = ln 1.6.
    /// d1: tf 2, norm = 2·2.2 / (2 + 1.2·(0.25 + 0.75·3/(7/3))) = 4.4 / (2 + 1.2·1.214285…)
    ///   = 4.4 / 3.457142… = 1.272727…; score = 0.470003… · 1.272727… = 0.598186…
    /// d2: tf 1, norm = 2.2 / (1 + 1.2·(0.25 + 0.75·2/(7/3))) = 2.2 / (1 + 1.2·0.892857…)
    ///   = 2.2 / 2.071428… = 1.062068…; score = 0.470003… · 1.062068… = 0.499175…
    #[test]
    fn scores_are_bm25_as_computed_by_hand() {
        let mut index = TextIndex::default();
        index.add(id(1), "Rain, rain; streets!");
        index.add(id(2), "the rain and an umbrella");
        index.add(id(3), "sunny days");
        index.check().expect("consistent");
        let hits = find(&index, "rain", 10);
        let idf = (1.0f64 + 1.5 / 2.5).ln();
        let avg = 7.0 / 3.0;
        let d1 = idf * (2.0 * 2.2) / (2.0 + 1.2 * (0.25 + 0.75 * 3.0 / avg));
        let d2 = idf * 2.2 / (1.0 + 1.2 * (0.25 + 0.75 * 2.0 / avg));
        assert_eq!(hits.len(), 2);
        assert_eq!((hits[0].id, hits[1].id), (id(1), id(2)));
        assert!(
            (f64::from(hits[0].score) - d1).abs() < 1e-6,
            "{hits:?} vs {d1}"
        );
        assert!(
            (f64::from(hits[1].score) - d2).abs() < 1e-6,
            "{hits:?} vs {d2}"
        );
        assert!((d1 - 0.598186).abs() < 1e-5 && (d2 - 0.499175).abs() < 1e-5);
        // Two terms add up; a repeated query term counts once; stop words match nothing.
        let both = find(&index, "umbrella rain rain", 10);
        assert_eq!(both[0].id, id(2));
        assert!(find(&index, "the and", 10).is_empty());
        assert_eq!(find(&index, "rain", 1).len(), 1);
    }

    #[test]
    fn removed_and_replaced_texts_leave_no_hits_and_numbers_are_reused() {
        let mut index = TextIndex::default();
        index.add(id(1), "rain");
        index.add(id(2), "rain streets");
        index.remove(id(1), "rain");
        index.check().expect("consistent");
        assert_eq!(
            find(&index, "rain", 10)
                .iter()
                .map(|h| h.id)
                .collect::<Vec<_>>(),
            [id(2)]
        );
        // The freed number goes to the next text; its postings stay in order.
        index.add(id(3), "streets");
        index.remove(id(2), "rain streets");
        index.add(id(2), "sunny streets");
        index.check().expect("consistent");
        assert!(find(&index, "rain", 10).is_empty(), "no stale hit");
        assert_eq!(index.terms(), 2, "the term no text holds is gone");
        let ids: Vec<ConceptId> = find(&index, "streets", 10).iter().map(|h| h.id).collect();
        assert_eq!(ids, [id(3), id(2)], "the shorter text first");
        // A text of stop words only is no document.
        index.add(id(4), "the and of");
        assert_eq!(index.docs(), 2);
        index.remove(id(4), "the and of");
        index.check().expect("consistent");
    }

    /// The same texts added in any order give the same answers with the same scores.
    #[test]
    fn answers_do_not_depend_on_the_order_texts_came_in() {
        let texts: Vec<(u128, String)> = (0..200u128)
            .map(|i| {
                (
                    i,
                    format!("word{} word{} common shared{}", i % 7, i % 13, i % 3),
                )
            })
            .collect();
        let mut forward = TextIndex::default();
        for (i, t) in &texts {
            forward.add(id(*i), t);
        }
        let mut backward = TextIndex::default();
        for (i, t) in texts.iter().rev() {
            backward.add(id(*i), t);
        }
        // Churn in one of them: remove and add back a third of the texts.
        for (i, t) in texts.iter().step_by(3) {
            backward.remove(id(*i), t);
        }
        for (i, t) in texts.iter().step_by(3) {
            backward.add(id(*i), t);
        }
        backward.check().expect("consistent");
        for query in ["word3 shared1", "common", "word12 word5 nothing"] {
            assert_eq!(
                find(&forward, query, 15),
                find(&backward, query, 15),
                "{query}"
            );
        }
    }

    /// Scores gathered in an array over every document and in a map are the same, to the bit,
    /// in the same order, for rare and common terms alike.
    #[test]
    fn dense_and_sparse_scoring_agree() {
        let mut index = TextIndex::default();
        for i in 0..500u128 {
            index.add(
                id(i * 31 % 997),
                &format!("common word{} rare{} common again{}", i % 9, i, i % 4),
            );
        }
        // Numbers freed and reused, so that some documents are not in use.
        for i in (0..500u128).step_by(7) {
            index.remove(
                id(i * 31 % 997),
                &format!("common word{} rare{} common again{}", i % 9, i, i % 4),
            );
        }
        for query in [
            "common",
            "word3 again1",
            "rare17 common",
            "rare42",
            "nothing here",
        ] {
            let terms = query_terms(query);
            let lists: Vec<&Vec<Posting>> = terms
                .iter()
                .filter_map(|t| index.terms.get(t.as_str()))
                .map(|&n| &index.postings[n as usize])
                .collect();
            for k in [1, 10, 1000] {
                let dense = index.search_lists(&lists, k, true);
                let sparse = index.search_lists(&lists, k, false);
                assert_eq!(dense, sparse, "{query} {k}");
                assert_eq!(index.search(&terms, k), sparse, "{query} {k}");
            }
        }
    }
}
