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
