//! The engine as JavaScript sees it (through wasm-bindgen), running in a dedicated worker.
//!
//! Requests and answers are JSON text in the shapes of the HTTP API (`sutra_core::exchange`),
//! so the browser and the server answer alike, with the same error codes. Writes are staged and
//! committed separately, so the worker can put every write that arrived while a flush was
//! running into the next flush (group commit).

use crate::opfs::{self, OpfsStorage};
use serde::Deserialize;
use serde_json::{json, Value};
use sutra_core::exchange::answers::{
    BatchWritten, CheckpointAnswer, ConceptWritten, StatsAnswer, WriteAnswer,
};
use sutra_core::exchange::{self, jsonl};
use sutra_core::{Budgets, Error, Interrupt, Language, Maintenance, Memory, Op, Options};
use wasm_bindgen::prelude::*;

/// A JavaScript `Error` with a `code` property (the core's error codes).
pub fn js_error(code: &str, message: &str) -> JsValue {
    js_error_about(code, message, None, None)
}

/// [`js_error`] with the request field the error is about and the limit it passed, as the
/// server puts them on the wire (`field`, `limit` properties, when there are).
pub fn js_error_about(
    code: &str,
    message: &str,
    field: Option<&str>,
    limit: Option<u64>,
) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("SutraError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    if let Some(field) = field {
        let _ = js_sys::Reflect::set(&error, &"field".into(), &field.into());
    }
    if let Some(limit) = limit {
        let _ = js_sys::Reflect::set(&error, &"limit".into(), &(limit as f64).into());
    }
    error.into()
}

fn to_js(e: Error) -> JsValue {
    js_error_about(
        e.code(),
        &e.to_string(),
        e.field().as_deref(),
        e.limit_passed(),
    )
}

/// Reads a request, naming the field of a value that cannot be read, as the server does.
fn parse<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<T, JsValue> {
    let mut reader = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        // The request wraps the API's body (`{"op": …, "body": {…}}`): fields are named as
        // the server names them, inside the body.
        let path = e.path().to_string();
        let path = path.strip_prefix("body.").unwrap_or(&path).to_string();
        let field = (path != "." && path != "body").then_some(path);
        let message = exchange::wording::json_error_message(field.as_deref(), what, e.inner());
        js_error_about("invalid_json", &message, field.as_deref(), None)
    })
}

/// A write request (the body shapes of the HTTP API).
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum WriteRequest {
    PutConcept {
        body: exchange::ConceptBody,
    },
    DeleteConcept {
        id: String,
    },
    PutAssociation {
        body: exchange::AssociationBody,
    },
    DeleteAssociation {
        source: String,
        target: String,
        kind: String,
        label: Option<String>,
    },
    InvalidateAssociation {
        source: String,
        target: String,
        kind: String,
        label: Option<String>,
        valid_until_ms: Option<u64>,
    },
    Batch {
        body: exchange::BatchBody,
    },
}

/// A read request.
#[derive(Deserialize)]
#[serde(tag = "q", rename_all = "snake_case")]
enum ReadRequest {
    Get {
        id: String,
    },
    Scan {
        query: exchange::ScanQuery,
    },
    Associations {
        id: String,
        query: exchange::AssociationsQuery,
    },
    Neighbourhood {
        id: String,
        query: exchange::NeighbourhoodQuery,
    },
    Similar {
        id: String,
        k: Option<u32>,
        ef: Option<u32>,
    },
    Paths {
        body: exchange::PathsBody,
    },
    Search {
        body: exchange::SearchBody,
    },
    Stats,
}

/// One open memory.
#[wasm_bindgen]
pub struct Engine {
    memory: Memory<OpfsStorage>,
    recovery: Value,
    export: Option<jsonl::ExportChunks>,
    /// The core's maintenance policy with the browser's budgets.
    maintenance: Maintenance,
}

#[wasm_bindgen]
impl Engine {
    /// Opens (creating) memory `name` from OPFS. `dimension` fixes a new memory's vector
    /// dimension (0: leave it to the first embedding); `language` the language its texts are
    /// stemmed in (by name, e.g. `"english"`; chosen once); `indexed_keys` metadata keys to
    /// index for filters, besides those it indexes already (none when left out).
    pub async fn open(
        name: String,
        dimension: u32,
        language: Option<String>,
        indexed_keys: Option<Vec<String>>,
    ) -> Result<Engine, JsValue> {
        check_name(&name)?;
        let language = match language {
            Some(text) => Some(Language::parse("language", &text).map_err(to_js)?),
            None => None,
        };
        // Checked before any file is made (again with those already declared, once open).
        let indexed_keys =
            sutra_core::indexed_keys("indexed_keys", indexed_keys.unwrap_or_default())
                .map_err(to_js)?;
        let storage = OpfsStorage::open(&name).await.map_err(|e| {
            let text = e.to_string();
            if text.contains("NoModificationAllowedError") || text.contains("InvalidStateError") {
                js_error(
                    "memory_locked",
                    &format!("memory {name:?} is open in another tab or worker ({text})"),
                )
            } else {
                js_error("storage_error", &text)
            }
        })?;
        let options = Options {
            dimension: (dimension > 0).then_some(dimension),
            language,
            indexed_keys,
            ..Options::default()
        };
        let (memory, report) = Memory::open(storage, options).map_err(to_js)?;
        let recovery = json!({
            "snapshot_seq": report.snapshot_seq,
            "records_replayed": report.records_replayed,
            "records_skipped": report.records_skipped,
            "torn_bytes_dropped": report.torn_bytes_dropped,
            "last_seq": report.last_seq,
            "rewritten_from": report.rewritten_from.map(|old| json!({
                "log_version": old.log_version,
                "snapshot_version": old.snapshot_version,
            })),
        });
        Ok(Engine {
            memory,
            recovery,
            export: None,
            maintenance: Maintenance::new(Budgets::BROWSER),
        })
    }

    /// What recovery found when the memory was opened (JSON).
    pub fn recovery(&self) -> String {
        self.recovery.to_string()
    }

    /// Validates a write and appends it to the log, not yet flushed: returns JSON with its
    /// `seq` (and `id` or `ids` of learned concepts). It is neither durable nor visible until
    /// [`commit`](Self::commit) returns.
    pub fn stage(&mut self, request: &str, at_ms: f64) -> Result<String, JsValue> {
        let at_ms = at_ms.max(0.0) as u64;
        let request: WriteRequest = parse("write request", request)?;
        // What each write answers, once its sequence number is known.
        enum Written {
            Concept(String),
            Plain,
            Batch(Vec<String>),
        }
        let (ops, written) = match request {
            WriteRequest::PutConcept { body } => {
                let (id, op) = body.into_op(at_ms).map_err(to_js)?;
                (vec![op], Written::Concept(id.to_string()))
            }
            WriteRequest::DeleteConcept { id } => {
                let id = exchange::parse_id("id", &id).map_err(to_js)?;
                (vec![Op::DeleteConcept { id }], Written::Plain)
            }
            WriteRequest::PutAssociation { body } => {
                (vec![body.into_op(at_ms).map_err(to_js)?], Written::Plain)
            }
            WriteRequest::DeleteAssociation {
                source,
                target,
                kind,
                label,
            } => {
                let key = exchange::association_key(&source, &target, &kind, label.as_deref())
                    .map_err(to_js)?;
                (vec![Op::DeleteAssociation { key }], Written::Plain)
            }
            WriteRequest::InvalidateAssociation {
                source,
                target,
                kind,
                label,
                valid_until_ms,
            } => {
                let key = exchange::association_key(&source, &target, &kind, label.as_deref())
                    .map_err(to_js)?;
                let op = exchange::invalidate_op(key, valid_until_ms, at_ms);
                (vec![op], Written::Plain)
            }
            WriteRequest::Batch { body } => {
                let (ops, ids) = body.into_ops(at_ms).map_err(to_js)?;
                (
                    ops,
                    Written::Batch(ids.iter().map(ToString::to_string).collect()),
                )
            }
        };
        let single = !matches!(written, Written::Batch(_));
        let seq = self
            .memory
            .stage(ops)
            .map_err(|e| to_js(if single { e.outside_batch() } else { e }))?;
        let answer = match written {
            Written::Concept(id) => serde_json::to_string(&ConceptWritten { id, seq }),
            Written::Plain => serde_json::to_string(&WriteAnswer { seq }),
            Written::Batch(ids) => serde_json::to_string(&BatchWritten { seq, ids }),
        };
        answer.map_err(|e| js_error("internal", &e.to_string()))
    }

    /// Flushes every staged write at once and makes them visible. A failed flush poisons the
    /// memory: every staged write fails, later writes are refused until it is reopened.
    pub fn commit(&mut self) -> Result<(), JsValue> {
        self.memory.commit().map(|_| ()).map_err(to_js)
    }

    /// Answers a read request (JSON in, JSON out); `now_ms` is the time reads of associations
    /// see what holds at, unless the request names another.
    pub fn read(&self, request: &str, now_ms: f64) -> Result<String, JsValue> {
        let now_ms = now_ms.max(0.0) as u64;
        let request: ReadRequest = parse("read request", request)?;
        let reader = self.memory.reader();
        let answer = match request {
            // Vector searches take the lock themselves (to start and to finish).
            ReadRequest::Similar { id, k, ef } => json_of(exchange::similar(&reader, &id, k, ef)),
            ReadRequest::Search { body } => json_of(exchange::search(&reader, &body, now_ms)),
            ReadRequest::Stats => json_of(Ok(StatsAnswer::from(&self.memory.stats()))),
            ReadRequest::Get { id } => json_of(exchange::concept(&self.memory.db(), &id)),
            ReadRequest::Scan { query } => json_of(exchange::scan(&self.memory.db(), &query)),
            ReadRequest::Associations { id, query } => json_of(exchange::associations(
                &self.memory.db(),
                &id,
                &query,
                now_ms,
            )),
            ReadRequest::Neighbourhood { id, query } => json_of(exchange::neighbourhood(
                &self.memory.db(),
                &id,
                &query,
                now_ms,
            )),
            ReadRequest::Paths { body } => {
                // One thread: no writer can wait meanwhile, and nothing interrupts it.
                json_of(exchange::paths(&reader, &body, now_ms, &Interrupt::new()))
            }
        };
        answer
    }

    /// Bytes this memory's own OPFS files take (its log and snapshot slots; not the origin's
    /// whole usage).
    pub fn storage_bytes(&mut self) -> Result<f64, JsValue> {
        let bytes = self
            .memory
            .storage_mut()
            .files()
            .bytes()
            .map_err(|e| js_error("storage_error", &e.to_string()))?;
        Ok(bytes as f64)
    }

    /// Writes a checkpoint now (JSON report).
    pub fn checkpoint(&mut self) -> Result<String, JsValue> {
        let report = self.memory.checkpoint().map_err(to_js)?;
        json_of(Ok(CheckpointAnswer::from(&report)))
    }

    /// Housekeeping between requests: re-seals the vector index when many vectors are fresh, and
    /// checkpoints when the log is large. Returns what it did (JSON).
    pub fn maintain(&mut self) -> Result<String, JsValue> {
        let now_ms = monotonic_ms();
        let due = self.maintenance.due(&self.memory, now_ms);
        let mut resealed = false;
        let mut checkpointed = false;
        // One piece of indexing per call (an insertion step of the fresh tier into the growing
        // graph, a packing, or a merge); the worker calls again between other calls while
        // there is more ("resealed": true), so no call waits for more than one step.
        if let Some(fresh_min) = due.index {
            resealed = self.memory.index_vectors_step(fresh_min).map_err(to_js)?;
        }
        if due.checkpoint {
            let outcome = self.memory.checkpoint();
            self.maintenance.checkpointed(outcome.is_ok(), now_ms);
            outcome.map_err(to_js)?;
            checkpointed = true;
        }
        Ok(json!({"resealed": resealed, "checkpointed": checkpointed}).to_string())
    }

    /// Starts an export (JSON Lines, the server's format); read it with
    /// [`export_next`](Self::export_next).
    pub fn export_start(&mut self) {
        self.export = Some(jsonl::ExportChunks::new(self.memory.reader()));
    }

    /// The next chunk of the export, or `undefined` at its end.
    pub fn export_next(&mut self) -> Option<String> {
        let chunk = self.export.as_mut().and_then(Iterator::next);
        if chunk.is_none() {
            self.export = None;
        }
        chunk
    }

    /// Imports JSON Lines text (the server's export format), each batch durable before the next.
    /// `first_line` numbers the text's first line (for imports fed in pieces); `now_ms` stands
    /// for the timestamps lines leave out. Returns the summary (JSON): counts and the rejected
    /// lines with their reasons.
    pub fn import_lines(
        &mut self,
        text: &str,
        first_line: u32,
        now_ms: f64,
    ) -> Result<String, JsValue> {
        let lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (u64::from(first_line) + i as u64, Ok(l.to_string())));
        let memory = &mut self.memory;
        let summary = jsonl::import(
            lines,
            now_ms.max(0.0) as u64,
            |ops| memory.write(ops).map(|_| ()),
            |_| {},
        )
        .map_err(|e| js_error("storage_error", &format!("import stopped: {e}")))?;
        serde_json::to_string(&summary).map_err(|e| js_error("internal", &e.to_string()))
    }
}

/// Milliseconds on the worker's monotonic clock (`performance.now()`), or the wall clock where
/// there is none: the maintenance policy's waits must not stretch when the wall clock is set back.
fn monotonic_ms() -> u64 {
    let now = js_sys::global()
        .dyn_into::<web_sys::WorkerGlobalScope>()
        .ok()
        .and_then(|scope| scope.performance())
        .map_or_else(js_sys::Date::now, |p| p.now());
    now.max(0.0) as u64
}

/// An answer as the JSON the package reads, or the engine's error.
fn json_of<T: serde::Serialize>(answer: Result<T, Error>) -> Result<String, JsValue> {
    let answer = answer.map_err(to_js)?;
    serde_json::to_string(&answer).map_err(|e| js_error("internal", &e.to_string()))
}

fn check_name(name: &str) -> Result<(), JsValue> {
    match exchange::memory_name_problem(name) {
        None => Ok(()),
        Some(problem) => Err(js_error_about("invalid_name", &problem, Some("name"), None)),
    }
}

/// The names of the memories stored in this origin's OPFS (JSON array).
#[wasm_bindgen(js_name = listMemories)]
pub async fn list_memories() -> Result<String, JsValue> {
    let names = opfs::memory_names()
        .await
        .map_err(|e| js_error("storage_error", &opfs::describe(&e)))?;
    serde_json::to_string(&names).map_err(|e| js_error("internal", &e.to_string()))
}

/// Deletes a memory's files (it must not be open).
#[wasm_bindgen(js_name = dropMemory)]
pub async fn drop_memory(name: String) -> Result<(), JsValue> {
    check_name(&name)?;
    opfs::remove_memory_dir(&name)
        .await
        .map_err(|e| js_error("storage_error", &opfs::describe(&e)))
}

/// The OPFS storage estimate of this origin (JSON `{usage, quota}` in bytes).
#[wasm_bindgen(js_name = storageEstimate)]
pub async fn storage_estimate() -> Result<String, JsValue> {
    use wasm_bindgen::JsCast;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().dyn_into()?;
    let estimate =
        wasm_bindgen_futures::JsFuture::from(scope.navigator().storage().estimate()?).await?;
    let estimate: web_sys::StorageEstimate = estimate.unchecked_into();
    Ok(json!({"usage": estimate.get_usage(), "quota": estimate.get_quota()}).to_string())
}
