//! The `sutra` command line: `serve`, `import`, `export`, `check`, `repair`.

use crate::files::storage::{self, FileStorage};
use crate::http::access::{self, Access};
use crate::http::api::{self, AppState};
use crate::http::serve::{self, ConnectionLimits};
use crate::memories::home::Home;
use crate::memories::metrics::Metrics;
use crate::memories::queries::{self, QueryConfig, QueryPool};
use crate::memories::registry::{self, Registry};
use crate::memories::writer::WriterConfig;
use axum::http::HeaderValue;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use sutra_core::exchange::jsonl;

/// Default data directory (under the current directory).
pub const DATA_DEFAULT: &str = "sutra-data";
/// Default listen address.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:7878";

#[derive(Parser)]
#[command(
    name = "sutra",
    version,
    about = "Sutra: a durable knowledge-graph and vector memory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The files `sutra import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ImportFormat {
    /// Sutra's JSON Lines (`sutra export`, `GET …/export`).
    Sutra,
    /// The reference MCP memory server's `memory.jsonl`.
    McpMemory,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API under /v1 and the control center at /.
    Serve {
        /// Data directory: one subdirectory per memory.
        #[arg(long, default_value = DATA_DEFAULT)]
        data: PathBuf,
        /// Address to listen on. A non-loopback address needs --token.
        #[arg(long, default_value = LISTEN_DEFAULT)]
        listen: SocketAddr,
        /// Require `Authorization: Bearer <token>` on every request but /v1/health.
        #[arg(long, env = "SUTRA_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Allow cross-origin requests from this origin (repeatable), e.g. http://localhost:5173.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// Also answer requests whose Host header is this (repeatable), e.g. sutra.lan:7878
        /// behind a proxy. By default only the listening address's own names are answered.
        #[arg(long = "allowed-host")]
        allowed_hosts: Vec<String>,
        /// Directory of the control center's built files.
        #[arg(long, default_value = "web-control-center/dist")]
        ui: PathBuf,
        /// Log size (MiB) that triggers an automatic checkpoint.
        #[arg(long, default_value_t = 256)]
        checkpoint_log_mib: u64,
        /// Most writes waiting per memory before new ones get 503 + Retry-After.
        #[arg(long, default_value_t = 4096)]
        queue_max: usize,
        /// Most memories in the data directory (each has a writer thread and open files).
        #[arg(long, default_value_t = registry::MEMORIES_MAX as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_memories: u32,
        /// Vectors not yet indexed (MiB of their one-byte codes) past which a memory's writes
        /// wait for its indexer: bounds what each search costs while vectors arrive faster
        /// than they are indexed.
        #[arg(long, default_value_t = 32)]
        fresh_vectors_mib: u64,
        /// Threads that run queries (paths, neighbourhoods, searches, scans); default: one per
        /// core.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        query_threads: Option<u16>,
        /// Queries waiting for a thread before new ones get 503 + Retry-After; default: 4 per
        /// query thread.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        query_queue: Option<u32>,
        /// Time limit of one query, in milliseconds (then it is stopped and answered 503
        /// query_timeout).
        #[arg(long, default_value_t = queries::QUERY_TIMEOUT_MS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        query_timeout_ms: u64,
        /// Open connections at most (kept under the open-file limit).
        #[arg(long, default_value_t = serve::CONNECTIONS_MAX_DEFAULT as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        max_connections: u32,
        /// Seconds for a request's head to arrive (also how long an idle connection stays open).
        #[arg(long, default_value_t = serve::HEADER_TIMEOUT_S_DEFAULT, value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_timeout_s: u64,
        /// Seconds a request body may stop arriving before its request ends with 408.
        #[arg(long, default_value_t = serve::BODY_TIMEOUT_S_DEFAULT, value_parser = clap::value_parser!(u64).range(1..=3600))]
        body_timeout_s: u64,
        /// Seconds requests in progress get to finish on SIGTERM before they are dropped (the
        /// checkpoints are written after, either way).
        #[arg(long, default_value_t = serve::SHUTDOWN_TIMEOUT_S_DEFAULT, value_parser = clap::value_parser!(u64).range(0..=3600))]
        shutdown_timeout_s: u64,
        #[command(flatten)]
        cluster: Box<ClusterArgs>,
    },
    /// Serve the MCP tools on stdin/stdout, for an agent's client that starts its servers
    /// itself: a bridge to a running server (--url), or, with none running, the owner of a
    /// data directory (--data; a second process is answered `memory_locked`).
    Mcp {
        /// The running server to send every tool call to (many agents share it).
        #[arg(long, env = "SUTRA_URL", conflicts_with = "data")]
        url: Option<String>,
        /// Its token, if it has one.
        #[arg(long, env = "SUTRA_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// With no server: the data directory to open (an absolute path: clients start this
        /// in a directory of their own choosing).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The memory the tools use (made on first use).
        #[arg(long, default_value = crate::mcp::tools::DEFAULT_MEMORY)]
        memory: String,
    },
    /// Import a JSON Lines file into a memory (created if missing). The server must be stopped.
    Import {
        /// The file.
        file: PathBuf,
        /// The memory.
        #[arg(long)]
        memory: String,
        /// What the file is: Sutra's own export, or the `memory.jsonl` of the reference MCP
        /// memory server (entities, their observations, relations: kept as the MCP tools keep
        /// them).
        #[arg(long, value_enum, default_value_t = ImportFormat::Sutra)]
        from: ImportFormat,
        /// Data directory.
        #[arg(long, default_value = DATA_DEFAULT)]
        data: PathBuf,
    },
    /// Export a memory as JSON Lines (to stdout, or --output). The server must be stopped.
    Export {
        /// The memory.
        #[arg(long)]
        memory: String,
        /// Data directory.
        #[arg(long, default_value = DATA_DEFAULT)]
        data: PathBuf,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Verify every checksum of every memory (or one) and replay its log in memory, changing nothing.
    Check {
        /// Data directory.
        #[arg(long, default_value = DATA_DEFAULT)]
        data: PathBuf,
        /// Only this memory.
        #[arg(long)]
        memory: Option<String>,
        /// Also run the integrity checker on each memory's rebuilt state: the association
        /// graph both ways, the vector index against the embeddings, the graphs' structure.
        #[arg(long)]
        deep: bool,
    },
    /// Copy a memory's log aside, then truncate it at its first corrupt record.
    Repair {
        /// The memory.
        #[arg(long)]
        memory: String,
        /// Data directory.
        #[arg(long, default_value = DATA_DEFAULT)]
        data: PathBuf,
    },
    /// Print the HTTP API's OpenAPI document (the one served at /v1/openapi.json).
    Openapi,
    /// See and change a cluster through any of its nodes (docs/CLUSTER.md).
    Cluster {
        /// Any node's HTTP API.
        #[arg(long, global = true, default_value = "http://127.0.0.1:7878")]
        url: String,
        /// The nodes' API token, if they have one.
        #[arg(long, global = true, env = "SUTRA_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(subcommand)]
        action: ClusterAction,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// The cluster as the node sees it: roles, leader, and (from the leader) each member's lag.
    Status,
    /// Add a node as a learner (start it first with its own --node-id and no --member).
    Add {
        /// Its id.
        #[arg(long)]
        id: u64,
        /// Its HTTP API, host:port.
        #[arg(long)]
        api: String,
        /// Its cluster listener, host:port.
        #[arg(long = "cluster")]
        raft: String,
    },
    /// Make a learner a voter.
    Promote {
        /// Its id.
        id: u64,
    },
    /// Remove a node from the cluster.
    Remove {
        /// Its id.
        id: u64,
    },
    /// Hand leadership to another voter.
    TransferLeader {
        /// The voter's id.
        to: u64,
    },
    /// Offline, data-losing, for a cluster whose quorum is lost for good: make this stopped
    /// node a new cluster of one, holding what it knew committed (its later log entries are
    /// dropped and counted; its old files are moved aside). Other nodes then join it as
    /// learners.
    ForceNewCluster {
        /// The node's data directory.
        #[arg(long, default_value = DATA_DEFAULT)]
        data: PathBuf,
        /// The node's id.
        #[arg(long)]
        node_id: u64,
        /// Its HTTP API, host:port (default: as the old membership has it).
        #[arg(long)]
        api: Option<String>,
        /// Its cluster listener, host:port (default: as the old membership has it).
        #[arg(long = "cluster")]
        raft: Option<String>,
        /// Say that you know writes the lost nodes acknowledged may be lost.
        #[arg(long)]
        yes_lose_data: bool,
    },
}

/// The flags that make `sutra serve` a node of a replicated cluster (docs/CLUSTER.md).
#[derive(clap::Args)]
struct ClusterArgs {
    /// Run as node N of a cluster (1 or more): every memory is replicated on the cluster's
    /// nodes, and a write is acknowledged once a quorum has it on disk.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    node_id: Option<u64>,
    /// A member of the cluster when it is first made, as ID=API_ADDR/CLUSTER_ADDR (repeat for
    /// each node, the same on every node), e.g. 1=127.0.0.1:7001/127.0.0.1:7101. Ignored once
    /// the node has a log.
    #[arg(long = "member", requires = "node_id")]
    members: Vec<String>,
    /// Address of this node's cluster listener (the other nodes' traffic); default: its own
    /// --member entry's cluster address.
    #[arg(long, requires = "node_id")]
    cluster_listen: Option<SocketAddr>,
    /// The token every node of the cluster requires of the others (at least 16 characters).
    /// Not used without --node-id (so that SUTRA_CLUSTER_TOKEN set in a shell does not stop a
    /// single server from starting).
    #[arg(long, env = "SUTRA_CLUSTER_TOKEN", hide_env_values = true)]
    cluster_token: Option<String>,
    /// Milliseconds between the leader's heartbeats.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    heartbeat_ms: u64,
    /// Milliseconds without a leader's heartbeat before a follower starts an election (each
    /// node waits a random time between this and twice this; a follower also refuses to vote
    /// for twice this after it last heard the leader, its lease). Failover takes about 2 to 4
    /// times this.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    election_timeout_ms: u64,
    /// The address this node's connections to the other nodes leave from (on a machine with
    /// several addresses; default: the system's choice).
    #[arg(long, requires = "node_id")]
    cluster_source_ip: Option<std::net::IpAddr>,
    /// Log entries between two snapshots of the node's state.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(10..))]
    snapshot_every: u64,
    /// The most snapshot data a leader sends a follower each second, in MiB (a follower that
    /// missed entries the log no longer holds receives the snapshot, read from disk).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    snapshot_rate_mib: u64,
}

/// Runs the command line; returns the exit code.
pub fn main() -> i32 {
    crate::heap::configure_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            data,
            listen,
            token,
            cors_origins,
            allowed_hosts,
            ui,
            checkpoint_log_mib,
            queue_max,
            max_memories,
            fresh_vectors_mib,
            query_threads,
            query_queue,
            query_timeout_ms,
            max_connections,
            header_timeout_s,
            body_timeout_s,
            shutdown_timeout_s,
            cluster,
        } => {
            let defaults = QueryConfig::default();
            let threads = query_threads.map_or(defaults.threads, usize::from);
            let cluster = match cluster.node_id {
                None => Ok(None),
                Some(id) => crate::node::cluster_options(
                    id,
                    &cluster.members,
                    cluster.cluster_listen,
                    cluster.cluster_token,
                    crate::node::Timing {
                        heartbeat_ms: cluster.heartbeat_ms,
                        election_timeout_ms: cluster.election_timeout_ms,
                        snapshot_every: cluster.snapshot_every,
                        snapshot_mib_per_s: cluster.snapshot_rate_mib,
                    },
                    cluster.cluster_source_ip,
                )
                .map(Some),
            };
            cluster.and_then(|cluster| {
                serve(ServeOptions {
                    data,
                    listen,
                    token,
                    cors_origins,
                    allowed_hosts,
                    ui,
                    memories_max: max_memories as usize,
                    writer: WriterConfig {
                        queue_max,
                        checkpoint_log_bytes: checkpoint_log_mib.saturating_mul(1024 * 1024),
                        fresh_bytes_max: fresh_vectors_mib.saturating_mul(1024 * 1024),
                        ..WriterConfig::default()
                    },
                    queries: QueryConfig {
                        threads,
                        queue_max: query_queue
                            .map_or(threads * queries::QUERY_QUEUE_PER_THREAD_DEFAULT, |q| {
                                q as usize
                            }),
                        timeout: Duration::from_millis(query_timeout_ms),
                    },
                    connections: ConnectionLimits {
                        connections_max: max_connections as usize,
                        header_timeout: Duration::from_secs(header_timeout_s),
                        body_timeout: Duration::from_secs(body_timeout_s),
                        shutdown_timeout: Duration::from_secs(shutdown_timeout_s),
                    },
                    cluster,
                })
            })
        }
        Command::Mcp {
            url,
            token,
            data,
            memory,
        } => mcp(url, token, data, &memory),
        Command::Import {
            file,
            memory,
            from: ImportFormat::Sutra,
            data,
        } => import(&file, &memory, &data),
        Command::Import {
            file,
            memory,
            from: ImportFormat::McpMemory,
            data,
        } => import_mcp_memory(&file, &memory, &data),
        Command::Export {
            memory,
            data,
            output,
        } => export(&memory, &data, output.as_deref()),
        Command::Check { data, memory, deep } => check(&data, memory.as_deref(), deep),
        Command::Repair { memory, data } => repair(&memory, &data),
        Command::Cluster {
            action:
                ClusterAction::ForceNewCluster {
                    data,
                    node_id,
                    api,
                    raft,
                    yes_lose_data,
                },
            ..
        } => force_new_cluster(&data, node_id, api, raft, yes_lose_data),
        Command::Cluster { url, token, action } => cluster_command(&url, token.as_deref(), action),
        Command::Openapi => match serde_json::to_string_pretty(&crate::http::openapi::document()) {
            Ok(text) => {
                println!("{text}");
                Ok(0)
            }
            Err(e) => Err(e.to_string()),
        },
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

/// `sutra mcp`: the MCP tools on stdio until the client closes it.
fn mcp(
    url: Option<String>,
    token: Option<String>,
    data: Option<PathBuf>,
    memory: &str,
) -> Result<i32, String> {
    // stdout carries the protocol: logs go to stderr, warnings only unless RUST_LOG says.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    registry::check_name(memory).map_err(|e| format!("--memory: {}", e.message))?;
    let api = match (url, data) {
        (Some(url), None) => crate::mcp::api::Api::remote(&url, access::check_token(token)?),
        (None, Some(data)) => crate::mcp::api::Api::owned(data),
        _ => {
            return Err(
                "give --url (a running `sutra serve`, shared by every agent) or --data (a data directory this process opens itself)"
                    .into(),
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(crate::mcp::run_stdio(api, memory))?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(0)
}

/// `sutra cluster ...`: one request to a node's API, the cluster printed from its answer.
fn cluster_command(url: &str, token: Option<&str>, action: ClusterAction) -> Result<i32, String> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let base = url.trim_end_matches('/');
    let auth = token.map(|t| format!("Bearer {t}"));
    let auth = auth.as_deref();
    let sent = match action {
        ClusterAction::Status => with_auth(agent.get(format!("{base}/v1/cluster")), auth).call(),
        ClusterAction::Add { id, api, raft } => {
            with_auth(agent.post(format!("{base}/v1/cluster/members")), auth)
                .send_json(serde_json::json!({"id": id, "api": api, "raft": raft}))
        }
        ClusterAction::Promote { id } => with_auth(
            agent.post(format!("{base}/v1/cluster/members/{id}/promote")),
            auth,
        )
        .send_empty(),
        ClusterAction::Remove { id } => with_auth(
            agent.delete(format!("{base}/v1/cluster/members/{id}")),
            auth,
        )
        .call(),
        ClusterAction::ForceNewCluster { .. } => {
            return Err(
                "force-new-cluster works on a stopped node's files, not through a URL".into(),
            )
        }
        ClusterAction::TransferLeader { to } => {
            with_auth(agent.post(format!("{base}/v1/cluster/leader")), auth)
                .send_json(serde_json::json!({"to": to}))
        }
    };
    let mut response = sent.map_err(|e| format!("{base}: {e}"))?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response
        .body_mut()
        .read_json()
        .map_err(|e| format!("{base} answered {status} with a body that is not JSON: {e}"))?;
    if status != 200 {
        return Err(format!(
            "{} ({status}): {}",
            body["error"]["code"].as_str().unwrap_or("error"),
            body["error"]["message"].as_str().unwrap_or("")
        ));
    }
    print!("{}", cluster_table(&body));
    Ok(0)
}

/// `sutra cluster force-new-cluster`.
fn force_new_cluster(
    data: &Path,
    id: u64,
    api: Option<String>,
    raft: Option<String>,
    yes: bool,
) -> Result<i32, String> {
    if !yes {
        return Err("force-new-cluster makes this node a new cluster of one and drops what it did not know committed: writes the lost nodes acknowledged may be lost. Run it only when most of the cluster is gone for good, with --yes-lose-data".into());
    }
    let dir = data.join(crate::node::CLUSTER_DIR);
    crate::node::lock_node_dir(&dir)?;
    let member = match (api, raft) {
        (Some(api), Some(raft)) => Some(sutra_cluster::raft::Member::new(raft, api)),
        (None, None) => None,
        _ => return Err("give both --api and --cluster, or neither".into()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let suffix = api::now_ms().to_string();
    let reformed = runtime
        .block_on(sutra_cluster::forced::force_new_cluster(
            &dir,
            id,
            member,
            &suffix,
            sutra_core::HnswParams::default(),
        ))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "node {id} is a new cluster of one: it holds entries up to {} ({} memories: {}); {} later entries of its log were dropped (never known committed here); its old files are in {}. Start it with `sutra serve --node-id {id}` (no --member), then add the other nodes as learners.",
        reformed.kept_up_to.map_or("none".into(), |k| k.to_string()),
        reformed.memories.len(),
        reformed.memories.join(", "),
        reformed.dropped_entries,
        reformed.old_files.display()
    );
    Ok(0)
}

/// `request` with the API token, if there is one.
fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<&str>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(auth) => request.header("Authorization", auth),
        None => request,
    }
}

/// The cluster of a `/v1/cluster` answer, as text.
fn cluster_table(body: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if body["role"] == "single" {
        return "a single server, not a node of a cluster\n".into();
    }
    let mut out = format!(
        "node {} is {} (term {}, leader {}, applied {})\n",
        text(&body["node"]),
        text(&body["role"]),
        text(&body["term"]),
        text(&body["leader"]),
        text(&body["applied"])
    );
    out.push_str(&format!(
        "{:>4}  {:<7}  {:<21}  {:<21}  {:>8}  {:>6}  {:>8}  {:>9}\n",
        "id", "kind", "api", "cluster", "matched", "lag", "lag time", "last ack"
    ));
    for m in body["members"].as_array().into_iter().flatten() {
        let ack = match m["last_ack_ms"].as_u64() {
            Some(ms) => format!("{ms} ms"),
            None => "-".into(),
        };
        let lag_time = match m["lag_ms"].as_u64() {
            Some(ms) => format!("{ms} ms"),
            None => "-".into(),
        };
        out.push_str(&format!(
            "{:>4}  {:<7}  {:<21}  {:<21}  {:>8}  {:>6}  {:>8}  {:>9}\n",
            text(&m["id"]),
            text(&m["kind"]),
            text(&m["api"]),
            text(&m["raft"]),
            text(&m["matched"]),
            text(&m["lag_entries"]),
            lag_time,
            ack
        ));
    }
    out
}

/// Options of `sutra serve`.
pub struct ServeOptions {
    /// Data directory.
    pub data: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Bearer token.
    pub token: Option<String>,
    /// Allowed CORS origins.
    pub cors_origins: Vec<String>,
    /// Host names answered besides the listening address's own.
    pub allowed_hosts: Vec<String>,
    /// Control center files.
    pub ui: PathBuf,
    /// Most memories in the data directory.
    pub memories_max: usize,
    /// Writer tuning.
    pub writer: WriterConfig,
    /// The query pool.
    pub queries: QueryConfig,
    /// Connection limits.
    pub connections: ConnectionLimits,
    /// Run as a node of a cluster.
    pub cluster: Option<crate::node::ClusterOptions>,
}

fn serve(options: ServeOptions) -> Result<i32, String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // openraft warns at every failed heartbeat (ten a second for a node that is down):
                // its errors only, unless RUST_LOG asks for more.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let token = access::check_token(options.token)?;
    if !options.listen.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to listen on {} without --token: anyone who can reach it could read and change your memories",
            options.listen
        ));
    }
    let cors_origins = options
        .cors_origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o)
                .map_err(|_| format!("--cors-origin {o:?} is not a valid origin"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A server that cannot write a file larger than a limit set on it must get an error for
    // that write, not be killed by the signal the limit sends.
    ignore_file_size_signal();
    let open_files = serve::raise_open_files_limit();
    let mut connections = options.connections;
    connections.connections_max = serve::fitting_cap(connections.connections_max, open_files);
    if connections.connections_max < options.connections.connections_max {
        tracing::warn!(
            wanted = options.connections.connections_max,
            cap = connections.connections_max,
            open_files = ?open_files,
            "the open-file limit is too low for --max-connections; the cap is lowered"
        );
    }
    let metrics = Arc::new(Metrics::default());
    let queries = Arc::new(
        QueryPool::start(options.queries)
            .map_err(|e| format!("cannot start the query threads: {e}"))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let home = match options.cluster {
        None => {
            let registry = Arc::new(Registry::open_with(
                &options.data,
                options.writer,
                metrics.clone(),
                options.memories_max,
            )?);
            registry
                .start_recovery()
                .map_err(|e| format!("cannot start the recovery thread: {e}"))?;
            Home::Local(registry)
        }
        Some(cluster) => runtime.block_on(crate::node::start(&options.data, cluster))?,
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let state = AppState {
            home: home.clone(),
            metrics,
            access: Arc::new(Access::new(
                address,
                token,
                &options.allowed_hosts,
                cors_origins,
            )),
            ui_dir: Some(options.ui),
            queries,
            transfers: Arc::default(),
        };
        let app = api::router(state);
        let shutdown = shutdown_signal();
        // Tests and scripts read this line to find the port (with --listen 127.0.0.1:0).
        println!(
            "Sutra listening on http://{address} (data: {})",
            options.data.display()
        );
        let _ = std::io::stdout().flush();
        let ended = serve::serve(listener, app, connections, shutdown).await;
        match ended {
            serve::Ended::Drained => {
                tracing::info!("stopped accepting requests; finishing queued writes and checkpointing")
            }
            serve::Ended::Cut(open) => tracing::warn!(
                open,
                "requests still running at the shutdown deadline were dropped; finishing queued writes and checkpointing"
            ),
        }
        match home {
            Home::Local(registry) => tokio::task::spawn_blocking(move || registry.shutdown())
                .await
                .map_err(|e| format!("shutdown failed: {e}")),
            Home::Cluster(node) => {
                crate::node::stop(&node).await;
                Ok(())
            }
        }
    });
    // Blocking tasks still running (an export cut at the deadline) are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served?;
    tracing::info!("shut down cleanly");
    Ok(0)
}

/// Ignores SIGXFSZ: past a file-size limit, a write then fails with an error the engine
/// handles (the memory refuses writes until it is reopened) instead of killing the process.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code; it is done
    // before any thread that could write a file starts.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// SIGTERM or SIGINT, as a future. The handlers are installed when this is called, not when
/// the future is first polled: the server calls it before it says it is listening, so a signal
/// sent as soon as it says so is a graceful stop, not the default action (death, no final
/// checkpoint).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // Without signal handlers the server runs until killed; durability does not
            // depend on it.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}

/// Refuses `what` (an offline command) on a cluster node's data directory, saying what to do
/// instead: a node's memories live in the cluster's log, which the node's own recovery and
/// the other nodes keep whole.
/// `sutra import --from mcp-memory`.
fn import_mcp_memory(file: &Path, memory: &str, data: &Path) -> Result<i32, String> {
    not_on_a_cluster_node(data, "import")?;
    registry::check_name(memory).map_err(|e| e.message)?;
    let input =
        std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let owned = crate::mcp::api::Api::owned(data.to_path_buf());
    let tools =
        crate::mcp::tools::SutraMcp::new(crate::mcp::tools::Shared::new(owned.clone(), memory));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(crate::mcp::import::import(
        &tools,
        memory,
        std::io::BufReader::new(input),
    ));
    owned.close();
    let done = result.map_err(|e| format!("import stopped: {e}"))?;
    println!(
        "imported {} entities ({} observations) and {} relations into {memory:?}; {} already there; {} lines rejected",
        done.entities, done.observations, done.relations, done.present, done.rejected_count
    );
    for (line, why) in &done.rejected {
        println!("  line {line}: {why}");
    }
    if done.rejected_count > done.rejected.len() {
        println!("  … and {} more", done.rejected_count - done.rejected.len());
    }
    Ok(if done.rejected_count == 0 { 0 } else { 2 })
}

fn not_on_a_cluster_node(data: &Path, what: &str) -> Result<(), String> {
    if !data.join(crate::node::CLUSTER_DIR).is_dir() {
        return Ok(());
    }
    let instead = match what {
        "repair" => "a node whose files are damaged is replaced, not repaired: `sutra cluster remove N`, start it on an empty data directory with a new --node-id, then `sutra cluster add` and `promote` it (it copies the others' state); a node that stopped cleanly or crashed just restarts (its log's torn tail is dropped on its own)",
        "import" => "import through a running node's API: POST /v1/memories/{name}/import (it writes through the leader)",
        "export" => "export through a running node's API: GET /v1/memories/{name}/export",
        _ => "ask a running node: GET /v1/cluster and /v1/health; a node checks its log and snapshot when it starts and refuses damaged ones",
    };
    Err(format!(
        "{} is a cluster node's data directory; `sutra {what}` works on a single server's memories. Instead, {instead}",
        data.display()
    ))
}

fn offline_registry(data: &Path) -> Result<Registry, String> {
    let config = WriterConfig {
        // Imports run flat out; no background re-seal while the process is short-lived.
        reseal_fresh_min: u64::MAX,
        ..WriterConfig::default()
    };
    Registry::open(data, config, Arc::new(Metrics::default()))
        .map_err(|e| format!("{e} (stop `sutra serve` on this data directory first)"))
}

fn import(file: &Path, memory: &str, data: &Path) -> Result<i32, String> {
    not_on_a_cluster_node(data, "import")?;
    registry::check_name(memory).map_err(|e| e.message)?;
    let input =
        std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let registry = offline_registry(data)?;
    let handle = match registry.get(memory) {
        Ok(handle) => handle,
        Err(e) if e.code == "memory_not_found" => registry
            .create(memory, None, None, Vec::new())
            .map_err(|e| e.message)?,
        Err(e) => return Err(e.message),
    };
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let read = std::cell::Cell::new(0u64);
    let summary = jsonl::import(
        FileLines::new(input, &read),
        api::now_ms(),
        |ops| api::write_blocking(&handle, ops),
        |_| bar.set_position(read.get()),
    )
    .map_err(|e| format!("import stopped: {e}"))?;
    bar.finish_and_clear();
    registry.shutdown();
    println!(
        "imported {} concepts and {} associations into {memory:?}; {} lines rejected",
        summary.concepts, summary.associations, summary.rejected_count
    );
    for r in &summary.rejected {
        println!("  line {}: {}", r.line, r.reason);
    }
    if summary.rejected_count as usize > summary.rejected.len() {
        println!(
            "  … and {} more",
            summary.rejected_count as usize - summary.rejected.len()
        );
    }
    Ok(if summary.rejected_count == 0 { 0 } else { 2 })
}

/// The numbered lines of a file, read a block at a time through [`jsonl::LineSplitter`]: a
/// line over the limit is reported without being held (a 300 MB line costs a block, not
/// 300 MB), and so is a line that is not UTF-8. A read error ends the lines with it.
struct FileLines<'a> {
    file: Option<std::fs::File>,
    splitter: jsonl::LineSplitter,
    ready: std::collections::VecDeque<jsonl::NumberedLine>,
    block: Vec<u8>,
    read: &'a std::cell::Cell<u64>,
}

/// Bytes read from a file at a time.
const READ_BLOCK_BYTES: usize = 64 * 1024;

impl<'a> FileLines<'a> {
    fn new(file: std::fs::File, read: &'a std::cell::Cell<u64>) -> Self {
        FileLines {
            file: Some(file),
            splitter: jsonl::LineSplitter::new(),
            ready: std::collections::VecDeque::new(),
            block: vec![0; READ_BLOCK_BYTES],
            read,
        }
    }
}

impl Iterator for FileLines<'_> {
    type Item = jsonl::NumberedLine;

    fn next(&mut self) -> Option<Self::Item> {
        use std::io::Read;
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(line);
            }
            let file = self.file.as_mut()?;
            let ready = &mut self.ready;
            match file.read(&mut self.block) {
                Ok(0) => {
                    self.file = None;
                    std::mem::take(&mut self.splitter)
                        .finish(&mut |no, line| ready.push_back((no, line)));
                }
                Ok(n) => {
                    self.read.set(self.read.get() + n as u64);
                    self.splitter.push(&self.block[..n], &mut |no, line| {
                        ready.push_back((no, line))
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.file = None;
                    let no = self.splitter.lines() + 1;
                    let message = e.to_string();
                    return Some((no, Err(jsonl::LineError::Unreadable { message })));
                }
            }
        }
    }
}

fn export(memory: &str, data: &Path, output: Option<&Path>) -> Result<i32, String> {
    not_on_a_cluster_node(data, "export")?;
    let registry = offline_registry(data)?;
    let handle = registry.get(memory).map_err(|e| e.message)?;
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let total = handle.reader().stats();
    let bar = indicatif::ProgressBar::new(total.concepts * 2);
    for chunk in jsonl::ExportChunks::new(handle.reader().clone()) {
        bar.inc(chunk.matches("\"type\":\"concept\"").count() as u64 + 1);
        out.write_all(chunk.as_bytes())
            .map_err(|e| format!("cannot write: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot write: {e}"))?;
    bar.finish_and_clear();
    eprintln!(
        "exported {} concepts and {} associations",
        total.concepts, total.associations
    );
    Ok(0)
}

fn memory_dirs(data: &Path, only: Option<&str>) -> Result<Vec<(String, PathBuf)>, String> {
    if let Some(name) = only {
        registry::check_name(name).map_err(|e| e.message)?;
        let dir = data.join(name);
        if !dir.is_dir() {
            return Err(format!(
                "memory {name:?} does not exist in {}",
                data.display()
            ));
        }
        return Ok(vec![(name.to_string(), dir)]);
    }
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(data)
        .map_err(|e| format!("cannot list {}: {e}", data.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok().map(|n| (n, e.path())))
        .filter(|(n, _)| registry::check_name(n).is_ok())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn check(data: &Path, only: Option<&str>, deep: bool) -> Result<i32, String> {
    not_on_a_cluster_node(data, "check")?;
    let mut bad = 0;
    let dirs = memory_dirs(data, only)?;
    if dirs.is_empty() {
        println!("no memories in {}", data.display());
    }
    for (name, dir) in dirs {
        let mut storage = FileStorage::open(&dir)
            .map_err(|e| format!("{name}: {e} (stop `sutra serve` first)"))?;
        let verified = if deep {
            sutra_core::verify_deep(&mut storage, Default::default())
        } else {
            sutra_core::verify(&mut storage, Default::default())
        };
        match verified {
            Ok(r) => {
                println!(
                    "{name}: ok{} — snapshot {}, {} log records to replay ({} covered by the snapshot), {} log bytes, {} concepts, {} associations{}",
                    if deep { " (integrity checked)" } else { "" },
                    r.snapshot_seq.map_or("none".to_string(), |s| format!("at sequence {s}")),
                    r.records,
                    r.records_skipped,
                    r.log_bytes,
                    r.counts.concepts,
                    r.counts.associations,
                    if r.torn_bytes > 0 {
                        format!("; torn tail of {} bytes (an interrupted write; opening truncates it)", r.torn_bytes)
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => {
                bad += 1;
                println!("{name}: FAILED — {e}");
                if e.code() == "corrupt_log" {
                    println!("  `sutra repair --memory {name}` keeps the records before the damage (the log is copied aside first)");
                }
            }
        }
    }
    Ok(if bad == 0 { 0 } else { 1 })
}

fn repair(memory: &str, data: &Path) -> Result<i32, String> {
    not_on_a_cluster_node(data, "repair")?;
    let dirs = memory_dirs(data, Some(memory))?;
    let (_, dir) = &dirs[0];
    let mut storage =
        FileStorage::open(dir).map_err(|e| format!("{e} (stop `sutra serve` first)"))?;
    let log = dir.join(storage::LOG_FILE);
    let backup = dir.join(format!("{}.{}.bak", storage::LOG_FILE, api::now_ms()));
    std::fs::copy(&log, &backup)
        .map_err(|e| format!("cannot copy the log aside to {}: {e}", backup.display()))?;
    std::fs::File::open(&backup)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", backup.display()))?;
    storage::sync_dir(dir).map_err(|e| e.to_string())?;
    let report = sutra_core::repair(&mut storage).map_err(|e| e.to_string())?;
    println!(
        "{memory}: kept {} records; log truncated at byte {} ({} bytes dropped); the old log is at {}",
        report.records_kept,
        report.truncated_at,
        report.bytes_dropped,
        backup.display()
    );
    Ok(0)
}
