//! Knowledge model v2: labelled associations (the label is part of the key), their metadata, and
//! time validity — facts invalidated, not deleted, hidden from reads of "now" and seen by reads
//! of another time or of everything.

use sutra_core::exchange::{self, AssociationsQuery, ExpandBody, NeighbourhoodQuery, SearchBody};
use sutra_core::sim::{SimDisk, SimStorage};
use sutra_core::{
    AssociationKey, ConceptId, ConceptInput, Direction, Kind, KindSet, Label, Listing, Memory,
    Metadata, Op, Options, PathOptions, ValidAt, Validity, Value,
};

fn id(name: &str) -> ConceptId {
    ConceptId::from_content(name)
}

fn key(source: &str, target: &str, kind: Kind, label: &str) -> AssociationKey {
    AssociationKey {
        source: id(source),
        target: id(target),
        kind,
        label: Label::from(label),
    }
}

#[allow(clippy::too_many_arguments)]
fn fact(
    source: &str,
    target: &str,
    kind: Kind,
    label: &str,
    confidence: f32,
    validity: Validity,
    metadata: &[(&str, Value)],
    at_ms: u64,
) -> Op {
    Op::PutAssociation {
        source: id(source),
        target: id(target),
        kind,
        label: Label::from(label),
        confidence,
        weight: 1.0,
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        validity,
        at_ms,
        created_ms: None,
    }
}

fn memory(names: &[&str]) -> Memory<SimStorage> {
    let mut m = Memory::open(SimDisk::new(1).open(), Options::default())
        .expect("open")
        .0;
    m.write(
        names
            .iter()
            .map(|n| Op::put_concept(ConceptInput::new(*n), 1))
            .collect(),
    )
    .expect("concepts");
    m
}

fn from(ms: u64) -> Validity {
    Validity {
        from_ms: Some(ms),
        until_ms: None,
    }
}

/// Labels seen on `id`'s outgoing associations at `at`, in the order they are listed.
fn labels(m: &Memory<SimStorage>, name: &str, at: ValidAt) -> Vec<String> {
    m.db()
        .associations(id(name), Listing::Out, KindSet::ALL, at, 0.0, 100)
        .expect("list")
        .iter()
        .map(|a| format!("{} {}", a.kind, a.label))
        .collect()
}

/// "Alice founded Acme" and "Alice works_at Acme" (both semantic) are two facts: the label is
/// part of the key, so neither overwrites the other, each updates and goes on its own, and the
/// lists are in (other end, kind, label) order.
#[test]
fn facts_with_different_labels_between_the_same_concepts_are_distinct() {
    let mut m = memory(&["alice", "acme"]);
    let always = Validity::ALWAYS;
    m.write(vec![
        fact(
            "alice",
            "acme",
            Kind::Semantic,
            "works_at",
            0.9,
            always,
            &[],
            10,
        ),
        fact(
            "alice",
            "acme",
            Kind::Semantic,
            "founded",
            1.0,
            always,
            &[],
            10,
        ),
        fact("alice", "acme", Kind::Semantic, "", 0.5, always, &[], 10),
        fact("alice", "acme", Kind::Causal, "", 0.5, always, &[], 10),
    ])
    .expect("facts");
    assert_eq!(
        labels(&m, "alice", ValidAt::Any),
        [
            "semantic ",
            "semantic founded",
            "semantic works_at",
            "causal "
        ]
    );
    assert_eq!(m.stats().associations, 4);
    assert_eq!(m.stats().labels, 2);
    // Learning one again replaces that one only.
    m.write(vec![fact(
        "alice",
        "acme",
        Kind::Semantic,
        "works_at",
        0.4,
        always,
        &[("source", Value::from("hr.pdf"))],
        20,
    )])
    .expect("update");
    let works = m
        .db()
        .get_association(&key("alice", "acme", Kind::Semantic, "works_at"))
        .expect("works_at");
    assert_eq!(
        (works.confidence, works.created_ms, works.updated_ms),
        (0.4, 10, 20)
    );
    assert_eq!(works.metadata["source"], Value::from("hr.pdf"));
    let founded = m
        .db()
        .get_association(&key("alice", "acme", Kind::Semantic, "founded"))
        .expect("founded");
    assert_eq!(founded.confidence, 1.0);
    // Deleting one leaves the others; a label no association uses any more is forgotten.
    m.write(vec![Op::DeleteAssociation {
        key: key("alice", "acme", Kind::Semantic, "founded"),
    }])
    .expect("delete");
    assert_eq!(
        labels(&m, "alice", ValidAt::Any),
        ["semantic ", "semantic works_at", "causal "]
    );
    assert_eq!(m.stats().labels, 1);
    let err = m
        .write(vec![Op::DeleteAssociation {
            key: key("alice", "acme", Kind::Semantic, "founded"),
        }])
        .expect_err("gone");
    assert_eq!(err.code(), "association_not_found");
    assert_eq!(
        err.to_string(),
        format!(
            "association {} -[semantic \"founded\"]-> {} not found",
            id("alice"),
            id("acme")
        )
    );
    m.db().check_integrity().expect("integrity");
}

/// An invalidated fact is kept: reads of now stop seeing it (lists, neighbourhoods, paths,
/// search expansions), reads as of a time it held see it, and reads of everything see it with
/// its interval.
#[test]
fn an_invalidated_fact_is_hidden_now_and_seen_as_of_when_it_held() {
    let mut m = memory(&["alice", "acme", "globex"]);
    m.write(vec![
        fact(
            "alice",
            "acme",
            Kind::Semantic,
            "works_at",
            0.9,
            from(100),
            &[],
            100,
        ),
        fact(
            "acme",
            "globex",
            Kind::Semantic,
            "partner_of",
            0.8,
            Validity::ALWAYS,
            &[],
            100,
        ),
    ])
    .expect("facts");
    let works = key("alice", "acme", Kind::Semantic, "works_at");
    // It cannot end before it started.
    let err = m
        .write(vec![Op::InvalidateAssociation {
            key: works.clone(),
            until_ms: 99,
            at_ms: 300,
        }])
        .expect_err("before the start");
    assert_eq!(
        err.to_string(),
        "invalid ops[0].valid_until_ms: 99 (1970-01-01T00:00:00.099Z) is before the association's valid_from_ms 100 (1970-01-01T00:00:00.100Z)"
    );
    m.write(vec![Op::InvalidateAssociation {
        key: works.clone(),
        until_ms: 200,
        at_ms: 300,
    }])
    .expect("invalidate");
    // A later end does not reopen it: the earlier end stays.
    m.write(vec![Op::InvalidateAssociation {
        key: works.clone(),
        until_ms: 250,
        at_ms: 301,
    }])
    .expect("invalidate again");
    let kept = m.db().get_association(&works).expect("kept, not deleted");
    assert_eq!(
        (kept.validity, kept.updated_ms),
        (
            Validity {
                from_ms: Some(100),
                until_ms: Some(200)
            },
            301
        )
    );
    let now = ValidAt::Time(400);
    assert!(labels(&m, "alice", now).is_empty());
    assert_eq!(
        labels(&m, "alice", ValidAt::Time(150)),
        ["semantic works_at"]
    );
    assert!(labels(&m, "alice", ValidAt::Time(99)).is_empty(), "not yet");
    assert!(
        labels(&m, "alice", ValidAt::Time(200)).is_empty(),
        "the end is exclusive"
    );
    assert_eq!(labels(&m, "alice", ValidAt::Any), ["semantic works_at"]);

    // Neighbourhoods and paths follow what holds at their time.
    let hood = |at| {
        let n = m
            .db()
            .neighbourhood(id("alice"), 2, Direction::Both, KindSet::ALL, at, 100)
            .expect("hood");
        (n.concepts.len(), n.associations.len())
    };
    assert_eq!(hood(now), (1, 0));
    assert_eq!(hood(ValidAt::Time(150)), (3, 2));
    let path = |at| {
        let options = PathOptions {
            valid_at: at,
            ..PathOptions::default()
        };
        let r = m
            .db()
            .most_confident_path(id("alice"), id("globex"), &options)
            .expect("path");
        r.paths.first().map(|p| {
            p.steps
                .iter()
                .map(|s| s.association.label.to_string())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(path(now), None);
    assert_eq!(
        path(ValidAt::Time(150)),
        Some(vec!["works_at".to_string(), "partner_of".to_string()]),
        "the trail shows the labels"
    );
    assert_eq!(path(ValidAt::Any).map(|p| p.len()), Some(2));

    // The same through the wire format: default now, as_of, include_invalid, not both.
    let listed = |q: AssociationsQuery| {
        exchange::associations(&m.db(), &id("alice").to_string(), &q, 400)
            .map(|a| a.associations.len())
    };
    assert_eq!(listed(AssociationsQuery::default()), Ok(0));
    let as_of = AssociationsQuery {
        as_of: Some(150),
        ..AssociationsQuery::default()
    };
    assert_eq!(listed(as_of), Ok(1));
    let all = AssociationsQuery {
        include_invalid: Some(true),
        ..AssociationsQuery::default()
    };
    let answer = exchange::associations(&m.db(), &id("alice").to_string(), &all, 400).expect("all");
    assert_eq!(
        (
            answer.associations[0].label.as_str(),
            answer.associations[0].valid_from_ms,
            answer.associations[0].valid_until_ms
        ),
        ("works_at", Some(100), Some(200))
    );
    let both = AssociationsQuery {
        as_of: Some(150),
        include_invalid: Some(true),
        ..AssociationsQuery::default()
    };
    assert_eq!(
        listed(both).expect_err("both").to_string(),
        "invalid include_invalid: give as_of (what held at a time) or include_invalid (everything), not both"
    );
    let hood = exchange::neighbourhood(
        &m.db(),
        &id("alice").to_string(),
        &NeighbourhoodQuery {
            as_of: Some(150),
            ..NeighbourhoodQuery::default()
        },
        400,
    )
    .expect("hood");
    assert_eq!(hood.associations[0].label, "works_at");

    // A search's expansion follows only what holds at its time.
    let search = |expand: ExpandBody| {
        let body = SearchBody {
            text: Some("alice".into()),
            expand: Some(expand),
            ..SearchBody::default()
        };
        exchange::search(&m.reader(), &body, 400)
            .expect("search")
            .hits
            .iter()
            .map(|h| h.content.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(search(ExpandBody::default()), ["alice"]);
    let then = ExpandBody {
        as_of: Some(150),
        ..ExpandBody::default()
    };
    assert_eq!(search(then), ["alice", "acme"]);
    // Only the labels asked for are followed ("" names the associations without one).
    let labelled = |labels: &str| -> ExpandBody {
        serde_json::from_str(&format!(
            r#"{{"as_of": 150, "depth": 2, "labels": {labels}}}"#
        ))
        .expect("expand")
    };
    assert_eq!(search(labelled(r#"["works_at"]"#)), ["alice", "acme"]);
    assert_eq!(
        search(labelled(r#"["works_at", "partner_of"]"#)),
        ["alice", "acme", "globex"]
    );
    assert_eq!(search(labelled(r#"["partner_of", ""]"#)), ["alice"]);
    m.db().check_integrity().expect("integrity");
}

/// Labels, metadata and validity are checked by name, and a memory's associations with them
/// survive a checkpoint and a reopen exactly.
#[test]
fn bad_values_are_refused_by_name_and_good_ones_survive_a_reopen() {
    let disk = SimDisk::new(2);
    let (mut m, _) = Memory::open(disk.open(), Options::default()).expect("open");
    m.write(vec![
        Op::put_concept(ConceptInput::new("a"), 1),
        Op::put_concept(ConceptInput::new("b"), 1),
    ])
    .expect("concepts");
    let refused = |op: Op| op.validate("op").expect_err("refused").to_string();
    let long = "x".repeat(257);
    assert_eq!(
        refused(fact(
            "a",
            "b",
            Kind::Causal,
            &long,
            1.0,
            Validity::ALWAYS,
            &[],
            2
        )),
        "op.label (bytes) is too large: 257 exceeds the limit of 256"
    );
    assert_eq!(
        refused(fact(
            "a",
            "b",
            Kind::Causal,
            "two\nlines",
            1.0,
            Validity::ALWAYS,
            &[],
            2
        )),
        "invalid op.label: labels are one line of text: '\\n' is a control character"
    );
    let backwards = Validity {
        from_ms: Some(10),
        until_ms: Some(9),
    };
    assert_eq!(
        refused(fact("a", "b", Kind::Causal, "x", 1.0, backwards, &[], 2)),
        "invalid op.valid_until_ms: 9 (1970-01-01T00:00:00.009Z) is before valid_from_ms 10 (1970-01-01T00:00:00.010Z)"
    );
    assert_eq!(
        refused(fact(
            "a",
            "b",
            Kind::Causal,
            "x",
            1.0,
            Validity::ALWAYS,
            &[("w", Value::Number(f64::NAN))],
            2
        )),
        "invalid op.metadata[\"w\"]: NaN is not a finite number"
    );
    let point = Validity {
        from_ms: Some(10),
        until_ms: Some(10),
    };
    m.write(vec![
        fact(
            "a",
            "b",
            Kind::Causal,
            "causes",
            0.7,
            point,
            &[("n", Value::Integer(3))],
            2,
        ),
        fact("a", "b", Kind::Causal, "", 0.6, Validity::ALWAYS, &[], 2),
    ])
    .expect("facts");
    let before: Vec<_> = m.db().all_associations().collect();
    m.checkpoint().expect("checkpoint");
    m.write(vec![Op::InvalidateAssociation {
        key: key("a", "b", Kind::Causal, ""),
        until_ms: 50,
        at_ms: 60,
    }])
    .expect("after the checkpoint");
    drop(m);
    let (m, _) = Memory::open(disk.open(), Options::default()).expect("reopen");
    let mut after: Vec<_> = m.db().all_associations().collect();
    after.sort_by(|x, y| x.label.cmp(&y.label));
    assert_eq!(
        after[1],
        before
            .iter()
            .find(|a| a.label.as_str() == "causes")
            .cloned()
            .expect("causes")
    );
    assert_eq!(after[0].validity.until_ms, Some(50));
    assert_eq!(after[1].metadata["n"], Value::Integer(3));
    assert_eq!(Metadata::new(), *after[0].metadata);
    m.db().check_integrity().expect("integrity");
}

/// A listing keeps to the labels asked for (any of them; "" is the unlabelled one), with the
/// kinds and validity it keeps anyway; a label list that is not JSON, or too long, is refused.
#[test]
fn listings_keep_to_the_labels_asked_for() {
    let mut m = memory(&["alice", "acme", "bob"]);
    let always = Validity::ALWAYS;
    m.write(vec![
        fact(
            "alice",
            "acme",
            Kind::Semantic,
            "works_at",
            0.9,
            always,
            &[],
            10,
        ),
        fact(
            "alice",
            "acme",
            Kind::Semantic,
            "founded",
            0.8,
            always,
            &[],
            10,
        ),
        fact(
            "alice",
            "bob",
            Kind::Semantic,
            "knows",
            0.7,
            always,
            &[],
            10,
        ),
        fact("alice", "bob", Kind::Causal, "", 0.6, always, &[], 10),
        fact(
            "bob",
            "alice",
            Kind::Semantic,
            "knows",
            0.7,
            always,
            &[],
            10,
        ),
    ])
    .expect("facts");
    let listed = |labels: &str, kinds: Option<&str>| {
        let q = AssociationsQuery {
            labels: Some(labels.to_string()),
            kinds: kinds.map(str::to_string),
            ..AssociationsQuery::default()
        };
        exchange::associations(&m.db(), &id("alice").to_string(), &q, 100).map(|a| {
            a.associations
                .iter()
                .map(|a| {
                    format!(
                        "{} {} {}",
                        a.kind,
                        a.label,
                        a.target == id("alice").to_string()
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let mut knows = listed(r#"["knows"]"#, None).expect("knows");
    knows.sort();
    assert_eq!(
        knows,
        ["semantic knows false", "semantic knows true"],
        "out and in"
    );
    let mut two = listed(r#"["works_at", "founded", "married_to"]"#, None).expect("two");
    two.sort();
    assert_eq!(two, ["semantic founded false", "semantic works_at false"]);
    assert_eq!(
        listed(r#"[""]"#, None).expect("unlabelled"),
        ["causal  false"]
    );
    assert_eq!(
        listed(r#"["knows", ""]"#, Some("causal")).expect("kinds too"),
        ["causal  false"]
    );
    assert_eq!(listed("[]", None).expect("none"), Vec::<String>::new());
    assert_eq!(
        listed("knows", None).expect_err("not JSON").to_string(),
        "invalid labels: is not a JSON array of strings: a value was expected here (at column 1)"
    );
    let many = serde_json::to_string(&vec!["x"; 65]).expect("json");
    assert_eq!(
        listed(&many, None).expect_err("too many").to_string(),
        "labels is too large: 65 exceeds the limit of 64"
    );
}
