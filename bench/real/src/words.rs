//! Workload 11: search by words on a real corpus, Sutra against SQLite FTS5 side by side in one
//! run on one thread each, and the latency of a hybrid query (words, a vector and one hop along
//! associations) on the same memory.
//!
//! The corpus is workload 10's (GCIDE, one text per entry, the same held-out queries). Each query
//! is the first four distinct words of four letters or more of a held-out entry after its
//! headword, any of which may match (`OR` in FTS5's syntax; Sutra's queries match any word).
//! Twice: neither side stemming (FTS5's `unicode61` tokenizer, diacritics kept, as Sutra keeps
//! them; a Sutra memory without a language), then both stemming English (FTS5's `porter`
//! around `unicode61`, the original Porter stemmer; a Sutra memory created with the language
//! English, Snowball's Porter 2). FTS5's table is contentless (an index only, as Sutra's text
//! index is), built in one transaction, in memory; queries order by `bm25()`. The overlap is
//! the share of FTS5's top ten that Sutra's top ten holds: against FTS5 on its own tokens, and
//! against FTS5 given the texts as the terms Sutra indexes (so that only the index and the
//! scoring differ).
//!
//! The hybrid query runs on a memory holding every text with its embedding (all-MiniLM-L6-v2)
//! and the dictionary's cross-references as associations: an entry links to the entries whose
//! headwords its text uses (at most 8, the first used most confident).

use std::collections::HashMap;
use std::time::Instant;

/// The time searches run at ("now": what their expansions follow holds then).
const NOW_MS: u64 = 1_800_000_000_000;

use rusqlite::Connection;
use sutra_core::exchange::{self, ExpandBody, SearchBody};
use sutra_core::sim::SimDisk;
use sutra_core::{
    text_terms, ConceptId, ConceptInput, Kind, Language, Memory, Op, Options, STOP_WORDS,
};

use crate::embed::Data;
use crate::fail;

/// Results per query.
const K: usize = 10;
/// Words per query.
const QUERY_WORDS: usize = 4;
/// Each side's queries run this many times; the fastest run counts.
const REPEATS: usize = 3;
/// Associations an entry gets at most (to the entries whose headwords it uses first).
const LINKS_PER_ENTRY: usize = 8;
/// Operations per write.
const WRITE_BATCH: usize = 2_000;

/// A word as both sides see the same: lower case, letters only, four or more of them, not one of
/// Sutra's stop words (which FTS5 would match).
fn word(raw: &str) -> Option<String> {
    let w = raw.trim_matches(|c: char| !c.is_alphanumeric());
    let w = (w.len() >= 4 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| w.to_ascii_lowercase())?;
    (!STOP_WORDS.contains(&w.as_str())).then_some(w)
}

/// The query of a held-out entry: its first [`QUERY_WORDS`] distinct words after the headword.
fn query_of(entry: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in entry.split_whitespace().skip(1).filter_map(word) {
        if !words.contains(&w) {
            words.push(w);
        }
        if words.len() == QUERY_WORDS {
            break;
        }
    }
    words
}

/// The cross-references: entry `i` links to the entries whose headword its text uses.
fn links(texts: &[String]) -> Vec<(usize, usize, f32)> {
    let mut by_headword: HashMap<String, usize> = HashMap::new();
    for (i, text) in texts.iter().enumerate() {
        if let Some(head) = text.split_whitespace().next().and_then(word) {
            by_headword.entry(head).or_insert(i);
        }
    }
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut targets: Vec<usize> = Vec::new();
        for w in text.split_whitespace().skip(1).filter_map(word) {
            if let Some(&j) = by_headword.get(&w) {
                if j != i && !targets.contains(&j) {
                    targets.push(j);
                }
            }
            if targets.len() == LINKS_PER_ENTRY {
                break;
            }
        }
        for (n, j) in targets.into_iter().enumerate() {
            // 0.9 for the first, then 0.8, … (at most 8: down to 0.2).
            out.push((i, j, (9 - n) as f32 / 10.0));
        }
    }
    out
}

fn id(i: usize) -> ConceptId {
    ConceptId(i as u128 + 1)
}

/// The `q`-th percentile of `sorted` (ascending), in milliseconds.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at] * 1e3
}

/// Runs `f` for every query, [`REPEATS`] times; the answers and the fastest run's queries/s.
fn timed<T>(queries: usize, mut f: impl FnMut(usize) -> T) -> (Vec<T>, f64) {
    let mut fastest = f64::MAX;
    let mut answers = Vec::new();
    for _ in 0..REPEATS {
        let started = Instant::now();
        answers = (0..queries).map(&mut f).collect();
        fastest = fastest.min(started.elapsed().as_secs_f64());
    }
    (answers, queries as f64 / fastest)
}

/// Each query's latency (seconds), sorted, over [`REPEATS`] runs.
fn latencies(queries: usize, mut f: impl FnMut(usize)) -> Vec<f64> {
    let mut all = Vec::with_capacity(queries * REPEATS);
    for _ in 0..REPEATS {
        for q in 0..queries {
            let started = Instant::now();
            f(q);
            all.push(started.elapsed().as_secs_f64());
        }
    }
    all.sort_by(f64::total_cmp);
    all
}

/// FTS5's tokenizer without stemming (diacritics kept, as Sutra keeps them).
const UNICODE61: &str = "unicode61 remove_diacritics 0";
/// FTS5's tokenizer stemming English (Porter's original stemmer around `unicode61`).
const PORTER: &str = "porter unicode61 remove_diacritics 0";

/// FTS5 with `tokenizer` on `texts`: the index built in one transaction (seconds), and each
/// query's top ten rowids at its queries/s.
fn fts5(texts: &[String], queries: &[Vec<String>], tokenizer: &str) -> (f64, Vec<Vec<u64>>, f64) {
    let db = Connection::open_in_memory().unwrap_or_else(|e| fail(format!("sqlite: {e}")));
    db.execute_batch(&format!(
        "CREATE VIRTUAL TABLE docs USING fts5(content, content='', tokenize='{tokenizer}');"
    ))
    .unwrap_or_else(|e| fail(format!("fts5: {e}")));
    let started = Instant::now();
    {
        let tx = db
            .unchecked_transaction()
            .unwrap_or_else(|e| fail(format!("sqlite: {e}")));
        {
            let mut insert = tx
                .prepare("INSERT INTO docs(rowid, content) VALUES (?1, ?2)")
                .unwrap_or_else(|e| fail(format!("sqlite: {e}")));
            for (i, text) in texts.iter().enumerate() {
                insert
                    .execute(rusqlite::params![i as i64 + 1, text])
                    .unwrap_or_else(|e| fail(format!("insert: {e}")));
            }
        }
        tx.commit().unwrap_or_else(|e| fail(format!("commit: {e}")));
    }
    let build = started.elapsed().as_secs_f64();
    let mut select = db
        .prepare("SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY bm25(docs) LIMIT 10")
        .unwrap_or_else(|e| fail(format!("sqlite: {e}")));
    let matches: Vec<String> = queries
        .iter()
        .map(|q| {
            q.iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" OR ")
        })
        .collect();
    let (found, per_s) = timed(queries.len(), |q| -> Vec<u64> {
        select
            .query_map([&matches[q]], |row| row.get::<_, i64>(0))
            .and_then(|rows| rows.collect::<Result<Vec<i64>, _>>())
            .unwrap_or_else(|e| fail(format!("fts5 query: {e}")))
            .into_iter()
            .map(|r| r as u64)
            .collect()
    });
    (build, found, per_s)
}

/// Search by words on Sutra and FTS5, one way of tokenizing (see the module's documentation).
struct Compared {
    /// Sutra's index build (its first search by words), seconds.
    build: f64,
    /// Sutra's queries/s.
    per_s: f64,
    /// FTS5's build, seconds, and its queries/s on its own tokens.
    fts_build: f64,
    fts_per_s: f64,
    /// FTS5's queries/s given Sutra's terms.
    same_per_s: f64,
    /// The share of FTS5's top tens that Sutra's hold: FTS5 given Sutra's terms, and on its own.
    overlap: f64,
    own_overlap: f64,
}

/// Sutra (a memory of `texts` stemmed in `language`) against FTS5 (stemming English with
/// `porter` when `language` is given, not stemming otherwise), on `queries`.
fn compare(texts: &[String], queries: &[Vec<String>], language: Option<Language>) -> Compared {
    let (mut memory, _) = Memory::open(
        SimDisk::new(12).open(),
        Options {
            language,
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| fail(format!("open: {e}")));
    let ops: Vec<Op> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut input = ConceptInput::new(text.clone());
            input.id = Some(id(i));
            Op::put_concept(input, 1_700_000_000_000)
        })
        .collect();
    for batch in ops.chunks(WRITE_BATCH) {
        memory
            .write(batch.to_vec())
            .unwrap_or_else(|e| fail(format!("write: {e}")));
    }
    let lines: Vec<String> = queries.iter().map(|q| q.join(" ")).collect();
    // The first search by words builds the index.
    let started = Instant::now();
    memory
        .db()
        .search_text(&lines[0], K as u32)
        .unwrap_or_else(|e| fail(format!("search: {e}")));
    let build = started.elapsed().as_secs_f64();
    let (found, per_s) = {
        let db = memory.db();
        timed(lines.len(), |q| -> Vec<u64> {
            db.search_text(&lines[q], K as u32)
                .unwrap_or_else(|e| fail(format!("search: {e}")))
                .iter()
                .map(|h| h.id.0 as u64)
                .collect()
        })
    };
    let tokenizer = if language.is_some() {
        PORTER
    } else {
        UNICODE61
    };
    let (fts_build, fts_found, fts_per_s) = fts5(texts, queries, tokenizer);
    // FTS5 again, given each text and query as the terms Sutra indexes and searches (lower
    // case, stop words out, stemmed in the language; the characters inside a word that FTS5
    // would split at, such as the apostrophe of "don't", dropped), without stemming of its own:
    // the same terms and lengths on both sides, so that only the index and BM25 differ.
    let terms = |text: &str| -> Vec<String> {
        text_terms(language, text)
            .iter()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let same_texts: Vec<String> = texts.iter().map(|t| terms(t).join(" ")).collect();
    let same_queries: Vec<Vec<String>> = lines.iter().map(|q| terms(q)).collect();
    let (_, same_found, same_per_s) = fts5(&same_texts, &same_queries, UNICODE61);
    let overlap = |peer: &[Vec<u64>]| {
        let each: Vec<f64> = found
            .iter()
            .zip(peer)
            .filter(|(_, f)| !f.is_empty())
            .map(|(s, f)| f.iter().filter(|id| s.contains(id)).count() as f64 / f.len() as f64)
            .collect();
        each.iter().sum::<f64>() / each.len().max(1) as f64
    };
    Compared {
        build,
        per_s,
        fts_build,
        fts_per_s,
        same_per_s,
        overlap: overlap(&same_found),
        own_overlap: overlap(&fts_found),
    }
}

/// Measures and prints workload 11's rows.
pub(crate) fn run(texts: &[String], query_texts: &[String], data: &Data) {
    // The held-out entries with a word to search for, with the place of their vectors.
    let (vectors, queries): (Vec<usize>, Vec<Vec<String>>) = query_texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i, query_of(t)))
        .filter(|(_, q)| !q.is_empty())
        .unzip();
    let links = links(texts);
    eprintln!(
        "workload 11: {} texts, {} queries, {} cross-references",
        texts.len(),
        queries.len(),
        links.len()
    );

    // Sutra: every text with its embedding, then the cross-references.
    let (mut memory, _) = Memory::open(
        SimDisk::new(11).open(),
        Options {
            dimension: Some(data.dim as u32),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| fail(format!("open: {e}")));
    let concepts = texts.iter().enumerate().map(|(i, text)| {
        let mut input = ConceptInput::new(text.clone());
        input.id = Some(id(i));
        input.embedding = Some(data.vector(i).to_vec());
        Op::put_concept(input, 1_700_000_000_000)
    });
    let associations = links
        .iter()
        .map(|&(s, t, c)| Op::put_association(id(s), id(t), Kind::Semantic, c, 1.0, 1));
    let ops: Vec<Op> = concepts.chain(associations).collect();
    for batch in ops.chunks(WRITE_BATCH) {
        memory
            .write(batch.to_vec())
            .unwrap_or_else(|e| fail(format!("write: {e}")));
    }
    let lines: Vec<String> = queries.iter().map(|q| q.join(" ")).collect();
    let plain = compare(texts, &queries, None);
    let stemmed = compare(texts, &queries, Some(Language::English));
    // The hybrid memory's text index, built before its queries are timed.
    memory
        .db()
        .search_text(&lines[0], K as u32)
        .unwrap_or_else(|e| fail(format!("search: {e}")));
    // The hybrid query, after the vectors are indexed as the background indexer does.
    while memory
        .index_vectors_step(1)
        .unwrap_or_else(|e| fail(format!("indexing: {e}")))
    {}
    let reader = memory.reader();
    let mut expanded = 0usize;
    let mut measure = |vector: bool, text: bool, expand: bool| {
        latencies(lines.len(), |q| {
            let body = SearchBody {
                text: text.then(|| lines[q].clone()),
                vector: vector.then(|| data.query(vectors[q]).to_vec().into()),
                k: Some(K as u32),
                expand: expand.then(ExpandBody::default),
                ..SearchBody::default()
            };
            let answer = exchange::search(&reader, &body, NOW_MS)
                .unwrap_or_else(|e| fail(format!("hybrid: {e}")));
            expanded += answer
                .hits
                .iter()
                .filter(|h| h.found_by.iter().all(|f| f.trail.is_some()))
                .count();
        })
    };
    let hybrid = measure(true, true, true);
    let fused = measure(true, true, false);
    let words_alone = measure(false, true, false);
    let vector_alone = measure(true, false, false);
    // Only the hybrid queries' hits can be reached by the graph alone.
    let graph_hits = expanded as f64 / (lines.len() * REPEATS) as f64;

    let rate = |x: f64| {
        if x >= 1_000.0 {
            format!("{:.1} k queries/s", x / 1_000.0)
        } else {
            format!("{x:.0} queries/s")
        }
    };
    let met = |ok: bool| if ok { "yes" } else { "no" };
    let n = texts.len();
    println!();
    println!("| # | workload | Sutra | peer | ratio | target | met |");
    println!("|---|---|---|---|---|---|---|");
    for (c, how, fts) in [
        (&plain, "no stemming on either side", "`unicode61`"),
        (
            &stemmed,
            "both stemming English (Sutra: Snowball's Porter 2; FTS5: Porter's original)",
            "`porter unicode61`",
        ),
    ] {
        println!(
            "| 11 | search by words, {n} GCIDE texts, {} queries of up to {QUERY_WORDS} words (any may match), top {K}, one thread, {how} | {}; its top {K} holds {:.1}% of FTS5's given the same terms, {:.1}% of FTS5's with its own tokenizer | SQLite FTS5 ({fts}, contentless, `bm25()`): {} on its own tokens, {} on the same terms | {:.2}× | ≥ 5× and overlap ≥ 0.9 | {} |",
            queries.len(),
            rate(c.per_s),
            c.overlap * 100.0,
            c.own_overlap * 100.0,
            rate(c.fts_per_s),
            rate(c.same_per_s),
            c.per_s / c.fts_per_s,
            met(c.per_s >= 5.0 * c.fts_per_s && c.overlap >= 0.9)
        );
        println!(
            "| 11 | text index build, {n} texts, {how} | {:.2} s ({:.0} k texts/s) | FTS5 ({fts}), one transaction: {:.2} s | {:.2}× | ≥ 1× | {} |",
            c.build,
            n as f64 / c.build / 1e3,
            c.fts_build,
            c.fts_build / c.build,
            met(c.fts_build >= c.build)
        );
    }
    println!(
        "| 11 | hybrid query: words + vector (384-d) fused, then 1 hop along {} cross-references, k {K}, one thread ({graph_hits:.1} of the {K} hits reached by the graph on average) | p50 {:.2} ms, p99 {:.2} ms | the same without the hop: p50 {:.2} ms, p99 {:.2} ms; words alone p50 {:.2} ms; vector alone p50 {:.2} ms | {:.2}× (p50, against without the hop) | — | — |",
        links.len(),
        percentile(&hybrid, 0.5),
        percentile(&hybrid, 0.99),
        percentile(&fused, 0.5),
        percentile(&fused, 0.99),
        percentile(&words_alone, 0.5),
        percentile(&vector_alone, 0.5),
        percentile(&hybrid, 0.5) / percentile(&fused, 0.5),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_the_first_words_after_the_headword_without_stop_words_or_short_ones() {
        assert_eq!(
            query_of("Venter n. 1. (Anat.) The belly; that which holds the belly, the abdomen."),
            ["anat", "belly", "which", "holds"]
        );
        assert!(query_of("Ox n. An ox.").is_empty());
    }

    #[test]
    fn an_entry_links_to_the_entries_whose_headwords_it_uses_once_each() {
        let texts: Vec<String> = [
            "Belly n. The abdomen.",
            "Abdomen n. The belly; the belly again; see Venter.",
            "Venter n. The belly or abdomen.",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(
            links(&texts),
            [
                (0, 1, 0.9),
                (1, 0, 0.9),
                (1, 2, 0.8),
                (2, 0, 0.9),
                (2, 1, 0.8)
            ]
        );
    }
}
