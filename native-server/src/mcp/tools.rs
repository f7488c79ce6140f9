//! The tools an agent calls: the knowledge-graph memory tool set MCP clients know (the same
//! names and arguments), bounded and paged, and Sutra's own (paths, neighbourhood, similar,
//! hybrid search).
//!
//! How the graph of those tools is kept in a memory (also in the README):
//! - an **entity** is the concept whose text is its name (its id derived from the name, as for
//!   any concept learned without one) with metadata `entity_type`;
//! - an **observation** is a concept of its own, its text the observation, metadata
//!   `observation_of` = the entity's name, its id derived from both (so two entities may note
//!   the same thing), linked from the entity by a `compositional` association labelled
//!   `has_observation`: text search finds it, a walk of the graph shows it;
//! - a **relation** is a `semantic` association from one entity to the other, labelled with
//!   its `relationType`.
//!
//! Each tool call's writes are one batch: applied whole or not at all, durable before the
//! answer.

use crate::mcp::api::{Api, Failure};
use crate::memories::registry::check_name;
use axum::http::Method;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{schemars, tool, tool_handler, tool_router, RoleServer, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use sutra_core::ConceptId;

/// The memory the tools use unless told another (`--memory`, or `/mcp?memory=`).
pub const DEFAULT_MEMORY: &str = "memory";
/// Metadata key of an entity's type.
pub const ENTITY_TYPE_KEY: &str = "entity_type";
/// Metadata key naming the entity an observation is of.
pub const OBSERVATION_OF_KEY: &str = "observation_of";
/// Label of the association from an entity to one of its observations.
pub const OBSERVATION_LABEL: &str = "has_observation";
/// Kind of the association from an entity to one of its observations.
pub const OBSERVATION_KIND: &str = "compositional";
/// Kind of a relation's association.
pub const RELATION_KIND: &str = "semantic";
/// Most items (entities, relations, names, deletions) in one call.
pub const ITEMS_MAX: usize = 1000;
/// Entities of a `read_graph` page unless asked otherwise, and at most.
pub const PAGE_DEFAULT: u32 = 50;
/// See [`PAGE_DEFAULT`].
pub const PAGE_MAX: u32 = 200;
/// Observations shown per entity (the rest counted).
pub const OBSERVATIONS_SHOWN_MAX: u32 = 100;
/// Observations of one entity read to show its first ones (an entity with more shows the
/// oldest of these, and counts this many).
pub const OBSERVATIONS_READ_MAX: usize = 10_000;
/// Relations shown per entity by `open_nodes` (each way).
pub const RELATIONS_SHOWN_MAX: u32 = 200;
/// Entities `search_nodes` returns unless asked otherwise, and at most.
pub const FOUND_DEFAULT: u32 = 10;
/// See [`FOUND_DEFAULT`].
pub const FOUND_MAX: u32 = 100;
/// Looks at a memory another caller is making, at most this many times…
const ENSURE_TRIES: u32 = 100;
/// …this long apart.
const ENSURE_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
/// Concepts counted for `read_graph`'s summary (on its first page) at most.
pub const SUMMARY_EXAMINED_MAX: usize = 200_000;
/// Concepts looked at per `read_graph` page (observations are skipped over).
const READ_GRAPH_EXAMINED_MAX: usize = 20_000;

/// What every connection's tools share: where requests go, the memory by default, and the
/// memories known to be ready (created, their keys indexed).
pub struct Shared {
    api: Api,
    default_memory: String,
    ready: Mutex<HashSet<String>>,
}

impl Shared {
    /// Tools sending their requests to `api`, on `default_memory` unless a request names
    /// another.
    pub fn new(api: Api, default_memory: &str) -> Arc<Shared> {
        Arc::new(Shared {
            api,
            default_memory: default_memory.to_string(),
            ready: Mutex::default(),
        })
    }

    /// Where requests go.
    pub fn api(&self) -> &Api {
        &self.api
    }
}

/// The MCP server: one per connection (stdio) or per request (Streamable HTTP, stateless).
#[derive(Clone)]
pub struct SutraMcp {
    shared: Arc<Shared>,
    tool_router: ToolRouter<SutraMcp>,
}

type ToolResult = Result<String, String>;

/// An entity as the tools take it.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct EntityIn {
    /// The entity's name (unique in the memory).
    pub name: String,
    /// Its type, e.g. "person".
    #[serde(rename = "entityType")]
    pub entity_type: String,
    /// Facts about it, one per string.
    #[serde(default)]
    pub observations: Vec<String>,
}

/// Arguments of `create_entities`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct CreateEntities {
    /// The entities (at most 1000).
    pub entities: Vec<EntityIn>,
}

/// A relation as the tools take it.
#[derive(Deserialize, schemars::JsonSchema, Debug, Clone)]
pub struct RelationIn {
    /// The entity it goes from.
    pub from: String,
    /// The entity it goes to.
    pub to: String,
    /// What it is, in active voice, e.g. "works_at".
    #[serde(rename = "relationType")]
    pub relation_type: String,
}

/// Arguments of `create_relations` and `delete_relations`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct Relations {
    /// The relations (at most 1000).
    pub relations: Vec<RelationIn>,
}

/// Observations to add to one entity.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct ObservationsIn {
    /// The entity.
    #[serde(rename = "entityName")]
    pub entity_name: String,
    /// The observations to add.
    pub contents: Vec<String>,
}

/// Arguments of `add_observations`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct AddObservations {
    /// Per entity, the observations to add (at most 1000 entities).
    pub observations: Vec<ObservationsIn>,
}

/// Arguments of `delete_entities`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct DeleteEntities {
    /// The names of the entities to delete with their observations and relations (at most
    /// 1000).
    #[serde(rename = "entityNames")]
    pub entity_names: Vec<String>,
}

/// Observations to delete from one entity.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct DeletionIn {
    /// The entity.
    #[serde(rename = "entityName")]
    pub entity_name: String,
    /// The observations to delete.
    pub observations: Vec<String>,
}

/// Arguments of `delete_observations`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct DeleteObservations {
    /// Per entity, the observations to delete (at most 1000 entities).
    pub deletions: Vec<DeletionIn>,
}

/// Arguments of `read_graph`.
#[derive(Deserialize, schemars::JsonSchema, Debug, Default)]
pub struct ReadGraph {
    /// Where to continue: the `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Entities in this page (default 50, at most 200).
    pub limit: Option<u32>,
}

/// Arguments of `search_nodes`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct SearchNodes {
    /// Words to find in entities' names and observations, or an entity type.
    pub query: String,
    /// Entities to return (default 10, at most 100).
    pub limit: Option<u32>,
}

/// Arguments of `open_nodes`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct OpenNodes {
    /// The names of the entities (at most 1000).
    pub names: Vec<String>,
}

/// How `find_paths` searches.
#[derive(Deserialize, schemars::JsonSchema, Debug, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Fewest hops.
    Shortest,
    /// Highest product of the associations' confidences.
    MostConfident,
    /// The k most confident.
    KBest,
}

/// Arguments of `find_paths`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct FindPaths {
    /// The entity (or any concept's text) the paths start from.
    pub from: String,
    /// The entity (or concept text) they end at.
    pub to: String,
    /// `shortest` (default), `most_confident` or `k_best`.
    pub algorithm: Option<Algorithm>,
    /// Paths for `k_best` (default 3, at most 10).
    pub k: Option<u32>,
    /// Most hops (default 6, at most 16).
    pub max_depth: Option<u32>,
}

/// Arguments of `neighbourhood`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct NeighbourhoodArgs {
    /// The entity (or any concept's text) at the centre.
    pub name: String,
    /// Hops (default 1, at most 4).
    pub depth: Option<u32>,
    /// Most concepts (default 200, at most 2000).
    pub limit: Option<u32>,
}

/// Arguments of `similar`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct SimilarArgs {
    /// The entity (or any concept's text) whose embedding is compared.
    pub name: String,
    /// Results (default 10, at most 1000).
    pub k: Option<u32>,
}

/// Arguments of `search`.
#[derive(Deserialize, schemars::JsonSchema, Debug)]
pub struct SearchArgs {
    /// Words to find (ranked by BM25); may be empty when a vector is given.
    pub query: String,
    /// An embedding to search by as well, of the memory's dimension (for agents that embed
    /// their queries: words and vector fused by rank).
    pub vector: Option<Vec<f32>>,
    /// Results (default 10, at most 1000).
    pub k: Option<u32>,
    /// Keep only concepts whose metadata match, e.g. {"entity_type": "person"} (keys the memory
    /// indexes: entity_type and observation_of, and any it was given).
    pub filter: Option<Map<String, Value>>,
    /// Also follow the best hits' associations this many hops (1 to 3), with the trail.
    pub expand_depth: Option<u32>,
}

/// The id of entity `name`: the concept whose text it is.
pub fn entity_id(name: &str) -> ConceptId {
    ConceptId::from_content(name)
}

/// The id of observation `text` of entity `entity`.
pub fn observation_id(entity: &str, text: &str) -> ConceptId {
    let mut bytes = Vec::with_capacity(entity.len() + text.len() + 24);
    bytes.extend_from_slice(b"sutra-mcp observation\0");
    bytes.extend_from_slice(entity.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(text.as_bytes());
    ConceptId(xxhash_rust::xxh3::xxh3_128(&bytes))
}

/// `text` as a URL query value: every byte but the unreserved ones (RFC 3986) escaped.
fn encode(text: &str) -> String {
    const VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, VALUE).to_string()
}

/// A tool's `limit` argument (`default` when absent), refused outside `1..=max`.
fn limit_of(limit: Option<u32>, default: u32, max: u32) -> Result<u32, String> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(format!(
            "invalid_argument: invalid limit: must be from 1 to {max}, not {limit}"
        ))
    }
}

/// A tool's error text.
fn failed(f: Failure) -> String {
    f.to_string()
}

/// Refuses a list longer than [`ITEMS_MAX`], or empty names.
fn check_items<T>(field: &str, items: &[T], names: impl Fn(&T) -> Vec<&str>) -> Result<(), String> {
    if items.len() > ITEMS_MAX {
        return Err(format!(
            "invalid_argument: {field} has {} items; at most {ITEMS_MAX} in one call",
            items.len()
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if names(item).iter().any(|n| n.trim().is_empty()) {
            return Err(format!(
                "invalid_argument: {field}[{i}] has an empty name; every entity needs one"
            ));
        }
    }
    Ok(())
}

fn relation_json(from: &str, to: &str, label: &str) -> Value {
    json!({"from": from, "to": to, "relationType": label})
}

fn answer(value: &Value) -> ToolResult {
    Ok(value.to_string())
}

impl SutraMcp {
    /// The tools, on `shared`.
    pub fn new(shared: Arc<Shared>) -> SutraMcp {
        SutraMcp {
            shared,
            tool_router: Self::tool_router(),
        }
    }

    /// The memory a call is on: `?memory=` of the HTTP request that carried it, or the
    /// default.
    fn memory(&self, context: &RequestContext<RoleServer>) -> Result<String, String> {
        let asked = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.uri.query())
            .and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("memory="))
                    .map(str::to_string)
            });
        let name = asked.unwrap_or_else(|| self.shared.default_memory.clone());
        check_name(&name).map_err(|e| format!("invalid_name: memory {name:?}: {}", e.message))?;
        Ok(name)
    }

    /// Sends a request about memory `memory`; a memory found missing is made ready again by
    /// the next call.
    async fn call(
        &self,
        memory: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let result = self.shared.api.call(method, path, body).await;
        if let Err(f) = &result {
            if f.code == "memory_not_found" {
                self.ready().remove(memory);
            }
        }
        result
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.shared.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `memory` exist with the keys the tools filter on indexed.
    async fn ensure(&self, memory: &str) -> Result<(), Failure> {
        if self.ready().contains(memory) {
            return Ok(());
        }
        let ours = [ENTITY_TYPE_KEY, OBSERVATION_OF_KEY];
        // Another caller may be making it: its creation takes a moment (memory_busy), or ends
        // first (memory_exists); either way, look again.
        for _ in 0..ENSURE_TRIES {
            match self
                .shared
                .api
                .call(Method::GET, &format!("/v1/memories/{memory}"), None)
                .await
            {
                Ok(stats) => {
                    let mut keys: BTreeSet<String> = stats["indexed_keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect();
                    if !ours.iter().all(|k| keys.contains(*k)) {
                        keys.extend(ours.iter().map(|k| k.to_string()));
                        self.shared
                            .api
                            .call(
                                Method::POST,
                                &format!("/v1/memories/{memory}/batch"),
                                Some(&json!({"ops": [{"op": "index_metadata", "keys": keys}]})),
                            )
                            .await?;
                    }
                    self.ready().insert(memory.to_string());
                    return Ok(());
                }
                Err(f) if f.code == "memory_not_found" => {
                    let made = self
                        .shared
                        .api
                        .call(
                            Method::POST,
                            "/v1/memories",
                            Some(&json!({"name": memory, "indexed_keys": ours})),
                        )
                        .await;
                    match made {
                        Ok(_) => {
                            self.ready().insert(memory.to_string());
                            return Ok(());
                        }
                        Err(f) if f.code == "memory_exists" || f.code == "memory_busy" => {
                            tokio::time::sleep(ENSURE_PAUSE).await;
                        }
                        Err(f) => return Err(f),
                    }
                }
                Err(f) if f.code == "memory_busy" => {
                    tokio::time::sleep(ENSURE_PAUSE).await;
                }
                Err(f) => return Err(f),
            }
        }
        Err(Failure::new(
            "memory_busy",
            format!("memory {memory:?} stayed busy (being made, dropped or reopened) for {} ms; try again", ENSURE_TRIES as u128 * ENSURE_PAUSE.as_millis()),
        ))
    }

    /// The memory of a call, ready for the tools.
    async fn open(&self, context: &RequestContext<RoleServer>) -> Result<String, String> {
        let memory = self.memory(context)?;
        self.ensure(&memory).await.map_err(failed)?;
        Ok(memory)
    }

    /// The concept `id`, or `None`.
    async fn concept(&self, memory: &str, id: ConceptId) -> Result<Option<Value>, Failure> {
        match self
            .call(
                memory,
                Method::GET,
                &format!("/v1/memories/{memory}/concepts/{id}"),
                None,
            )
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(f) if f.code == "concept_not_found" => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// Entity `name`'s concept, if it is an entity.
    async fn entity(&self, memory: &str, name: &str) -> Result<Option<Value>, Failure> {
        Ok(self
            .concept(memory, entity_id(name))
            .await?
            .filter(|c| c["metadata"][ENTITY_TYPE_KEY].is_string()))
    }

    /// Every concept a filter keeps, up to `max` (and whether there were more).
    async fn filtered(
        &self,
        memory: &str,
        filter: &Value,
        max: usize,
    ) -> Result<(Vec<Value>, bool), Failure> {
        let filter = encode(&filter.to_string());
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v1/memories/{memory}/concepts?limit=1000&filter={filter}");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = self.call(memory, Method::GET, &path, None).await?;
            for c in page["concepts"].as_array().into_iter().flatten() {
                if found.len() == max {
                    return Ok((found, true));
                }
                found.push(c.clone());
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return Ok((found, false)),
            }
        }
    }

    /// The observations of entity `name`, oldest first, up to `max` (and how many in all, up
    /// to [`OBSERVATIONS_READ_MAX`]: the oldest are chosen among those).
    async fn observations(
        &self,
        memory: &str,
        name: &str,
        max: usize,
    ) -> Result<(Vec<Value>, usize), Failure> {
        let (mut all, _) = self
            .filtered(
                memory,
                &json!({ OBSERVATION_OF_KEY: name }),
                OBSERVATIONS_READ_MAX,
            )
            .await?;
        all.sort_by(|a, b| {
            (a["created_ms"].as_u64(), a["content"].as_str())
                .cmp(&(b["created_ms"].as_u64(), b["content"].as_str()))
        });
        let total = all.len();
        all.truncate(max);
        Ok((all, total))
    }

    /// An entity as the tools show it: name, type, observations (the first
    /// [`OBSERVATIONS_SHOWN_MAX`], and how many more).
    async fn show_entity(&self, memory: &str, concept: &Value) -> Result<Value, Failure> {
        let name = concept["content"].as_str().unwrap_or_default();
        let (observations, total) = self
            .observations(memory, name, OBSERVATIONS_SHOWN_MAX as usize)
            .await?;
        let mut shown = json!({
            "name": name,
            "entityType": concept["metadata"][ENTITY_TYPE_KEY],
            "observations": observations.iter().map(|o| o["content"].clone()).collect::<Vec<_>>(),
        });
        if total > observations.len() {
            shown["more_observations"] = json!(total - observations.len());
        }
        Ok(shown)
    }

    /// Associations of `id` (`direction` out or in) that are relations, at most
    /// [`RELATIONS_SHOWN_MAX`].
    async fn relations_of(
        &self,
        memory: &str,
        id: ConceptId,
        direction: &str,
    ) -> Result<Vec<Value>, Failure> {
        let path = format!(
            "/v1/memories/{memory}/concepts/{id}/associations?direction={direction}&kinds={RELATION_KIND}&limit={RELATIONS_SHOWN_MAX}"
        );
        let listed = self.call(memory, Method::GET, &path, None).await?;
        Ok(listed["associations"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The text of the concepts `ids`, those found.
    async fn texts(
        &self,
        memory: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, String>, Failure> {
        let mut texts = BTreeMap::new();
        for id in ids {
            if texts.contains_key(&id) {
                continue;
            }
            let Ok(parsed) = ConceptId::parse(&id) else {
                continue;
            };
            if let Some(c) = self.concept(memory, parsed).await? {
                texts.insert(id, c["content"].as_str().unwrap_or_default().to_string());
            }
        }
        Ok(texts)
    }

    /// A batch of writes, applied whole or not at all.
    async fn write(&self, memory: &str, ops: Vec<Value>) -> Result<u64, Failure> {
        if ops.is_empty() {
            return Ok(0);
        }
        if ops.len() > sutra_core::limits::BATCH_OPS_MAX {
            return Err(Failure::new(
                "invalid_argument",
                format!(
                    "this call makes {} writes; at most {} in one call: split it",
                    ops.len(),
                    sutra_core::limits::BATCH_OPS_MAX
                ),
            ));
        }
        let written = self
            .call(
                memory,
                Method::POST,
                &format!("/v1/memories/{memory}/batch"),
                Some(&json!({ "ops": ops })),
            )
            .await?;
        Ok(written["seq"].as_u64().unwrap_or_default())
    }

    /// The writes that add observation `text` to entity `name`.
    fn observation_ops(name: &str, text: &str) -> [Value; 2] {
        let id = observation_id(name, text).to_string();
        [
            json!({"op": "put_concept", "id": id, "content": text,
                   "metadata": { OBSERVATION_OF_KEY: name }}),
            json!({"op": "put_association", "source": entity_id(name).to_string(), "target": id,
                   "kind": OBSERVATION_KIND, "label": OBSERVATION_LABEL}),
        ]
    }

    /// Creates the entities `entities` that do not exist yet in `memory` (one batch); those
    /// created.
    pub async fn create_entities_in(
        &self,
        memory: &str,
        entities: &[EntityIn],
    ) -> Result<Vec<Value>, String> {
        let memory = memory.to_string();
        let mut ops = Vec::new();
        let mut created = Vec::new();
        let mut seen = HashSet::new();
        for entity in entities {
            if !seen.insert(entity.name.as_str()) {
                continue;
            }
            let existing = self
                .concept(&memory, entity_id(&entity.name))
                .await
                .map_err(failed)?;
            let mut metadata = Map::new();
            if let Some(c) = &existing {
                if c["metadata"][ENTITY_TYPE_KEY].is_string() {
                    continue;
                }
                // A concept learned otherwise becomes the entity: its own metadata kept.
                if let Some(m) = c["metadata"].as_object() {
                    metadata = m.clone();
                }
            }
            metadata.insert(ENTITY_TYPE_KEY.into(), json!(entity.entity_type));
            let mut op = json!({"op": "put_concept", "id": entity_id(&entity.name).to_string(),
                                "content": entity.name, "metadata": metadata});
            if let Some(c) = &existing {
                for field in ["embedding", "strength", "confidence"] {
                    if !c[field].is_null() {
                        op[field] = c[field].clone();
                    }
                }
            }
            ops.push(op);
            let mut kept = BTreeSet::new();
            for text in &entity.observations {
                if kept.insert(text.as_str()) {
                    ops.extend(Self::observation_ops(&entity.name, text));
                }
            }
            created.push(
                json!({"name": entity.name, "entityType": entity.entity_type,
                                "observations": kept.into_iter().collect::<Vec<_>>()}),
            );
        }
        self.write(&memory, ops).await.map_err(failed)?;
        Ok(created)
    }

    /// Creates the relations `relations` that do not exist yet in `memory` (one batch), after
    /// checking both ends of each are entities; those created.
    pub async fn create_relations_in(
        &self,
        memory: &str,
        relations: &[RelationIn],
    ) -> Result<Vec<Value>, String> {
        let memory = memory.to_string();
        let mut missing = BTreeSet::new();
        let mut checked = HashSet::new();
        for r in relations {
            for name in [&r.from, &r.to] {
                if checked.insert(name.as_str())
                    && self.entity(&memory, name).await.map_err(failed)?.is_none()
                {
                    missing.insert(name.as_str());
                }
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "entity_not_found: no entity is named {}; create it with create_entities first (nothing was written)",
                missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
            ));
        }
        let mut ops = Vec::new();
        let mut created = Vec::new();
        let mut seen = HashSet::new();
        for r in relations {
            if !seen.insert((&r.from, &r.to, &r.relation_type)) {
                continue;
            }
            let exists = self.relation_exists(&memory, r).await.map_err(failed)?;
            let (source, target_text) = (entity_id(&r.from), entity_id(&r.to).to_string());
            if exists {
                continue;
            }
            ops.push(
                json!({"op": "put_association", "source": source.to_string(),
                            "target": target_text, "kind": RELATION_KIND,
                            "label": r.relation_type}),
            );
            created.push(relation_json(&r.from, &r.to, &r.relation_type));
        }
        self.write(&memory, ops).await.map_err(failed)?;
        Ok(created)
    }

    /// Makes `memory` ready for the tools (made if missing, its keys indexed).
    pub async fn ready_memory(&self, memory: &str) -> Result<(), String> {
        check_name(memory)
            .map_err(|e| format!("invalid_name: memory {memory:?}: {}", e.message))?;
        self.ensure(memory).await.map_err(failed)
    }

    /// Whether `name` is an entity of `memory`.
    pub async fn is_entity(&self, memory: &str, name: &str) -> Result<bool, String> {
        Ok(self.entity(memory, name).await.map_err(failed)?.is_some())
    }

    /// Whether relation `r` is in `memory` (among the first 10,000 of its source's with its
    /// label: an association listing's most).
    async fn relation_exists(&self, memory: &str, r: &RelationIn) -> Result<bool, Failure> {
        let (source, target) = (entity_id(&r.from), entity_id(&r.to).to_string());
        let path = format!(
            "/v1/memories/{memory}/concepts/{source}/associations?direction=out&kinds={RELATION_KIND}&labels={}&limit={}",
            encode(&json!([r.relation_type]).to_string()),
            sutra_core::limits::ASSOCIATIONS_LIMIT_MAX
        );
        let listed = self.call(memory, Method::GET, &path, None).await?;
        Ok(listed["associations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["target"] == target.as_str()))
    }

    /// The first page's summary: entities by type, and observations, counted over at most
    /// [`SUMMARY_EXAMINED_MAX`] concepts (`counted_all` says whether that was all of them).
    async fn count_entities(&self, memory: &str) -> Result<Map<String, Value>, Failure> {
        let mut types: BTreeMap<String, u64> = BTreeMap::new();
        let (mut entities, mut observations, mut examined) = (0u64, 0u64, 0usize);
        let mut after: Option<String> = None;
        let counted_all = loop {
            let mut path = format!("/v1/memories/{memory}/concepts?limit=1000");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = self.call(memory, Method::GET, &path, None).await?;
            for c in page["concepts"].as_array().into_iter().flatten() {
                examined += 1;
                if let Some(t) = c["metadata"][ENTITY_TYPE_KEY].as_str() {
                    entities += 1;
                    *types.entry(t.to_string()).or_default() += 1;
                } else if c["metadata"][OBSERVATION_OF_KEY].is_string() {
                    observations += 1;
                }
            }
            match page["next"].as_str() {
                None => break true,
                Some(_) if examined >= SUMMARY_EXAMINED_MAX => break false,
                Some(next) => after = Some(next.to_string()),
            }
        };
        let mut counted = Map::new();
        counted.insert("entities".into(), json!(entities));
        counted.insert("observations".into(), json!(observations));
        counted.insert("entity_types".into(), json!(types));
        counted.insert("counted_all".into(), json!(counted_all));
        Ok(counted)
    }

    /// The id of a concept named by its text, which must exist.
    async fn named(&self, memory: &str, name: &str) -> Result<ConceptId, String> {
        let id = entity_id(name);
        match self.concept(memory, id).await.map_err(failed)? {
            Some(_) => Ok(id),
            None => Err(format!(
                "entity_not_found: no entity or concept is named {name:?} in memory {memory:?}"
            )),
        }
    }
}

#[tool_router]
impl SutraMcp {
    #[tool(
        description = "Create entities in the knowledge graph, each with a name, a type and observations. Entities that already exist are left as they are. Returns the entities created."
    )]
    async fn create_entities(
        &self,
        Parameters(args): Parameters<CreateEntities>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("entities", &args.entities, |e| vec![e.name.as_str()])?;
        let memory = self.open(&context).await?;
        let created = self.create_entities_in(&memory, &args.entities).await?;
        answer(&json!(created))
    }

    #[tool(
        description = "Create relations between entities, in active voice (from, to, relationType). Both entities must exist. Relations that already exist are left as they are. Returns the relations created."
    )]
    async fn create_relations(
        &self,
        Parameters(args): Parameters<Relations>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("relations", &args.relations, |r| {
            vec![r.from.as_str(), r.to.as_str()]
        })?;
        let memory = self.open(&context).await?;
        let created = self.create_relations_in(&memory, &args.relations).await?;
        answer(&json!(created))
    }

    #[tool(
        description = "Add observations to existing entities. Observations an entity already has are skipped. Returns, per entity, the observations added."
    )]
    async fn add_observations(
        &self,
        Parameters(args): Parameters<AddObservations>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("observations", &args.observations, |o| {
            vec![o.entity_name.as_str()]
        })?;
        let memory = self.open(&context).await?;
        let mut ops = Vec::new();
        let mut added = Vec::new();
        for o in &args.observations {
            if self
                .entity(&memory, &o.entity_name)
                .await
                .map_err(failed)?
                .is_none()
            {
                return Err(format!(
                    "entity_not_found: no entity is named {:?}; create it with create_entities first (nothing was written)",
                    o.entity_name
                ));
            }
            let mut new = BTreeSet::new();
            for text in &o.contents {
                if new.contains(text.as_str()) {
                    continue;
                }
                let id = observation_id(&o.entity_name, text);
                if self.concept(&memory, id).await.map_err(failed)?.is_none() {
                    new.insert(text.as_str());
                    ops.extend(Self::observation_ops(&o.entity_name, text));
                }
            }
            added.push(json!({"entityName": o.entity_name,
                              "addedObservations": new.into_iter().collect::<Vec<_>>()}));
        }
        self.write(&memory, ops).await.map_err(failed)?;
        answer(&json!(added))
    }

    #[tool(
        description = "Delete entities with their observations and every relation to or from them. Names that are not entities are skipped."
    )]
    async fn delete_entities(
        &self,
        Parameters(args): Parameters<DeleteEntities>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("entityNames", &args.entity_names, |n| vec![n.as_str()])?;
        let memory = self.open(&context).await?;
        let mut ops = Vec::new();
        let mut deleted = Vec::new();
        let mut not_found = Vec::new();
        for name in args.entity_names.iter().collect::<BTreeSet<_>>() {
            if self.entity(&memory, name).await.map_err(failed)?.is_none() {
                not_found.push(name);
                continue;
            }
            let (observations, _) = self
                .filtered(&memory, &json!({ OBSERVATION_OF_KEY: name }), usize::MAX)
                .await
                .map_err(failed)?;
            for o in observations {
                ops.push(json!({"op": "delete_concept", "id": o["id"]}));
            }
            ops.push(json!({"op": "delete_concept", "id": entity_id(name).to_string()}));
            deleted.push(name);
        }
        self.write(&memory, ops).await.map_err(failed)?;
        answer(&json!({"deleted": deleted, "not_found": not_found}))
    }

    #[tool(
        description = "Delete observations from entities. Observations an entity does not have are skipped."
    )]
    async fn delete_observations(
        &self,
        Parameters(args): Parameters<DeleteObservations>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("deletions", &args.deletions, |d| {
            vec![d.entity_name.as_str()]
        })?;
        let memory = self.open(&context).await?;
        let mut ops = Vec::new();
        let mut deleted = Vec::new();
        let mut seen = HashSet::new();
        for d in &args.deletions {
            let mut gone = Vec::new();
            for text in &d.observations {
                let id = observation_id(&d.entity_name, text);
                if seen.insert(id) && self.concept(&memory, id).await.map_err(failed)?.is_some() {
                    ops.push(json!({"op": "delete_concept", "id": id.to_string()}));
                    gone.push(text);
                }
            }
            deleted.push(json!({"entityName": d.entity_name, "deletedObservations": gone}));
        }
        self.write(&memory, ops).await.map_err(failed)?;
        answer(&json!(deleted))
    }

    #[tool(
        description = "Delete relations (from, to, relationType). Relations that do not exist are skipped."
    )]
    async fn delete_relations(
        &self,
        Parameters(args): Parameters<Relations>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("relations", &args.relations, |r| {
            vec![r.from.as_str(), r.to.as_str()]
        })?;
        let memory = self.open(&context).await?;
        let mut ops = Vec::new();
        let mut deleted = Vec::new();
        let mut seen = HashSet::new();
        for r in &args.relations {
            if !seen.insert((&r.from, &r.to, &r.relation_type)) {
                continue;
            }
            let exists = self.relation_exists(&memory, r).await.map_err(failed)?;
            let (source, target_text) = (entity_id(&r.from), entity_id(&r.to).to_string());
            if exists {
                ops.push(
                    json!({"op": "delete_association", "source": source.to_string(),
                                "target": target_text, "kind": RELATION_KIND,
                                "label": r.relation_type}),
                );
                deleted.push(relation_json(&r.from, &r.to, &r.relation_type));
            }
        }
        self.write(&memory, ops).await.map_err(failed)?;
        answer(&json!({"deleted": deleted}))
    }

    #[tool(
        description = "Read the knowledge graph a page at a time: the memory's counts (on the first page: entities by type, observations), then entities (with their observations) and the relations from them. While next_cursor is not null, pass it back as cursor for the next page (a page may hold fewer entities than the limit)."
    )]
    async fn read_graph(
        &self,
        Parameters(args): Parameters<ReadGraph>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let limit = limit_of(args.limit, PAGE_DEFAULT, PAGE_MAX)?;
        let memory = self.open(&context).await?;
        let stats = self
            .call(
                &memory,
                Method::GET,
                &format!("/v1/memories/{memory}"),
                None,
            )
            .await
            .map_err(failed)?;
        let mut after = match &args.cursor {
            Some(c) => Some(ConceptId::parse(c).map_err(|_| {
                format!("invalid_argument: cursor {c:?} is not a next_cursor read_graph gave")
            })?),
            None => None,
        };
        let mut summary = json!({"concepts": stats["concepts"],
                                 "associations": stats["associations"],
                                 "labels": stats["labels"]});
        if after.is_none() {
            let counted = self.count_entities(&memory).await.map_err(failed)?;
            if let Some(fields) = summary.as_object_mut() {
                fields.extend(counted);
            }
        }
        let mut entities = Vec::new();
        let mut relations = Vec::new();
        let mut examined = 0;
        let next = loop {
            let mut path = format!("/v1/memories/{memory}/concepts?limit=1000");
            if let Some(a) = after {
                path.push_str(&format!("&after={a}"));
            }
            let page = self
                .call(&memory, Method::GET, &path, None)
                .await
                .map_err(failed)?;
            let concepts = page["concepts"].as_array().cloned().unwrap_or_default();
            let mut stopped = None;
            for c in &concepts {
                examined += 1;
                let id = c["id"].as_str().and_then(|i| ConceptId::parse(i).ok());
                after = id.or(after);
                if !c["metadata"][ENTITY_TYPE_KEY].is_string() {
                    if examined >= READ_GRAPH_EXAMINED_MAX {
                        stopped = Some(after);
                        break;
                    }
                    continue;
                }
                entities.push(self.show_entity(&memory, c).await.map_err(failed)?);
                if let Some(id) = id {
                    let name = c["content"].as_str().unwrap_or_default();
                    let out = self
                        .relations_of(&memory, id, "out")
                        .await
                        .map_err(failed)?;
                    let ends: Vec<String> = out
                        .iter()
                        .filter_map(|a| a["target"].as_str().map(str::to_string))
                        .collect();
                    let targets = self.texts(&memory, ends).await.map_err(failed)?;
                    for a in &out {
                        if let Some(to) = a["target"].as_str().and_then(|t| targets.get(t)) {
                            relations.push(relation_json(
                                name,
                                to,
                                a["label"].as_str().unwrap_or_default(),
                            ));
                        }
                    }
                }
                if entities.len() as u32 == limit || examined >= READ_GRAPH_EXAMINED_MAX {
                    stopped = Some(after);
                    break;
                }
            }
            if let Some(at) = stopped {
                // More may follow unless this was the memory's last concept.
                let last = page["next"].is_null()
                    && concepts.last().and_then(|c| c["id"].as_str())
                        == at.map(|a| a.to_string()).as_deref();
                break if last { None } else { at };
            }
            if page["next"].is_null() {
                break None;
            }
        };
        answer(&json!({
            "memory": memory,
            "summary": summary,
            "entities": entities,
            "relations": relations,
            "next_cursor": next.map(|n| n.to_string()),
        }))
    }

    #[tool(
        description = "Find entities whose names or observations contain the query's words (ranked by BM25), or whose type is the query. Returns the entities and the relations among them."
    )]
    async fn search_nodes(
        &self,
        Parameters(args): Parameters<SearchNodes>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let limit = limit_of(args.limit, FOUND_DEFAULT, FOUND_MAX)?;
        let memory = self.open(&context).await?;
        let mut names: Vec<String> = Vec::new();
        let (typed, _) = self
            .filtered(
                &memory,
                &json!({ ENTITY_TYPE_KEY: args.query }),
                limit as usize,
            )
            .await
            .map_err(failed)?;
        names.extend(
            typed
                .iter()
                .filter_map(|c| c["content"].as_str().map(str::to_string)),
        );
        // A query of stop words only ("the") finds nothing by words: not an error here.
        if !sutra_core::text_terms(None, &args.query).is_empty() {
            let hits = self
                .call(
                    &memory,
                    Method::POST,
                    &format!("/v1/memories/{memory}/search"),
                    Some(&json!({"text": args.query, "k": (limit * 4).min(1000)})),
                )
                .await
                .map_err(failed)?;
            for hit in hits["hits"].as_array().into_iter().flatten() {
                let Some(id) = hit["id"].as_str().and_then(|i| ConceptId::parse(i).ok()) else {
                    continue;
                };
                let Some(c) = self.concept(&memory, id).await.map_err(failed)? else {
                    continue;
                };
                let name = if c["metadata"][ENTITY_TYPE_KEY].is_string() {
                    c["content"].as_str()
                } else {
                    c["metadata"][OBSERVATION_OF_KEY].as_str()
                };
                if let Some(n) = name {
                    names.push(n.to_string());
                }
            }
        }
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names.truncate(limit as usize);
        self.graph_of(&memory, &names, false).await
    }

    #[tool(
        description = "Open entities by name: each with its observations and its relations, outgoing and incoming (with the entities at their other ends)."
    )]
    async fn open_nodes(
        &self,
        Parameters(args): Parameters<OpenNodes>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        check_items("names", &args.names, |n| vec![n.as_str()])?;
        let memory = self.open(&context).await?;
        self.graph_of(&memory, &args.names, true).await
    }

    #[tool(
        description = "Find paths between two entities (or concepts, by their text): the trail of relations that links them. algorithm: shortest (fewest hops, default), most_confident (highest product of confidences) or k_best (the k most confident)."
    )]
    async fn find_paths(
        &self,
        Parameters(args): Parameters<FindPaths>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let memory = self.open(&context).await?;
        let from = self.named(&memory, &args.from).await?;
        let to = self.named(&memory, &args.to).await?;
        let mut body = json!({"from": from.to_string(), "to": to.to_string()});
        if let Some(a) = args.algorithm {
            body["algorithm"] = json!(match a {
                Algorithm::Shortest => "shortest",
                Algorithm::MostConfident => "most_confident",
                Algorithm::KBest => "k_best",
            });
        }
        if let Some(k) = args.k {
            body["k"] = json!(k);
        }
        if let Some(d) = args.max_depth {
            body["max_depth"] = json!(d);
        }
        let found = self
            .call(
                &memory,
                Method::POST,
                &format!("/v1/memories/{memory}/paths"),
                Some(&body),
            )
            .await
            .map_err(failed)?;
        let mut paths = Vec::new();
        for p in found["paths"].as_array().into_iter().flatten() {
            let concepts: BTreeMap<&str, &str> = p["concepts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["id"].as_str()?, c["content"].as_str().unwrap_or("?"))))
                .collect();
            let name = |v: &Value| {
                concepts
                    .get(v.as_str().unwrap_or_default())
                    .copied()
                    .unwrap_or("?")
            };
            let steps: Vec<Value> = p["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    json!({"from": name(&s["from"]), "to": name(&s["to"]),
                           "relationType": s["label"], "kind": s["kind"],
                           "confidence": s["confidence"], "reversed": s["reversed"]})
                })
                .collect();
            let mut trail = args.from.clone();
            for s in &steps {
                trail.push_str(&format!(
                    " -[{}]-> {}",
                    s["relationType"].as_str().unwrap_or_default(),
                    s["to"].as_str().unwrap_or_default()
                ));
            }
            paths.push(json!({"trail": trail, "confidence": p["confidence"], "steps": steps}));
        }
        answer(&json!({"paths": paths, "visited": found["visited"],
                       "depth_limited": found["depth_limited"],
                       "budget_exhausted": found["budget_exhausted"]}))
    }

    #[tool(
        description = "The concepts within some hops of an entity (or concept, by its text) and the associations among them."
    )]
    async fn neighbourhood(
        &self,
        Parameters(args): Parameters<NeighbourhoodArgs>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let memory = self.open(&context).await?;
        let id = self.named(&memory, &args.name).await?;
        let mut path = format!("/v1/memories/{memory}/concepts/{id}/neighbourhood?");
        if let Some(d) = args.depth {
            path.push_str(&format!("depth={d}&"));
        }
        if let Some(l) = args.limit {
            path.push_str(&format!("limit={l}&"));
        }
        let found = self
            .call(
                &memory,
                Method::GET,
                path.trim_end_matches(['&', '?']),
                None,
            )
            .await
            .map_err(failed)?;
        let texts: BTreeMap<&str, &str> = found["concepts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| Some((c["id"].as_str()?, c["content"].as_str().unwrap_or("?"))))
            .collect();
        let name = |v: &Value| {
            texts
                .get(v.as_str().unwrap_or_default())
                .copied()
                .unwrap_or("?")
        };
        let concepts: Vec<Value> = found["concepts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| json!({"name": c["content"], "hops": c["hops"]}))
            .collect();
        let associations: Vec<Value> = found["associations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                json!({"from": name(&a["source"]), "to": name(&a["target"]),
                       "relationType": a["label"], "kind": a["kind"],
                       "confidence": a["confidence"]})
            })
            .collect();
        answer(&json!({"concepts": concepts, "associations": associations,
                       "truncated": found["truncated"]}))
    }

    #[tool(
        description = "Concepts whose embeddings are most similar to this entity's (or concept's, by its text). Needs concepts learned with embeddings."
    )]
    async fn similar(
        &self,
        Parameters(args): Parameters<SimilarArgs>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let memory = self.open(&context).await?;
        let id = self.named(&memory, &args.name).await?;
        let mut path = format!("/v1/memories/{memory}/concepts/{id}/similar");
        if let Some(k) = args.k {
            path.push_str(&format!("?k={k}"));
        }
        let found = self
            .call(&memory, Method::GET, &path, None)
            .await
            .map_err(failed)?;
        let hits: Vec<Value> = found["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| json!({"name": h["content"], "score": h["score"]}))
            .collect();
        answer(&json!({ "hits": hits }))
    }

    #[tool(
        description = "Search every concept of the memory (entities and observations) by words, ranked by BM25; optionally keep only those whose metadata match a filter, and follow the best hits' associations (expand_depth) with the trail that reached each."
    )]
    async fn search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let memory = self.open(&context).await?;
        let mut body = json!({});
        if !args.query.trim().is_empty() || args.vector.is_none() {
            body["text"] = json!(args.query);
        }
        if let Some(v) = args.vector {
            body["vector"] = json!(v);
        }
        if let Some(k) = args.k {
            body["k"] = json!(k);
        }
        if let Some(f) = args.filter {
            body["filter"] = Value::Object(f);
        }
        if let Some(d) = args.expand_depth {
            body["expand"] = json!({ "depth": d });
        }
        let found = self
            .call(
                &memory,
                Method::POST,
                &format!("/v1/memories/{memory}/search"),
                Some(&body),
            )
            .await
            .map_err(failed)?;
        let mut ids: Vec<String> = Vec::new();
        for h in found["hits"].as_array().into_iter().flatten() {
            for f in h["found_by"].as_array().into_iter().flatten() {
                for s in f["trail"].as_array().into_iter().flatten() {
                    for end in ["from", "to"] {
                        if let Some(i) = s[end].as_str() {
                            ids.push(i.to_string());
                        }
                    }
                }
            }
        }
        let texts = self.texts(&memory, ids).await.map_err(failed)?;
        let name = |v: &Value| {
            texts
                .get(v.as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default()
        };
        let hits: Vec<Value> = found["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                let found_by: Vec<Value> = h["found_by"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        let mut by = json!({"retriever": f["retriever"], "rank": f["rank"]});
                        if let Some(trail) = f["trail"].as_array() {
                            by["trail"] = json!(trail
                                .iter()
                                .map(|s| json!({"from": name(&s["from"]), "to": name(&s["to"]),
                                                "relationType": s["label"]}))
                                .collect::<Vec<_>>());
                        }
                        by
                    })
                    .collect();
                json!({"content": h["content"], "score": h["score"], "found_by": found_by})
            })
            .collect();
        answer(&json!({ "hits": hits }))
    }
}

impl SutraMcp {
    /// Entities `names` (those that are entities) with their observations, and their
    /// relations: among themselves, or (`all`) every one from or to them.
    async fn graph_of(&self, memory: &str, names: &[String], all: bool) -> ToolResult {
        let mut entities = Vec::new();
        let mut relations = Vec::new();
        let mut not_found = Vec::new();
        let chosen: BTreeSet<String> = names.iter().map(|n| entity_id(n).to_string()).collect();
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name.as_str()) {
                continue;
            }
            let Some(c) = self.entity(memory, name).await.map_err(failed)? else {
                not_found.push(name);
                continue;
            };
            entities.push(self.show_entity(memory, &c).await.map_err(failed)?);
            let id = entity_id(name);
            let directions: &[&str] = if all { &["out", "in"] } else { &["out"] };
            for direction in directions {
                let listed = self
                    .relations_of(memory, id, direction)
                    .await
                    .map_err(failed)?;
                let others: Vec<String> = listed
                    .iter()
                    .filter_map(|a| {
                        let other = if *direction == "out" {
                            &a["target"]
                        } else {
                            &a["source"]
                        };
                        other.as_str().map(str::to_string)
                    })
                    .filter(|o| all || chosen.contains(o))
                    .collect();
                let texts = self.texts(memory, others).await.map_err(failed)?;
                for a in &listed {
                    let label = a["label"].as_str().unwrap_or_default();
                    let other = if *direction == "out" {
                        &a["target"]
                    } else {
                        &a["source"]
                    };
                    let Some(other) = other.as_str().and_then(|o| texts.get(o)) else {
                        continue;
                    };
                    relations.push(if *direction == "out" {
                        relation_json(name, other, label)
                    } else {
                        relation_json(other, name, label)
                    });
                }
            }
        }
        let mut unique = HashSet::new();
        relations.retain(|r| unique.insert(r.to_string()));
        let mut graph = json!({"entities": entities, "relations": relations});
        if !not_found.is_empty() {
            graph["not_found"] = json!(not_found);
        }
        answer(&graph)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SutraMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sutra", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Sutra: a durable knowledge graph memory. Entities (a name, a type, observations) linked by relations; every write is on disk before it is acknowledged. Use search_nodes or search to find what is known, open_nodes to see entities with all their relations, find_paths for the trail that links two entities, and read_graph to page through everything.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entity_is_the_concept_whose_text_is_its_name() {
        assert_eq!(entity_id("Alice"), ConceptId::from_content("Alice"));
    }

    #[test]
    fn observation_ids_are_frozen_and_apart_per_entity() {
        // Stored ids: the derivation may never change (a memory written before would no
        // longer find its observations).
        assert_eq!(
            observation_id("Alice", "likes tea").to_string(),
            "47e28a4e96f50e62209f1681d43e774f"
        );
        assert_ne!(
            observation_id("Alice", "likes tea"),
            observation_id("Bob", "likes tea")
        );
        // The separator keeps "ab" + "c" apart from "a" + "bc".
        assert_ne!(observation_id("ab", "c"), observation_id("a", "bc"));
        assert_ne!(observation_id("Alice", "likes tea"), entity_id("likes tea"));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("abc-_.~09"), "abc-_.~09");
        assert_eq!(
            encode(r#"{"observation_of":"A & B/é"}"#),
            "%7B%22observation_of%22%3A%22A%20%26%20B%2F%C3%A9%22%7D"
        );
    }

    #[test]
    fn too_many_items_or_an_empty_name_are_refused() {
        let names: Vec<String> = (0..=ITEMS_MAX).map(|i| i.to_string()).collect();
        let refused = check_items("entityNames", &names, |n| vec![n.as_str()]);
        assert_eq!(
            refused,
            Err("invalid_argument: entityNames has 1001 items; at most 1000 in one call".into())
        );
        let blank = vec!["a".to_string(), "  ".to_string()];
        let refused = check_items("names", &blank, |n| vec![n.as_str()]);
        assert_eq!(
            refused,
            Err("invalid_argument: names[1] has an empty name; every entity needs one".into())
        );
        assert_eq!(
            check_items("names", &names[..3], |n| vec![n.as_str()]),
            Ok(())
        );
    }
}
