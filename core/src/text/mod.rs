//! Full-text search over concept content: the tokenizer and a BM25 inverted index, maintained
//! as operations are applied (like the vector index), so a search never sees a deleted or
//! replaced text.
//!
//! - `tokens`: Unicode words (UAX #29, `unicode-segmentation`), lower-cased, stop words left out.
//! - `index`: the postings (term → documents with the term's count) and BM25 scoring, and the
//!   image a snapshot stores.
//! - `language`: the stemming languages (Snowball, `rust-stemmers`): a memory's texts and
//!   queries become terms in its language.
//! - `store`: where the terms, postings and documents live: as read from a snapshot, and what
//!   changed since.

mod index;
mod language;
mod store;
mod tokens;

use crate::model::Language;
pub(crate) use index::{query_terms, TextImage, TextIndex};
pub(crate) use language::analyze;
pub use tokens::STOP_WORDS;

/// The terms `text` is indexed under and searched by in a memory of `language` (none: no
/// stemming), in order (see the module's documentation): what the full-text index sees of a
/// text.
pub fn terms(language: Option<Language>, text: &str) -> Vec<String> {
    analyze(language, text)
        .map(std::borrow::Cow::into_owned)
        .collect()
}

/// BM25's term-frequency saturation (the usual 1.2).
pub const BM25_K1: f32 = 1.2;
/// BM25's length normalisation (the usual 0.75).
pub const BM25_B: f32 = 0.75;
