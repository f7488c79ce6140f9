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
    let stop_words = language.is_none_or(|l| l == Language::English);
    words(text)
        .filter(move |word| !(stop_words && is_stop_word(word)))
        .map(move |word| match &stemmer {
            None => word,
            Some(stemmer) => match word {
                Cow::Borrowed(word) => stemmer.stem(word),
                Cow::Owned(word) => Cow::Owned(stemmer.stem(&word).into_owned()),
            },
        })
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
