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
    known.start(language);
    out.extend(
        unstemmed(Some(language), text).map(|word| Term::Known(known.stem_number(&stemmer, &word))),
    );
}

/// Slots of the cache of recent short words in front of [`KnownStems`]'s table (a power of
/// two): 4096 of 20 bytes, small enough to stay in the processor's cache, where a probe of the
/// table of every word seen is a miss or two. Most of a text's words are common short ones.
const RECENT_SLOTS: usize = 4096;
/// Longest word the cache of recent words holds (in bytes, kept in its slot).
const RECENT_BYTES: usize = 15;

/// A slot of the cache of recent words: a word of at most [`RECENT_BYTES`] bytes and its
/// stem's number (length 0: empty).
#[derive(Clone, Copy, Default)]
struct Recent {
    len: u8,
    bytes: [u8; RECENT_BYTES],
    stem: u32,
}

impl Recent {
    /// The slot `word` goes in, if it is short enough for one.
    fn slot(word: &str) -> Option<usize> {
        use std::hash::{Hash, Hasher};
        if word.is_empty() || word.len() > RECENT_BYTES {
            return None;
        }
        let mut hasher = rustc_hash::FxHasher::default();
        word.hash(&mut hasher);
        Some(hasher.finish() as usize & (RECENT_SLOTS - 1))
    }

    /// The slot holding `word` (short enough) with its stem's number.
    fn of(word: &str, stem: u32) -> Recent {
        let mut bytes = [0u8; RECENT_BYTES];
        bytes[..word.len()].copy_from_slice(word.as_bytes());
        Recent {
            len: word.len() as u8,
            bytes,
            stem,
        }
    }

    /// `word`'s stem's number, if this slot holds `word`.
    fn holds(&self, word: &str) -> Option<u32> {
        (usize::from(self.len) == word.len() && &self.bytes[..word.len()] == word.as_bytes())
            .then_some(self.stem)
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

    /// An order of terms in which equal terms are together: known stems by number (a stem has
    /// one), words by text.
    pub fn order(&self, other: &Term<'_>, known: &KnownStems) -> std::cmp::Ordering {
        match (self, other) {
            (Term::Known(a), Term::Known(b)) => a.cmp(b),
            _ => self.text(known).cmp(other.text(known)),
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
    /// Each stem's number.
    numbers: rustc_hash::FxHashMap<Box<str>, u32>,
    /// Each stem's number in the index's vocabulary, once looked up ([`NOT_IN_INDEX`] before).
    in_index: Vec<u32>,
    /// The last short words seen, by their hash ([`RECENT_SLOTS`] once a text was stemmed).
    recent: Vec<Recent>,
}

/// A stem whose number in the index's vocabulary is not recorded.
const NOT_IN_INDEX: u32 = u32::MAX;

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

    /// Readies it for a text in `language`: forgets every stem if they are of another language
    /// or too many. (Only here, between texts: no term handed out for a text names a stem that
    /// is gone before the text is indexed.)
    fn start(&mut self, language: Language) {
        if self.stems.len() >= self.max() || self.language != Some(language) {
            self.index.clear();
            self.stems.clear();
            self.numbers.clear();
            self.in_index.clear();
            self.recent.clear();
            self.language = Some(language);
        }
        if self.recent.is_empty() {
            self.recent.resize(RECENT_SLOTS, Recent::default());
        }
    }

    /// The number of `word`'s stem, stemmed by `stemmer` if the word was not seen before.
    fn stem_number(&mut self, stemmer: &rust_stemmers::Stemmer, word: &str) -> u32 {
        let slot = Recent::slot(word);
        if let Some(number) = slot.and_then(|at| self.recent[at].holds(word)) {
            return number;
        }
        let number = match self.index.get(word) {
            Some(&number) => number,
            None => {
                let stemmed = stemmer.stem(word);
                // Words with one stem share its number.
                let number = match self.numbers.get(&*stemmed) {
                    Some(&number) => number,
                    None => {
                        let number = self.stems.len() as u32;
                        self.numbers.insert(stemmed.as_ref().into(), number);
                        self.stems.push(stemmed.into());
                        self.in_index.push(NOT_IN_INDEX);
                        number
                    }
                };
                self.index.insert(word.into(), number);
                number
            }
        };
        if let Some(at) = slot {
            self.recent[at] = Recent::of(word, number);
        }
        number
    }

    /// The number in the index's vocabulary of stem `number`, if it was recorded.
    pub fn in_index(&self, number: u32) -> Option<u32> {
        self.in_index
            .get(number as usize)
            .copied()
            .filter(|&n| n != NOT_IN_INDEX)
    }

    /// Records that stem `number` is number `term` in the index's vocabulary.
    pub fn record_in_index(&mut self, number: u32, term: u32) {
        if let Some(slot) = self.in_index.get_mut(number as usize) {
            *slot = term;
        }
    }

    /// Forgets every stem's number in the index's vocabulary (the vocabulary forgot a term:
    /// its number may be given to another).
    pub fn forget_in_index(&mut self) {
        self.in_index.fill(NOT_IN_INDEX);
    }

    /// About how many bytes it holds (its tables and its words).
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1)
            + self.stems.capacity() * std::mem::size_of::<Box<str>>()
            + self.in_index.capacity() * std::mem::size_of::<u32>()
            + self.recent.capacity() * std::mem::size_of::<Recent>()
            + self.numbers.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1)
            + self.index.keys().map(|k| k.len()).sum::<usize>()
            + 2 * self.stems.iter().map(|s| s.len()).sum::<usize>()
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
            known.index.len(),
            7,
            "German (no stop words): each distinct word stemmed once"
        );
        // English: "connected" and "connections" share the stem "connect", and its number.
        let mut out = Vec::new();
        analyze_into(
            Some(Language::English),
            "connected connections",
            &mut known,
            &mut out,
        );
        assert!(
            matches!(out[..], [Term::Known(a), Term::Known(b)] if a == b),
            "{out:?}"
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
