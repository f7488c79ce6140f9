//! Partitions and pauses of real nodes. The nodes reach each other through proxies the test
//! owns (one in front of each node's cluster listener; each node's connections leave from
//! 127.0.0.ID, so a proxy knows who connects), and a cut drops the connections from one node
//! to another (and refuses new ones) until it heals. Clients talk to the nodes' APIs directly.
//!
//! Checked throughout: four registers (concepts whose metadata `v` two writers set, through
//! every node in turn, to values no other write sets) read linearizably on every node by two
//! readers: the whole history of writes and reads is checked for linearizability
//! ([`linearizable`]), and written with the verdict to `target/tmp/cluster-runs/`; a cut-off or
//! paused leader
//! acknowledges no write later than its lease and one election after the cut (+1 s); at the end
//! every acknowledged write is on every node and the nodes are identical.
//!
//! `SUTRA_CLUSTER_CUT_S` sets how long each cut lasts (default 5 s) and each pause (at least 6 s).

use super::*;
use std::collections::BTreeSet;
use std::net::IpAddr;
use tokio::task::AbortHandle;

/// The proxies between the nodes, and the cuts in force.
pub struct Proxies {
    runtime: tokio::runtime::Runtime,
    cuts: Arc<Mutex<BTreeSet<(u64, u64)>>>,
    connections: Arc<Mutex<Vec<(u64, u64, AbortHandle)>>>,
}

impl Proxies {
    pub fn new() -> Proxies {
        Proxies {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
            cuts: Arc::default(),
            connections: Arc::default(),
        }
    }

    /// A proxy in front of node `to`'s cluster listener at `target`; its address.
    pub fn proxy(&self, to: u64, target: &str) -> String {
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind a proxy");
        let address = listener.local_addr().expect("addr").to_string();
        let target = target.to_string();
        let (cuts, connections) = (self.cuts.clone(), self.connections.clone());
        self.runtime.spawn(async move {
            while let Ok((mut inbound, peer)) = listener.accept().await {
                let from = match peer.ip() {
                    IpAddr::V4(ip) => u64::from(ip.octets()[3]),
                    IpAddr::V6(_) => 0,
                };
                // Under the connections' lock, as `cut` takes it: a connection is either
                // refused by a cut or listed before the cut aborts the listed ones.
                let mut open = connections.lock().expect("connections");
                if cuts.lock().expect("cuts").contains(&(from, to)) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.retain(|(_, _, t)| !t.is_finished());
                open.push((from, to, task.abort_handle()));
            }
        });
        address
    }

    /// Cuts the traffic from each `(from, to)`: its connections are dropped and new ones
    /// refused.
    pub fn cut(&self, pairs: &[(u64, u64)]) {
        let open = self.connections.lock().expect("connections");
        self.cuts
            .lock()
            .expect("cuts")
            .extend(pairs.iter().copied());
        for (from, to, task) in open.iter() {
            if pairs.contains(&(*from, *to)) {
                task.abort();
            }
        }
    }

    /// Ends every cut.
    pub fn heal(&self) {
        self.cuts.lock().expect("cuts").clear();
    }
}

/// Every pair between `node` and the others of `1..=size`, both ways (`both`) or only from it.
fn around(node: u64, size: u64, both: bool) -> Vec<(u64, u64)> {
    (1..=size)
        .filter(|&n| n != node)
        .flat_map(|n| {
            let mut pairs = vec![(node, n)];
            if both {
                pairs.push((n, node));
            }
            pairs
        })
        .collect()
}

/// The registers' writers and readers, and the history they make.
struct Register {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    history: Arc<Mutex<Vec<linearizable::Op>>>,
}

/// The registers: concepts whose metadata `v` the writers set to values no other write sets.
const REGISTERS: [&str; 4] = ["register 0", "register 1", "register 2", "register 3"];

impl Register {
    /// Two writers setting the registers through every node in turn, and two readers reading
    /// them linearizably on every node in turn.
    fn start(cluster: &Cluster) -> Register {
        let apis: Arc<Vec<(u64, String)>> = Arc::new(
            cluster
                .nodes
                .iter()
                .map(|n| (n.id, n.api.clone()))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let history: Arc<Mutex<Vec<linearizable::Op>>> = Arc::default();
        let origin = Instant::now();
        let micros = move |at: Instant| at.duration_since(origin).as_micros() as i64;
        let mut threads = Vec::new();
        for w in 0..2usize {
            let (apis, stop, history) = (apis.clone(), stop.clone(), history.clone());
            threads.push(std::thread::spawn(move || {
                let agent = agent();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = REGISTERS[(n + w) % REGISTERS.len()];
                    let value = format!("writer {w} value {n}");
                    let (_, api) = &apis[(n + w) % apis.len()];
                    let start = micros(Instant::now());
                    let answer = send(
                        &agent,
                        "PUT",
                        &format!("http://{api}/v1/memories/notes/concepts"),
                        Some(&json!({"content": key, "metadata": {"v": value}})),
                    );
                    let ended = match &answer {
                        Some(a) if a.status == 200 => {
                            linearizable::Ended::Acked(micros(Instant::now()))
                        }
                        Some(a) if a.code() == "no_leader" => linearizable::Ended::NotWritten,
                        Some(a) if a.code() == "outcome_unknown" => linearizable::Ended::Unknown,
                        Some(a) => panic!("register write {value}: {a:?}"),
                        None => linearizable::Ended::Unknown,
                    };
                    history
                        .lock()
                        .expect("history")
                        .push(linearizable::Op::Write {
                            key: key.to_string(),
                            value,
                            start,
                            ended,
                        });
                    if answer.is_none() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }));
        }
        for r in 0..2usize {
            let (apis, stop, history) = (apis.clone(), stop.clone(), history.clone());
            threads.push(std::thread::spawn(move || {
                let agent = agent();
                let mut n = r;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = REGISTERS[n % REGISTERS.len()];
                    let id = sutra_core::ConceptId::from_content(key);
                    let (node, api) = &apis[(n / REGISTERS.len()) % apis.len()];
                    let start = micros(Instant::now());
                    let answer = send(
                        &agent,
                        "GET",
                        &format!("http://{api}/v1/memories/notes/concepts/{id}"),
                        None,
                    );
                    let end = micros(Instant::now());
                    let value = match answer {
                        Some(a) if a.status == 200 => Some(
                            a.body["metadata"]["v"]
                                .as_str()
                                .expect("a register's value")
                                .to_string(),
                        ),
                        Some(a) if a.code() == "concept_not_found" => None,
                        Some(a) if a.status == 503 => {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                        Some(a) => panic!("register read on node {node}: {a:?}"),
                        None => {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    };
                    history
                        .lock()
                        .expect("history")
                        .push(linearizable::Op::Read {
                            key: key.to_string(),
                            value,
                            start,
                            end,
                        });
                }
            }));
        }
        Register {
            stop,
            threads,
            history,
        }
    }

    /// Stops, writes the history to `target/tmp/cluster-runs/<run>.registers` and the
    /// checker's verdict beside it, and checks it. Answers (writes acknowledged, reads).
    fn finish(self, run: &str) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("a register thread panicked");
        }
        let history = self.history.lock().expect("history");
        let runs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cluster-runs");
        std::fs::create_dir_all(&runs).expect("runs dir");
        let file = runs.join(format!("{run}.registers"));
        let lines: Vec<String> = history.iter().map(linearizable::Op::line).collect();
        std::fs::write(&file, lines.join("\n") + "\n").expect("write the history");
        let verdict = linearizable::check(&history);
        std::fs::write(file.with_extension("verdict"), format!("{verdict:?}\n"))
            .expect("write the verdict");
        if let Err(violations) = &verdict {
            panic!(
                "the registers' history is not linearizable ({} violations; history in {}): {:?}",
                violations.len(),
                file.display(),
                &violations[..violations.len().min(10)]
            );
        }
        let writes = history
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    linearizable::Op::Write {
                        ended: linearizable::Ended::Acked(_),
                        ..
                    }
                )
            })
            .count();
        let reads = history
            .iter()
            .filter(|op| matches!(op, linearizable::Op::Read { .. }))
            .count();
        (writes, reads)
    }
}

/// Writes to node `id`'s API in a loop, `round` naming them; each write's record.
fn writes_to(
    cluster: &Cluster,
    id: u64,
    round: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Record>> {
    let api = cluster.node(id).api.clone();
    std::thread::spawn(move || {
        let agent = agent();
        let mut records = Vec::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let content = format!("round {round}, sent to node {id}: {i}");
            let sent = Instant::now();
            let answer = send(
                &agent,
                "PUT",
                &format!("http://{api}/v1/memories/notes/concepts"),
                Some(&json!({ "content": content })),
            );
            let outcome = match &answer {
                Some(a) if a.status == 200 => Outcome::Acked,
                Some(a) if a.code() == "no_leader" => Outcome::NotWritten,
                Some(a) if a.code() == "outcome_unknown" => Outcome::Unknown,
                Some(a) => panic!("write to node {id}: unexpected answer {a:?}"),
                None => Outcome::Unknown,
            };
            records.push((outcome, (id - 1) as usize, content, sent, Instant::now()));
        }
        records
    })
}

/// When the acknowledged writes of `records` were sent and answered.
fn acks(records: &[Record]) -> Vec<(Instant, Instant)> {
    records
        .iter()
        .filter(|(o, ..)| *o == Outcome::Acked)
        .map(|(.., sent, at)| (*sent, *at))
        .collect()
}

/// How long after a cut a node that was leader may still acknowledge writes: its lease (the
/// maximum election timeout, 1 s by default) and one second.
const STALE_LEADER_WINDOW: Duration = Duration::from_secs(2);

#[test]
fn partitions_and_pauses_lose_nothing_and_serve_no_stale_read() {
    let _serial = serial();
    let cut_for = Duration::from_secs(env_number("SUTRA_CLUSTER_CUT_S", 5) as u64);
    // A pause long enough for the others to elect a new leader and the paused one to find it
    // has lost the lead only after it resumes.
    let pause_for = cut_for.max(Duration::from_secs(6));
    let proxies = Proxies::new();
    let mut cluster = Cluster::start_behind(3, Some(&proxies));
    make_notes(&cluster);
    let load = Load::start(cluster.nodes.iter().map(|n| n.api.clone()).collect(), 4, 0);
    let register = Register::start(&cluster);
    std::thread::sleep(Duration::from_secs(2));
    let mut faults = Vec::new();
    let mut side_writes: Vec<Record> = Vec::new();

    // 1. The leader cut off both ways; 2. only its outgoing traffic cut; 3. a follower cut off.
    // (what, whether the leader is the node cut off, whether both ways)
    for (what, the_leader, both_ways) in [
        ("leader isolated", true, true),
        ("leader's outgoing traffic cut", true, false),
        ("a follower isolated", false, true),
    ] {
        let leader = cluster.leader(Duration::from_secs(20));
        let cut_node = if the_leader { leader } else { leader % 3 + 1 };
        let stop = Arc::new(AtomicBool::new(false));
        let writer = writes_to(&cluster, cut_node, faults.len(), stop.clone());
        std::thread::sleep(Duration::from_millis(300));
        let cut_at = Instant::now();
        proxies.cut(&around(cut_node, 3, both_ways));
        std::thread::sleep(cut_for);
        let healed_at = Instant::now();
        proxies.heal();
        stop.store(true, Ordering::Relaxed);
        let records = writer.join().expect("writer");
        let acks = acks(&records);
        side_writes.extend(records);
        // Once healed, the node forwards to the leader again: its acknowledgements are the
        // leader's. During the cut, past its lease, a leader cut off must acknowledge nothing it
        // was sent after the cut. One that still hears the others (only its outgoing traffic
        // cut) learns what the new leader commits, and that may be a write it had proposed and
        // replicated before the cut: it then answers that write's writer, rightly (the write is
        // committed, and `check_end` finds it on every node).
        let hears_the_others = !both_ways;
        let late: Vec<(Duration, Duration)> = acks
            .iter()
            .filter(|(sent, at)| {
                *at > cut_at + STALE_LEADER_WINDOW
                    && *at < healed_at
                    && (*sent >= cut_at || !hears_the_others)
            })
            .map(|(sent, at)| (sent.duration_since(cut_at), at.duration_since(cut_at)))
            .collect();
        if cut_node == leader {
            assert!(
                late.is_empty(),
                "{what}: node {cut_node} acknowledged writes after the cut (sent, answered, since the cut): {late:?}"
            );
        }
        let answered_late = acks
            .iter()
            .filter(|(sent, at)| *sent < cut_at && *at > cut_at + STALE_LEADER_WINDOW)
            .count();
        faults.push(format!(
            "{what} (node {cut_node}, {} acks through it, {answered_late} of a write sent before the cut answered past the lease)",
            acks.len()
        ));
        cluster.leader(Duration::from_secs(20));
        std::thread::sleep(Duration::from_secs(2));
    }

    // 4. The leader paused (SIGSTOP) and resumed.
    let leader = cluster.leader(Duration::from_secs(20));
    let pid = cluster.node(leader).child.as_ref().expect("running").id() as libc::pid_t;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = writes_to(&cluster, leader, faults.len(), stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
    #[allow(unsafe_code)]
    let paused = unsafe { libc::kill(pid, libc::SIGSTOP) };
    assert_eq!(paused, 0, "SIGSTOP");
    let paused_at = Instant::now();
    std::thread::sleep(pause_for);
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let resumed = unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(resumed, 0, "SIGCONT");
    let resumed_at = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let records = writer.join().expect("writer");
    let acks = acks(&records);
    side_writes.extend(records);
    // While paused it answers nothing; once resumed it is a follower (or leads again after an
    // election): an acknowledgement is then a committed write, whatever node answers.
    let during: Vec<&(Instant, Instant)> = acks
        .iter()
        .filter(|(_, at)| *at > paused_at + STALE_LEADER_WINDOW && *at < resumed_at)
        .collect();
    assert!(
        during.is_empty(),
        "the paused leader acknowledged while paused"
    );
    faults.push(format!("leader paused {pause_for:?} (node {leader})"));

    std::thread::sleep(Duration::from_secs(1));
    let (register_acked, reads) = register.finish("partitions");
    let mut history = load.finish("partitions");
    history.extend(side_writes);
    // The registers are concepts written many times.
    let now = Instant::now();
    for key in REGISTERS {
        history.push((Outcome::Unknown, 0, key.to_string(), now, now));
    }
    let acked = check_end(&cluster, &[1, 2, 3], &history);
    println!(
        "{}; registers: {register_acked} writes acknowledged and {reads} linearizable reads of {} keys, the history linearizable; {} writes, {acked} acknowledged, 0 lost",
        faults.join("; "),
        REGISTERS.len(),
        history.len()
    );
    cluster.nodes.clear();
}
