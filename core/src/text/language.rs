//! A memory's texts as terms in its language: its words, stop words out, each stemmed by the
//! language's Snowball stemmer (`rust-stemmers`, pure Rust: the browser build stems as the
//! server does).

use super::tokens::{is_stop_word, words};
use crate::model::Language;
use std::borrow::Cow;

/// The terms of `text` in a memory of `language` (none: no stemming), in order: its words
/// ([`words`]), without stop words when the language is English or none (the list is
/// English), each replaced by its stem in the language. What the full-text index holds of a
/// text and what a query searches for.
pub(crate) fn analyze(
    language: Option<Language>,
    text: &str,
) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    let stemmer = language.map(|l| rust_stemmers::Stemmer::create(algorithm(l)));
    unstemmed(language, text).map(move |word| match &stemmer {
        None => word,
        Some(stemmer) => stem(stemmer, word),
    })
}

/// [`analyze`] into `out`, the stems of words seen before taken from `known` (a corpus repeats
/// its words: stemming each once saves most of the cost of indexing it, and a stem known is
/// not copied for each of its occurrences).
pub(crate) fn analyze_into<'a>(
    language: Option<Language>,
    text: &'a str,
    known: &mut KnownStems,
    out: &mut Vec<Term<'a>>,
) {
    let Some(language) = language else {
        out.extend(unstemmed(None, text).map(Term::Word));
        return;
    };
    let stemmer = rust_stemmers::Stemmer::create(algorithm(language));
    if known.stems.len() >= known.max() || known.language != Some(language) {
        // Forgotten only here, between texts: no term handed out before names a stem that is
        // gone.
        known.index.clear();
        known.stems.clear();
        known.language = Some(language);
    }
    for word in unstemmed(Some(language), text) {
        let number = match known.index.get(&*word) {
            Some(&number) => number,
            None => {
                let number = known.stems.len() as u32;
                known
                    .stems
                    .push(stem(&stemmer, Cow::Borrowed(&*word)).into());
                known
                    .index
                    .insert(word.into_owned().into_boxed_str(), number);
                number
            }
        };
        out.push(Term::Known(number));
    }
}

/// A term of a text ([`analyze_into`]): one of its words, or a stem [`KnownStems`] holds.
#[derive(Debug)]
pub(crate) enum Term<'a> {
    /// A word of the text, as it is indexed (no stemming).
    Word(Cow<'a, str>),
    /// The stem numbered so in the [`KnownStems`] the text was analysed with.
    Known(u32),
}

impl Term<'_> {
    /// The term's text (`known`: what it was analysed with).
    pub fn text<'b>(&'b self, known: &'b KnownStems) -> &'b str {
        match self {
            Term::Word(word) => word,
            Term::Known(number) => &known.stems[*number as usize],
        }
    }
}

/// Words stemmed before in a language, each with its stem, at most [`KNOWN_STEMS_MAX`] (then
/// forgotten all at once), or more while an index is built at once.
#[derive(Default)]
pub(crate) struct KnownStems {
    language: Option<Language>,
    /// How many it keeps, when not [`KNOWN_STEMS_MAX`].
    max: Option<usize>,
    /// Each word's stem's number.
    index: rustc_hash::FxHashMap<Box<str>, u32>,
    /// The stems, by number.
    stems: Vec<Box<str>>,
}

/// How many stems [`KnownStems`] keeps: enough for a language's common words, a few MiB.
const KNOWN_STEMS_MAX: usize = 1 << 16;

impl KnownStems {
    /// Stems kept for the indexing of `texts` texts at once: a corpus's vocabulary grows with
    /// it (a dictionary of 117,000 entries has more than 65,536 distinct words), and the stems
    /// are given back when the build ends ([`Self::forget`]).
    pub fn for_build(texts: usize) -> KnownStems {
        KnownStems {
            max: Some(texts.clamp(KNOWN_STEMS_MAX, 1 << 20)),
            ..KnownStems::default()
        }
    }

    /// Forgets every stem, and keeps at most [`KNOWN_STEMS_MAX`] from now on.
    pub fn forget(&mut self) {
        *self = KnownStems::default();
    }

    fn max(&self) -> usize {
        self.max.unwrap_or(KNOWN_STEMS_MAX)
    }

    /// About how many bytes it holds (its tables and its words).
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1)
            + self.stems.capacity() * std::mem::size_of::<Box<str>>()
            + self.index.keys().map(|k| k.len()).sum::<usize>()
            + self.stems.iter().map(|s| s.len()).sum::<usize>()
    }
}

/// The words of `text` that are terms in a memory of `language`, not yet stemmed.
fn unstemmed(language: Option<Language>, text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    let stop_words = language.is_none_or(|l| l == Language::English);
    words(text).filter(move |word| !(stop_words && is_stop_word(word)))
}

/// `word`'s stem.
fn stem<'a>(stemmer: &rust_stemmers::Stemmer, word: Cow<'a, str>) -> Cow<'a, str> {
    match word {
        Cow::Borrowed(word) => stemmer.stem(word),
        Cow::Owned(word) => Cow::Owned(stemmer.stem(&word).into_owned()),
    }
}

/// The Snowball stemmer of `language`.
fn algorithm(language: Language) -> rust_stemmers::Algorithm {
    use rust_stemmers::Algorithm as A;
    match language {
        Language::Arabic => A::Arabic,
        Language::Danish => A::Danish,
        Language::Dutch => A::Dutch,
        Language::English => A::English,
        Language::Finnish => A::Finnish,
        Language::French => A::French,
        Language::German => A::German,
        Language::Greek => A::Greek,
        Language::Hungarian => A::Hungarian,
        Language::Italian => A::Italian,
        Language::Norwegian => A::Norwegian,
        Language::Portuguese => A::Portuguese,
        Language::Romanian => A::Romanian,
        Language::Russian => A::Russian,
        Language::Spanish => A::Spanish,
        Language::Swedish => A::Swedish,
        Language::Tamil => A::Tamil,
        Language::Turkish => A::Turkish,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(language: Option<Language>, text: &str) -> Vec<String> {
        analyze(language, text).map(Cow::into_owned).collect()
    }

    #[test]
    fn known_stems_give_the_same_terms() {
        let mut known = KnownStems::default();
        let text = "Running runs; the runner RAN connected connections running";
        for language in [None, Some(Language::English), Some(Language::German)] {
            for _ in 0..2 {
                let mut out = Vec::new();
                analyze_into(language, text, &mut known, &mut out);
                let got: Vec<&str> = out.iter().map(|t| t.text(&known)).collect();
                assert_eq!(
                    got,
                    analyze(language, text).collect::<Vec<_>>(),
                    "{language:?}"
                );
            }
        }
        assert_eq!(
            known.stems.len(),
            7,
            "German (no stop words): each distinct word stemmed once"
        );
        assert!(known.heap_bytes() > 0);
    }

    #[test]
    fn words_meet_at_their_stem_in_the_memorys_language() {
        assert_eq!(
            stems(
                Some(Language::English),
                "Running runs; the runner RAN connected connections"
            ),
            ["run", "run", "runner", "ran", "connect", "connect"]
        );
        assert_eq!(
            stems(None, "Running runs the"),
            ["running", "runs"],
            "no language: terms as they are, English stop words out"
        );
        assert_eq!(
            stems(Some(Language::French), "les chevaux mangeaient a the"),
            ["le", "cheval", "mang", "a", "the"],
            "the stop words are English ones"
        );
    }
}
