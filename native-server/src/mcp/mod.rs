//! Sutra as a Model Context Protocol server, for AI agents: the tools in [`tools`], reaching
//! the memories through `/v1` ([`api`]), served two ways:
//! - Streamable HTTP at `/mcp` on `sutra serve` ([`http_service`]), behind the same access
//!   rules as `/v1` (token, host, origin); `/mcp?memory=NAME` picks the memory;
//! - stdio by `sutra mcp` ([`run_stdio`]), for clients that start their servers themselves:
//!   a bridge to a running server (`--url`), or the owner of a data directory (`--data`).

pub mod api;
pub mod import;
pub mod tools;

use crate::mcp::api::Api;
use crate::mcp::tools::{Shared, SutraMcp};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;
use std::sync::Arc;

/// Largest request body `/mcp` reads.
pub const MCP_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The `/mcp` service: stateless (every request is answered on its own, no session kept), JSON
/// answers. Host and origin are checked by the server's own rules before it runs.
pub fn http_service(shared: Arc<Shared>) -> StreamableHttpService<SutraMcp, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MCP_BODY_BYTES_MAX);
    StreamableHttpService::new(
        move || Ok(SutraMcp::new(shared.clone())),
        LocalSessionManager::default().into(),
        config,
    )
}

/// Serves MCP on stdin/stdout until the client closes it.
pub async fn run_stdio(api: Api, memory: &str) -> Result<(), String> {
    let shared = Shared::new(api.clone(), memory);
    let running = SutraMcp::new(shared)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP client's first message was not a valid start: {e}"))?;
    let ended = running.waiting().await;
    let api_closing = api.clone();
    let _ = tokio::task::spawn_blocking(move || api_closing.close()).await;
    ended
        .map(|_| ())
        .map_err(|e| format!("the MCP connection failed: {e}"))
}
