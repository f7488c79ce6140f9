//! Data the cases write: every field filled, so a lost or altered field shows.

use sutra_core::{
    ConceptId, ConceptInput, Kind, Label, Memory, Metadata, Op, Options, RecoveryReport, Storage,
    Validity, Value,
};

/// Vector dimension used by the fixtures.
pub const DIM: usize = 8;

/// A deterministic non-zero vector for `i`.
pub fn vector(i: u64) -> Vec<f32> {
    (0..DIM)
        .map(|d| (((i * 31 + d as u64 * 7) % 17) as f32 - 8.0) / 8.0 + 0.01)
        .collect()
}

/// A concept with every field set, derived from `i`.
pub fn concept(i: u64) -> Op {
    let mut metadata = Metadata::new();
    metadata.insert("source".into(), format!("fixture-{i}").into());
    metadata.insert("lang".into(), "en".into());
    metadata.insert("rank".into(), Value::Integer(i as i64));
    metadata.insert(
        "tags".into(),
        Value::List(vec!["fox".into(), format!("n{i}")]),
    );
    let mut input = ConceptInput::new(format!("concept number {i}: the quick brown fox"));
    if !i.is_multiple_of(3) {
        input.embedding = Some(vector(i));
    }
    input.strength = 0.5 + i as f32;
    input.confidence = ((i % 10) as f32) / 10.0;
    input.metadata = metadata;
    Op::put_concept(input, 1_700_000_000_000 + i)
}

/// The id of [`concept`]`(i)`.
pub fn id(i: u64) -> ConceptId {
    ConceptId::from_content(&format!("concept number {i}: the quick brown fox"))
}

/// An association between fixture concepts.
pub fn link(a: u64, b: u64, kind: Kind) -> Op {
    Op::put_association(
        id(a),
        id(b),
        kind,
        0.25 + ((a + b) % 4) as f32 / 8.0,
        (a * 10 + b) as f32,
        1_700_000_100_000 + a * 100 + b,
    )
}

/// A labelled fact between fixture concepts, with metadata and a validity starting at `from_ms`
/// (none for 0).
pub fn fact(a: u64, b: u64, kind: Kind, label: &str, from_ms: u64) -> Op {
    let mut metadata = Metadata::new();
    metadata.insert("doc".into(), format!("doc-{a}-{b}").into());
    metadata.insert("page".into(), Value::Integer((a * 7 + b) as i64));
    Op::PutAssociation {
        source: id(a),
        target: id(b),
        kind,
        label: Label::from(label),
        confidence: 0.5 + ((a + b) % 4) as f32 / 8.0,
        weight: (a + b) as f32,
        metadata,
        validity: Validity {
            from_ms: (from_ms > 0).then_some(from_ms),
            until_ms: None,
        },
        at_ms: 1_700_000_300_000 + a * 100 + b,
        created_ms: None,
    }
}

/// Opens or panics with the error.
pub fn open<S: Storage>(storage: S) -> (Memory<S>, RecoveryReport) {
    match Memory::open(storage, Options::default()) {
        Ok(opened) => opened,
        Err(e) => panic!("open failed: {e}"),
    }
}

/// Writes or panics with the error.
pub fn write<S: Storage>(memory: &mut Memory<S>, ops: Vec<Op>) -> u64 {
    match memory.write(ops) {
        Ok(seq) => seq,
        Err(e) => panic!("write failed: {e}"),
    }
}

/// A batch of `n` concepts starting at `first`.
pub fn concepts(first: u64, n: u64) -> Vec<Op> {
    (first..first + n).map(concept).collect()
}
