//! The pool that runs queries: graph paths and neighbourhoods, vector searches, scans and
//! listings — everything whose cost grows with the data — off the async runtime's threads.
//!
//! - **Bounded**: a fixed number of threads (one per core by default) and a bounded queue in
//!   front of them. A query that finds the queue full is answered at once with 503 and
//!   `Retry-After` (admission control), instead of waiting behind work it cannot overtake.
//! - **Below the rest**: the pool's threads run at a lower scheduling priority (nice 10), so on
//!   a machine whose cores are all busy with queries, health checks, cheap reads and the
//!   writers still get the processor when they need it.
//! - **Deadline and cancellation**: every query has a time limit (`--query-timeout-ms`). When it
//!   passes, or when the client goes away (its request future is dropped), the query's
//!   [`Interrupt`] is raised: a graph search stops before its next concept, and a query still
//!   in the queue is skipped. The core has no clock; the host raises the flag.
//! - **A panic stays a request's problem**: a query that panics answers 500 and the thread goes
//!   on with the next one.

use crate::http::error::ApiError;
use axum::http::StatusCode;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra_core::Interrupt;
use tokio::sync::oneshot;

/// Default time limit of one query, in milliseconds.
pub const QUERY_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Default number of queries waiting for a thread, per thread.
pub const QUERY_QUEUE_PER_THREAD_DEFAULT: usize = 4;
/// The scheduling priority (nice value) of the pool's threads.
pub const QUERY_THREAD_NICE: i32 = 10;

/// How the pool is sized.
#[derive(Clone, Copy, Debug)]
pub struct QueryConfig {
    /// Threads running queries.
    pub threads: usize,
    /// Queries waiting for a thread before new ones get 503.
    pub queue_max: usize,
    /// Time limit of one query (queueing included).
    pub timeout: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        QueryConfig {
            threads,
            queue_max: threads * QUERY_QUEUE_PER_THREAD_DEFAULT,
            timeout: Duration::from_millis(QUERY_TIMEOUT_MS_DEFAULT),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The query threads and their queue.
pub struct QueryPool {
    queue: SyncSender<Job>,
    config: QueryConfig,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

/// Raises an interrupt when dropped: the request future that waits for a query is dropped when
/// its client goes away, and the query then stops.
struct RaiseOnDrop(Arc<Interrupt>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}

impl QueryPool {
    /// Starts the threads.
    pub fn start(config: QueryConfig) -> std::io::Result<QueryPool> {
        assert!(config.threads > 0, "a query pool needs a thread");
        let (queue, jobs) = mpsc::sync_channel::<Job>(config.queue_max);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..config.threads {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("sutra-query-{i}"))
                .spawn(move || work(&jobs))?;
        }
        Ok(QueryPool {
            queue,
            config,
            refused: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// The pool's sizing.
    pub fn config(&self) -> QueryConfig {
        self.config
    }

    /// Queries refused because the queue was full, and queries stopped at their deadline.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.refused.load(Ordering::Relaxed),
            self.timed_out.load(Ordering::Relaxed),
        )
    }

    /// Runs `query` on a pool thread and waits for its answer: 503 + `Retry-After` at once if
    /// the queue is full, 503 `query_timeout` if it runs past the time limit (it is then
    /// interrupted), 500 if it panicked. Dropping the returned future (the client went away)
    /// interrupts the query.
    pub async fn run<T, F>(&self, query: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Interrupt) -> T + Send + 'static,
    {
        let interrupt = Arc::new(Interrupt::new());
        let (reply, answer) = oneshot::channel();
        let flag = interrupt.clone();
        let job: Job = Box::new(move || {
            // Skipped if its deadline passed or its client left while it waited.
            if !flag.is_raised() {
                let _ = reply.send(query(&flag));
            }
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::busy(format!(
                    "every query thread is busy and {} queries are waiting; retry after a second",
                    self.config.queue_max
                )));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "closing",
                    "the server is stopping",
                ))
            }
        }
        let _raise_if_abandoned = RaiseOnDrop(interrupt.clone());
        match tokio::time::timeout(self.config.timeout, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the query failed unexpectedly (a bug: the server logged it and goes on)",
            )),
            Err(_) => {
                interrupt.raise();
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(timeout_error(self.config.timeout))
            }
        }
    }
}

/// The answer of a query stopped at its time limit.
pub fn timeout_error(limit: Duration) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "query_timeout",
        format!(
            "the query ran past its time limit of {} ms and was stopped; narrow it (max_depth, visited_max, k, limit) or raise the limit (--query-timeout-ms)",
            limit.as_millis()
        ),
    )
}

/// A pool thread: runs jobs until the pool is gone.
fn work(jobs: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.recv()
        };
        let Ok(job) = job else {
            return;
        };
        // The job owns everything it touches; a panic leaves nothing half-changed behind
        // (queries only read, under locks that recover from poisoning).
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a query panicked; it was answered 500 and the thread goes on");
        }
    }
}

/// Gives the calling thread a lower scheduling priority (on Linux a nice value is per thread).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority takes no pointers; `gettid` names the calling thread, which on Linux
    // makes the change apply to this thread alone.
    #[allow(unsafe_code)]
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, QUERY_THREAD_NICE)
    };
    if result != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not lower the query threads' priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
