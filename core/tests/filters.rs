//! Metadata filters (issue 20, item 5): declared keys, and searches that keep only the concepts
//! a filter keeps — the best of those, never fewer than there are.

use sutra_core::sim::SimDisk;
use sutra_core::{Clause, ConceptInput, Filter, Memory, Op, Options, Scalar, Value};

fn filter(key: &str, values: &[Value]) -> Filter {
    Filter::new(
        "filter",
        vec![Clause {
            key: key.into(),
            any_of: values
                .iter()
                .map(|v| Scalar::wanted("filter", v).expect("scalar"))
                .collect(),
        }],
    )
    .expect("valid")
}

#[test]
fn searches_inside_a_filter_return_the_best_of_what_it_keeps() {
    let (mut memory, _) = Memory::open(
        SimDisk::new(1).open(),
        Options {
            dimension: Some(2),
            ..Options::default()
        },
    )
    .expect("open");
    // 200 concepts about rain; only every tenth is alice's, and hers are the least similar
    // to the query and the least about rain (one "rain" among many words).
    let mut ops = Vec::new();
    for i in 0..200u32 {
        let alice = i % 10 == 0;
        let mut input = ConceptInput::new(if alice {
            format!("rain once in a long note about other things number {i}")
        } else {
            format!("rain rain rain {i}")
        });
        input.embedding = Some(if alice {
            vec![0.0, 1.0]
        } else {
            vec![1.0, 0.05]
        });
        input
            .metadata
            .insert("user".into(), if alice { "alice" } else { "bob" }.into());
        ops.push(Op::put_concept(input, 1));
    }
    memory.write(ops).expect("write");
    let alice = filter("user", &["alice".into()]);
    let refused = memory
        .db()
        .filtered("filter", &alice)
        .expect_err("no key declared");
    assert_eq!(
        refused.to_string(),
        "invalid filter[\"user\"]: is not an indexed metadata key: this memory indexes none (declare the keys filters may name)"
    );
    memory
        .write(vec![Op::index_metadata(vec!["user".into()])])
        .expect("declare");
    let db = memory.db();
    let hers = db.filtered("filter", &alice).expect("filtered");
    assert_eq!(hers.len(), 20);
    // Words: the ten best of hers, though bob's 180 texts all score higher.
    let words = db
        .search_text_among("rain", 10, Some(&hers))
        .expect("words");
    assert_eq!(words.len(), 10);
    assert!(words.iter().all(|h| hers.binary_search(&h.id).is_ok()));
    assert_eq!(db.search_text("rain", 10).expect("words").len(), 10);
    // A vector: hers, exactly, all scored.
    let near = db
        .search_vectors_among(&[1.0, 0.0], 25, None, hers.clone())
        .expect("vector");
    assert_eq!(near.len(), 20, "every one of hers, no other");
    assert!(near.iter().all(|h| hers.binary_search(&h.id).is_ok()));
    assert!(db
        .search_vectors_among(&[1.0, 0.0, 0.0], 5, None, hers.clone())
        .is_err());
}

#[test]
fn keys_given_when_opening_are_added_to_those_declared_and_durable() {
    let disk = SimDisk::new(7);
    let open = |keys: &[&str]| {
        Memory::open(
            disk.open(),
            Options {
                indexed_keys: keys.iter().map(|k| k.to_string()).collect(),
                ..Options::default()
            },
        )
    };
    let keys = |memory: &Memory<_>| -> Vec<String> {
        memory.db().indexed_keys().map(String::from).collect()
    };
    let (memory, _) = open(&["user", "source", "user"]).expect("a new memory with keys");
    assert_eq!(keys(&memory), ["source", "user"]);
    drop(memory);

    // Reopened with some of them: nothing written. With another: added, none taken away.
    let (memory, report) = open(&["user"]).expect("reopen");
    assert_eq!(report.last_seq, 1, "declared in one write");
    drop(memory);
    let (memory, report) = open(&["year"]).expect("reopen with another key");
    assert_eq!(report.last_seq, 1, "no write when nothing was new");
    assert_eq!(keys(&memory), ["source", "user", "year"]);
    drop(memory);
    let (memory, _) = open(&[]).expect("reopen without keys");
    assert_eq!(keys(&memory), ["source", "user", "year"], "durable");
    drop(memory);

    // Bad keys are refused by field, and the memory keeps what it had.
    let too_many: Vec<String> = (0..17).map(|i| format!("k{i:02}")).collect();
    let refused = Memory::open(
        disk.open(),
        Options {
            indexed_keys: too_many,
            ..Options::default()
        },
    )
    .err()
    .expect("too many keys");
    assert_eq!(
        refused.to_string(),
        "indexed_keys (keys) is too large: 20 exceeds the limit of 16"
    );
    let refused = open(&[""]).err().expect("an empty key");
    assert_eq!(
        refused.to_string(),
        "invalid indexed_keys[0]: a metadata key is 1 to 256 bytes"
    );
    let (memory, _) = open(&[]).expect("reopen");
    assert_eq!(keys(&memory), ["source", "user", "year"]);
}
