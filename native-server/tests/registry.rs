//! The memories of a data directory: a directory holding more than the limit at start, and
//! what interrupted creates and drops leave behind.

mod common;

use std::sync::Arc;
use sutra_server::memories::metrics::Metrics;
use sutra_server::memories::registry::Registry;
use sutra_server::memories::writer::WriterConfig;

/// A data directory already holding more memories than the limit: the first ones in name
/// order are opened, the rest are listed as not opened with the reason, and no new one can be
/// created. Before, the limit was silently exceeded.
#[test]
fn more_memories_than_the_limit_at_start_are_reported() {
    let root = tempfile::tempdir().expect("temp");
    {
        let registry =
            Registry::open(root.path(), WriterConfig::default(), Arc::default()).expect("registry");
        for name in ["a", "b", "c", "d", "e"] {
            registry
                .create(name, None, None, Vec::new())
                .expect("create");
        }
        registry.shutdown();
    }
    let registry = Registry::open_with(
        root.path(),
        WriterConfig::default(),
        Arc::new(Metrics::default()),
        3,
    )
    .expect("registry");
    let listed: Vec<(String, Result<(), String>)> = registry
        .list()
        .into_iter()
        .map(|m| (m.name, m.state.map(|_| ())))
        .collect();
    assert_eq!(listed.len(), 5, "every memory is listed");
    for (name, state) in &listed[..3] {
        assert!(state.is_ok(), "{name} is open");
    }
    for (name, state) in &listed[3..] {
        let reason = state.as_ref().expect_err("not opened");
        assert!(
            reason.contains("more memories than the limit of 3"),
            "{name}: {reason}"
        );
    }
    let Err(refused) = registry.get("e") else {
        panic!("e is not open");
    };
    assert_eq!(refused.code, "memory_unavailable");
    assert!(
        refused.message.contains("limit of 3"),
        "{}",
        refused.message
    );
    let Err(refused) = registry.create("f", None, None, Vec::new()) else {
        panic!("over the limit");
    };
    assert_eq!(refused.code, "limit_exceeded");
    registry.shutdown();
}

/// Hidden directories of a create or a drop that a crash interrupted are removed at start and
/// never opened as memories.
#[test]
fn what_interrupted_creates_and_drops_leave_is_removed_at_start() {
    let root = tempfile::tempdir().expect("temp");
    for hidden in [".creating-x-1-0", ".dropped-y-1-0"] {
        std::fs::create_dir_all(root.path().join(hidden)).expect("dir");
        std::fs::write(root.path().join(hidden).join("wal.log"), b"junk").expect("file");
    }
    let registry =
        Registry::open(root.path(), WriterConfig::default(), Arc::default()).expect("registry");
    assert!(registry.list().is_empty());
    let left: Vec<String> = std::fs::read_dir(root.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["sutra.lock"]);
}
