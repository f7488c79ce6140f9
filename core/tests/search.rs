//! Search as clients ask for it (`exchange::search`): expanding hits along the graph, with the
//! trail of each concept reached, and diversifying hits by maximal marginal relevance — the
//! answers checked against values computed by hand.

use sutra_core::exchange::answers::{HitsAnswer, Retriever, StepAnswer};
use sutra_core::exchange::{self, ExpandBody, MmrBody, SearchBody};
use sutra_core::sim::{SimDisk, SimStorage};
use sutra_core::{ConceptId, ConceptInput, Error, Kind, Memory, Op, Options};

fn id(text: &str) -> ConceptId {
    ConceptId::from_content(text)
}

fn open(disk: &SimDisk) -> Memory<SimStorage> {
    Memory::open(disk.open(), Options::default())
        .expect("open")
        .0
}

/// Alice, who works at Acme (which has an office in Paris), and Bob, who led to Alice.
fn people() -> Memory<SimStorage> {
    let mut m = open(&SimDisk::new(3));
    let mut ops: Vec<Op> = [
        "alice the engineer",
        "acme corporation",
        "bob the builder",
        "paris office",
        "zeta unrelated",
    ]
    .iter()
    .map(|t| Op::put_concept(ConceptInput::new(*t), 10))
    .collect();
    let link = |s: &str, t: &str, kind, confidence| {
        Op::put_association(id(s), id(t), kind, confidence, 1.0, 11)
    };
    ops.push(link(
        "alice the engineer",
        "acme corporation",
        Kind::Semantic,
        0.8,
    ));
    ops.push(link(
        "acme corporation",
        "paris office",
        Kind::Compositional,
        0.5,
    ));
    ops.push(link(
        "bob the builder",
        "alice the engineer",
        Kind::Causal,
        0.9,
    ));
    m.write(ops).expect("write");
    m
}

fn search(m: &Memory<SimStorage>, body: SearchBody) -> Result<HitsAnswer, Error> {
    exchange::search(&m.reader(), &body, NOW)
}

/// The time the searches run at.
const NOW: u64 = 1_800_000_000_000;

fn words(text: &str, expand: ExpandBody) -> SearchBody {
    SearchBody {
        text: Some(text.into()),
        expand: Some(expand),
        ..SearchBody::default()
    }
}

fn ids(answer: &HitsAnswer) -> Vec<String> {
    answer.hits.iter().map(|h| h.content.clone()).collect()
}

fn step(from: &str, to: &str, kind: &'static str, confidence: f32, reversed: bool) -> StepAnswer {
    StepAnswer {
        from: id(from).to_string(),
        to: id(to).to_string(),
        kind,
        label: String::new(),
        confidence,
        weight: 1.0,
        reversed,
    }
}

#[test]
fn hits_expand_along_associations_with_their_trails() {
    let m = people();
    let alice = m
        .db()
        .search_text("alice", 1)
        .expect("text")
        .first()
        .expect("a hit")
        .score;
    let answer = search(&m, words("alice", ExpandBody::default())).expect("search");
    assert_eq!(
        ids(&answer),
        ["alice the engineer", "bob the builder", "acme corporation"]
    );
    let scores: Vec<f32> = answer.hits.iter().map(|h| h.score).collect();
    let expected = [
        alice,
        (f64::from(alice) * f64::from(0.9f32)) as f32,
        (f64::from(alice) * f64::from(0.8f32)) as f32,
    ];
    assert_eq!(scores, expected);
    // The hit itself, found by the words alone.
    let first = &answer.hits[0].found_by;
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].retriever, first[0].rank, first[0].trail.is_none()),
        (Retriever::Text, 1, true)
    );
    // Bob, reached against the association's direction (Bob → Alice), ranked first by the graph.
    let bob = &answer.hits[1].found_by;
    assert_eq!((bob[0].retriever, bob[0].rank), (Retriever::Graph, 1));
    assert_eq!(
        bob[0].trail.as_deref(),
        Some(
            &[step(
                "alice the engineer",
                "bob the builder",
                "causal",
                0.9,
                true
            )][..]
        )
    );
    let acme = &answer.hits[2].found_by;
    assert_eq!((acme[0].retriever, acme[0].rank), (Retriever::Graph, 2));
    assert_eq!(
        acme[0].trail.as_deref(),
        Some(
            &[step(
                "alice the engineer",
                "acme corporation",
                "semantic",
                0.8,
                false
            )][..]
        )
    );

    // Two hops: Paris through Acme, the product of both confidences.
    let deeper = search(
        &m,
        words(
            "alice",
            ExpandBody {
                depth: Some(2),
                ..ExpandBody::default()
            },
        ),
    )
    .expect("search");
    assert_eq!(
        ids(&deeper),
        [
            "alice the engineer",
            "bob the builder",
            "acme corporation",
            "paris office"
        ]
    );
    let paris = &deeper.hits[3];
    assert_eq!(
        paris.score,
        (f64::from(alice) * f64::from(0.8f32) * f64::from(0.5f32)) as f32
    );
    assert_eq!(
        paris.found_by[0].trail.as_deref(),
        Some(
            &[
                step(
                    "alice the engineer",
                    "acme corporation",
                    "semantic",
                    0.8,
                    false
                ),
                step(
                    "acme corporation",
                    "paris office",
                    "compositional",
                    0.5,
                    false
                ),
            ][..]
        )
    );

    // Only forward: Bob is behind Alice, not reached.
    let forward = search(
        &m,
        words(
            "alice",
            ExpandBody {
                direction: Some("forward".into()),
                ..ExpandBody::default()
            },
        ),
    )
    .expect("search");
    assert_eq!(ids(&forward), ["alice the engineer", "acme corporation"]);
    // Only some kinds, two hops: the causal link to Bob is not followed.
    let kinds = search(
        &m,
        words(
            "alice",
            ExpandBody {
                depth: Some(2),
                kinds: Some(vec!["semantic".to_string(), "compositional".to_string()].into()),
                ..ExpandBody::default()
            },
        ),
    )
    .expect("search");
    assert_eq!(
        ids(&kinds),
        ["alice the engineer", "acme corporation", "paris office"]
    );
    // One association per concept: the most confident (Bob's, 0.9).
    let one = search(
        &m,
        words(
            "alice",
            ExpandBody {
                per_concept: Some(1),
                ..ExpandBody::default()
            },
        ),
    )
    .expect("search");
    assert_eq!(ids(&one), ["alice the engineer", "bob the builder"]);
    // k bounds the whole answer, hits and concepts reached together.
    let two = search(
        &m,
        SearchBody {
            k: Some(2),
            ..words(
                "alice",
                ExpandBody {
                    depth: Some(2),
                    ..ExpandBody::default()
                },
            )
        },
    )
    .expect("search");
    assert_eq!(ids(&two), ["alice the engineer", "bob the builder"]);
}

#[test]
fn a_hit_is_not_reached_again_and_a_trail_never_loops() {
    let m = people();
    // Alice and Acme are both hits: Acme is not listed again as reached from Alice, and Paris
    // is reached from Acme directly (0.5 × Acme's score), not through Alice.
    let answer = search(
        &m,
        words(
            "alice acme",
            ExpandBody {
                depth: Some(3),
                ..ExpandBody::default()
            },
        ),
    )
    .expect("search");
    let texts = ids(&answer);
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[..2].contains(&"alice the engineer".to_string()));
    assert!(texts[..2].contains(&"acme corporation".to_string()));
    for hit in &answer.hits[..2] {
        assert_eq!(hit.found_by.len(), 1);
        assert_eq!(hit.found_by[0].retriever, Retriever::Text);
    }
    let paris = answer
        .hits
        .iter()
        .find(|h| h.content == "paris office")
        .expect("paris reached");
    let trail = paris.found_by[0].trail.as_deref().expect("a trail");
    assert_eq!(
        trail,
        &[step(
            "acme corporation",
            "paris office",
            "compositional",
            0.5,
            false
        )][..]
    );
    for hit in &answer.hits {
        for found in &hit.found_by {
            let trail = found.trail.as_deref().unwrap_or_default();
            let mut seen: Vec<&str> = trail.iter().map(|s| s.from.as_str()).collect();
            seen.extend(trail.last().map(|s| s.to.as_str()));
            let before = seen.len();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(
                seen.len(),
                before,
                "a trail passes a concept twice: {trail:?}"
            );
        }
    }
}

#[test]
fn bad_expansions_and_diversity_settings_are_refused_by_name() {
    let m = people();
    let refused = |body: SearchBody| -> Error { search(&m, body).expect_err("refused") };
    let deep = refused(words(
        "alice",
        ExpandBody {
            depth: Some(4),
            ..ExpandBody::default()
        },
    ));
    assert!(
        matches!(&deep, Error::LimitExceeded { field, limit: 3, actual: 4 } if field == "expand.depth"),
        "{deep:?}"
    );
    let none = refused(words(
        "alice",
        ExpandBody {
            per_concept: Some(0),
            ..ExpandBody::default()
        },
    ));
    assert!(
        matches!(&none, Error::Invalid { field, .. } if field == "expand.per_concept"),
        "{none:?}"
    );
    // 10 hits × (100 + 100²) associations could be followed: over 100,000.
    let wide = refused(words(
        "alice",
        ExpandBody {
            depth: Some(2),
            per_concept: Some(100),
            ..ExpandBody::default()
        },
    ));
    assert!(
        matches!(&wide, Error::Invalid { field, reason } if field == "expand" && reason.contains("101000") && reason.contains("100000")),
        "{wide:?}"
    );
    let way = refused(words(
        "alice",
        ExpandBody {
            direction: Some("sideways".into()),
            ..ExpandBody::default()
        },
    ));
    assert!(
        matches!(&way, Error::Invalid { field, .. } if field == "expand.direction"),
        "{way:?}"
    );
    let kind = refused(words(
        "alice",
        ExpandBody {
            kinds: Some(vec!["friendly".to_string()].into()),
            ..ExpandBody::default()
        },
    ));
    assert!(
        matches!(&kind, Error::Invalid { field, reason } if field == "expand.kinds" && reason.contains("\"friendly\" is not a kind")),
        "{kind:?}"
    );
    let lambda = refused(SearchBody {
        text: Some("alice".into()),
        mmr: Some(MmrBody { lambda: Some(1.5) }),
        ..SearchBody::default()
    });
    assert!(
        matches!(&lambda, Error::Invalid { field, .. } if field == "mmr.lambda"),
        "{lambda:?}"
    );
    let many = refused(SearchBody {
        text: Some("alice".into()),
        k: Some(251),
        mmr: Some(MmrBody::default()),
        ..SearchBody::default()
    });
    assert!(
        matches!(
            &many,
            Error::LimitExceeded {
                limit: 250,
                actual: 251,
                ..
            }
        ),
        "{many:?}"
    );
}

/// Two concepts with the same embedding, one a little less similar to the query but unlike
/// them, and one unlike the query.
fn points() -> Memory<SimStorage> {
    let mut m = open(&SimDisk::new(4));
    let put = |text: &str, e: [f32; 3]| {
        Op::put_concept(ConceptInput::new(text).with_embedding(e.to_vec()), 10)
    };
    m.write(vec![
        put("first twin", [0.9, 0.436, 0.0]),
        put("second twin", [0.9, 0.436, 0.0]),
        put("other side", [0.8, 0.0, 0.6]),
        put("far away", [0.0, 0.0, 1.0]),
    ])
    .expect("write");
    m
}

fn near(k: u32, lambda: Option<f32>) -> SearchBody {
    SearchBody {
        vector: Some(vec![1.0, 0.0, 0.0].into()),
        k: Some(k),
        mmr: lambda.map(|l| MmrBody { lambda: Some(l) }),
        ..SearchBody::default()
    }
}

#[test]
fn maximal_marginal_relevance_prefers_hits_unlike_those_chosen() {
    let m = points();
    let plain = search(&m, near(2, None)).expect("search");
    let twins = ids(&plain);
    assert_eq!(
        {
            let mut t = twins.clone();
            t.sort();
            t
        },
        ["first twin", "second twin"]
    );
    let (one, other) = (twins[0].clone(), twins[1].clone());
    // λ = 0.5, relevance scaled over the four candidates (0 … 0.9): after a twin (relevance 1),
    // the other twin scores 0.5 − 0.5 × 1 = 0, the other side 0.5 × 0.889 − 0.5 × 0.72 = 0.084,
    // far away 0 − 0.5 × 0 = 0. Then: the twin 0.5 − 0.5 × 1 = 0, far away 0 − 0.5 × 0.6.
    let diverse = search(&m, near(3, Some(0.5))).expect("search");
    assert_eq!(ids(&diverse), [one.clone(), "other side".into(), other]);
    // The scores stay the hits' own (cosine similarity).
    let side = &diverse.hits[1];
    assert!((side.score - 0.8).abs() < 1e-5, "{}", side.score);
    assert_eq!(side.found_by[0].retriever, Retriever::Vector);
    // λ = 1 is relevance alone: the plain order.
    let relevance = search(&m, near(2, Some(1.0))).expect("search");
    assert_eq!(ids(&relevance), twins);
}

/// Expansion finds, for every concept, the best score over all trails of at most `depth` hops
/// that start at a hit and pass no other hit: checked against every such trail enumerated on
/// random graphs.
#[test]
fn expansion_finds_the_best_trail_of_every_concept() {
    use std::collections::{BTreeMap, HashMap};
    use sutra_core::{Direction, ExpandOptions};
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..40 {
        let mut m = open(&SimDisk::new(round));
        let names: Vec<String> = (0..24).map(|i| format!("node {round} {i}")).collect();
        let mut ops: Vec<Op> = names
            .iter()
            .map(|n| Op::put_concept(ConceptInput::new(n.as_str()), 1))
            .collect();
        let mut edges: BTreeMap<(usize, usize, Kind), f32> = BTreeMap::new();
        for _ in 0..60 {
            let (s, t) = (next(24) as usize, next(24) as usize);
            let kind = Kind::ALL[next(2) as usize];
            let confidence = (1 + next(100)) as f32 / 100.0;
            edges.insert((s, t, kind), confidence);
        }
        for ((s, t, kind), c) in &edges {
            ops.push(Op::put_association(
                id(&names[*s]),
                id(&names[*t]),
                *kind,
                *c,
                1.0,
                2,
            ));
        }
        m.write(ops).expect("write");
        let hits: Vec<usize> = {
            let mut h: Vec<usize> = (0..3).map(|_| next(24) as usize).collect();
            h.sort_unstable();
            h.dedup();
            h
        };
        let scores: Vec<f64> = hits.iter().map(|_| (1 + next(50)) as f64 / 10.0).collect();
        let options = ExpandOptions {
            depth: 1 + (round % 3) as u32,
            direction: if round % 2 == 0 {
                Direction::Both
            } else {
                Direction::Forward
            },
            // More than any concept here has: no association is left out.
            per_concept: 30,
            ..ExpandOptions::default()
        };
        let seeds: Vec<(ConceptId, f64)> = hits
            .iter()
            .zip(&scores)
            .map(|(h, s)| (id(&names[*h]), *s))
            .collect();
        let reached = m.db().expand(&seeds, &options).expect("expand");

        // Every trail, enumerated.
        let mut hops: Vec<Vec<(usize, f32)>> = vec![Vec::new(); 24];
        for ((s, t, _), c) in &edges {
            hops[*s].push((*t, *c));
            if options.direction == Direction::Both {
                hops[*t].push((*s, *c));
            }
        }
        assert!(hops.iter().all(|h| h.len() <= 30), "round {round}");
        let mut best: HashMap<usize, f64> = HashMap::new();
        fn walk(
            at: usize,
            score: f64,
            left: u32,
            on: &mut Vec<usize>,
            hops: &[Vec<(usize, f32)>],
            hits: &[usize],
            best: &mut HashMap<usize, f64>,
        ) {
            if left == 0 {
                return;
            }
            for (to, c) in &hops[at] {
                if hits.contains(to) || on.contains(to) {
                    continue;
                }
                let s = score * f64::from(*c);
                let b = best.entry(*to).or_insert(f64::MIN);
                *b = b.max(s);
                on.push(*to);
                walk(*to, s, left - 1, on, hops, hits, best);
                on.pop();
            }
        }
        for (h, s) in hits.iter().zip(&scores) {
            walk(
                *h,
                *s,
                options.depth,
                &mut vec![*h],
                &hops,
                &hits,
                &mut best,
            );
        }
        let got: HashMap<usize, f64> = reached
            .iter()
            .map(|r| {
                let i = names.iter().position(|n| id(n) == r.id).expect("known");
                (i, r.score)
            })
            .collect();
        assert_eq!(got, best, "round {round}");
        // Each trail starts at a hit, joins up, and gives its score.
        for r in &reached {
            let start = r.trail[0].from();
            let (_, hit_score) = seeds.iter().find(|(h, _)| *h == start).expect("from a hit");
            let product = r.trail.iter().fold(*hit_score, |s, step| {
                s * f64::from(step.association.confidence)
            });
            assert_eq!(product, r.score, "round {round}");
            assert!(r.trail.windows(2).all(|w| w[0].to() == w[1].from()));
            assert_eq!(r.trail.last().map(|s| s.to()), Some(r.id));
            assert!(r.trail.len() as u32 <= options.depth);
        }
        // Best first, ties by id.
        assert!(reached
            .windows(2)
            .all(|w| w[0].score > w[1].score || (w[0].score == w[1].score && w[0].id < w[1].id)));
    }
}
