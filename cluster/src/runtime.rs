//! The async runtime openraft runs on: Tokio, with one change — the random draws (election
//! timeouts) come from a generator seeded per task when a simulation set a seed
//! ([`Runtime::scope`]), and from the operating system otherwise. A seeded task hands each task
//! it spawns a seed of its own (derived, so the tree of tasks draws the same numbers in every
//! run of the seed); with a single-threaded Tokio runtime whose clock is paused (time moves only
//! when every task waits), a run of the cluster replays exactly. In production nothing sets a
//! seed, and this is Tokio with the OS's randomness.
//!
//! (openraft's own `DeterministicRng` does the same but requires a seed in every task, and
//! would fail a task spawned without one: a server must never depend on that.)

use openraft::rt::{AsyncRuntime, OptionalSend};
use openraft_rt_tokio::TokioRuntime;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::time::Duration;

tokio::task_local! {
    static SEED: Cell<u64>;
}

/// SplitMix64's mixer with increment `gamma` (a bijection of `u64`: two different gammas give
/// independent sequences).
fn mix(seed: u64, gamma: u64) -> u64 {
    let z = seed.wrapping_add(gamma);
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The current task's seed, advanced, if the task has one.
fn next_seed() -> Option<u64> {
    SEED.try_with(|cell| {
        let seed = cell.get();
        cell.set(mix(seed, 0x6a09_e667_f3bc_c908));
        seed
    })
    .ok()
}

/// Tokio with seeded randomness where a simulation asks for it.
#[derive(Debug)]
pub struct Runtime {
    inner: TokioRuntime,
}

impl Runtime {
    /// Runs `future` (and every task it spawns through openraft's runtime) with `seed`.
    pub fn scope<F: Future>(seed: u64, future: F) -> impl Future<Output = F::Output> {
        SEED.scope(Cell::new(seed), future)
    }

    /// Spawns `future` on Tokio; in a seeded task, with a seed derived from the task's.
    pub fn spawn_seeded<T>(future: T) -> tokio::task::JoinHandle<T::Output>
    where
        T: Future + Send + 'static,
        T::Output: Send + 'static,
    {
        match next_seed() {
            Some(seed) => {
                tokio::spawn(SEED.scope(Cell::new(mix(seed, 0x9e37_79b9_7f4a_7c15)), future))
            }
            None => tokio::spawn(future),
        }
    }
}

impl AsyncRuntime for Runtime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = <TokioRuntime as AsyncRuntime>::Instant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> =
        <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = SmallRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        Runtime::spawn_seeded(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        match next_seed() {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::seed_from_u64(rand::random()),
        }
    }

    type Mpsc = <TokioRuntime as AsyncRuntime>::Mpsc;
    type Watch = <TokioRuntime as AsyncRuntime>::Watch;
    type Oneshot = <TokioRuntime as AsyncRuntime>::Oneshot;
    type Mutex<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::Mutex<T>;

    fn new(threads: usize) -> Self {
        Runtime {
            inner: TokioRuntime::new(threads),
        }
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.inner.block_on(future)
    }

    fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T, io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = tokio::task::spawn_blocking(f);
        async move { handle.await.map_err(io::Error::other) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn draws() -> Vec<u64> {
        (0..4)
            .map(|_| Runtime::thread_rng().random_range(0..1_000_000))
            .collect()
    }

    #[tokio::test]
    async fn a_seed_gives_the_same_draws_in_every_task_tree_and_none_gives_the_os_ones() {
        let run = |seed: u64| {
            Runtime::scope(seed, async {
                let mine = draws();
                let child = Runtime::spawn(async { draws() }).await.expect("task");
                (mine, child)
            })
        };
        let (a, a_child) = run(7).await;
        let (b, b_child) = run(7).await;
        assert_eq!((&a, &a_child), (&b, &b_child), "a seed replays");
        assert_ne!(a, a_child, "a child draws its own numbers");
        let (c, _) = run(8).await;
        assert_ne!(a, c, "another seed, other numbers");
        // Without a seed (a server): no failure, and numbers from the OS.
        let unseeded = Runtime::spawn(async { draws() }).await.expect("task");
        assert_ne!(unseeded, draws());
    }
}
