//! The JSON Lines exchange format: export is complete whatever a concept's degree, and export
//! then import reproduces a memory exactly.

use sutra_core::exchange::jsonl;
use sutra_core::sim::{SimDisk, SimStorage};
use sutra_core::{ConceptId, ConceptInput, Kind, Memory, Op, Options};

fn open(disk: &SimDisk) -> Memory<SimStorage> {
    Memory::open(disk.open(), Options::default())
        .expect("open")
        .0
}

fn id(text: &str) -> ConceptId {
    ConceptId::from_content(text)
}

/// Writes `ops` in batches of the largest size a batch may have.
fn write_all(memory: &mut Memory<SimStorage>, ops: Vec<Op>) {
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let batch: Vec<Op> = ops
            .by_ref()
            .take(sutra_core::limits::BATCH_OPS_MAX)
            .collect();
        memory.write(batch).expect("write");
    }
}

fn export(memory: &Memory<SimStorage>) -> Vec<String> {
    jsonl::ExportChunks::new(memory.reader()).collect()
}

/// A hub with more outgoing associations than a listing returns (10,000) and than a chunk
/// holds, cut across several chunks, with other concepts' lists before and after it.
#[test]
fn export_of_a_hub_is_complete_and_imports_back_exactly() {
    const SPOKES: usize = 12_345;
    let disk = SimDisk::new(7);
    let mut memory = open(&disk);
    let mut ops = vec![
        Op::put_concept(ConceptInput::new("hub"), 5),
        Op::put_concept(ConceptInput::new("before"), 5),
        Op::put_concept(ConceptInput::new("after"), 5),
    ];
    for i in 0..SPOKES {
        ops.push(Op::put_concept(ConceptInput::new(format!("spoke {i}")), 5));
    }
    write_all(&mut memory, ops);
    let mut links = Vec::new();
    for i in 0..SPOKES {
        let spoke = id(&format!("spoke {i}"));
        links.push(Op::put_association(
            id("hub"),
            spoke,
            Kind::Semantic,
            0.5,
            1.0,
            6,
        ));
        if i % 3 == 0 {
            links.push(Op::put_association(
                id("hub"),
                spoke,
                Kind::Causal,
                0.25,
                2.0,
                7,
            ));
            links.push(Op::put_association(
                spoke,
                id("hub"),
                Kind::Temporal,
                0.75,
                1.0,
                8,
            ));
        }
    }
    links.push(Op::put_association(
        id("before"),
        id("after"),
        Kind::Causal,
        0.9,
        1.0,
        9,
    ));
    links.push(Op::put_association(
        id("after"),
        id("before"),
        Kind::Causal,
        0.9,
        1.0,
        9,
    ));
    let expected_links = links.len();
    write_all(&mut memory, links);
    assert_eq!(memory.stats().associations, expected_links as u64);

    let chunks = export(&memory);
    let text: String = chunks.concat();
    let association_lines = text
        .lines()
        .filter(|l| l.contains("\"type\":\"association\""))
        .count();
    assert_eq!(
        association_lines, expected_links,
        "every association exported"
    );
    assert!(
        chunks
            .iter()
            .all(|c| c.lines().count() <= jsonl::EXPORT_ASSOCIATIONS_PER_CHUNK.max(500)),
        "chunks stay bounded"
    );
    let hub_lines = text
        .lines()
        .filter(|l| l.contains(&format!("\"source\":\"{}\"", id("hub"))))
        .count();
    assert_eq!(hub_lines, SPOKES + SPOKES.div_ceil(3));
    assert!(
        hub_lines > jsonl::EXPORT_ASSOCIATIONS_PER_CHUNK,
        "the hub's list is cut across chunks"
    );

    // Import into a new memory: the same state, and the same export, byte for byte.
    let copy_disk = SimDisk::new(8);
    let mut copy = open(&copy_disk);
    let summary = jsonl::import(
        text.lines()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, Ok(l.to_string()))),
        1,
        |ops| copy.write(ops).map(|_| ()),
        |_| {},
    )
    .expect("import");
    assert_eq!(summary.rejected_count, 0, "{:?}", summary.rejected);
    assert_eq!(summary.associations, expected_links as u64);
    assert_eq!(copy.db().digest(), memory.db().digest());
    assert_eq!(export(&copy).concat(), text);
}

/// A chunk ends exactly where a list ends, and lists end on chunk boundaries: nothing is
/// written twice or skipped.
#[test]
fn lists_of_exactly_a_chunk_are_neither_repeated_nor_skipped() {
    let n = jsonl::EXPORT_ASSOCIATIONS_PER_CHUNK;
    let disk = SimDisk::new(9);
    let mut memory = open(&disk);
    let mut ops = vec![
        Op::put_concept(ConceptInput::new("a"), 1),
        Op::put_concept(ConceptInput::new("b"), 1),
    ];
    for i in 0..n {
        ops.push(Op::put_concept(ConceptInput::new(format!("t{i}")), 1));
    }
    write_all(&mut memory, ops);
    let mut links = Vec::new();
    for source in ["a", "b"] {
        for i in 0..n {
            links.push(Op::put_association(
                id(source),
                id(&format!("t{i}")),
                Kind::Semantic,
                1.0,
                1.0,
                2,
            ));
        }
    }
    write_all(&mut memory, links);
    let text = export(&memory).concat();
    let mut seen = std::collections::BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.contains("\"type\":\"association\""))
    {
        assert!(seen.insert(line.to_string()), "repeated: {line}");
    }
    assert_eq!(seen.len(), 2 * n);
}
