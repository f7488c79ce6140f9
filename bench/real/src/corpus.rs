//! The corpus: GCIDE, from Debian's `dict-gcide` package, one text per dictionary entry.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::{downloaded, downloads, fail, run};

/// Characters of an entry kept as its text (about 60 tokens: the headword, its grammar and the
/// first sense or two; what the model reads costs it time, and there are 117,000 to embed).
const TEXT_CHARS: usize = 240;

/// The value of a dictd index number (base 64, most significant digit first).
fn b64(digits: &str) -> Option<usize> {
    digits.bytes().try_fold(0usize, |v, c| {
        let d = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        v.checked_mul(64)?.checked_add(usize::from(d))
    })
}

/// An entry as text: pronunciations (between backslashes), bracketed notes (etymologies,
/// source tags such as `[1913 Webster]`, ligatures such as `[ae]`) and braces out, white space
/// collapsed, cut at [`TEXT_CHARS`] on a word boundary.
fn clean(entry: &str) -> String {
    let mut out = String::with_capacity(TEXT_CHARS + 16);
    let mut in_pronunciation = false;
    let mut brackets = 0usize;
    for word in entry.split_whitespace() {
        let backslashes = word.matches('\\').count();
        if in_pronunciation || backslashes > 0 {
            if backslashes % 2 == 1 {
                in_pronunciation = !in_pronunciation;
            }
            continue;
        }
        let (opens, closes) = (word.matches('[').count(), word.matches(']').count());
        if brackets > 0 || opens > 0 {
            brackets = (brackets + opens).saturating_sub(closes);
            continue;
        }
        let word: String = word.chars().filter(|c| !matches!(c, '{' | '}')).collect();
        if word.is_empty() {
            continue;
        }
        if out.len() + word.len() + 1 > TEXT_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

/// The texts of GCIDE's entries (each entry once, in the dictionary's order), fetching and
/// unpacking the Debian package into `cache` the first time.
pub(crate) fn gcide(cache: &Path) -> Vec<String> {
    let root = cache.join("dict-gcide");
    let dictd = root.join("usr/share/dictd");
    if !dictd.join("gcide.index").exists() {
        let download = downloads(cache);
        eprintln!("workload 10: fetching Debian's dict-gcide");
        run(Command::new("apt-get")
            .args(["download", "dict-gcide"])
            .current_dir(&download));
        let deb = downloaded(&download, "dict-gcide_", ".deb");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    }
    let index = std::fs::read_to_string(dictd.join("gcide.index"))
        .unwrap_or_else(|e| fail(format!("gcide.index: {e}")));
    let mut dict = Vec::new();
    std::fs::File::open(dictd.join("gcide.dict.dz"))
        .map(flate2::read::GzDecoder::new)
        .and_then(|mut z| z.read_to_end(&mut dict))
        .unwrap_or_else(|e| fail(format!("gcide.dict.dz: {e}")));
    // Several headwords can share an entry: each entry once, by its place in the file.
    let mut places: Vec<(usize, usize)> = index
        .lines()
        .filter(|l| !l.starts_with("00-database"))
        .filter_map(|l| {
            let mut fields = l.split('\t').skip(1);
            Some((b64(fields.next()?)?, b64(fields.next()?)?))
        })
        .collect();
    places.sort_unstable();
    places.dedup();
    let texts: Vec<String> = places
        .into_iter()
        .filter_map(|(at, len)| dict.get(at..at.checked_add(len)?))
        .map(String::from_utf8_lossy)
        .filter(|entry| !entry.contains("[WordNet"))
        .map(|entry| clean(&entry))
        .filter(|text| !text.is_empty())
        .collect();
    if texts.len() < 100_000 {
        fail(format!(
            "GCIDE gave {} texts, expected over 100,000",
            texts.len()
        ));
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_numbers_and_entries_read_as_dictd_writes_them() {
        assert_eq!(b64("A"), Some(0));
        assert_eq!(b64("Fz"), Some(5 * 64 + 51));
        assert_eq!(b64("Kj"), Some(10 * 64 + 35));
        assert_eq!(b64("a-b"), None);
        let entry = "Apple \\Ap\"ple\\ ([a^]p\"p'l), n. [OE. appel, AS. [ae]ppel,\n   of\n   unknown origin.]\n   1. The fleshy {pome} of a tree.\n   [1913 Webster]\n";
        assert_eq!(clean(entry), "Apple n. 1. The fleshy pome of a tree.");
        let two = "Bell \\Bell\\, n. A hollow \\Hol\"low\\ vessel. [PJC]";
        assert_eq!(clean(two), "Bell n. A hollow vessel.");
    }
}
