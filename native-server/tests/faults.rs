//! Faults on the real `sutra serve`: drops and creates of one name racing each other with
//! writes in flight, SIGKILL in the middle of drops, and a disk that fills up and frees again.
//! `SUTRA_DROP_ROUNDS` sets the rounds of the race (default 200).

mod common;

use common::{Server, BIN};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// (status, body) of a request.
fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        ("POST", Some(b)) => agent.post(url).send_json(&b),
        ("PUT", Some(b)) => agent.put(url).send_json(&b),
        ("POST", None) => agent.post(url).send_empty(),
        (m, _) => panic!("unsupported {m}"),
    };
    let mut response = result.expect("request");
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The contents of a memory's concepts, by export (None if it does not exist).
fn contents(agent: &ureq::Agent, server: &Server, name: &str) -> Option<BTreeSet<String>> {
    let mut response = agent
        .get(&server.url(&format!("/v1/memories/{name}/export")))
        .call()
        .expect("export");
    if response.status().as_u16() == 404 {
        return None;
    }
    assert_eq!(response.status().as_u16(), 200);
    let text = response.body_mut().read_to_string().expect("text");
    Some(
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "concept")
            .filter_map(|v| v["content"].as_str().map(str::to_string))
            .collect(),
    )
}

/// Every file of a memory's log, as bytes (to find acknowledged writes on disk).
fn log_bytes(data: &Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(data.join(name).join("wal.log")).ok()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Rounds of a drop and a create of the same name at the same moment, with writes to the name
/// racing both. After each round what the API shows is what the disk holds: if the memory
/// exists, every concept it lists is in the log file in the data directory (a write answered
/// 200 into files a drop deleted would not be); if it does not, neither does its directory.
/// No request gets a 5xx. Then a restart keeps exactly what was there.
#[test]
fn drops_and_creates_of_one_name_never_lose_an_acknowledged_write() {
    let rounds: usize = std::env::var("SUTRA_DROP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let server = Server::start(&data);
    let base = server.base.clone();
    let agent = agent();
    assert_eq!(
        call(
            &agent,
            "POST",
            &server.url("/v1/memories"),
            Some(json!({"name": "m"}))
        )
        .0,
        201
    );
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(3));
        // A third of the rounds give the create a head start (it finds the memory there), a
        // third the drop, and a third neither: a race with a little jitter.
        let (drop_after, create_after) = match round % 3 {
            0 => (Duration::from_millis(3), Duration::ZERO),
            1 => (Duration::ZERO, Duration::from_millis(3)),
            _ => (
                Duration::ZERO,
                Duration::from_micros((round as u64 * 7919) % 1500),
            ),
        };
        let dropper = {
            let (barrier, base, agent) = (barrier.clone(), base.clone(), agent.clone());
            std::thread::spawn(move || {
                barrier.wait();
                std::thread::sleep(drop_after);
                call(&agent, "DELETE", &format!("{base}/v1/memories/m"), None)
            })
        };
        let creator = {
            let (barrier, base, agent) = (barrier.clone(), base.clone(), agent.clone());
            let jitter = create_after;
            std::thread::spawn(move || {
                barrier.wait();
                std::thread::sleep(jitter);
                // As a client would: a name being dropped is created again once it is free.
                let mut created;
                loop {
                    created = call(
                        &agent,
                        "POST",
                        &format!("{base}/v1/memories"),
                        Some(json!({"name": "m"})),
                    );
                    if created.1["error"]["code"] != "memory_busy" {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                let written = call(
                    &agent,
                    "PUT",
                    &format!("{base}/v1/memories/m/concepts"),
                    Some(json!({"content": format!("round {round} after create")})),
                );
                (created, written)
            })
        };
        let writer = {
            let (barrier, base, agent) = (barrier.clone(), base.clone(), agent.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..3)
                    .map(|i| {
                        call(
                            &agent,
                            "PUT",
                            &format!("{base}/v1/memories/m/concepts"),
                            Some(json!({"content": format!("round {round} write {i}")})),
                        )
                    })
                    .collect::<Vec<(u16, Value)>>()
            })
        };
        let dropped = dropper.join().expect("dropper");
        let (created, written) = creator.join().expect("creator");
        let writes = writer.join().expect("writer");
        // A request may be asked to retry while the name is busy (503 memory_busy or
        // closing, with Retry-After); nothing may fail with a storage error or a lock.
        for (status, answer) in [&dropped, &created, &written].into_iter().chain(&writes) {
            let code = answer["error"]["code"].as_str().unwrap_or("");
            assert!(
                *status < 500 || matches!(code, "memory_busy" | "closing"),
                "round {round}: a request got {status} {answer}"
            );
        }
        let (dropped, created, written) = (dropped.0, created.0, written.0);
        *outcomes
            .entry(format!("drop {dropped}, create {created}"))
            .or_default() += 1;
        // What the API shows is on disk.
        match contents(&agent, &server, "m") {
            Some(listed) => {
                let log = log_bytes(&data, "m").unwrap_or_else(|| {
                    panic!("round {round}: the memory answers, but its directory is gone")
                });
                for content in &listed {
                    assert!(
                        contains(&log, content),
                        "round {round}: {content:?} is not in the log on disk"
                    );
                }
                if created == 201 && written == 200 {
                    // Acknowledged after the create that made this memory: unless the drop came
                    // after it, it is there (and a drop after it would have removed the memory).
                    assert!(
                        listed.contains(&format!("round {round} after create")),
                        "round {round}"
                    );
                }
            }
            None => {
                assert!(
                    !data.join("m").exists(),
                    "round {round}: the memory is gone but its directory is not"
                );
                let (status, _) = call(
                    &agent,
                    "POST",
                    &server.url("/v1/memories"),
                    Some(json!({"name": "m"})),
                );
                assert_eq!(status, 201, "round {round}");
            }
        }
    }
    eprintln!("outcomes over {rounds} rounds: {outcomes:?}");
    assert!(
        outcomes.len() > 1,
        "the race was run both ways: {outcomes:?}"
    );
    // No hidden directory of a create or a drop is left behind.
    let names: Vec<String> = std::fs::read_dir(&data)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    // A restart keeps exactly what was there.
    let before = contents(&agent, &server, "m");
    server.kill();
    let server = Server::start(&data);
    assert_eq!(contents(&agent, &server, "m"), before);
}

/// SIGKILL at random moments while memories are dropped and created: after every restart
/// each memory is whole (every write acknowledged to it, and it opens) or absent, never
/// half-deleted.
#[test]
fn a_crash_during_a_drop_leaves_the_whole_memory_or_nothing() {
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let agent = agent();
    let mut rng = sutra_core::sim::Rng::new(16);
    let mut server = Server::start(&data);
    for cycle in 0..12 {
        // A few memories with acknowledged writes.
        let mut acknowledged = std::collections::BTreeMap::new();
        for i in 0..3 {
            let name = format!("c{cycle}m{i}");
            assert_eq!(
                call(
                    &agent,
                    "POST",
                    &server.url("/v1/memories"),
                    Some(json!({"name": name}))
                )
                .0,
                201
            );
            let mut set = BTreeSet::new();
            for j in 0..20 {
                let content = format!("{name} fact {j} {}", "x".repeat(2000));
                let (status, _) = call(
                    &agent,
                    "PUT",
                    &server.url(&format!("/v1/memories/{name}/concepts")),
                    Some(json!({"content": content})),
                );
                assert_eq!(status, 200);
                set.insert(content);
            }
            acknowledged.insert(name, set);
        }
        // Drop them all at once, and kill the server after a random moment.
        let droppers: Vec<_> = acknowledged
            .keys()
            .map(|name| {
                let (agent, url) = (agent.clone(), server.url(&format!("/v1/memories/{name}")));
                std::thread::spawn(move || {
                    let _ = agent.delete(&url).call();
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        server.kill();
        for d in droppers {
            let _ = d.join();
        }
        server = Server::start(&data);
        for (name, written) in &acknowledged {
            match contents(&agent, &server, name) {
                None => {}
                Some(found) => {
                    assert_eq!(&found, written, "cycle {cycle}: {name} is whole or absent")
                }
            }
            let (status, listed) = call(
                &agent,
                "GET",
                &server.url(&format!("/v1/memories/{name}")),
                None,
            );
            assert!(
                status == 200 || status == 404,
                "cycle {cycle}: {name}: {status} {listed}"
            );
        }
        let names: Vec<String> = std::fs::read_dir(&data)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "cycle {cycle}: {names:?}"
        );
    }
}

/// Sets the soft file-size limit of a running process (`None`: no limit).
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads the one struct we own, and writes nothing (no old-limit pointer).
    #[allow(unsafe_code)]
    let result = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(result, 0, "prlimit: {}", std::io::Error::last_os_error());
}

fn metric(agent: &ureq::Agent, server: &Server, name: &str) -> u64 {
    let mut response = agent.get(&server.url("/metrics")).call().expect("metrics");
    let text = response.body_mut().read_to_string().expect("text");
    text.lines()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// A disk that fills up (a file-size limit on the server process, whose writes then fail as on
/// a full disk) and frees again: a create that fails leaves nothing behind; a memory poisoned by
/// a failed write is reopened on its own once space is back, and by `POST /reopen`; failed
/// checkpoints back off instead of rewriting the snapshot after every write group, and leave
/// no temporary file; every acknowledged write is there, also after a restart. Before, writes
/// got `503 poisoned` until the whole server was restarted.
#[test]
fn a_full_disk_that_frees_again_needs_no_restart() {
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let server = Server::start_with(&data, &["--checkpoint-log-mib", "1"]);
    let pid = server.child.id();
    let agent = agent();

    // Too little room for a new memory's log: the create fails, and leaves nothing.
    set_file_size_limit(pid, Some(256 * 1024));
    let (status, answer) = call(
        &agent,
        "POST",
        &server.url("/v1/memories"),
        Some(json!({"name": "x"})),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("storage_error")),
        "{answer}"
    );
    let (_, listed) = call(&agent, "GET", &server.url("/v1/memories"), None);
    assert_eq!(listed["memories"], json!([]), "{listed}");
    let names: Vec<String> = std::fs::read_dir(&data)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["sutra.lock"], "nothing left of the failed create");
    assert!(
        !answer.to_string().contains(data.to_str().expect("path")),
        "no server path in {answer}"
    );

    // Room for 4 MiB per file: writes fill it until one fails.
    set_file_size_limit(pid, Some(4 * 1024 * 1024));
    assert_eq!(
        call(
            &agent,
            "POST",
            &server.url("/v1/memories"),
            Some(json!({"name": "m"}))
        )
        .0,
        201
    );
    let checkpoint_failures_before = metric(&agent, &server, "sutra_checkpoint_failures_total");
    let mut acknowledged = BTreeSet::new();
    let mut i = 0;
    let failure = loop {
        let content = format!("fact {i} {}", "y".repeat(16 * 1024));
        let (status, answer) = call(
            &agent,
            "PUT",
            &server.url("/v1/memories/m/concepts"),
            Some(json!({"content": content})),
        );
        i += 1;
        if status == 200 {
            acknowledged.insert(content);
        } else {
            break (status, answer);
        }
        assert!(i < 2000, "the file-size limit never stopped a write");
    };
    assert_eq!(failure.0, 503, "{}", failure.1);
    assert!(
        !failure.1.to_string().contains(data.to_str().expect("path")),
        "no server path in {}",
        failure.1
    );
    // Writes go on arriving while the disk is full: refused, and checkpoints not retried after
    // each of them.
    let full_until = Instant::now() + Duration::from_secs(3);
    let mut refused = 0;
    while Instant::now() < full_until {
        let (status, _) = call(
            &agent,
            "PUT",
            &server.url("/v1/memories/m/concepts"),
            Some(json!({"content": format!("refused {refused}")})),
        );
        assert_ne!(status, 200, "a write was acknowledged on a full disk");
        refused += 1;
    }
    let checkpoint_failures =
        metric(&agent, &server, "sutra_checkpoint_failures_total") - checkpoint_failures_before;
    assert!(
        checkpoint_failures <= 6,
        "{checkpoint_failures} failed checkpoints for {refused} refused writes"
    );
    assert!(
        !data.join("m").join("storage.dat.tmp").exists(),
        "a failed checkpoint's temporary file is left on the full disk"
    );

    // Space is back: the memory takes writes again on its own, without a restart.
    set_file_size_limit(pid, None);
    let back = Instant::now();
    loop {
        let content = format!("after the disk freed {}", acknowledged.len());
        let (status, answer) = call(
            &agent,
            "PUT",
            &server.url("/v1/memories/m/concepts"),
            Some(json!({"content": content})),
        );
        if status == 200 {
            acknowledged.insert(content);
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(90),
            "not recovered on its own: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(metric(&agent, &server, "sutra_memory_reopens_total") >= 1);
    // And by the admin call.
    let (status, reopened) = call(&agent, "POST", &server.url("/v1/memories/m/reopen"), None);
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["reopened"], "m");
    let (status, _) = call(
        &agent,
        "PUT",
        &server.url("/v1/memories/m/concepts"),
        Some(json!({"content": "after the reopen"})),
    );
    assert_eq!(status, 200);
    acknowledged.insert("after the reopen".into());

    // Every acknowledged write is there, now and after a restart.
    let found = contents(&agent, &server, "m").expect("memory");
    assert!(
        acknowledged.is_subset(&found),
        "{} acknowledged writes missing",
        acknowledged.difference(&found).count()
    );
    assert_eq!(server.terminate().code(), Some(0));
    let server = Server::start(&data);
    let found = contents(&agent, &server, "m").expect("memory");
    assert!(acknowledged.is_subset(&found));
    assert_eq!(server.terminate().code(), Some(0));
    let out = std::process::Command::new(BIN)
        .args(["check", "--deep", "--data"])
        .arg(&data)
        .output()
        .expect("check");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && report.contains("m: ok"), "{report}");
}
