//! The inverted index: for every term, the documents (concepts) that hold it and how often,
//! and BM25 scoring over it.
//!
//! Documents are numbered densely (a number is reused once its concept is gone), and each term's
//! postings are kept in document order. Only concepts with at least one term are documents; a
//! concept whose text is all stop words can match nothing and is not counted. Answers never
//! depend on the numbering (ties are broken by concept id), so a memory rebuilt from its log and
//! one restored from a snapshot answer alike.
//!
//! A snapshot stores the index ([`TextImage`]: a few large arrays); read back, its terms,
//! postings and documents stay in those arrays ([`super::store`]) and only what writes change
//! afterwards is kept on the side, so a large index loads in a few allocations.

use super::language::{analyze_into, KnownStems, Term};
use super::store::{Docs, Posting, Store, Vocabulary};
use super::{analyze, BM25_B, BM25_K1};
use crate::limits::TEXT_TERM_BYTES_MAX;
use crate::model::ConceptId;
use crate::model::Language;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A concept and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    pub id: ConceptId,
    pub score: f32,
}

/// A text index as a snapshot stores it (see [`TextIndex::image`]): a few large arrays, so
/// that it is read without a table per term.
#[derive(Serialize, Deserialize, PartialEq, Debug, Default)]
pub struct TextImage {
    /// Each document's concept, in strictly increasing order (document `i` is `ids[i]`).
    ids: Vec<ConceptId>,
    /// Each document's length in terms.
    lengths: Vec<u32>,
    /// The terms, one after another, in strictly increasing byte order.
    terms: String,
    /// Where each term ends in `terms`.
    ends: Vec<u32>,
    /// How many documents hold each term.
    sizes: Vec<u32>,
    /// Every term's documents, term after term: the first's number, then the gap to each next.
    gaps: Vec<u32>,
    /// The term's count in each of those documents.
    counts: Vec<u32>,
}
/// Scores gather in an array over every document when the query's postings number at least
/// one per this many documents (scanning the array then costs less than a map of that many).
const DENSE_PER_POSTING: usize = 16;

/// The inverted index of a memory's concept texts.
#[derive(Default)]
pub(crate) struct TextIndex {
    /// The language its texts and queries are stemmed in (none: not stemmed).
    language: Option<Language>,
    /// Stems of words indexed before.
    known: KnownStems,
    /// Each term's number.
    terms: Vocabulary,
    /// Each term's postings, in document order.
    postings: Store,
    /// Each document's number.
    docs: Docs,
    /// Each document's concept.
    ids: Vec<ConceptId>,
    /// Each document's length in terms (0: a number not in use).
    lengths: Vec<u32>,
    /// Document numbers not in use.
    free_docs: Vec<u32>,
    /// The lengths of all documents, summed.
    total_terms: u64,
}

/// How often each term occurs in a text of `language` (equal terms counted together, in no
/// order that matters), and its length in terms (each term's text from `known`, see
/// [`Term::text`]).
fn counts<'a>(
    language: Option<Language>,
    text: &'a str,
    known: &mut KnownStems,
) -> (Vec<(Term<'a>, u32)>, u32) {
    let mut terms: Vec<Term<'a>> = Vec::new();
    analyze_into(language, text, known, &mut terms);
    let length = u32::try_from(terms.len()).unwrap_or(u32::MAX);
    // A text's terms are few: sorting them is cheaper than a map.
    let known = &*known;
    terms.sort_unstable_by(|a, b| a.order(b, known));
    let mut counts: Vec<(Term<'a>, u32)> = Vec::with_capacity(terms.len());
    for term in terms {
        match counts.last_mut() {
            Some((last, count)) if last.order(&term, known).is_eq() => *count += 1,
            _ => counts.push((term, 1)),
        }
    }
    (counts, length)
}

/// The distinct terms of a query in a memory of `language`, in the order they first occur (a
/// term repeated in a query counts once).
pub(crate) fn query_terms(language: Option<Language>, query: &str) -> Vec<String> {
    let mut seen = rustc_hash::FxHashSet::default();
    analyze(language, query)
        .map(Cow::into_owned)
        .filter(|term| seen.insert(term.clone()))
        .collect()
}

impl TextIndex {
    /// An empty index of texts in `language`, with room for `docs` documents (an index built
    /// at once grows no table).
    pub fn with_capacity(language: Option<Language>, docs: usize) -> Self {
        let mut index = TextIndex {
            language,
            ..TextIndex::default()
        };
        index.docs.reserve(docs);
        index.ids.reserve(docs);
        index.lengths.reserve(docs);
        index
    }

    /// The index of `texts` (each concept once) in `language`.
    pub fn build<'a>(
        language: Option<Language>,
        texts: impl ExactSizeIterator<Item = (ConceptId, &'a str)>,
    ) -> Self {
        let mut index = TextIndex::with_capacity(language, texts.len());
        index.known = KnownStems::for_build(texts.len());
        for (id, text) in texts {
            index.add(id, text);
        }
        index.known.forget();
        index
    }

    /// The language its texts and queries are stemmed in.
    pub fn language(&self) -> Option<Language> {
        self.language
    }

    /// Documents indexed (concepts with at least one term).
    pub fn docs(&self) -> usize {
        self.docs.len()
    }

    /// About how many bytes of memory the index holds (its tables' capacities and its terms'
    /// bytes; the allocator's own overhead is not counted).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.terms.heap_bytes()
            + self.postings.heap_bytes()
            + self.docs.heap_bytes()
            + self.ids.capacity() * size_of::<ConceptId>()
            + self.lengths.capacity() * size_of::<u32>()
            + self.free_docs.capacity() * size_of::<u32>()
            + self.known.heap_bytes()
    }

    /// The concepts indexed, in no order.
    pub fn ids(&self) -> impl Iterator<Item = ConceptId> + '_ {
        self.docs.iter().map(|(id, _)| id)
    }

    /// Distinct terms indexed.
    #[cfg(test)]
    pub fn terms(&self) -> usize {
        self.terms
            .iter()
            .filter(|(_, n)| !self.postings.list(*n).is_empty())
            .count()
    }

    /// Indexes concept `id`'s text (the concept must not be indexed already).
    pub fn add(&mut self, id: ConceptId, text: &str) {
        debug_assert!(self.docs.get(&id).is_none(), "{id} is indexed twice");
        self.terms.prepare_writes();
        let (counts, length) = counts(self.language, text, &mut self.known);
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
            let number = self.term_number(&term).unwrap_or_else(|| {
                let n = self.terms.insert(term.text(&self.known));
                if let Term::Known(stem) = term {
                    self.known.record_in_index(stem, n);
                }
                n
            });
            let list = self.postings.list_mut(number);
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
        self.terms.prepare_writes();
        let (counts, length) = counts(self.language, text, &mut self.known);
        debug_assert_eq!(
            length, self.lengths[doc as usize],
            "{id} is removed with the text it was indexed with"
        );
        for (term, _) in counts {
            let Some(number) = self.term_number(&term) else {
                debug_assert!(false, "{term:?} of {id} is not indexed");
                continue;
            };
            let list = self.postings.list_mut(number);
            if let Ok(at) = list.binary_search_by_key(&doc, |p| p.doc) {
                list.remove(at);
            }
            if list.is_empty() {
                // Give the memory back: a term no text holds any more costs nothing (a frozen
                // term keeps its number, with an empty list).
                self.postings.forget(number);
                if !self.terms.is_frozen(number) {
                    self.terms.remove_added(term.text(&self.known), number);
                    // The number may go to another term.
                    self.known.forget_in_index();
                }
            }
        }
        self.total_terms -= u64::from(self.lengths[doc as usize]);
        self.lengths[doc as usize] = 0;
        self.free_docs.push(doc);
    }

    /// The number of `term` (of a text analysed with `self.known`) in the vocabulary, if it is
    /// there: for a known stem, the number recorded with it, when it was.
    fn term_number(&mut self, term: &Term<'_>) -> Option<u32> {
        let recorded = match term {
            Term::Known(stem) => self.known.in_index(*stem),
            Term::Word(_) => None,
        };
        if let Some(number) = recorded {
            debug_assert_eq!(
                self.terms.number(term.text(&self.known)),
                Some(number),
                "a stem's recorded number is its number"
            );
            return Some(number);
        }
        let number = self.terms.number(term.text(&self.known))?;
        if let Term::Known(stem) = term {
            self.known.record_in_index(*stem, number);
        }
        Some(number)
    }

    /// The `k` concepts whose texts best match the query's distinct `terms` ([`query_terms`])
    /// by BM25 (Okapi, with Lucene's idf `ln(1 + (N − df + 0.5) / (df + 0.5))`, never
    /// negative), best first, ties by concept id. No terms (a query of stop words only) match
    /// nothing.
    #[cfg(test)]
    pub fn search(&self, terms: &[String], k: usize) -> Vec<Scored> {
        self.search_among(terms, k, None)
    }

    /// [`search`](Self::search) among the concepts `among` (in increasing id order) only: the
    /// best `k` of those, not the best `k` then those (a filter inside the search, so that it
    /// never returns fewer hits than it could).
    pub fn search_among(
        &self,
        terms: &[String],
        k: usize,
        among: Option<&[ConceptId]>,
    ) -> Vec<Scored> {
        let lists: Vec<&[Posting]> = terms
            .iter()
            .filter_map(|t| self.terms.number(t))
            .map(|number| self.postings.list(number))
            .filter(|list| !list.is_empty())
            .collect();
        // Scores gather in an array over every document when the postings are many against
        // the documents (a common word), in a map otherwise: the same sums either way.
        let postings: usize = lists.iter().map(|l| l.len()).sum();
        let dense = postings.saturating_mul(DENSE_PER_POSTING) >= self.ids.len();
        self.search_lists(&lists, k, dense, among)
    }

    /// Calls `f(document, score)` for every posting of `lists`, a term's list at a time: its
    /// BM25 score for that term (Okapi, Lucene's idf).
    fn each_score(&self, lists: &[&[Posting]], mut f: impl FnMut(u32, f64)) {
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
    fn search_lists(
        &self,
        lists: &[&[Posting]],
        k: usize,
        dense: bool,
        among: Option<&[ConceptId]>,
    ) -> Vec<Scored> {
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
        if let Some(among) = among {
            hits.retain(|h| among.binary_search(&h.id).is_ok());
        }
        let order = |a: &Scored, b: &Scored| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id));
        if hits.len() > k {
            hits.select_nth_unstable_by(k - 1, order);
            hits.truncate(k);
        }
        hits.sort_unstable_by(order);
        hits
    }

    /// The index as a snapshot stores it ([`TextImage`]): documents renumbered in concept id
    /// order and terms in byte order, so that the image depends only on the texts indexed (not
    /// on the order they arrived in, nor on numbers reused).
    pub fn image(&self) -> TextImage {
        let mut by_id: Vec<(ConceptId, u32)> = self.docs.iter().collect();
        by_id.sort_unstable();
        let mut renumbered = vec![u32::MAX; self.ids.len()];
        for (new, (_, old)) in by_id.iter().enumerate() {
            renumbered[*old as usize] = new as u32;
        }
        let mut terms: Vec<(&str, u32)> = self
            .terms
            .iter()
            .filter(|(_, n)| !self.postings.list(*n).is_empty())
            .collect();
        terms.sort_unstable();
        let mut image = TextImage {
            ids: by_id.iter().map(|(id, _)| *id).collect(),
            lengths: by_id
                .iter()
                .map(|(_, d)| self.lengths[*d as usize])
                .collect(),
            ..TextImage::default()
        };
        let mut postings: Vec<(u32, u32)> = Vec::new();
        for (term, number) in terms {
            image.terms.push_str(term);
            image.ends.push(image.terms.len() as u32);
            postings.clear();
            postings.extend(
                self.postings
                    .list(number)
                    .iter()
                    .map(|p| (renumbered[p.doc as usize], p.count)),
            );
            postings.sort_unstable();
            image.sizes.push(postings.len() as u32);
            let mut previous = None;
            for &(doc, count) in &postings {
                image.gaps.push(previous.map_or(doc, |p| doc - p));
                image.counts.push(count);
                previous = Some(doc);
            }
        }
        image
    }

    /// The index an image holds, checked: documents in strictly increasing id order with a
    /// length, terms in strictly increasing byte order and not over the term limit, postings
    /// in document order naming documents that exist, counts that add up to each document's
    /// length. (That the documents are the memory's concepts with words, the state checks.)
    /// Its terms and postings stay in the image's arrays (see [`super::store`]).
    /// The image is of texts in `language` (the memory's, which the snapshot holds with it).
    pub fn from_image(language: Option<Language>, image: TextImage) -> Result<TextIndex, String> {
        let TextImage {
            ids,
            lengths,
            terms,
            ends,
            sizes,
            gaps,
            counts,
        } = image;
        if ids.len() != lengths.len() {
            return Err(format!(
                "{} documents with {} lengths",
                ids.len(),
                lengths.len()
            ));
        }
        if !ids.windows(2).all(|w| w[0] < w[1]) {
            return Err("documents are not in strictly increasing id order".into());
        }
        if lengths.contains(&0) {
            return Err("a document has no terms".into());
        }
        let docs_count = u32::try_from(ids.len()).map_err(|_| "too many documents")?;
        // The terms: each non-empty, within the limit, after the one before, on character
        // boundaries, the last ending where the text does.
        if ends.len() != sizes.len() || ends.last().map_or(0, |&e| e as usize) != terms.len() {
            return Err("the terms' ends do not match the terms".into());
        }
        let mut start = 0usize;
        let mut previous: Option<&str> = None;
        for &end in &ends {
            let end = end as usize;
            if end <= start
                || end - start > TEXT_TERM_BYTES_MAX
                || end > terms.len()
                || !terms.is_char_boundary(end)
            {
                return Err(format!("term {} is empty, too long or cut", start));
            }
            let term = &terms[start..end];
            if previous.is_some_and(|p| p >= term) {
                return Err(format!("term {term:?} is out of order"));
            }
            previous = Some(term);
            start = end;
        }
        // The postings: as many as the sizes say, each term's in document order.
        let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
        if sizes.contains(&0) || total != gaps.len() as u64 || gaps.len() != counts.len() {
            return Err("the postings do not match their sizes".into());
        }
        let mut flat = Vec::with_capacity(gaps.len());
        let mut starts = Vec::with_capacity(sizes.len() + 1);
        let mut sums = vec![0u64; ids.len()];
        let mut at = 0usize;
        starts.push(0u32);
        for (t, &size) in sizes.iter().enumerate() {
            let mut doc: Option<u32> = None;
            for (&gap, &count) in gaps[at..at + size as usize]
                .iter()
                .zip(&counts[at..at + size as usize])
            {
                let next = match doc {
                    None => Some(gap),
                    Some(d) if gap > 0 => d.checked_add(gap),
                    Some(_) => None,
                };
                let Some(next) = next.filter(|&d| d < docs_count) else {
                    return Err(format!(
                        "term {t} names a document out of order or past the last"
                    ));
                };
                if count == 0 {
                    return Err(format!("term {t} counts 0 in a document"));
                }
                sums[next as usize] += u64::from(count);
                flat.push(Posting { doc: next, count });
                doc = Some(next);
            }
            at += size as usize;
            starts.push(u32::try_from(at).map_err(|_| "too many postings")?);
        }
        if sums
            .iter()
            .zip(&lengths)
            .any(|(&sum, &length)| sum != u64::from(length))
        {
            return Err("a document's length differs from its terms' counts".into());
        }
        let mut index = TextIndex {
            terms: Vocabulary::frozen(terms, ends),
            postings: Store::frozen(flat, starts),
            total_terms: lengths.iter().map(|&l| u64::from(l)).sum(),
            language,
            ..TextIndex::default()
        };
        index.docs = Docs::frozen(ids.clone());
        index.ids = ids;
        index.lengths = lengths;
        debug_assert_eq!(index.check(), Ok(()));
        Ok(index)
    }

    /// Checks that the index agrees with itself: every posting names a document in use, in
    /// order, each document's length is the sum of its counts, and the totals add up.
    pub fn check(&self) -> Result<(), String> {
        self.terms.check()?;
        let mut lengths = vec![0u32; self.lengths.len()];
        for (term, number) in self.terms.iter() {
            let list = self.postings.list(number);
            if list.is_empty() && !self.terms.is_frozen(number) {
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
        for (id, doc) in self.docs.iter() {
            if self.ids.get(doc as usize) != Some(&id) {
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
        index.search(&query_terms(index.language, query), k)
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

    /// The image depends on the texts alone: two indexes of the same texts, built in other
    /// orders and with numbers reused, store the same image, which reads back to an index that
    /// answers as they do.
    #[test]
    fn the_image_depends_on_the_texts_alone_and_reads_back() {
        let texts: Vec<(u128, String)> = (1..=40)
            .map(|i| {
                (
                    i * 7919 % 1000,
                    format!("word{} common shared{} word{}", i % 5, i % 3, i % 5),
                )
            })
            .collect();
        let forward = TextIndex::build(None, texts.iter().map(|(i, t)| (id(*i), t.as_str())));
        let mut churned = TextIndex::default();
        for (i, t) in texts.iter().rev() {
            churned.add(id(*i), t);
        }
        for (i, t) in texts.iter().step_by(4) {
            churned.remove(id(*i), t);
            churned.add(id(*i), t);
        }
        assert_eq!(forward.image(), churned.image());
        let read = TextIndex::from_image(None, forward.image()).expect("reads back");
        read.check().expect("consistent");
        assert_eq!(read.image(), forward.image());
        for query in ["word3 shared1", "common", "word4 nothing"] {
            assert_eq!(find(&read, query, 10), find(&forward, query, 10), "{query}");
        }
        let empty = TextIndex::from_image(None, TextImage::default()).expect("an empty index");
        assert_eq!(empty.docs(), 0);
    }

    /// A stored image that does not hold together is refused, each way naming what is wrong.
    #[test]
    fn a_bad_image_is_refused() {
        // Terms in order: "again" (doc 1), "falls" (0), "rain" (0, 1), "snow" (2).
        let good = || {
            TextIndex::build(
                None,
                [
                    (id(1), "rain falls"),
                    (id(2), "rain again rain"),
                    (id(3), "snow"),
                ]
                .into_iter(),
            )
            .image()
        };
        assert_eq!(good().terms, "againfallsrainsnow");
        assert_eq!(good().sizes, [1, 1, 2, 1]);
        let refused = |image: TextImage, expected: &str| {
            let e = TextIndex::from_image(None, image).err().expect("refused");
            assert!(e.contains(expected), "{e:?} should say {expected:?}");
        };
        let mut ids = good();
        ids.ids.swap(0, 1);
        refused(ids, "increasing id order");
        let mut lengths = good();
        lengths.lengths[2] = 0;
        refused(lengths, "no terms");
        let mut fewer = good();
        fewer.lengths.pop();
        refused(fewer, "3 documents with 2 lengths");
        let mut order = good();
        order.terms = "fallsagainrainsnow".into();
        refused(order, "out of order");
        let mut long = good();
        long.terms = format!("{}fallsrainsnow", "x".repeat(TEXT_TERM_BYTES_MAX + 1));
        long.ends = vec![65, 70, 74, 78];
        refused(long, "too long");
        let mut cut = good();
        cut.terms = "agaiñfallsrainsnow".into();
        cut.ends = vec![5, 11, 15, 19];
        refused(cut, "cut");
        let mut ends = good();
        ends.ends.pop();
        refused(ends, "ends do not match");
        let mut past = good();
        past.gaps[0] = 3;
        refused(past, "past the last");
        let mut repeated = good();
        repeated.gaps[3] = 0;
        refused(repeated, "out of order or past the last");
        let mut zero = good();
        zero.counts[0] = 0;
        refused(zero, "counts 0");
        let mut sums = good();
        sums.lengths[0] += 1;
        refused(sums, "length differs");
        let mut uneven = good();
        uneven.counts.push(1);
        refused(uneven, "do not match their sizes");
        let mut empty = good();
        empty.sizes[0] = 0;
        refused(empty, "do not match their sizes");
    }

    /// An index read from an image takes writes as one built from the texts does: new terms,
    /// new documents, documents removed and replaced, a term's last document removed and then
    /// one added again — the same answers and, after each, the same image.
    #[test]
    fn an_index_read_from_an_image_changes_as_a_built_one() {
        let text = |i: u128| format!("word{} common rare{} shared{}", i % 6, i, i % 4);
        let mut texts: Vec<(u128, String)> = (0..60).map(|i| (i * 13 % 211, text(i))).collect();
        let build = |texts: &[(u128, String)]| {
            TextIndex::build(None, texts.iter().map(|(i, t)| (id(*i), t.as_str())))
        };
        let mut read = TextIndex::from_image(None, build(&texts).image()).expect("reads");
        let same = |read: &TextIndex, texts: &[(u128, String)], step: &str| {
            read.check().expect(step);
            let built = build(texts);
            assert_eq!(read.image(), built.image(), "{step}");
            for q in [
                "common",
                "word2 shared3",
                "rare7 brand",
                "brand new",
                "rare59",
            ] {
                assert_eq!(find(read, q, 8), find(&built, q, 8), "{step}: {q}");
            }
        };
        same(&read, &texts, "as read");
        // New documents, one with new terms.
        for i in 300..305u128 {
            let t = format!("brand new{i} common");
            read.add(id(i), &t);
            texts.push((i, t));
        }
        same(&read, &texts, "added");
        // Removed: every document holding rare7 and rare59 (their terms' lists emptied).
        for gone in [7u128, 59] {
            let at = texts
                .iter()
                .position(|(_, t)| *t == text(gone))
                .expect("there");
            let (i, t) = texts.remove(at);
            read.remove(id(i), &t);
        }
        same(&read, &texts, "removed");
        // Replaced, and a removed frozen term used again.
        let (i, old) = texts[3].clone();
        read.remove(id(i), &old);
        let replaced = "rare7 is back common".to_string();
        read.add(id(i), &replaced);
        texts[3] = (i, replaced);
        same(&read, &texts, "replaced");
        // And the image of all that reads back once more.
        let again = TextIndex::from_image(None, read.image()).expect("reads again");
        same(&again, &texts, "read again");
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
            let terms = query_terms(None, query);
            let lists: Vec<&[Posting]> = terms
                .iter()
                .filter_map(|t| index.terms.number(t))
                .map(|n| index.postings.list(n))
                .collect();
            for k in [1, 10, 1000] {
                let dense = index.search_lists(&lists, k, true, None);
                let sparse = index.search_lists(&lists, k, false, None);
                assert_eq!(dense, sparse, "{query} {k}");
                assert_eq!(index.search(&terms, k), sparse, "{query} {k}");
            }
        }
    }
}
