//! The connections: accepting them, bounding them, timing them out, and closing them at
//! shutdown. (axum's own `serve` has no timeouts and no cap: a connection that never finishes
//! its request is never closed, and keeps a graceful shutdown from ever ending.)
//!
//! - **Head timeout** (`--header-timeout-s`): a request's head must arrive within it, counted
//!   from the first moment the server waits for one — so a connection that sends nothing, or
//!   sends half a head, or sits idle between two requests, is closed after it.
//! - **Body timeout** (`--body-timeout-s`): a request body that stops arriving for that long
//!   ends its request with 408.
//! - **Cap** (`--max-connections`): past it, a new connection is answered 503 with
//!   `Retry-After` and closed; past a second, small allowance of those, it is closed at once.
//! - **Open files**: the soft limit is raised to the hard one at start, and the cap is kept
//!   under it with room for the memories' files.
//! - **Shutdown deadline** (`--shutdown-timeout-s`): on SIGTERM the listener closes, idle
//!   connections close, requests in progress get until the deadline to finish; then the rest
//!   are dropped and the server goes on to write its checkpoints and exit.

use crate::http::error::ApiError;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Default time for a request's head to arrive (and for an idle connection to stay open).
pub const HEADER_TIMEOUT_S_DEFAULT: u64 = 10;
/// Default time a request body may stop arriving before its request ends.
pub const BODY_TIMEOUT_S_DEFAULT: u64 = 30;
/// Default cap on open connections.
pub const CONNECTIONS_MAX_DEFAULT: usize = 1024;
/// Default time requests in progress get to finish at shutdown.
pub const SHUTDOWN_TIMEOUT_S_DEFAULT: u64 = 10;
/// Connections over the cap answered 503 at once (past these, closed without an answer).
const REFUSALS_IN_FLIGHT_MAX: usize = 64;
/// Files kept free for the memories (logs, snapshots, locks) under the open-file limit.
pub const FILES_RESERVED: u64 = 1024;
/// Largest request head the HTTP library reads before it refuses it itself (without the API's
/// error format); the server's own, smaller limits (`access`) answer in that format first.
const HEAD_BUFFER_BYTES: usize = 512 * 1024;
/// Most headers the HTTP library parses (the server's own limit, 100, is checked after and
/// answered in the API's format; past this one the library answers 431 itself). Each request
/// reserves room for this many (16 bytes each): 1,000 cost a few percent of the HTTP write
/// rate in workload 2.
const HEADERS_PARSED_MAX: usize = 256;

/// Limits of the connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub connections_max: usize,
    /// Time for a request's head to arrive.
    pub header_timeout: Duration,
    /// Time a request body may stop arriving.
    pub body_timeout: Duration,
    /// Time requests in progress get at shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            connections_max: CONNECTIONS_MAX_DEFAULT,
            header_timeout: Duration::from_secs(HEADER_TIMEOUT_S_DEFAULT),
            body_timeout: Duration::from_secs(BODY_TIMEOUT_S_DEFAULT),
            shutdown_timeout: Duration::from_secs(SHUTDOWN_TIMEOUT_S_DEFAULT),
        }
    }
}

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every connection finished before the deadline.
    Drained,
    /// This many connections were still open at the deadline, and were dropped.
    Cut(usize),
}

/// Raises the soft limit on open files to the hard one; returns the soft limit now in force
/// (`None` where it cannot be read).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the one struct we own, passed by a
        // pointer that is valid for the call.
        #[allow(unsafe_code)]
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit.rlim_cur = limit.rlim_max;
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap that fits under `open_files` with room for the memories' files.
pub fn fitting_cap(wanted: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(files) => {
            let room = files.saturating_sub(FILES_RESERVED).max(16);
            wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => wanted,
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains the connections within
/// the shutdown deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Ended {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_timeout,
    ));
    let open = Arc::new(Semaphore::new(limits.connections_max));
    let refusing = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT_MAX));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(HEAD_BUFFER_BYTES)
        .max_headers(HEADERS_PARSED_MAX);
    let mut refuse = http.clone();
    refuse
        .keep_alive(false)
        .header_read_timeout(limits.header_timeout.min(Duration::from_secs(2)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of files or memory for a moment: wait instead of spinning on accept.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if let Ok(permit) = open.clone().try_acquire_owned() {
            let connection = http.serve_connection(io, TowerToHyperService::new(app.clone()));
            let mut stopping = stopping.clone();
            connections.spawn(async move {
                let _permit = permit;
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => return,
                    _ = stopping.wait_for(|stop| *stop) => {}
                }
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            });
        } else if let Ok(permit) = refusing.clone().try_acquire_owned() {
            let cap = limits.connections_max;
            let busy = hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                let answer = ApiError::busy(format!(
                    "the server has {cap} connections open, its limit; retry after a second"
                ))
                .into_response();
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let connection = refuse.serve_connection(io, busy);
            connections.spawn(async move {
                let _permit = permit;
                let _ = connection.await;
            });
        } else {
            drop(io);
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    tokio::select! {
        () = drained => Ended::Drained,
        () = tokio::time::sleep(limits.shutdown_timeout) => {
            let left = connections.len();
            connections.abort_all();
            Ended::Cut(left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_under_the_open_file_limit() {
        assert_eq!(fitting_cap(1024, None), 1024);
        assert_eq!(fitting_cap(1024, Some(1_048_576)), 1024);
        assert_eq!(fitting_cap(1024, Some(1024)), 16);
        assert_eq!(fitting_cap(1024, Some(1500)), 476);
    }
}
