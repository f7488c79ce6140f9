//! Sutra against the peers a user would choose instead, measured side by side in one run on one
//! machine. Prints a Markdown table: workload, Sutra's figure, the peer's, the ratio, the target.
//! Every durable write on both sides is synced before it counts.
//!
//! `cargo run -p sutra-bench --release -- [--quick]` (`--quick` fits in a few minutes for CI).

mod workloads;

use workloads::graph::graph;
use workloads::reads::bulk_and_lookups;
use workloads::recovery::recovery;
use workloads::resident::{resident, resident_child};
use workloads::vectors::{continuous_vectors, vectors};
use workloads::writes::{concurrent_writes, http_writes};
use workloads::{Row, Scale};

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn print_row(r: &Row) {
    println!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        r.id,
        r.workload,
        r.sutra,
        r.peer,
        r.ratio.map_or("—".to_string(), |x| format!("{x:.2}×")),
        r.target,
        match r.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        }
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--resident-child") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        resident_child(n);
        return;
    }
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let quick = args.iter().any(|a| a == "--quick");
    let scale = if quick { Scale::quick() } else { Scale::full() };
    println!(
        "Sutra benchmarks ({} run) on {}\n",
        if quick { "quick" } else { "full" },
        machine()
    );
    println!("| # | workload | Sutra | peer | ratio | target | met |");
    println!("|---|---|---|---|---|---|---|");
    type Workload = fn(&Scale, &mut Vec<Row>);
    let workloads: [(&str, Workload); 8] = [
        ("1 (concurrent durable writes)", concurrent_writes),
        ("2 (durable writes over HTTP)", http_writes),
        ("3 and 4 (bulk import, lookups)", bulk_and_lookups),
        ("5 (graph)", graph),
        ("6 (vectors)", vectors),
        ("6b (continuous vector insert)", continuous_vectors),
        ("7 (recovery)", recovery),
        ("9 (resident memory)", resident),
    ];
    // Rows are printed as each workload finishes, so a long run shows its progress.
    for (name, run) in workloads {
        // `--only 6` runs workload 6, not 6b: the first word of the name must match.
        if only
            .as_deref()
            .is_some_and(|o| name.split_whitespace().next() != Some(o))
        {
            continue;
        }
        eprintln!("workload {name}…");
        let mut rows = Vec::new();
        run(&scale, &mut rows);
        for row in &rows {
            print_row(row);
        }
    }
}
