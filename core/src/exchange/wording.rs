//! JSON that could not be read, said in the API's words: what was expected and what was given
//! (`expected a number, got the text "high"`), where in the text a syntax error is — never
//! Rust's type names (`f32`, `struct ConceptBody`) or serde's phrasing. The HTTP API, the
//! browser build and the JSON Lines import all word their refusals with it, so a person reads
//! the same message in the API, the page and an import's report.

/// What was wrong with a JSON text or value, without its position.
pub fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let reason = match text.rsplit_once(" at line ") {
        Some((reason, _)) => reason,
        None => text.as_str(),
    };
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            let at = match (e.line(), e.column()) {
                (0, _) | (_, 0) => String::new(),
                (1, column) => format!(" (at column {column})"),
                (line, column) => format!(" (at line {line}, column {column})"),
            };
            format!("not valid JSON: {}{at}", syntax_words(reason))
        }
        _ => data_words(reason),
    }
}

/// A refused value's whole message: the field it is in when one is known (`invalid
/// confidence: expected a number, got the text "high"`), else what was read (`invalid request
/// body: …`).
pub fn json_error_message(field: Option<&str>, what: &str, e: &serde_json::Error) -> String {
    let problem = json_problem(e);
    // A value that names its own place (a metadata key: `metadata["year"]: …`) is named so.
    if let Some((place, rest)) = problem.split_once(": ") {
        if place.contains("[\"") && place.ends_with("\"]") {
            return format!("invalid {place}: {rest}");
        }
    }
    let Some(field) = field.filter(|_| !problem.starts_with("not valid JSON")) else {
        return format!("invalid {what}: {problem}");
    };
    // A field that should not be there is named by the problem, in what holds it.
    let (holder, last) = match field.rsplit_once('.') {
        Some((holder, last)) => (holder, last),
        None => (what, field),
    };
    if problem.starts_with(&format!("{last} is not a field")) {
        return format!("invalid {holder}: {problem}");
    }
    format!("invalid {field}: {problem}")
}

fn syntax_words(reason: &str) -> String {
    if reason.starts_with("EOF while parsing") {
        return "it ends before the value is complete".into();
    }
    match reason {
        "expected ident" => "a bare word (text goes in double quotes; the words JSON knows are true, false and null)".into(),
        "expected value" => "a value was expected here".into(),
        "trailing characters" => "something follows the value".into(),
        "key must be a string" => "an object's keys go in double quotes".into(),
        other => other.into(),
    }
}

/// serde's data errors, reworded; a message already ours (a custom check's) is kept.
fn data_words(reason: &str) -> String {
    // A custom deserializer may name the field first: `metadata["year"]: invalid type: …`.
    for (pattern, wrong) in [("invalid type: ", "got"), ("invalid value: ", "not")] {
        if let Some(at) = reason.find(pattern) {
            let (before, rest) = reason.split_at(at);
            if let Some((given, expected)) = rest[pattern.len()..].split_once(", expected ") {
                return format!(
                    "{before}expected {}, {wrong} {}",
                    expected_words(expected),
                    given_words(given)
                );
            }
        }
    }
    if let Some(name) = between(reason, "missing field `", "`") {
        return format!("{name} is missing");
    }
    if let Some(name) = between(reason, "duplicate field `", "`") {
        return format!("{name} is given twice");
    }
    if let Some(name) = between(reason, "unknown field `", "`") {
        return format!(
            "{name} is not a field here{}",
            allowed(reason, " (its fields: ")
        );
    }
    if let Some(name) = between(reason, "unknown variant `", "`") {
        return format!(
            "\"{name}\" is not allowed here{}",
            allowed(reason, " (use ")
        );
    }
    reason.to_string()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(start)?;
    rest.split_once(end).map(|(inside, _)| inside)
}

/// serde's list of what is allowed (`expected one of `a`, `b``), as `<open>a, b)`.
fn allowed(reason: &str, open: &str) -> String {
    let Some((_, list)) = reason.split_once(", expected ") else {
        return String::new();
    };
    // serde lists one name as `a`, two as `a` or `b`, more as one of `a`, `b`, `c`.
    let list = list.trim_start_matches("one of ").replace("` or `", "`, `");
    let names: Vec<&str> = list
        .split(", ")
        .map(|n| n.trim_matches('`'))
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("{open}{})", names.join(", "))
    }
}

fn expected_words(expected: &str) -> String {
    match expected {
        "f32" | "f64" => "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list".into(),
        "a map" => "an object".into(),
        "a borrowed string" | "a string" | "a character" => "a string".into(),
        other if other.starts_with("struct ") => "an object".into(),
        other if other.starts_with("tuple") => "a list".into(),
        other if other.starts_with("a sequence") => "a list".into(),
        other if other.starts_with("enum ") || other.starts_with("variant ") => {
            "one of the names this field takes".into()
        }
        other => other.into(),
    }
}

fn given_words(given: &str) -> String {
    if let Some(text) = given.strip_prefix("string ") {
        return format!("the text {text}");
    }
    for prefix in ["integer `", "floating point `", "boolean `"] {
        if let Some(value) = between(given, prefix, "`") {
            return value.into();
        }
    }
    match given {
        "null" | "unit value" => "null".into(),
        "sequence" => "a list".into(),
        "map" => "an object".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        content: String,
        confidence: Option<f32>,
        depth: Option<u32>,
        tags: Option<Vec<String>>,
        on: Option<bool>,
        kind: Option<Kind>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Semantic,
        Causal,
    }

    fn problem(text: &str) -> String {
        json_problem(&serde_json::from_str::<Body>(text).expect_err("refused"))
    }

    #[test]
    fn data_errors_say_what_was_expected_and_given() {
        let cases = [
            (r#"{"content":"x","confidence":"high"}"#, r#"expected a number, got the text "high""#),
            (r#"{"content":"x","depth":-1}"#, "expected a whole number, 0 or more, not -1"),
            (r#"{"content":"x","depth":1.5}"#, "expected a whole number, 0 or more, got 1.5"),
            (r#"{"content":"x","tags":"a"}"#, r#"expected a list, got the text "a""#),
            (r#"{"content":"x","on":1}"#, "expected true or false, got 1"),
            (r#"{"content":5}"#, "expected a string, got 5"),
            (r#"{"content":"x","tags":[true]}"#, "expected a string, got true"),
            (r#""x""#, r#"expected an object, got the text "x""#),
            (r#"{"confidence":0.5}"#, "content is missing"),
            (r#"{"content":"x","content":"y"}"#, "content is given twice"),
            (
                r#"{"content":"x","colour":"red"}"#,
                "colour is not a field here (its fields: content, confidence, depth, tags, on, kind)",
            ),
            (r#"{"content":"x","kind":"funny"}"#, r#""funny" is not allowed here (use semantic, causal)"#),
        ];
        for (text, want) in cases {
            let got = problem(text);
            assert_eq!(got, want, "{text}");
            for internal in ["f32", "u32", "struct", "invalid type", "`"] {
                assert!(!got.contains(internal), "{got}");
            }
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(
            problem("{content: 1}"),
            "not valid JSON: an object's keys go in double quotes (at column 2)"
        );
        assert_eq!(
            problem(r#"{"content": high}"#),
            "not valid JSON: a value was expected here (at column 13)"
        );
        assert_eq!(
            problem(r#"{"content": nothing}"#),
            "not valid JSON: a bare word (text goes in double quotes; the words JSON knows are true, false and null) (at column 14)"
        );
        assert_eq!(
            problem("{\n\"content\": \"x\",\n}"),
            "not valid JSON: trailing comma (at line 3, column 1)"
        );
        assert_eq!(
            problem(r#"{"content": "x""#),
            "not valid JSON: it ends before the value is complete (at column 15)"
        );
        assert_eq!(
            problem(""),
            "not valid JSON: it ends before the value is complete"
        );
        assert_eq!(
            problem(r#"{"content":"x"} 3"#),
            "not valid JSON: something follows the value (at column 17)"
        );
    }

    #[test]
    fn a_message_of_ours_is_kept_and_a_field_named() {
        let ours = serde_json::from_str::<Body>(r#"{"content":"x","confidence":2}"#);
        assert!(ours.is_ok(), "range checks are the engine's, after reading");
        let custom = <serde_json::Error as serde::de::Error>::custom("a key is 1 to 256 bytes");
        assert_eq!(json_problem(&custom), "a key is 1 to 256 bytes");
        let e = serde_json::from_str::<Body>(r#"{"content":"x","confidence":"high"}"#)
            .expect_err("refused");
        assert_eq!(
            json_error_message(Some("confidence"), "request body", &e),
            r#"invalid confidence: expected a number, got the text "high""#
        );
        let e = serde_json::from_str::<Body>(r#"{"content":"x","colour":1}"#).expect_err("refused");
        assert_eq!(
            json_error_message(Some("colour"), "request body", &e),
            "invalid request body: colour is not a field here (its fields: content, confidence, depth, tags, on, kind)"
        );
        assert!(
            json_error_message(Some("ops[1].colour"), "request body", &e)
                .starts_with("invalid ops[1]: colour is not a field here")
        );
        let custom = <serde_json::Error as serde::de::Error>::custom(
            "metadata[\"a\"]: invalid type: map, expected a string",
        );
        assert_eq!(
            json_error_message(Some("metadata.a"), "request body", &custom),
            "invalid metadata[\"a\"]: expected a string, got an object"
        );
        let e = serde_json::from_str::<Body>("{").expect_err("refused");
        assert_eq!(
            json_error_message(Some("confidence"), "request body", &e),
            "invalid request body: not valid JSON: it ends before the value is complete (at column 1)"
        );
    }
}
