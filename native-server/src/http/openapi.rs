//! The OpenAPI 3.1 document served at `/v1/openapi.json`. A test sends every documented
//! operation, with its example, to the real router and checks that the answer's status is one
//! the document lists, so the two cannot drift apart.

use serde_json::{json, Map, Value};

/// A parameter: (name, location, description, required).
type Param = (&'static str, &'static str, &'static str, bool);

const NAME: Param = (
    "name",
    "path",
    "Memory name: 1-64 of a-z, 0-9, _ and -.",
    true,
);
const ID: Param = (
    "id",
    "path",
    "Concept id: 32 lowercase hex characters.",
    true,
);

fn operation(
    summary: &str,
    params: &[Param],
    body: Option<Value>,
    ok: u16,
    errors: &[u16],
) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), json!(summary));
    let parameters: Vec<Value> = params
        .iter()
        .map(|(name, location, description, required)| {
            json!({"name": name, "in": location, "description": description, "required": required, "schema": {"type": if *name == "limit" || *name == "k" || *name == "depth" { "integer" } else { "string" }}})
        })
        .collect();
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(example) = body {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}, "example": example}}}),
        );
    }
    let mut responses = Map::new();
    responses.insert(ok.to_string(), json!({"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}}));
    for code in errors.iter().chain(&[401u16, 403, 405, 414, 431]) {
        responses.insert(
            code.to_string(),
            json!({"description": error_description(*code), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

fn error_description(code: u16) -> &'static str {
    match code {
        400 => "The request could not be read (malformed JSON, path or query).",
        401 => "A bearer token is required.",
        403 => "The Host or Origin of the request is not one this server answers.",
        404 => "The memory, concept or association does not exist.",
        405 => "The method is not allowed on this path.",
        408 => "The request body stopped arriving (the body timeout).",
        409 => "Conflict (e.g. the memory already exists, or is being dropped).",
        413 => "The body exceeds the size limit (32 MiB; an import 1 GiB).",
        414 => "The request target is longer than 8 KiB.",
        415 => "The body is not of the type the endpoint takes (JSON; JSON Lines for an import).",
        422 => "A value is invalid or over a limit; the message names the field and the limit.",
        431 => "More than 100 headers, or more than 64 KiB of them.",
        503 => "Busy (retry after Retry-After), a query past its time limit (query_timeout), closing, poisoned by a storage failure (a write's outcome is then unknown: storage_error), or not openable.",
        _ => "Error",
    }
}

const WRITE_ERRORS: &[u16] = &[400, 404, 413, 415, 422, 503];
const READ_ERRORS: &[u16] = &[400, 404, 422, 503];

/// The document.
pub fn document() -> Value {
    let q = |name: &'static str, description: &'static str| -> Param {
        (name, "query", description, false)
    };
    let concept_example = json!({"content": "rain makes streets wet", "embedding": [0.1, 0.2, 0.3], "strength": 1.0, "confidence": 0.9, "metadata": {"source": "notes"}});
    let paths = json!({
        "/v1/health": {"get": operation("Liveness check (no token needed).", &[], None, 200, &[])},
        "/v1/openapi.json": {"get": operation("This document.", &[], None, 200, &[])},
        "/v1/memories": {
            "get": operation("List memories with their status and counts.", &[], None, 200, &[]),
            "post": operation("Create a memory, optionally fixing its vector dimension.", &[], Some(json!({"name": "notes", "dimension": 3})), 201, &[400, 409, 413, 415, 422, 503]),
        },
        "/v1/memories/{name}": {
            "get": operation("Memory stats: counts, log bytes, last checkpoint, vectors sealed/fresh/stale and sealed segments, storage bytes.", &[NAME], None, 200, &[404, 503]),
            "delete": operation("Drop a memory and delete its files.", &[NAME], None, 200, &[404, 503]),
        },
        "/v1/memories/{name}/checkpoint": {"post": operation("Write a snapshot now and trim the log.", &[NAME], None, 200, &[404, 503])},
        "/v1/memories/{name}/reopen": {"post": operation("Close the memory and open it again from its files, recovering from its log: how a memory poisoned by a storage failure takes writes again once the cause is gone (the server also does it on its own, with backoff). Answers what recovery found.", &[NAME], None, 200, &[404, 409, 503])},
        "/v1/memories/{name}/concepts": {
            "get": operation("Scan concepts in id order, a page at a time.", &[NAME, q("after", "Continue after this id (the previous page's next)."), q("limit", "Page size, 1-1000 (default 100)."), q("prefix", "Only concepts whose content starts with this text.")], None, 200, READ_ERRORS),
            "put": operation("Learn a concept (upsert). Without id, the id is derived from the content. Returns the id and sequence number once durable.", &[NAME], Some(concept_example.clone()), 200, WRITE_ERRORS),
            "post": operation("Same as PUT.", &[NAME], Some(concept_example), 200, WRITE_ERRORS),
        },
        "/v1/memories/{name}/concepts/{id}": {
            "get": operation("Get a concept with every field.", &[NAME, ID], None, 200, READ_ERRORS),
            "delete": operation("Delete a concept and its associations.", &[NAME, ID], None, 200, WRITE_ERRORS),
        },
        "/v1/memories/{name}/concepts/{id}/associations": {"get": operation("List a concept's associations.", &[NAME, ID, q("direction", "out, in or both (default both)."), q("kinds", "Comma-separated kinds."), q("min_confidence", "0..1."), q("limit", "1-10000 (default 100).")], None, 200, READ_ERRORS)},
        "/v1/memories/{name}/concepts/{id}/neighbourhood": {"get": operation("Concepts within some hops, and the associations among them.", &[NAME, ID, q("depth", "0-4 hops (default 1)."), q("direction", "forward or both (default both)."), q("kinds", "Comma-separated kinds."), q("limit", "1-2000 concepts (default 200).")], None, 200, READ_ERRORS)},
        "/v1/memories/{name}/concepts/{id}/similar": {"get": operation("Concepts whose embeddings are most similar to this concept's.", &[NAME, ID, q("k", "1-1000 (default 10).")], None, 200, READ_ERRORS)},
        "/v1/memories/{name}/associations": {
            "put": operation("Learn an association (upsert by source, target, kind).", &[NAME], Some(json!({"source": "{id}", "target": "{id2}", "kind": "causal", "confidence": 0.8, "weight": 1.0})), 200, WRITE_ERRORS),
            "post": operation("Same as PUT.", &[NAME], Some(json!({"source": "{id}", "target": "{id2}", "kind": "causal", "confidence": 0.8, "weight": 1.0})), 200, WRITE_ERRORS),
        },
        "/v1/memories/{name}/associations/{source}/{target}/{kind}": {"delete": operation("Delete an association.", &[NAME, ("source", "path", "Source concept id.", true), ("target", "path", "Target concept id.", true), ("kind", "path", "semantic, causal, temporal, hierarchical or compositional.", true)], None, 200, WRITE_ERRORS)},
        "/v1/memories/{name}/batch": {"post": operation("Apply up to 10,000 operations atomically: all or none, also across crashes.", &[NAME], Some(json!({"ops": [{"op": "put_concept", "content": "clouds"}, {"op": "put_association", "source": "{id}", "target": "{id2}", "kind": "semantic"}]})), 200, WRITE_ERRORS)},
        "/v1/memories/{name}/paths": {"post": operation("Find paths: shortest (fewest hops), most_confident, or k_best (k ≤ 10), with a visited-node budget. The answer says budget_exhausted when the budget stopped the search and depth_limited when max_depth left concepts unexplored that lead on (an empty answer then does not mean no path exists), and seq, the state it was read from. Runs on the query pool, within the query time limit.", &[NAME], Some(json!({"from": "{id}", "to": "{id2}", "algorithm": "k_best", "k": 3, "direction": "forward", "kinds": ["causal", "semantic"], "max_depth": 6, "visited_max": 100000})), 200, &[400, 404, 413, 415, 422, 503])},
        "/v1/memories/{name}/search": {"post": operation("Vector search by a vector or by a concept's own embedding (cosine, k ≤ 1000).", &[NAME], Some(json!({"vector": [0.1, 0.2, 0.3], "k": 5})), 200, &[400, 404, 413, 415, 422, 503])},
        "/v1/memories/{name}/export": {"get": operation("Export as JSON Lines (application/x-ndjson): a header, concepts, then associations.", &[NAME], None, 200, &[404, 503])},
        "/v1/memories/{name}/import": {"post": operation("Import JSON Lines (the export format; Content-Type: application/x-ndjson; at most 1 GiB, read as it arrives; lines may leave out what the API has defaults for). Answers with counts and the rejected lines with their numbers and reasons.", &[NAME], None, 200, &[400, 404, 408, 413, 415, 503])},
        "/metrics": {"get": operation("Prometheus metrics (text format).", &[], None, 200, &[])},
    });
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sutra", "version": env!("CARGO_PKG_VERSION"), "description": "Durable knowledge-graph and vector memory. Every write is answered only after it is synced to disk."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string", "description": "Stable machine-readable code."}, "message": {"type": "string", "description": "What was wrong, naming the field, the value and the limit."}, "field": {"type": "string", "description": "The request field the error is about, as the request named it (confidence, ops[2].embedding), when there is one."}, "limit": {"type": "integer", "description": "The limit that was passed, for limit_exceeded (the memory's dimension for dimension_mismatch)."}}}}}
            }
        },
        "security": [{"bearer": []}, {}],
    })
}
