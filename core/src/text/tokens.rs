//! The tokenizer: the same terms for a text natively, in the browser and on every node.

use crate::limits::TEXT_TERM_BYTES_MAX;
use std::borrow::Cow;
use unicode_segmentation::UnicodeSegmentation;

/// Words too common to tell texts apart (English), left out of the index and of queries.
pub const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Whether `word` (lower case) is one of the [`STOP_WORDS`]. (Every word of every text asks:
/// a match the compiler turns into a switch on the length, then a comparison or two, costs a
/// fraction of a binary search's five string comparisons; a test checks it against the list.)
pub(crate) fn is_stop_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "but"
            | "by"
            | "for"
            | "if"
            | "in"
            | "into"
            | "is"
            | "it"
            | "no"
            | "not"
            | "of"
            | "on"
            | "or"
            | "such"
            | "that"
            | "the"
            | "their"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "to"
            | "was"
            | "will"
            | "with"
    )
}

/// The words of `text`, in order: its Unicode words (UAX #29 word boundaries, so "don't" is
/// one word and punctuation none), lower-cased, without words longer than
/// [`TEXT_TERM_BYTES_MAX`] bytes (no one searches for those; they would only grow the index).
/// A word already in lower case is borrowed from the text, not copied.
pub(crate) fn words(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    text.unicode_words().filter_map(|word| {
        let term = if !word.is_ascii() {
            Cow::Owned(word.to_lowercase())
        } else if word.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(word.to_ascii_lowercase())
        } else {
            Cow::Borrowed(word)
        };
        (term.len() <= TEXT_TERM_BYTES_MAX).then_some(term)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The terms of a memory without a language.
    fn tokens(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
        crate::text::analyze(None, text)
    }

    #[test]
    fn words_are_lower_cased_unicode_words_without_stop_words() {
        let got: Vec<Cow<str>> =
            tokens("The Rain, in Spain — falls MAINLY on the plain; don't 東京 café 3.14!")
                .collect();
        assert_eq!(
            got,
            ["rain", "spain", "falls", "mainly", "plain", "don't", "東", "京", "café", "3.14"]
        );
        // Lower-cased beyond ASCII too: the same terms however a text is written.
        assert_eq!(
            tokens("CAFÉ Ǆemal ΣΟΦΙΑ").collect::<Vec<_>>(),
            ["café", "ǆemal", "σοφια"]
        );
        let long = "x".repeat(TEXT_TERM_BYTES_MAX + 1);
        assert_eq!(
            tokens(&format!("short {long}")).collect::<Vec<_>>(),
            ["short"]
        );
        assert!(matches!(
            tokens("plain").next(),
            Some(Cow::Borrowed("plain"))
        ));
    }

    #[test]
    fn the_stop_words_are_those_of_the_list() {
        assert!(
            STOP_WORDS.windows(2).all(|w| w[0] < w[1]),
            "sorted, once each"
        );
        assert!(STOP_WORDS.iter().all(|w| is_stop_word(w)));
        // Nothing else: words near the list's (a letter more or less) are stop words exactly
        // when the list holds them.
        for w in STOP_WORDS {
            let n = w.len();
            for near in [
                format!("{w}x"),
                format!("x{w}"),
                w[1..].to_string(),
                w[..n - 1].to_string(),
            ] {
                assert_eq!(
                    is_stop_word(&near),
                    STOP_WORDS.contains(&near.as_str()),
                    "{near:?}"
                );
            }
        }
        for word in ["", "The", "thee", "hello"] {
            assert!(!is_stop_word(word), "{word:?}");
        }
    }
}
