//! The shared replay suite and the model-based crash test on the simulated disk.

use sutra_replay::cases;
use sutra_replay::env_u64;
use sutra_replay::model::{run_seed, RunStats};
use sutra_replay::sim_harness::SimHarness;

macro_rules! replay_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                cases::$name(&mut SimHarness::new(0x5eed));
            }
        )*
    };
}

sutra_replay::for_each_case!(replay_cases);

#[test]
fn every_case_is_listed_here() {
    // The macro above names each case; this catches a case added to the suite but not run.
    assert_eq!(cases::all::<SimHarness>().len(), 19);
}

/// Seeded model-based crash test. `SUTRA_SEED=n` replays one seed; `SUTRA_MODEL_CYCLES` sets the
/// total number of crash/reopen cycles (default 10,000, spread over seeds of 100 cycles each).
#[test]
fn model_based_crash_cycles() {
    let cycles_per_seed = 100;
    if let Ok(seed) = std::env::var("SUTRA_SEED") {
        let seed: u64 = seed.trim().parse().expect("SUTRA_SEED must be a number");
        let cycles = env_u64("SUTRA_MODEL_CYCLES", cycles_per_seed);
        match run_seed(&mut SimHarness::new(seed), seed, cycles) {
            Ok(stats) => eprintln!("seed {seed}: {stats:?}"),
            Err(e) => panic!("{e}\nreplay with SUTRA_SEED={seed}"),
        }
        return;
    }
    let total = env_u64("SUTRA_MODEL_CYCLES", 10_000);
    let seeds = total.div_ceil(cycles_per_seed);
    let mut total_stats = RunStats::default();
    for seed in 1..=seeds {
        match run_seed(&mut SimHarness::new(seed), seed, cycles_per_seed) {
            Ok(stats) => total_stats.add(&stats),
            Err(e) => {
                panic!("{e}\nreplay with SUTRA_SEED={seed} SUTRA_MODEL_CYCLES={cycles_per_seed}")
            }
        }
    }
    eprintln!(
        "model-based crash test: {} crash/reopen cycles over {seeds} seeds passed: {total_stats:?}",
        total_stats.crashes
    );
    // The generator must really exercise the engine, or passing means little.
    let s = total_stats;
    assert_eq!(s.crashes, seeds * cycles_per_seed);
    assert!(
        s.accepted > s.crashes,
        "too few acknowledged batches: {s:?}"
    );
    assert!(s.refused > s.crashes / 20, "too few refused batches: {s:?}");
    assert!(
        s.in_flight_survived > s.crashes / 20 && s.in_flight_lost > s.crashes / 20,
        "{s:?}"
    );
    assert!(
        s.failed_syncs > 0 && s.checkpoint_crashes > 0 && s.checkpoints > 0,
        "{s:?}"
    );
}
