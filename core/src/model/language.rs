//! The languages a memory's texts may be stemmed in for full-text search (the Snowball
//! stemmers, see [`crate::text`]), so that "running" and "runs" meet at one term. A memory's
//! language is chosen when it is created and kept in its log: every node and the browser stem
//! alike.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A language a memory's texts are stemmed in for full-text search (Snowball). Its name on
/// the wire is lower case (`"english"`); in the log and snapshots it is its position in this
/// list, so new languages go last.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Language {
    /// Arabic.
    Arabic,
    /// Danish.
    Danish,
    /// Dutch.
    Dutch,
    /// English (Porter 2).
    English,
    /// Finnish.
    Finnish,
    /// French.
    French,
    /// German.
    German,
    /// Greek.
    Greek,
    /// Hungarian.
    Hungarian,
    /// Italian.
    Italian,
    /// Norwegian.
    Norwegian,
    /// Portuguese.
    Portuguese,
    /// Romanian.
    Romanian,
    /// Russian.
    Russian,
    /// Spanish.
    Spanish,
    /// Swedish.
    Swedish,
    /// Tamil.
    Tamil,
    /// Turkish.
    Turkish,
}

impl Language {
    /// Every language, in the log's order.
    pub const ALL: [Language; 18] = [
        Language::Arabic,
        Language::Danish,
        Language::Dutch,
        Language::English,
        Language::Finnish,
        Language::French,
        Language::German,
        Language::Greek,
        Language::Hungarian,
        Language::Italian,
        Language::Norwegian,
        Language::Portuguese,
        Language::Romanian,
        Language::Russian,
        Language::Spanish,
        Language::Swedish,
        Language::Tamil,
        Language::Turkish,
    ];

    /// Its name on the wire: lower case, in English.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Arabic => "arabic",
            Language::Danish => "danish",
            Language::Dutch => "dutch",
            Language::English => "english",
            Language::Finnish => "finnish",
            Language::French => "french",
            Language::German => "german",
            Language::Greek => "greek",
            Language::Hungarian => "hungarian",
            Language::Italian => "italian",
            Language::Norwegian => "norwegian",
            Language::Portuguese => "portuguese",
            Language::Romanian => "romanian",
            Language::Russian => "russian",
            Language::Spanish => "spanish",
            Language::Swedish => "swedish",
            Language::Tamil => "tamil",
            Language::Turkish => "turkish",
        }
    }

    /// The language named `text`, or an error naming `field` and listing the choices.
    pub fn parse(field: &str, text: &str) -> Result<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Language::ALL.iter().map(|l| l.as_str()).collect();
                Error::invalid(
                    field,
                    format!(
                        "{:?} is not a stemming language: use one of {}",
                        text.chars().take(64).collect::<String>(),
                        names.join(", ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_a_bad_one_lists_the_choices() {
        for (position, language) in Language::ALL.into_iter().enumerate() {
            assert_eq!(Language::parse("language", language.as_str()), Ok(language));
            // The wire's name and the log's number (the format: never renumbered).
            assert_eq!(
                serde_json::to_string(&language).expect("json"),
                format!("{:?}", language.as_str())
            );
            assert_eq!(
                postcard::to_allocvec(&language).expect("postcard"),
                [position as u8]
            );
            assert_eq!(language as usize, position);
        }
        assert_eq!(Language::ALL[3], Language::English, "the log's numbers");
        let err = Language::parse("language", "klingon").expect_err("unknown");
        assert!(
            err.to_string()
                .starts_with("invalid language: \"klingon\" is not a stemming language: use one of arabic, danish"),
            "{err}"
        );
    }
}
