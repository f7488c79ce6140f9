//! Workload 5: shortest paths and 2-hop neighbourhoods against SQLite recursive queries.

use super::*;
use sutra_core::ValidAt;

/// The time reads see associations at, as a server's reads do by default ("now").
const NOW: ValidAt = ValidAt::Time(1_800_000_000_000);

/// 5: shortest path and 2-hop neighbourhood.
pub(crate) fn graph(s: &Scale, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp");
    let mut rng = Rng::new(5);
    let n = s.graph_nodes;
    let edges: Vec<(usize, usize)> = (0..n * s.graph_degree)
        .map(|i| (i / s.graph_degree, rng.below(n as u64) as usize))
        .filter(|(a, b)| a != b)
        .collect();
    let storage = FileStorage::open(&dir.path().join("w5")).expect("storage");
    let (mut memory, _) = Memory::open(storage, Options::default()).expect("memory");
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        memory
            .write(chunk.iter().map(|&i| concept_op(i, None)).collect())
            .expect("concepts");
    }
    for chunk in edges.chunks(5000) {
        let ops = chunk
            .iter()
            .map(|&(a, b)| {
                Op::put_association(
                    ConceptId(a as u128 + 1),
                    ConceptId(b as u128 + 1),
                    Kind::Causal,
                    0.9,
                    1.0,
                    1,
                )
            })
            .collect();
        memory.write(ops).expect("edges");
    }
    let c = sqlite(&dir.path().join("w5.sqlite"));
    c.execute_batch("BEGIN").expect("begin");
    {
        let mut stmt = c
            .prepare(
                "INSERT OR IGNORE INTO edges (src, dst, kind, confidence) VALUES (?1, ?2, 1, 0.9)",
            )
            .expect("prepare");
        for &(a, b) in &edges {
            stmt.execute(params![a as i64, b as i64]).expect("edge");
        }
    }
    c.execute_batch("COMMIT").expect("commit");
    let pairs: Vec<(usize, usize)> = (0..s.graph_queries)
        .map(|_| (rng.below(n as u64) as usize, rng.below(n as u64) as usize))
        .collect();
    let depth = 4u32;
    let opts = PathOptions {
        max_depth: depth,
        visited_max: 2_000_000,
        direction: Direction::Forward,
        kinds: KindSet::ALL,
        // What a server's read asks by default: the associations that hold now.
        valid_at: NOW,
    };
    let db = memory.db();
    let started = Instant::now();
    let mut sutra_hops = Vec::new();
    for &(a, b) in &pairs {
        let r = db
            .shortest_path(ConceptId(a as u128 + 1), ConceptId(b as u128 + 1), &opts)
            .expect("path");
        sutra_hops.push(r.paths.first().map(|p| p.steps.len() as i64));
    }
    let sutra = rate(pairs.len(), started.elapsed());
    let mut stmt = c
        .prepare(
            "WITH RECURSIVE reach(node, depth) AS (SELECT ?1, 0 UNION SELECT e.dst, r.depth + 1 FROM reach r JOIN edges e ON e.src = r.node WHERE r.depth < ?3)
             SELECT min(depth) FROM reach WHERE node = ?2",
        )
        .expect("prepare");
    let started = Instant::now();
    let mut peer_hops = Vec::new();
    for &(a, b) in &pairs {
        let hops: Option<i64> = stmt
            .query_row(params![a as i64, b as i64, depth], |r| r.get(0))
            .expect("cte");
        peer_hops.push(hops);
    }
    let peer = rate(pairs.len(), started.elapsed());
    assert_eq!(
        sutra_hops, peer_hops,
        "both sides must find the same path lengths"
    );
    rows.push(Row {
        id: "5a",
        workload: format!(
            "shortest path (≤ {depth} hops), {n} concepts / {} associations",
            edges.len()
        ),
        sutra: fmt_rate(sutra, "queries"),
        peer: format!("SQLite recursive CTE: {}", fmt_rate(peer, "queries")),
        ratio: Some(sutra / peer),
        target: "≥ 10×",
        met: Some(sutra / peer >= 10.0),
    });
    let centres: Vec<usize> = (0..s.hood_queries)
        .map(|_| rng.below(n as u64) as usize)
        .collect();
    // Both sides answer the same question: every concept within two hops (with its distance) and
    // every association among them.
    type Hood = (Vec<(i64, i64)>, Vec<(i64, i64)>);
    let started = Instant::now();
    let mut sutra_hoods = Vec::with_capacity(centres.len());
    for &a in &centres {
        sutra_hoods.push(
            db.neighbourhood(
                ConceptId(a as u128 + 1),
                2,
                Direction::Forward,
                KindSet::ALL,
                NOW,
                2000,
            )
            .expect("hood"),
        );
    }
    let sutra = rate(centres.len(), started.elapsed());
    let sutra_hoods: Vec<Hood> = sutra_hoods
        .into_iter()
        .map(|h| {
            let id = |c: ConceptId| c.0 as i64 - 1;
            let mut nodes: Vec<(i64, i64)> = h
                .concepts
                .iter()
                .map(|&(c, d)| (id(c), i64::from(d)))
                .collect();
            let mut links: Vec<(i64, i64)> = h
                .associations
                .iter()
                .map(|a| (id(a.source), id(a.target)))
                .collect();
            nodes.sort_unstable();
            links.sort_unstable();
            (nodes, links)
        })
        .collect();
    // SQLite's best plan here is a breadth-first walk in the application over the primary key:
    // one single-statement recursive CTE that also lists the associations among the concepts
    // measured 4× slower.
    let mut out_stmt = c
        .prepare("SELECT dst FROM edges WHERE src = ?1")
        .expect("prepare");
    let started = Instant::now();
    let mut peer_rows = Vec::with_capacity(centres.len());
    for &a in &centres {
        let mut depth_of: HashMap<i64, i64> = HashMap::from([(a as i64, 0)]);
        let mut order = vec![a as i64];
        let mut outs: Vec<Vec<i64>> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let node = order[i];
            let dsts: Vec<i64> = out_stmt
                .query_map(params![node], |r| r.get(0))
                .expect("out")
                .collect::<Result<_, _>>()
                .expect("rows");
            let d = depth_of[&node];
            if d < 2 {
                for &t in &dsts {
                    if let std::collections::hash_map::Entry::Vacant(e) = depth_of.entry(t) {
                        e.insert(d + 1);
                        order.push(t);
                    }
                }
            }
            outs.push(dsts);
            i += 1;
        }
        let mut found: Vec<(i64, i64, i64)> = order.iter().map(|n| (0, *n, depth_of[n])).collect();
        for (n, dsts) in order.iter().zip(&outs) {
            found.extend(
                dsts.iter()
                    .filter(|t| depth_of.contains_key(t))
                    .map(|t| (1, *n, *t)),
            );
        }
        peer_rows.push(found);
    }
    let peer = rate(centres.len(), started.elapsed());
    let peer_hoods: Vec<Hood> = peer_rows
        .into_iter()
        .map(|found| {
            let (mut nodes, mut links): Hood = (Vec::new(), Vec::new());
            for (tag, x, y) in found {
                if tag == 0 {
                    nodes.push((x, y))
                } else {
                    links.push((x, y))
                }
            }
            nodes.sort_unstable();
            links.sort_unstable();
            (nodes, links)
        })
        .collect();
    assert!(
        sutra_hoods == peer_hoods,
        "both sides must find the same neighbourhoods (concepts, distances and associations)"
    );
    rows.push(Row {
        id: "5b",
        workload: "2-hop neighbourhood (concepts, distances, associations among them), same graph"
            .into(),
        sutra: fmt_rate(sutra, "queries"),
        peer: format!(
            "SQLite, breadth-first over the primary key: {}",
            fmt_rate(peer, "queries")
        ),
        ratio: Some(sutra / peer),
        target: "≥ 10×",
        met: Some(sutra / peer >= 10.0),
    });
}
