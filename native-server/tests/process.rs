//! The real `sutra` binary: SIGKILL crash cycles under concurrent writers, the data directory
//! lock, graceful shutdown, and the offline commands (import, export, check, repair).

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra_core::sim::Rng;
use sutra_core::{ConceptId, Memory, Options};
use sutra_server::files::storage::FileStorage;

mod common;

use common::{Server, BIN};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("POST", Some(b)) => agent.post(url).send_json(&b),
        ("PUT", Some(b)) => agent.put(url).send_json(&b),
        ("POST", None) => agent.post(url).send_empty(),
        (m, _) => return Err(format!("unsupported {m}")),
    };
    let mut response = result.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn export(
    agent: &ureq::Agent,
    server: &Server,
    memory: &str,
) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let mut response = agent
        .get(&server.url(&format!("/v1/memories/{memory}/export")))
        .call()
        .expect("export");
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .expect("export body");
    let mut contents = BTreeMap::new();
    let mut links = BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("export line");
        match v["type"].as_str() {
            Some("concept") => {
                contents.insert(
                    v["id"].as_str().unwrap_or_default().to_string(),
                    v["content"].as_str().unwrap_or_default().to_string(),
                );
            }
            Some("association") => {
                links.insert((
                    v["source"].as_str().unwrap_or_default().to_string(),
                    v["target"].as_str().unwrap_or_default().to_string(),
                ));
            }
            _ => {}
        }
    }
    let named_links = links
        .iter()
        .map(|(s, t)| {
            (
                contents.get(s).cloned().unwrap_or_default(),
                contents.get(t).cloned().unwrap_or_default(),
            )
        })
        .collect();
    (contents.into_values().collect(), named_links)
}

/// SIGKILL the server at random moments while 8 writers send atomic batches; after every restart
/// every acknowledged batch is there, and no batch is there in part. `SUTRA_CRASH_CYCLES` sets
/// the number of kills (default 20).
#[test]
fn sigkill_under_concurrent_writers_loses_no_acknowledged_write_and_tears_no_batch() {
    let cycles = std::env::var("SUTRA_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20u64);
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let agent = agent();
    let acked: Arc<Mutex<BTreeSet<(u64, u64, u64)>>> = Arc::new(Mutex::new(BTreeSet::new()));
    let mut rng = Rng::new(0xdead);
    let mut total_acked = 0;
    for cycle in 0..cycles {
        let server = Server::start(&data);
        if cycle == 0 {
            let (status, body) = send(
                &agent,
                "POST",
                &server.url("/v1/memories"),
                Some(json!({"name": "crash"})),
            )
            .expect("create");
            assert_eq!(status, 201, "{body}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for writer in 0..8u64 {
            let url = server.url("/v1/memories/crash/batch");
            let acked = acked.clone();
            let stop = stop.clone();
            writers.push(std::thread::spawn(move || {
                let agent = self::agent();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let a = format!("c{cycle}-w{writer}-n{n}-a");
                    let b = format!("c{cycle}-w{writer}-n{n}-b");
                    let batch = json!({"ops": [
                        {"op": "put_concept", "content": a, "metadata": {"writer": writer.to_string()}},
                        {"op": "put_concept", "content": b},
                        {"op": "put_association", "source": ConceptId::from_content(&a).to_string(), "target": ConceptId::from_content(&b).to_string(), "kind": "temporal"},
                    ]});
                    match send(&agent, "POST", &url, Some(batch)) {
                        Ok((200, _)) => {
                            acked.lock().expect("acked").insert((cycle, writer, n));
                        }
                        Ok((503, _)) => std::thread::sleep(Duration::from_millis(5)),
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        Err(_) => return, // the server died under us
                    }
                    n += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer thread");
        }
        // Restart and check everything written so far.
        let server = Server::start(&data);
        let (contents, links) = export(&agent, &server, "crash");
        let acked_now = acked.lock().expect("acked").clone();
        for (c, w, n) in &acked_now {
            let a = format!("c{c}-w{w}-n{n}-a");
            let b = format!("c{c}-w{w}-n{n}-b");
            assert!(
                contents.contains(&a) && contents.contains(&b),
                "cycle {cycle}: acknowledged batch {a} lost"
            );
            assert!(
                links.contains(&(a.clone(), b.clone())),
                "cycle {cycle}: acknowledged association {a} lost"
            );
        }
        for content in &contents {
            let Some(stem) = content
                .strip_suffix("-a")
                .or_else(|| content.strip_suffix("-b"))
            else {
                panic!("cycle {cycle}: unexpected concept {content:?}");
            };
            let (a, b) = (format!("{stem}-a"), format!("{stem}-b"));
            assert!(
                contents.contains(&a) && contents.contains(&b),
                "cycle {cycle}: half a batch of {stem} is there"
            );
            assert!(
                links.contains(&(a, b)),
                "cycle {cycle}: batch {stem} lost its association"
            );
        }
        assert_eq!(links.len() * 2, contents.len());
        total_acked = acked_now.len();
        server.kill();
    }
    assert!(
        total_acked > 100,
        "too few acknowledged writes ({total_acked}) to mean anything"
    );
    eprintln!(
        "{cycles} SIGKILL cycles: {total_acked} acknowledged batches all present, no torn batch"
    );
}

#[test]
fn a_second_process_on_the_same_data_fails_at_once() {
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let server = Server::start(&data);
    let (status, _) = send(
        &agent(),
        "POST",
        &server.url("/v1/memories"),
        Some(json!({"name": "m"})),
    )
    .expect("create");
    assert_eq!(status, 201);
    let second = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .expect("second server");
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("already in use by another Sutra process"),
        "{err}"
    );
    let check = Command::new(BIN)
        .args(["check", "--data"])
        .arg(&data)
        .output()
        .expect("check");
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stderr).contains("already open in another process"));
    // The first server is unharmed.
    let (status, _) = send(&agent(), "GET", &server.url("/v1/memories/m"), None).expect("stats");
    assert_eq!(status, 200);
}

#[test]
fn sigterm_finishes_writes_checkpoints_and_exits_0() {
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let server = Server::start(&data);
    let agent = agent();
    send(
        &agent,
        "POST",
        &server.url("/v1/memories"),
        Some(json!({"name": "g"})),
    )
    .expect("create");
    for i in 0..10 {
        let (status, _) = send(
            &agent,
            "PUT",
            &server.url("/v1/memories/g/concepts"),
            Some(json!({"content": format!("n{i}")})),
        )
        .expect("put");
        assert_eq!(status, 200);
    }
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let dir = data.join("g");
    assert!(
        dir.join("storage.dat").is_file(),
        "final checkpoint written"
    );
    let (memory, report) = Memory::open(
        FileStorage::open(&dir).expect("storage"),
        Options::default(),
    )
    .expect("reopen");
    assert_eq!(report.records_replayed, 0, "nothing left to replay");
    assert_eq!(report.snapshot_seq, Some(10));
    assert_eq!(memory.stats().concepts, 10);
    drop(memory);
    // Started again and stopped with no write in between: nothing new, so the snapshot is
    // kept as it is (not rewritten: the same file, untouched).
    let before = std::fs::read(dir.join("storage.dat")).expect("snapshot");
    let modified = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let at = modified(&dir.join("storage.dat"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = Server::start(&data);
    assert_eq!(again.terminate().code(), Some(0));
    assert_eq!(modified(&dir.join("storage.dat")), at, "not rewritten");
    assert_eq!(
        std::fs::read(dir.join("storage.dat")).expect("snapshot"),
        before
    );
}

#[test]
fn non_loopback_needs_a_token() {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--data",
            "/nonexistent/never",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without --token"));
}

fn run(args: &[&str], data: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run sutra");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn import_export_check_and_repair_offline() {
    let root = tempfile::tempdir().expect("temp");
    let data: PathBuf = root.path().join("data");
    let a = ConceptId::from_content("alpha").to_string();
    let b = ConceptId::from_content("beta").to_string();
    let (first, second) = if a < b { (&a, &b) } else { (&b, &a) };
    let content = |id: &str| if id == a { "alpha" } else { "beta" };
    let file = format!(
        "{}\n{}\n{}\n{}\n",
        r#"{"type":"memory","format":5,"dimension":2,"language":"english","indexed_keys":["k"]}"#,
        format_args!(
            r#"{{"type":"concept","id":"{first}","content":"{}","embedding":[1.0,0.5],"strength":1.0,"confidence":0.5,"metadata":{{"k":"v","n":-7,"on":true,"tags":["a","b"],"w":0.25}},"created_ms":10,"updated_ms":20}}"#,
            content(first)
        ),
        format_args!(
            r#"{{"type":"concept","id":"{second}","content":"{}","embedding":null,"strength":2.0,"confidence":1.0,"metadata":{{}},"created_ms":30,"updated_ms":30}}"#,
            content(second)
        ),
        format_args!(
            r#"{{"type":"association","source":"{a}","target":"{b}","kind":"causal","label":"feeds","confidence":0.75,"weight":3.0,"metadata":{{"doc":"d"}},"valid_from_ms":35,"valid_until_ms":null,"created_ms":40,"updated_ms":50}}"#
        ),
    );
    let path = root.path().join("in.jsonl");
    std::fs::write(&path, &file).expect("write file");
    let (code, out, err) = run(
        &["import", path.to_str().expect("path"), "--memory", "x"],
        &data,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imported 2 concepts and 1 associations"),
        "{out}"
    );
    let (code, out, _) = run(&["export", "--memory", "x"], &data);
    assert_eq!(code, 0);
    assert_eq!(out, file, "export reproduces the imported file exactly");
    let (code, out, _) = run(&["check"], &data);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("x: ok") && out.contains("2 concepts, 1 associations"),
        "{out}"
    );
    // Bad lines: reported with their numbers, exit code 2.
    let bad = root.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"type\":\"concept\"}\n\nnot json\n").expect("write");
    let (code, out, _) = run(
        &["import", bad.to_str().expect("path"), "--memory", "y"],
        &data,
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("line 1:") && out.contains("line 3:") && out.contains("2 lines rejected"),
        "{out}"
    );

    // Corrupt a record in the middle of x's log: check fails naming the offset, repair keeps
    // the records before it.
    let log_path = data.join("x").join("wal.log");
    let mut storage = FileStorage::open(&data.join("x")).expect("open");
    let (mut memory, _) = Memory::open(storage, Options::default()).expect("memory");
    for i in 0..3 {
        memory
            .write(vec![sutra_core::Op::put_concept(
                sutra_core::ConceptInput::new(format!("extra {i}")),
                100,
            )])
            .expect("write");
    }
    drop(memory);
    let mut log = std::fs::read(&log_path).expect("log");
    let header = sutra_core::wal::LOG_HEADER_BYTES as usize;
    let first_len = u32::from_le_bytes([
        log[header],
        log[header + 1],
        log[header + 2],
        log[header + 3],
    ]) as usize;
    let second_record = header + 16 + first_len;
    log[second_record + 20] ^= 0xff;
    std::fs::write(&log_path, &log).expect("corrupt");
    let (code, out, _) = run(&["check"], &data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("x: FAILED") && out.contains(&format!("byte offset {second_record}")),
        "{out}"
    );
    assert!(out.contains("sutra repair --memory x"), "{out}");
    let (code, out, err) = run(&["repair", "--memory", "x"], &data);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("log truncated at byte {second_record}")),
        "{out}"
    );
    let backups: Vec<_> = std::fs::read_dir(data.join("x"))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "the old log was copied aside");
    assert_eq!(std::fs::read(backups[0].path()).expect("backup"), log);
    let (code, out, _) = run(&["check", "--memory", "x", "--deep"], &data);
    assert!(out.contains("x: ok (integrity checked)"), "{out}");
    assert_eq!(code, 0, "{out}");
    storage = FileStorage::open(&data.join("x")).expect("open");
    let (memory, _) = Memory::open(storage, Options::default()).expect("reopens");
    assert_eq!(
        memory.stats().concepts,
        3,
        "alpha, beta and the first extra"
    );
}

/// A hub with more outgoing associations than one listing returns (10,000): `GET /export`
/// and `sutra export` both write every one of them, and importing either gives them all back.
#[test]
fn export_of_a_hub_is_complete_over_http_and_offline() {
    const SPOKES: usize = 10_050;
    let root = tempfile::tempdir().expect("temp");
    let data = root.path().join("data");
    let agent = agent();
    let server = Server::start(&data);
    let (status, _) = send(
        &agent,
        "POST",
        &server.url("/v1/memories"),
        Some(json!({"name": "hub"})),
    )
    .expect("create");
    assert_eq!(status, 201);
    let spokes: Vec<String> = (0..SPOKES).map(|i| format!("spoke {i}")).collect();
    let mut ops: Vec<Value> = vec![json!({"op": "put_concept", "content": "hub"})];
    ops.extend(
        spokes
            .iter()
            .map(|s| json!({"op": "put_concept", "content": s})),
    );
    let hub = ConceptId::from_content("hub").to_string();
    let links: Vec<Value> = spokes
        .iter()
        .map(|s| {
            json!({"op": "put_association", "source": hub, "target": ConceptId::from_content(s).to_string(), "kind": "semantic", "confidence": 0.5})
        })
        .collect();
    for chunk in ops.chunks(5000).chain(links.chunks(5000)) {
        let (status, answer) = send(
            &agent,
            "POST",
            &server.url("/v1/memories/hub/batch"),
            Some(json!({ "ops": chunk })),
        )
        .expect("batch");
        assert_eq!(status, 200, "{answer}");
    }
    let (_, links_over_http) = export(&agent, &server, "hub");
    assert_eq!(
        links_over_http.len(),
        SPOKES,
        "GET /export has every association"
    );
    assert_eq!(server.terminate().code(), Some(0));

    let (code, text, err) = run(&["export", "--memory", "hub"], &data);
    assert_eq!(code, 0, "{err}");
    let offline = text
        .lines()
        .filter(|l| l.contains("\"type\":\"association\""))
        .count();
    assert_eq!(offline, SPOKES, "sutra export has every association");
    let file = root.path().join("hub.jsonl");
    std::fs::write(&file, &text).expect("write");
    let (code, out, err) = run(
        &["import", file.to_str().expect("path"), "--memory", "copy"],
        &data,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "imported {} concepts and {SPOKES} associations",
            SPOKES + 1
        )),
        "{out}"
    );
    let (_, again, _) = run(&["export", "--memory", "copy"], &data);
    assert_eq!(again, text, "export → import → export is exact");
}
