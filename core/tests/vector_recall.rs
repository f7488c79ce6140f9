//! Recall of the tiered vector index against exact search, on clustered data with a fresh tier,
//! deletions and re-embeddings mixed in. Fixed seed: the same numbers every run.

use sutra_core::sim::{Rng, SimDisk};
use sutra_core::{ConceptId, ConceptInput, Memory, Op, Options};

const DIM: usize = 128;

fn gaussian(rng: &mut Rng) -> f32 {
    // Sum of uniforms: close enough to normal for test data.
    (0..6).map(|_| rng.unit_f32()).sum::<f32>() - 3.0
}

fn clustered(rng: &mut Rng, centres: &[Vec<f32>]) -> Vec<f32> {
    let centre = &centres[rng.below(centres.len() as u64) as usize];
    centre.iter().map(|c| c + 0.35 * gaussian(rng)).collect()
}

fn put(i: u64, vector: Vec<f32>) -> Op {
    Op::put_concept(
        ConceptInput::new(format!("item {i}"))
            .with_id(ConceptId(u128::from(i) + 1))
            .with_embedding(vector),
        i,
    )
}

/// 64 cluster centres of [`DIM`] components.
fn centres(rng: &mut Rng) -> Vec<Vec<f32>> {
    (0..64)
        .map(|_| (0..DIM).map(|_| gaussian(rng)).collect())
        .collect()
}

/// Writes concepts `ids` with clustered vectors around `centres`, `per` to a batch.
fn write_clustered<S: sutra_core::Storage>(
    memory: &mut Memory<S>,
    rng: &mut Rng,
    centres: &[Vec<f32>],
    ids: std::ops::Range<u64>,
    per: usize,
) {
    for chunk in ids.collect::<Vec<_>>().chunks(per) {
        let ops = chunk
            .iter()
            .map(|&i| put(i, clustered(rng, centres)))
            .collect();
        memory.write(ops).expect("write");
    }
}

#[test]
fn recall_at_10_is_at_least_0_95_with_fresh_deleted_and_reembedded_vectors() {
    let mut rng = Rng::new(20_000);
    let centres = centres(&mut rng);
    let (mut memory, _) = Memory::open(
        SimDisk::new(3).open(),
        Options {
            dimension: Some(DIM as u32),
            ..Options::default()
        },
    )
    .expect("open");
    let sealed_n = 18_000u64;
    write_clustered(&mut memory, &mut rng, &centres, 0..sealed_n, 1000);
    memory.seal_vectors().expect("seal");
    // Fresh tier: written after the seal.
    write_clustered(&mut memory, &mut rng, &centres, sealed_n..20_000, 500);
    // Delete 500 sealed concepts and re-embed 500 others.
    let deleted: Vec<ConceptId> = (0..500u64)
        .map(|i| ConceptId(u128::from(i * 7) + 1))
        .collect();
    memory
        .write(
            deleted
                .iter()
                .map(|id| Op::DeleteConcept { id: *id })
                .collect(),
        )
        .expect("delete");
    let reembedded: Vec<u64> = (0..500u64).map(|i| i * 7 + 3).collect();
    memory
        .write(
            reembedded
                .iter()
                .map(|&i| put(i, clustered(&mut rng, &centres)))
                .collect(),
        )
        .expect("re-embed");
    let counts = memory.stats().vectors;
    assert_eq!(counts.fresh, 2_500, "2,000 new + 500 re-embedded");
    assert_eq!(counts.sealed, 17_000);
    assert_eq!(counts.stale, 1_000);

    let db = memory.db();
    let queries = 300;
    let mut found = 0usize;
    for _ in 0..queries {
        let q = clustered(&mut rng, &centres);
        let approx = db.search_vectors(&q, 10, None).expect("search");
        let exact = db.search_vectors_exact(&q, 10);
        assert_eq!(approx.len(), 10);
        for hit in &approx {
            assert!(
                !deleted.contains(&hit.id),
                "deleted concept {} returned",
                hit.id
            );
            let v = db
                .concept(hit.id)
                .and_then(|c| c.embedding.as_ref())
                .expect("live vector");
            let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
            let cos = v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>() / (norm(v) * norm(&q));
            assert!((cos - hit.score).abs() < 1e-4, "stale score for {}", hit.id);
        }
        found += approx
            .iter()
            .filter(|h| exact.iter().any(|e| e.id == h.id))
            .count();
    }
    let recall = found as f64 / (queries * 10) as f64;
    eprintln!(
        "recall@10 = {recall:.4} over {queries} queries (17,000 sealed, 2,500 fresh, 1,000 stale)"
    );
    assert!(recall >= 0.95, "recall@10 {recall} < 0.95");

    // After re-sealing everything is in the graph and recall holds.
    drop(db);
    memory.seal_vectors().expect("seal");
    let counts = memory.stats().vectors;
    assert_eq!((counts.sealed, counts.fresh, counts.stale), (19_500, 0, 0));
    let db = memory.db();
    let mut found = 0usize;
    for _ in 0..queries {
        let q = clustered(&mut rng, &centres);
        let approx = db.search_vectors(&q, 10, None).expect("search");
        let exact = db.search_vectors_exact(&q, 10);
        found += approx
            .iter()
            .filter(|h| exact.iter().any(|e| e.id == h.id))
            .count();
    }
    let recall = found as f64 / (queries * 10) as f64;
    eprintln!("recall@10 after re-seal = {recall:.4}");
    assert!(recall >= 0.95, "recall@10 after re-seal {recall} < 0.95");
}

#[test]
fn builds_are_deterministic() {
    let mut rng = Rng::new(7);
    let build = |rng: &mut Rng| {
        let (mut m, _) = Memory::open(SimDisk::new(1).open(), Options::default()).expect("open");
        m.write(
            (0..2000)
                .map(|i| put(i, (0..16).map(|_| gaussian(rng)).collect()))
                .collect(),
        )
        .expect("write");
        m.seal_vectors().expect("seal");
        m.checkpoint().expect("checkpoint");
        m.into_storage().disk().snapshot().expect("snapshot")
    };
    let a = build(&mut rng.clone());
    let b = build(&mut rng);
    assert_eq!(
        a, b,
        "same data must give the same snapshot, index included"
    );
}

#[test]
fn large_k_and_search_by_concept() {
    let mut rng = Rng::new(9);
    let (mut m, _) = Memory::open(SimDisk::new(1).open(), Options::default()).expect("open");
    m.write(
        (0..1500)
            .map(|i| put(i, (0..8).map(|_| gaussian(&mut rng)).collect()))
            .collect(),
    )
    .expect("write");
    m.seal_vectors().expect("seal");
    let q: Vec<f32> = (0..8).map(|_| gaussian(&mut rng)).collect();
    // k beyond the graph's candidate list: answered exactly, all 1000, sorted.
    let hits = m.db().search_vectors(&q, 1000, None).expect("search");
    assert_eq!(hits.len(), 1000);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(hits, m.db().search_vectors_exact(&q, 1000));
    let err = m.db().search_vectors(&q, 1001, None).expect_err("k");
    assert_eq!(
        err.to_string(),
        "k is too large: 1001 exceeds the limit of 1000"
    );
    let err = m
        .db()
        .search_vectors(&q[..7], 5, None)
        .expect_err("dimension");
    assert_eq!(err.code(), "dimension_mismatch");
    let mut bad = q.clone();
    bad[2] = f32::NAN;
    assert_eq!(
        m.db()
            .search_vectors(&bad, 5, None)
            .expect_err("nan")
            .code(),
        "invalid_argument"
    );
    let me = ConceptId(5);
    let similar = m.db().similar_to(me, 5, None).expect("similar");
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|h| h.id != me));
}

/// Vectors are checked in the arithmetic that scores them (32-bit floats): one whose squared
/// length overflows, or whose length is too small to invert, is refused with the field named;
/// scores stay within [-1, 1]; and a vector an older build accepted that scores as NaN opens
/// but is never ranked (it used to come first, with a score of null).
#[test]
fn extreme_vectors_are_refused_scores_stay_in_range_and_nan_is_never_ranked() {
    let disk = SimDisk::new(3);
    let (mut m, _) = Memory::open(disk.open(), Options::default()).expect("open");
    m.write(vec![Op::put_concept(
        ConceptInput::new("plain").with_embedding(vec![1.0, 0.0, 0.0]),
        1,
    )])
    .expect("plain");
    for (vector, says) in [
        (vec![3.4e38, 3.4e38, 3.4e38], "overflows"),
        (vec![2e19, 0.0, 0.0], "overflows"),
        (vec![1e-30, 1e-30, 0.0], "too short"),
        (vec![0.0, 0.0, 0.0], "zero length"),
    ] {
        let put = Op::put_concept(ConceptInput::new("x").with_embedding(vector.clone()), 2);
        let err = m.write(vec![put]).expect_err("refused");
        assert_eq!(err.code(), "invalid_argument", "{vector:?}");
        assert!(
            err.to_string().contains("embedding") && err.to_string().contains(says),
            "{err}"
        );
        let err = m
            .db()
            .search_vectors(&vector, 3, None)
            .expect_err("query refused");
        assert!(
            err.to_string().contains("vector") && err.to_string().contains(says),
            "{err}"
        );
    }
    // Large and small but representable: accepted, and every score within [-1, 1].
    let mut rng = Rng::new(5);
    for i in 0..200u64 {
        let scale = [1e18f32, 1e-18, 1.0, 3e17][i as usize % 4];
        let v: Vec<f32> = (0..3).map(|_| (rng.unit_f32() - 0.5) * scale).collect();
        m.write(vec![put(i + 10, v)]).expect("representable");
    }
    m.seal_vectors().expect("seal");
    for i in 0..50u64 {
        let id = ConceptId(u128::from(i) + 11);
        let own = m
            .db()
            .concept(id)
            .and_then(|c| c.embedding.clone())
            .expect("own");
        let hits = m.db().search_vectors(&own, 10, None).expect("search");
        assert!(
            hits.iter().all(|h| (-1.0..=1.0).contains(&h.score)),
            "{hits:?}"
        );
        assert_eq!(hits[0].id, id);
        assert!(
            hits[0].score <= 1.0 && hits[0].score > 0.99999,
            "a vector against itself scores at most 1: {}",
            hits[0].score
        );
    }

    // An older build's log holding a vector that overflows in 32-bit arithmetic.
    let mut storage = m.into_storage();
    let last = {
        let (m, _) = Memory::open(disk.open(), Options::default()).expect("reopen");
        m.stats().last_seq
    };
    let old = Op::put_concept(
        ConceptInput::new("from an older build")
            .with_id(ConceptId(7))
            .with_embedding(vec![3.4e38, 3.4e38, 3.4e38]),
        3,
    );
    let record = sutra_core::wal::encode_record(last + 1, &[old]).expect("encode");
    use sutra_core::Storage;
    storage.log_append(&record).expect("append");
    storage.log_sync().expect("sync");
    drop(storage);
    let (m, report) = Memory::open(disk.open(), Options::default()).expect("opens");
    assert_eq!(report.last_seq, last + 1, "the old record was replayed");
    assert!(m.db().concept(ConceptId(7)).is_some());
    let hits = m
        .db()
        .search_vectors(&[0.0, 1.0, 0.0], 5, None)
        .expect("search");
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter()
            .all(|h| h.id != ConceptId(7) && h.score.is_finite()),
        "{hits:?}"
    );
    let reader = m.reader();
    let hits = reader
        .search_vectors(&[0.0, 1.0, 0.0], 5, None, None)
        .expect("search");
    assert!(hits.iter().all(|h| h.id != ConceptId(7)), "{hits:?}");
}

/// The search effort (`ef`, each graph's candidate list) is the caller's per query: a longer
/// list finds more of the true nearest; a list shorter than `k + 1` is lengthened to it; out
/// of its range it is refused with the field and the limit named.
#[test]
fn the_search_effort_trades_speed_for_recall_per_query_within_its_limits() {
    let mut rng = Rng::new(19);
    let centres = centres(&mut rng);
    let (mut memory, _) = Memory::open(SimDisk::new(4).open(), Options::default()).expect("open");
    write_clustered(&mut memory, &mut rng, &centres, 0..12_000, 1000);
    memory.seal_vectors().expect("seal");
    let db = memory.db();
    let queries: Vec<Vec<f32>> = (0..200).map(|_| clustered(&mut rng, &centres)).collect();
    let truth: Vec<Vec<ConceptId>> = queries
        .iter()
        .map(|q| {
            db.search_vectors_exact(q, 10)
                .iter()
                .map(|h| h.id)
                .collect()
        })
        .collect();
    let recall = |ef: Option<u32>| {
        let mut found = 0;
        for (q, truth) in queries.iter().zip(&truth) {
            let hits = db.search_vectors(q, 10, ef).expect("search");
            assert_eq!(hits.len(), 10, "ef {ef:?} answers k hits");
            found += hits.iter().filter(|h| truth.contains(&h.id)).count();
        }
        found as f64 / (queries.len() * 10) as f64
    };
    let curve: Vec<(Option<u32>, f64)> = [Some(11), Some(24), None, Some(400)]
        .into_iter()
        .map(|ef| (ef, recall(ef)))
        .collect();
    eprintln!("recall@10 by ef (12,000 clustered 128-d vectors): {curve:?}");
    let at = |i: usize| curve[i].1;
    assert!(
        at(0) <= at(1) && at(1) <= at(2) && at(2) <= at(3),
        "recall does not fall as the effort grows: {curve:?}"
    );
    assert!(at(0) < at(3), "the effort changes what is found: {curve:?}");
    assert!(at(3) >= 0.99, "a long list finds nearly all: {curve:?}");
    // Shorter than k + 1: lengthened (the same answers as k + 1).
    let q = &queries[0];
    assert_eq!(
        db.search_vectors(q, 10, Some(1)).expect("ef 1"),
        db.search_vectors(q, 10, Some(11)).expect("ef 11")
    );
    let err = db.search_vectors(q, 10, Some(0)).expect_err("ef 0");
    assert_eq!(
        (err.code(), err.field().as_deref()),
        ("invalid_argument", Some("ef"))
    );
    let err = db.search_vectors(q, 10, Some(4097)).expect_err("ef 4097");
    assert_eq!(
        (err.code(), err.limit_passed()),
        ("limit_exceeded", Some(4096))
    );
    assert_eq!(
        err.to_string(),
        "ef is too large: 4097 exceeds the limit of 4096"
    );
    // By a concept's own embedding, too.
    let similar = db.similar_to(ConceptId(1), 10, Some(400)).expect("similar");
    assert_eq!(similar.len(), 10);
    assert!(similar.iter().all(|h| h.id != ConceptId(1)));
}
