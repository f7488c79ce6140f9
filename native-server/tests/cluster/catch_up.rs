//! A node that missed more state than the log keeps catches up from a snapshot, streamed from
//! the leader's disk: the state is `SUTRA_CLUSTER_CATCH_UP_MIB` MiB (default 310, so that the
//! last snapshot, taken every 100 entries of 1 MiB, holds at least 256 MiB) when a fourth node
//! is added; writes go on meanwhile. It installs at most 2 snapshots, receives at least 256
//! MiB, ends with the leader's state, and the leader's resident memory grows by less than 64
//! MiB while it sends.

use super::*;

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn metric(agent: &ureq::Agent, node: &Node, name: &str) -> u64 {
    let text = send(agent, "GET", &node.url("/metrics"), None).expect("metrics");
    let text = text.body.as_str().expect("text").to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn applied(agent: &ureq::Agent, node: &Node) -> u64 {
    send(agent, "GET", &node.url("/v1/health"), None)
        .and_then(|a| a.body["cluster"]["applied"].as_u64())
        .unwrap_or(0)
}

/// How many times a batch of the fill is sent before the test gives up on it.
const FILL_ATTEMPTS: u32 = 10;

#[test]
fn a_node_that_missed_256_mib_catches_up_from_one_streamed_snapshot() {
    let _serial = serial();
    let mib = env_number("SUTRA_CLUSTER_CATCH_UP_MIB", 310).max(1);
    // A snapshot every 100 entries, as many kept after it: with 1 MiB entries the log keeps
    // 100-200 MiB, less than the state.
    let mut cluster = Cluster::start_with(3, None, &["--snapshot-every", "100"]);
    let agent = agent();
    let leader = cluster.leader(Duration::from_secs(20));
    let url = cluster.node(leader).url("");
    let made = send(
        &agent,
        "POST",
        &format!("{url}/v1/memories"),
        Some(&json!({"name": "big"})),
    )
    .expect("answer");
    assert_eq!(made.status, 201, "{:?}", made.body);
    // 1 MiB a batch: four concepts of 250 KiB.
    let filler = "m".repeat(250 * 1024 - 16);
    let started = Instant::now();
    let (mut slowest, mut sent_again) = (Duration::ZERO, 0);
    for batch in 0..mib {
        let sent = Instant::now();
        let ops: Vec<Value> = (0..4)
            .map(|i| json!({"op": "put_concept", "content": format!("{batch:06}-{i} {filler}")}))
            .collect();
        // Sent as a client of a cluster sends: with an Idempotency-Key, and again with the
        // same key when the answer is lost or `503` (on a slow disk a snapshot's hundreds of
        // megabytes can hold a commit past the leader's 5 s; the key applies it once).
        let body = json!({ "ops": ops });
        let key = format!("fill-{batch}");
        let mut attempts = 0;
        let answer = loop {
            attempts += 1;
            let answer = send_with(
                &agent,
                "POST",
                &format!("{url}/v1/memories/big/batch"),
                Some(&body),
                Some(&key),
            );
            match answer {
                Some(a) if a.status != 503 => break a,
                lost if attempts < FILL_ATTEMPTS => {
                    eprintln!("batch {batch} sent again: {:?}", lost.map(|a| a.body));
                    std::thread::sleep(Duration::from_millis(500));
                }
                lost => panic!("batch {batch}: {FILL_ATTEMPTS} attempts, the last {lost:?}"),
            }
        };
        assert_eq!(answer.status, 200, "batch {batch}: {:?}", answer.body);
        slowest = slowest.max(sent.elapsed());
        sent_again += attempts - 1;
    }
    eprintln!(
        "{mib} MiB written in {:.1} s (the slowest batch {:.1} s; {sent_again} sent again)",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64()
    );

    // Writes go on, slowly enough that the log still holds what follows the snapshot when
    // the new node has it (about 10 a second, against 100 entries kept).
    let stop = Arc::new(AtomicBool::new(false));
    let apis: Vec<String> = (1..=3).map(|id| cluster.node(id).url("")).collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, apis) = (stop.clone(), apis.clone());
            std::thread::spawn(move || {
                let agent = super::agent();
                let (mut acked, mut unknown) = (Vec::new(), 0);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let content = format!("during catch-up {w}-{n}");
                    let key = format!("during-{w}-{n}");
                    // Keyed, and sent again (through the next node) while the outcome is
                    // unknown, as the fill is.
                    let answer = (0..FILL_ATTEMPTS as usize).find_map(|attempt| {
                        let api = &apis[(n + attempt) % apis.len()];
                        let answer = send_with(
                            &agent,
                            "POST",
                            &format!("{api}/v1/memories/big/concepts"),
                            Some(&concept(&content)),
                            Some(&key),
                        )
                        .filter(|a| a.status != 503);
                        if answer.is_none() {
                            std::thread::sleep(Duration::from_millis(500));
                        }
                        answer
                    });
                    match answer {
                        Some(answer) => {
                            assert_eq!(answer.status, 200, "{content}: {:?}", answer.body);
                            let id = answer.body["id"].as_str().expect("id").to_string();
                            acked.push((content, id));
                        }
                        None => unknown += 1,
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                (acked, unknown)
            })
        })
        .collect();

    // Leadership may have moved while the fill's snapshots were written (on a slow disk).
    let leader = cluster.leader(Duration::from_secs(20));
    let pid = cluster.node(leader).child.as_ref().expect("leader").id();
    let before = rss(pid);
    let _dir4 = start_fourth(&mut cluster);
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let caught_up_from = Instant::now();
    let added = cluster_cli(
        &cluster.node(leader).url(""),
        &[
            "add",
            "--id",
            "4",
            "--api",
            &cluster.nodes[3].api,
            "--cluster",
            &cluster.nodes[3].raft,
        ],
    );
    assert!(added.contains("learner"), "{added}");
    let target = applied(&agent, cluster.node(leader));
    while applied(&agent, cluster.node(4)) < target {
        assert!(
            caught_up_from.elapsed() < Duration::from_secs(180),
            "node 4 did not catch up in 180 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = caught_up_from.elapsed();
    sampling.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("sampler");
    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut unknown) = (Vec::new(), 0);
    for writer in writers {
        let (a, u) = writer.join().expect("writer");
        acked.extend(a);
        unknown += u;
    }
    assert!(!acked.is_empty(), "writes went on during the catch-up");

    let node4 = &cluster.nodes[3];
    let installed = metric(&agent, node4, "sutra_cluster_snapshots_installed_total");
    let received = metric(&agent, node4, "sutra_cluster_snapshot_received_bytes_total");
    let sent = metric(
        &agent,
        cluster.node(leader),
        "sutra_cluster_snapshot_sent_bytes_total",
    );
    let build_ms = metric(
        &agent,
        cluster.node(leader),
        "sutra_cluster_snapshot_build_microseconds",
    ) / 1000;
    let install_ms = metric(&agent, node4, "sutra_cluster_snapshot_install_microseconds") / 1000;
    eprintln!(
        "the leader's last snapshot took {build_ms} ms to build; node 4's install {install_ms} ms"
    );
    let grew = peak.saturating_sub(before);
    eprintln!(
        "node 4 caught up in {:.1} s: {installed} snapshot(s) installed, {} MiB received ({} MiB sent by the leader); the leader's resident memory {} MiB before, peak {} MiB (+{:.1} MiB); {} writes acknowledged meanwhile ({unknown} unknown)",
        took.as_secs_f64(),
        received >> 20,
        sent >> 20,
        before >> 20,
        peak >> 20,
        grew as f64 / (1 << 20) as f64,
        acked.len()
    );
    assert!(
        (1..=2).contains(&installed),
        "{installed} snapshots installed"
    );
    if mib >= 310 {
        assert!(
            received >= 256 << 20,
            "{received} bytes received for {mib} MiB of state"
        );
    }
    assert!(
        grew < 64 << 20,
        "the leader's memory grew by {grew} bytes while it sent"
    );

    // Node 4 holds what the leader holds: every concept, those written during the catch-up
    // included (read on node 4 after it applied everything the leader had).
    let last = applied(&agent, cluster.node(leader));
    let waited = Instant::now();
    while applied(&agent, node4) < last {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "node 4 stays behind"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = |node: &Node| {
        send(&agent, "GET", &node.url("/v1/memories/big"), None)
            .expect("stats")
            .body["concepts"]
            .as_u64()
            .expect("concepts")
    };
    assert_eq!(count(node4), count(cluster.node(leader)));
    // Every acknowledged write, and none but those whose outcome stayed unknown.
    let held = count(node4);
    let least = (mib * 4 + acked.len()) as u64;
    assert!(
        (least..=least + unknown).contains(&held),
        "{held} concepts: {least} acknowledged, {unknown} unknown"
    );
    for (content, id) in &acked {
        let found = send(
            &agent,
            "GET",
            &node4.url(&format!("/v1/memories/big/concepts/{id}?consistency=stale")),
            None,
        )
        .expect("concept")
        .body["content"]
            .as_str()
            .map(str::to_string);
        assert_eq!(
            found.as_deref(),
            Some(content.as_str()),
            "{content} on node 4"
        );
    }
}
