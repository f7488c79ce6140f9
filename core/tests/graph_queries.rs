//! Path queries on hand-built graphs with known answers, and against brute force on random ones.

use sutra_core::sim::{Rng, SimDisk, SimStorage};
use sutra_core::{
    ConceptId, ConceptInput, Direction, Kind, KindSet, Memory, Op, Options, PathOptions, ValidAt,
};

fn memory() -> Memory<SimStorage> {
    Memory::open(SimDisk::new(1).open(), Options::default())
        .expect("open")
        .0
}

fn cid(name: &str) -> ConceptId {
    ConceptId::from_content(name)
}

/// Builds a memory from `(source, target, kind, confidence)` edges between named concepts.
fn graph(edges: &[(&str, &str, Kind, f32)]) -> Memory<SimStorage> {
    let mut m = memory();
    let mut names: Vec<&str> = edges.iter().flat_map(|e| [e.0, e.1]).collect();
    names.sort_unstable();
    names.dedup();
    let mut ops: Vec<Op> = names
        .iter()
        .map(|n| Op::put_concept(ConceptInput::new(*n), 1))
        .collect();
    ops.extend(
        edges
            .iter()
            .map(|(s, t, k, c)| Op::put_association(cid(s), cid(t), *k, *c, 1.0, 2)),
    );
    m.write(ops).expect("write graph");
    m
}

fn names(path: &sutra_core::Path, all: &[&str]) -> Vec<String> {
    path.concepts
        .iter()
        .map(|id| {
            all.iter()
                .find(|n| cid(n) == *id)
                .map_or_else(|| id.to_string(), |n| n.to_string())
        })
        .collect()
}

const NAMES: [&str; 9] = ["A", "B", "C", "D", "E", "F", "G", "H", "X"];

fn sample() -> Memory<SimStorage> {
    use Kind::*;
    graph(&[
        ("A", "B", Causal, 0.9),
        ("B", "C", Causal, 0.9),
        ("C", "D", Causal, 0.9),
        ("A", "E", Semantic, 0.5),
        ("E", "D", Semantic, 0.4),
        ("A", "F", Temporal, 0.95),
        ("F", "G", Temporal, 0.95),
        ("G", "H", Temporal, 0.95),
        ("H", "D", Temporal, 0.95),
        ("A", "B", Semantic, 0.3),
        ("X", "A", Hierarchical, 0.7),
    ])
}

#[test]
fn shortest_path_takes_fewest_hops_and_reports_the_trail() {
    let m = sample();
    let r = m
        .db()
        .shortest_path(cid("A"), cid("D"), &PathOptions::default())
        .expect("query");
    assert!(!r.budget_exhausted);
    assert_eq!(r.paths.len(), 1);
    let p = &r.paths[0];
    assert_eq!(names(p, &NAMES), ["A", "E", "D"]);
    assert_eq!(p.steps.len(), 2);
    assert_eq!(p.steps[0].association.kind, Kind::Semantic);
    assert_eq!(p.steps[1].association.confidence, 0.4);
    assert!((p.confidence - 0.2).abs() < 1e-6);

    // Only causal links: the long way round.
    let causal = PathOptions {
        kinds: KindSet::of(&[Kind::Causal]),
        ..PathOptions::default()
    };
    let r = m
        .db()
        .shortest_path(cid("A"), cid("D"), &causal)
        .expect("query");
    assert_eq!(names(&r.paths[0], &NAMES), ["A", "B", "C", "D"]);
    // A→B has two associations: the more confident one is reported.
    let all = m
        .db()
        .shortest_path(cid("A"), cid("B"), &PathOptions::default())
        .expect("query");
    assert_eq!(all.paths[0].steps[0].association.kind, Kind::Causal);

    // Forward only: no way back from D to A. Both ways: D → E → A, walked against the arrows.
    let none = m
        .db()
        .shortest_path(cid("D"), cid("A"), &PathOptions::default())
        .expect("query");
    assert!(none.paths.is_empty() && !none.budget_exhausted);
    let both = PathOptions {
        direction: Direction::Both,
        ..PathOptions::default()
    };
    let back = m
        .db()
        .shortest_path(cid("D"), cid("A"), &both)
        .expect("query");
    assert_eq!(names(&back.paths[0], &NAMES), ["D", "E", "A"]);
    assert!(back.paths[0].steps.iter().all(|s| s.reversed));
    assert_eq!(back.paths[0].steps[0].association.source, cid("E"));

    // Depth limit.
    let shallow = PathOptions {
        max_depth: 1,
        ..PathOptions::default()
    };
    assert!(m
        .db()
        .shortest_path(cid("A"), cid("D"), &shallow)
        .expect("query")
        .paths
        .is_empty());
    // Same concept: a path of no hops.
    let same = m
        .db()
        .shortest_path(cid("A"), cid("A"), &PathOptions::default())
        .expect("query");
    assert_eq!(same.paths[0].concepts, vec![cid("A")]);
    assert_eq!(same.paths[0].confidence, 1.0);
}

#[test]
fn most_confident_path_maximises_the_product() {
    let m = sample();
    let r = m
        .db()
        .most_confident_path(cid("A"), cid("D"), &PathOptions::default())
        .expect("query");
    let p = &r.paths[0];
    assert_eq!(names(p, &NAMES), ["A", "F", "G", "H", "D"]);
    assert!((p.confidence - 0.95f32.powi(4)).abs() < 1e-5);
    // Within three hops the causal chain wins; the depth limit is exact.
    let three = PathOptions {
        max_depth: 3,
        ..PathOptions::default()
    };
    let r = m
        .db()
        .most_confident_path(cid("A"), cid("D"), &three)
        .expect("query");
    assert_eq!(names(&r.paths[0], &NAMES), ["A", "B", "C", "D"]);
    assert!((r.paths[0].confidence - 0.729).abs() < 1e-5);
}

#[test]
fn k_best_paths_in_order_with_parallel_associations_distinct() {
    let m = sample();
    let r = m
        .db()
        .k_best_paths(cid("A"), cid("D"), 10, &PathOptions::default())
        .expect("query");
    let found: Vec<(Vec<String>, f32)> = r
        .paths
        .iter()
        .map(|p| (names(p, &NAMES), p.confidence))
        .collect();
    // A→B exists twice (causal 0.9, semantic 0.3), so A-B-C-D appears twice.
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(found[0].0, ["A", "F", "G", "H", "D"]);
    assert_eq!(found[1].0, ["A", "B", "C", "D"]);
    assert!((found[1].1 - 0.729).abs() < 1e-5);
    assert_eq!(found[2].0, ["A", "B", "C", "D"]);
    assert!((found[2].1 - 0.243).abs() < 1e-5);
    assert_eq!(found[3].0, ["A", "E", "D"]);
    assert_eq!(r.paths[2].steps[0].association.kind, Kind::Semantic);
    let two = m
        .db()
        .k_best_paths(cid("A"), cid("D"), 2, &PathOptions::default())
        .expect("query");
    assert_eq!(two.paths.len(), 2);
}

#[test]
fn limits_and_unknown_concepts_are_clear_errors() {
    let m = sample();
    let deep = PathOptions {
        max_depth: 17,
        ..PathOptions::default()
    };
    let err = m
        .db()
        .shortest_path(cid("A"), cid("D"), &deep)
        .expect_err("too deep");
    assert_eq!(
        err.to_string(),
        "max_depth is too large: 17 exceeds the limit of 16"
    );
    let err = m
        .db()
        .k_best_paths(cid("A"), cid("D"), 11, &PathOptions::default())
        .expect_err("k");
    assert_eq!(err.code(), "limit_exceeded");
    let err = m
        .db()
        .most_confident_path(cid("A"), cid("nope"), &PathOptions::default())
        .expect_err("missing");
    assert_eq!(err.code(), "concept_not_found");
    assert!(err.to_string().contains(&cid("nope").to_string()));
}

#[test]
fn searches_stop_at_their_budget_and_say_so() {
    // A chain of 200 concepts plus a dense fan at the start.
    let mut m = memory();
    let mut ops: Vec<Op> = (0..200)
        .map(|i| Op::put_concept(ConceptInput::new(format!("n{i}")), 1))
        .collect();
    for i in 0..199 {
        ops.push(Op::put_association(
            cid(&format!("n{i}")),
            cid(&format!("n{}", i + 1)),
            Kind::Causal,
            0.9,
            1.0,
            1,
        ));
    }
    for i in 2..150 {
        ops.push(Op::put_association(
            cid("n0"),
            cid(&format!("n{i}")),
            Kind::Semantic,
            0.1,
            1.0,
            1,
        ));
    }
    m.write(ops).expect("write");
    let tight = PathOptions {
        max_depth: 16,
        visited_max: 5,
        direction: Direction::Forward,
        kinds: KindSet::ALL,
        valid_at: ValidAt::Any,
    };
    let r = m
        .db()
        .most_confident_path(cid("n0"), cid("n199"), &tight)
        .expect("query");
    assert!(r.paths.is_empty());
    assert!(r.budget_exhausted);
    assert_eq!(r.visited, 5);
    let r = m
        .db()
        .shortest_path(cid("n0"), cid("n199"), &tight)
        .expect("query");
    assert!(r.budget_exhausted && r.paths.is_empty());
    let r = m
        .db()
        .k_best_paths(cid("n0"), cid("n199"), 3, &tight)
        .expect("query");
    assert!(r.budget_exhausted);
    // With enough budget the path is found (n0 → n149 → … is 51 hops: beyond 16, so none).
    let roomy = PathOptions {
        max_depth: 16,
        visited_max: 100_000,
        ..tight
    };
    let r = m
        .db()
        .shortest_path(cid("n0"), cid("n160"), &roomy)
        .expect("query");
    assert!(!r.budget_exhausted);
    assert_eq!(r.paths[0].steps.len(), 12, "n0 → n149 → … → n160");
}

/// All simple paths from `from` to `to` with at most `depth` hops, as products of confidences.
fn brute_force(edges: &[(usize, usize, f32)], from: usize, to: usize, depth: usize) -> Vec<f32> {
    fn walk(
        edges: &[(usize, usize, f32)],
        at: usize,
        to: usize,
        depth: usize,
        seen: &mut Vec<usize>,
        conf: f64,
        out: &mut Vec<f32>,
    ) {
        if at == to {
            out.push(conf as f32);
            return;
        }
        if depth == 0 {
            return;
        }
        for &(s, t, c) in edges {
            if s == at && !seen.contains(&t) && c > 0.0 {
                seen.push(t);
                walk(edges, t, to, depth - 1, seen, conf * f64::from(c), out);
                seen.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(edges, from, to, depth, &mut vec![from], 1.0, &mut out);
    out.sort_by(|a, b| b.total_cmp(a));
    out
}

#[test]
fn k_best_paths_match_brute_force_on_random_graphs() {
    let mut rng = Rng::new(42);
    for round in 0..60 {
        let n = 6 + rng.below(5) as usize;
        let mut edges: Vec<(usize, usize, f32)> = Vec::new();
        for s in 0..n {
            for t in 0..n {
                if s != t && rng.chance(30) {
                    edges.push((s, t, 0.05 + rng.unit_f32() * 0.95));
                }
            }
        }
        let mut m = memory();
        let mut ops: Vec<Op> = (0..n)
            .map(|i| Op::put_concept(ConceptInput::new(format!("v{i}")), 1))
            .collect();
        ops.extend(edges.iter().map(|(s, t, c)| {
            Op::put_association(
                cid(&format!("v{s}")),
                cid(&format!("v{t}")),
                Kind::Semantic,
                *c,
                1.0,
                1,
            )
        }));
        m.write(ops).expect("write");
        let depth = 2 + rng.below(4) as usize;
        let opts = PathOptions {
            max_depth: depth as u32,
            ..PathOptions::default()
        };
        let expected = brute_force(&edges, 0, n - 1, depth);
        let got = m
            .db()
            .k_best_paths(cid("v0"), cid(&format!("v{}", n - 1)), 10, &opts)
            .expect("query");
        let confidences: Vec<f32> = got.paths.iter().map(|p| p.confidence).collect();
        let want: Vec<f32> = expected.iter().take(10).copied().collect();
        assert_eq!(
            confidences.len(),
            want.len(),
            "round {round}: {confidences:?} vs {want:?}"
        );
        for (a, b) in confidences.iter().zip(&want) {
            assert!(
                (a - b).abs() < 1e-5,
                "round {round}: {confidences:?} vs {want:?}"
            );
        }
        for p in &got.paths {
            assert!(p.steps.len() <= depth);
            let mut seen = p.concepts.clone();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(
                seen.len(),
                p.concepts.len(),
                "round {round}: path has a loop"
            );
        }
        // The shortest path has as few hops as the fewest-hop brute-force path.
        let shortest = m
            .db()
            .shortest_path(cid("v0"), cid(&format!("v{}", n - 1)), &opts)
            .expect("query");
        assert_eq!(
            shortest.paths.is_empty(),
            expected.is_empty(),
            "round {round}"
        );
    }
}

#[test]
fn neighbourhood_is_bounded() {
    let m = sample();
    let n = m
        .db()
        .neighbourhood(
            cid("A"),
            1,
            Direction::Forward,
            KindSet::ALL,
            ValidAt::Any,
            100,
        )
        .expect("query");
    let mut ids: Vec<ConceptId> = n.concepts.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let mut want = vec![cid("A"), cid("B"), cid("E"), cid("F")];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert_eq!(n.concepts[0], (cid("A"), 0));
    assert_eq!(n.associations.len(), 4, "A→B twice, A→E, A→F");
    let cut = m
        .db()
        .neighbourhood(cid("A"), 3, Direction::Both, KindSet::ALL, ValidAt::Any, 3)
        .expect("query");
    assert_eq!(cut.concepts.len(), 3);
    assert!(cut.truncated);
    assert_eq!(
        m.db()
            .neighbourhood(cid("A"), 5, Direction::Both, KindSet::ALL, ValidAt::Any, 3)
            .expect_err("deep")
            .code(),
        "limit_exceeded"
    );
}

/// The neighbourhood against a breadth-first search written plainly over the full list of
/// associations, on random graphs that grew and shrank (deleted associations and concepts, loops,
/// parallel associations of different kinds): same concepts in the same order, same distances,
/// same associations in the same order.
#[test]
fn neighbourhood_matches_a_plain_search_on_random_graphs() {
    use std::collections::{BTreeMap, VecDeque};
    let mut rng = Rng::new(7);
    let kinds = [Kind::Semantic, Kind::Causal, Kind::Temporal];
    let mut compared = 0;
    for round in 0..40 {
        let n = 5 + rng.below(25) as usize;
        let id = |i: usize| cid(&format!("n{i}"));
        let mut m = memory();
        m.write(
            (0..n)
                .map(|i| Op::put_concept(ConceptInput::new(format!("n{i}")), 1))
                .collect(),
        )
        .expect("concepts");
        let mut alive = vec![true; n];
        for _ in 0..(n * 4) {
            let (s, t) = (rng.below(n as u64) as usize, rng.below(n as u64) as usize);
            if !alive[s] || !alive[t] {
                continue;
            }
            let kind = kinds[rng.below(3) as usize];
            let op = match rng.below(20) {
                0 => {
                    alive[s] = false;
                    Op::DeleteConcept { id: id(s) }
                }
                1..=3 => Op::DeleteAssociation {
                    key: sutra_core::AssociationKey {
                        source: id(s),
                        target: id(t),
                        kind,
                        label: sutra_core::Label::EMPTY,
                    },
                },
                _ => Op::put_association(id(s), id(t), kind, rng.unit_f32(), 1.0, 1),
            };
            // Deleting an association that does not exist is refused; that is fine here.
            let _ = m.write(vec![op]);
        }
        let db = m.db();
        let all: Vec<_> = db.all_associations().collect();
        for centre in (0..n).filter(|&i| alive[i]) {
            for direction in [Direction::Forward, Direction::Both] {
                let depth = rng.below(4) as u32;
                let allowed = if rng.chance(50) {
                    KindSet::ALL
                } else {
                    KindSet::of(&[Kind::Semantic, Kind::Temporal])
                };
                let got = db
                    .neighbourhood(id(centre), depth, direction, allowed, ValidAt::Any, 1000)
                    .expect("query");
                // Plain: expand out-associations in (target, kind) order, then (when both ways)
                // in-associations in (source, kind) order.
                let mut dist: BTreeMap<ConceptId, u32> = BTreeMap::new();
                let mut order = vec![(id(centre), 0)];
                dist.insert(id(centre), 0);
                let mut queue = VecDeque::from([(id(centre), 0u32)]);
                while let Some((node, d)) = queue.pop_front() {
                    if d >= depth {
                        continue;
                    }
                    let mut out: Vec<_> = all
                        .iter()
                        .filter(|a| a.source == node && allowed.contains(a.kind))
                        .map(|a| (a.target, a.kind))
                        .collect();
                    out.sort();
                    let mut inc: Vec<_> = all
                        .iter()
                        .filter(|a| {
                            direction == Direction::Both
                                && a.target == node
                                && allowed.contains(a.kind)
                        })
                        .map(|a| (a.source, a.kind))
                        .collect();
                    inc.sort();
                    for (next, _) in out.into_iter().chain(inc) {
                        if let std::collections::btree_map::Entry::Vacant(e) = dist.entry(next) {
                            e.insert(d + 1);
                            order.push((next, d + 1));
                            queue.push_back((next, d + 1));
                        }
                    }
                }
                let mut links = Vec::new();
                for (source, _) in &order {
                    let mut from: Vec<_> = all
                        .iter()
                        .filter(|a| {
                            a.source == *source
                                && allowed.contains(a.kind)
                                && dist.contains_key(&a.target)
                        })
                        .cloned()
                        .collect();
                    from.sort_by_key(|a| (a.target, a.kind));
                    links.extend(from);
                }
                assert_eq!(got.concepts, order, "round {round}, centre {centre}");
                assert_eq!(got.associations, links, "round {round}, centre {centre}");
                assert!(!got.truncated);
                compared += got.associations.len();
            }
        }
    }
    assert!(
        compared > 1000,
        "the graphs must have associations: {compared}"
    );
}

/// A search cut by its depth limit says so, instead of reading as "no path exists"; one that
/// explored everything reachable does not.
#[test]
fn a_search_cut_by_its_depth_limit_says_so() {
    use Kind::*;
    // A chain of 8 hops, and a dead end: nothing leads on from "end".
    let mut edges = Vec::new();
    let chain: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
    for pair in chain.windows(2) {
        edges.push((pair[0].as_str(), pair[1].as_str(), Causal, 0.9));
    }
    edges.push(("c0", "end", Semantic, 0.5));
    let m = graph(&edges);
    let db = m.db();
    let at = |depth: u32| PathOptions {
        max_depth: depth,
        ..PathOptions::default()
    };
    for depth in [1, 4, 6, 7] {
        let short = db
            .shortest_path(cid("c0"), cid("c8"), &at(depth))
            .expect("q");
        assert!(short.paths.is_empty());
        assert!(!short.budget_exhausted);
        assert!(short.depth_limited, "shortest at depth {depth}");
        let confident = db
            .most_confident_path(cid("c0"), cid("c8"), &at(depth))
            .expect("q");
        assert!(confident.paths.is_empty() && confident.depth_limited);
        let k = db
            .k_best_paths(cid("c0"), cid("c8"), 3, &at(depth))
            .expect("q");
        assert!(k.paths.is_empty() && k.depth_limited);
    }
    // Deep enough: found, and the shortest path is not depth-limited.
    let found = db.shortest_path(cid("c0"), cid("c8"), &at(8)).expect("q");
    assert_eq!(found.paths[0].steps.len(), 8);
    assert!(!found.depth_limited);
    // Everything reachable explored within the limit: no path, and not depth-limited.
    let dead = db.shortest_path(cid("end"), cid("c8"), &at(2)).expect("q");
    assert!(dead.paths.is_empty() && !dead.depth_limited);
    let dead = db
        .most_confident_path(cid("c3"), cid("end"), &at(16))
        .expect("q");
    assert!(dead.paths.is_empty() && !dead.depth_limited);
    // Through the JSON answer too.
    let body: sutra_core::exchange::PathsBody = serde_json::from_value(serde_json::json!({
        "from": cid("c0").to_string(), "to": cid("c8").to_string(), "max_depth": 6
    }))
    .expect("body");
    let answer = serde_json::to_value(
        sutra_core::exchange::paths(&m.reader(), &body, 0, &sutra_core::Interrupt::new())
            .expect("q"),
    )
    .expect("serializes");
    assert_eq!(answer["paths"], serde_json::json!([]));
    assert_eq!(answer["depth_limited"], true);
    assert_eq!(answer["budget_exhausted"], false);
}

/// `n` concepts `r0`…, each with `degree` associations to random others (random kinds and
/// confidences in 0.5..1): a graph where k-best searches over both directions take long.
fn random_graph(n: usize, degree: usize, seed: u64) -> Memory<SimStorage> {
    let mut m = memory();
    let mut rng = Rng::new(seed);
    let ops: Vec<Op> = (0..n)
        .map(|i| Op::put_concept(ConceptInput::new(format!("r{i}")), 1))
        .collect();
    for chunk in ops.chunks(10_000) {
        m.write(chunk.to_vec()).expect("concepts");
    }
    let mut links = Vec::new();
    for i in 0..n {
        for _ in 0..degree {
            let j = rng.below(n as u64) as usize;
            let kind = Kind::ALL[rng.below(5) as usize];
            let conf = 0.5 + rng.unit_f32() / 2.0;
            links.push(Op::put_association(
                cid(&format!("r{i}")),
                cid(&format!("r{j}")),
                kind,
                conf.min(1.0),
                1.0,
                2,
            ));
        }
    }
    for chunk in links.chunks(10_000) {
        m.write(chunk.to_vec()).expect("links");
    }
    m
}

fn expensive(k: u32) -> sutra_core::PathQuery {
    sutra_core::PathQuery {
        from: cid("r0"),
        to: cid("r1"),
        algorithm: sutra_core::Algorithm::KBest(k),
        options: PathOptions {
            max_depth: 16,
            visited_max: 2_000_000,
            direction: Direction::Both,
            kinds: KindSet::ALL,
            valid_at: ValidAt::Any,
        },
    }
}

/// A long path query lets a waiting writer in between two concepts: the write is durable and
/// visible while the query is still running, and the query is stopped when its host raises
/// the interrupt. Before queries let writers in, the write waited for the whole query.
#[test]
fn a_long_path_query_lets_writes_in_and_stops_when_interrupted() {
    let mut m = random_graph(20_000, 5, 1);
    let reader = m.reader();
    let interrupt = std::sync::Arc::new(sutra_core::Interrupt::new());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let running = {
        let interrupt = interrupt.clone();
        std::thread::spawn(move || {
            started_tx.send(()).expect("signal");
            reader.paths(&expensive(10), &interrupt)
        })
    };
    started_rx.recv().expect("started");
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Writes while the query runs: each one goes through before the query ends.
    for i in 0..20 {
        m.write(vec![Op::put_concept(ConceptInput::new(format!("w{i}")), 3)])
            .expect("write during the query");
        assert!(
            !running.is_finished(),
            "the query is still running at write {i}"
        );
    }
    assert!(m.db().concept(cid("w19")).is_some());
    interrupt.raise();
    let answer = running.join().expect("query thread");
    assert_eq!(answer.expect_err("interrupted").code(), "interrupted");
}

/// Hops removed or changed while a query runs: every path it returns is as the state it says
/// it was read from (`seq`) has it — no hop removed at or before that sequence number, each
/// confidence the one of then.
#[test]
fn paths_returned_while_writes_go_on_are_as_of_the_state_they_name() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use sutra_core::AssociationKey;
    const ANSWERS: usize = 30;
    let mut m = random_graph(3_000, 4, 2);
    let reader = m.reader();
    // Every change the writer made: key → [(seq, confidence after it, None = removed)].
    type History = HashMap<(ConceptId, ConceptId, Kind), Vec<(u64, Option<f32>)>>;
    let history: Arc<Mutex<History>> = Arc::default();
    let answered = Arc::new(AtomicUsize::new(0));
    let queries = {
        let (answered, history) = (answered.clone(), history.clone());
        std::thread::spawn(move || {
            let (mut moved, mut conflicts) = (0, 0);
            let first = reader.db().counts().last_seq;
            while answered.load(Ordering::Relaxed) < ANSWERS {
                let result = match reader.paths(&expensive(4), &sutra_core::Interrupt::new()) {
                    Ok(result) => result,
                    Err(e) => {
                        assert_eq!(e.code(), "conflict", "{e}");
                        conflicts += 1;
                        continue;
                    }
                };
                let history = history.lock().expect("history");
                for p in &result.paths {
                    for s in &p.steps {
                        let a = &s.association;
                        let changes = history.get(&(a.source, a.target, a.kind));
                        let then = changes
                            .and_then(|c| c.iter().rev().find(|(seq, _)| *seq <= result.seq))
                            .map_or(Some(a.confidence), |(_, c)| *c);
                        assert_eq!(
                            then,
                            Some(a.confidence),
                            "hop {a:?} as of seq {}",
                            result.seq
                        );
                    }
                    let product: f64 = p
                        .steps
                        .iter()
                        .map(|s| f64::from(s.association.confidence))
                        .product();
                    assert!((f64::from(p.confidence) - product).abs() < 1e-6);
                }
                moved += usize::from(result.seq > first);
                answered.fetch_add(1, Ordering::Relaxed);
            }
            (moved, conflicts)
        })
    };
    // Remove associations of the concepts near r0 and change the confidence of others, one
    // write at a time, until the queries have answered enough.
    let near: Vec<(ConceptId, ConceptId, Kind)> = {
        let db = m.db();
        let mut near = Vec::new();
        for i in 0..300 {
            let id = cid(&format!("r{i}"));
            let listed = db
                .associations(
                    id,
                    sutra_core::Listing::Out,
                    KindSet::ALL,
                    ValidAt::Any,
                    0.0,
                    100,
                )
                .expect("list");
            near.extend(listed.iter().map(|a| (a.source, a.target, a.kind)));
        }
        near
    };
    let mut round = 0usize;
    while answered.load(Ordering::Relaxed) < ANSWERS && round < 200_000 {
        let (a, b, kind) = near[round % near.len()];
        round += 1;
        let mut history = history.lock().expect("history");
        let changes = history.entry((a, b, kind)).or_default();
        if changes.last().is_some_and(|(_, x)| x.is_none()) {
            continue; // removed for good
        }
        let (op, after) = if round.is_multiple_of(5) {
            let key = AssociationKey {
                source: a,
                target: b,
                kind,
                label: sutra_core::Label::EMPTY,
            };
            (Op::DeleteAssociation { key }, None)
        } else {
            let conf = 0.5 + (round % 50) as f32 / 100.0;
            (Op::put_association(a, b, kind, conf, 1.0, 5), Some(conf))
        };
        let seq = m.write(vec![op]).expect("write");
        changes.push((seq, after));
        drop(history);
        std::thread::yield_now();
    }
    answered.store(ANSWERS, Ordering::Relaxed);
    let (moved, conflicts) = queries.join().expect("queries");
    assert!(
        moved > 0,
        "answers read after writes: {moved} ({conflicts} conflicts)"
    );
}
