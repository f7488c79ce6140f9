//! Writes a follower forwards to the leader, gathered: while [`PIPELINE`] requests to the
//! leader are under way, the writes that arrive wait and go together in the next request
//! (`POST /raft/write-many`), as a single server's writes share one `fdatasync`. Each write
//! keeps its own answer, and a request that fails fails each of its writes the way a request of
//! one would (never sent: retried by its writer; sent and lost: unknown), so what a writer sees
//! does not change, only how many requests carry it.

use crate::command::{Applied, Command};
use crate::network::{CallError, HttpNetwork};
use crate::node::Detour;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most writes in one request.
pub(crate) const WRITES_PER_REQUEST_MAX: usize = 1024;
/// Most bytes of commands in one request (a write larger than this goes alone).
pub(crate) const REQUEST_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Requests to the leader under way at once.
pub(crate) const PIPELINE: usize = 4;

/// What a forwarded write got back: the call's failure, the leader's refusal of the request, or
/// the leader's answer for this write.
pub(crate) type Forwarded = Result<Result<Result<Applied, Detour>, String>, CallError>;

/// One write waiting to be forwarded.
struct Pending {
    /// The leader's cluster listener.
    addr: String,
    /// The command, encoded (postcard).
    encoded: Vec<u8>,
    reply: oneshot::Sender<Forwarded>,
}

/// The queue of writes to forward, and the task that sends them.
pub(crate) struct Forwarder {
    queue: mpsc::UnboundedSender<Pending>,
    /// Requests sent so far.
    requests: Arc<AtomicU64>,
}

impl Forwarder {
    /// Starts the task that sends the queued writes over `network`, each request within
    /// `timeout`. It ends when the forwarder is dropped.
    pub(crate) fn start(network: HttpNetwork, timeout: Duration) -> Forwarder {
        let (queue, receiver) = mpsc::unbounded_channel();
        let requests = Arc::new(AtomicU64::new(0));
        tokio::spawn(send_forever(network, timeout, receiver, requests.clone()));
        Forwarder { queue, requests }
    }

    /// Requests sent to a leader so far (each carrying one or more writes).
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Forwards `command` to the leader at `addr`, with the writes queued beside it, and gives
    /// its answer.
    pub(crate) async fn forward(&self, addr: &str, command: &Command) -> Forwarded {
        let encoded =
            postcard::to_allocvec(command).map_err(|e| CallError::NotSent(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                addr: addr.to_string(),
                encoded,
                reply,
            })
            .map_err(|_| CallError::NotSent("the node is stopping".into()))?;
        // No answer at all: the node stopped while the write was queued or under way. It may
        // have left, so its outcome is unknown (never "not sent": a retry could apply it twice).
        answer.await.unwrap_or_else(|_| {
            Err(CallError::Lost(
                "the node stopped while forwarding the write".into(),
            ))
        })
    }
}

/// Takes the queued writes in order and sends them: to each leader address, at most
/// [`PIPELINE`] requests at once, each carrying the writes that waited for it. A leader that
/// does not answer holds up only the writes addressed to it (a new leader's have their own
/// slots).
async fn send_forever(
    network: HttpNetwork,
    timeout: Duration,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
    requests: Arc<AtomicU64>,
) {
    let (freed_sender, mut freed) = mpsc::unbounded_channel::<String>();
    let mut queues: HashMap<String, VecDeque<Pending>> = HashMap::new();
    let mut in_flight: HashMap<String, usize> = HashMap::new();
    loop {
        tokio::select! {
            next = receiver.recv() => match next {
                Some(pending) => queues.entry(pending.addr.clone()).or_default().push_back(pending),
                None => return,
            },
            Some(addr) = freed.recv() => {
                if let Some(count) = in_flight.get_mut(&addr) {
                    *count = count.saturating_sub(1);
                }
            }
        }
        // Everything already queued joins the requests about to go.
        while let Ok(pending) = receiver.try_recv() {
            queues
                .entry(pending.addr.clone())
                .or_default()
                .push_back(pending);
        }
        for (addr, queue) in queues.iter_mut() {
            let busy = in_flight.entry(addr.clone()).or_default();
            while *busy < PIPELINE && !queue.is_empty() {
                let mut batch = Vec::new();
                let mut bytes = 0;
                while let Some(next) = queue.front() {
                    let fits = batch.len() < WRITES_PER_REQUEST_MAX
                        && bytes + next.encoded.len() <= REQUEST_BYTES_MAX;
                    if !batch.is_empty() && !fits {
                        break;
                    }
                    bytes += next.encoded.len();
                    if let Some(next) = queue.pop_front() {
                        batch.push(next);
                    }
                }
                *busy += 1;
                requests.fetch_add(1, Relaxed);
                let (network, freed_sender, addr) =
                    (network.clone(), freed_sender.clone(), addr.clone());
                tokio::spawn(async move {
                    send(&network, timeout, batch).await;
                    let _ = freed_sender.send(addr);
                });
            }
        }
        queues.retain(|_, queue| !queue.is_empty());
        in_flight.retain(|_, busy| *busy > 0);
    }
}

/// Sends `batch` in one request and hands each write its answer.
async fn send(network: &HttpNetwork, timeout: Duration, batch: Vec<Pending>) {
    // The body is what postcard makes of a `Vec<Command>`: the count, then each command's
    // encoding, as they were encoded when queued.
    let count = batch.len() as u64;
    let mut body = postcard::to_allocvec(&count).unwrap_or_default();
    for pending in &batch {
        body.extend_from_slice(&pending.encoded);
    }
    let answered: Result<Result<Vec<Result<Applied, Detour>>, String>, CallError> = network
        .call_encoded(&batch[0].addr, "/raft/write-many", body, timeout)
        .await;
    match answered {
        Ok(Ok(answers)) if answers.len() == batch.len() => {
            for (pending, answer) in batch.into_iter().zip(answers) {
                let _ = pending.reply.send(Ok(Ok(answer)));
            }
        }
        Ok(Ok(answers)) => {
            // The leader proposed them and answered for another number of writes: what it did
            // with each is unknown.
            let why = format!(
                "the leader answered {} writes for {} sent",
                answers.len(),
                batch.len()
            );
            for pending in batch {
                let _ = pending.reply.send(Err(CallError::Lost(why.clone())));
            }
        }
        Ok(Err(message)) => {
            for pending in batch {
                let _ = pending.reply.send(Ok(Err(message.clone())));
            }
        }
        Err(error) => {
            for pending in batch {
                let _ = pending.reply.send(Err(error.clone()));
            }
        }
    }
}
