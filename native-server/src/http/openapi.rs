//! The OpenAPI 3.1 document served at `/v1/openapi.json`, derived from the code: each
//! operation from the `#[utoipa::path]` next to its handler (`http::api`), every request and
//! answer body from its Rust type (the core's `exchange` bodies and `exchange::answers`, the
//! server's `http::answers`), and the error codes from the lists the code uses
//! ([`crate::http::error::ErrorCode`]). A test sends every operation, with its example, to the
//! real router and checks the answer's status *and body* against the document; the TypeScript
//! types of the JS package and the control center are generated from it (`npm run api-types`).

use crate::http::api;
use crate::http::error::ErrorAnswer;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{IntoParams, OpenApi};

/// The path of a memory.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemoryPath {
    /// Memory name: 1-64 of a-z, 0-9, _ and -.
    pub name: String,
}

/// The path of a concept.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConceptPath {
    /// Memory name: 1-64 of a-z, 0-9, _ and -.
    pub name: String,
    /// Concept id: 32 lowercase hex characters.
    pub id: String,
}

/// The path of an association.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AssociationPath {
    /// Memory name: 1-64 of a-z, 0-9, _ and -.
    pub name: String,
    /// Source concept id.
    pub source: String,
    /// Target concept id.
    pub target: String,
    /// The association's kind.
    #[param(value_type = sutra_core::Kind)]
    pub kind: String,
}

/// Every error status the API answers: its name among the document's responses, and what it
/// means, whichever operation answers it.
const ERROR_STATUSES: [(u16, &str, &str); 14] = [
    (400, "BadRequest", "The request could not be read (malformed JSON, path or query)."),
    (401, "Unauthorized", "A bearer token is required."),
    (403, "Forbidden", "The Host or Origin of the request is not one this server answers."),
    (404, "NotFound", "The memory, concept or association does not exist."),
    (405, "MethodNotAllowed", "The method is not allowed on this path."),
    (408, "RequestTimeout", "The request body stopped arriving (the body timeout)."),
    (409, "Conflict", "Conflict (e.g. the memory already exists, or is being dropped)."),
    (413, "PayloadTooLarge", "The body exceeds the size limit (32 MiB; an import 1 GiB)."),
    (414, "UriTooLong", "The request target is longer than 8 KiB."),
    (415, "UnsupportedMediaType", "The body is not of the type the endpoint takes (JSON; JSON Lines for an import)."),
    (422, "Invalid", "A value is invalid or over a limit: field names it, limit gives the limit."),
    (431, "HeadersTooLarge", "More than 100 headers, or more than 64 KiB of them."),
    (500, "Bug", "A bug: an integrity check or an index build failed (the data is untouched)."),
    (503, "Unavailable", "Busy (retry after Retry-After), a query past its time limit (query_timeout), closing, poisoned by a storage failure (a write's outcome is then unknown: storage_error), or not openable."),
];

/// The name of error status `code` among the document's responses.
fn error_name(code: u16) -> &'static str {
    let found = ERROR_STATUSES.iter().find(|(c, _, _)| *c == code);
    debug_assert!(found.is_some(), "status {code} is not in ERROR_STATUSES");
    found.map_or("Unavailable", |(_, name, _)| name)
}

/// Statuses every operation may answer (the access rules, the router, the HTTP layer).
const COMMON_ERRORS: [u16; 6] = [401, 403, 405, 414, 431, 500];

/// The documented error answers for these statuses.
fn error_responses(codes: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    codes
        .iter()
        .map(|code| {
            let named = Ref::from_response_name(error_name(*code));
            (code.to_string(), RefOr::Ref(named))
        })
        .collect()
}

/// Sets of error statuses an operation answers besides [`COMMON_ERRORS`], named for use in
/// `#[utoipa::path(responses(...))]`.
macro_rules! error_sets {
    ($($(#[$doc:meta])* $name:ident: [$($code:literal),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                error_responses(&[$($code),*])
            }
        }
    )*};
}

error_sets! {
    /// Creating a memory.
    CreateErrors: [400, 409, 413, 415, 422, 503];
    /// Operations on a memory as a whole.
    MemoryErrors: [404, 503];
    /// Reopening a memory.
    ReopenErrors: [404, 409, 503];
    /// Reads by path and query.
    ReadErrors: [400, 404, 422, 503];
    /// Writes.
    WriteErrors: [400, 404, 413, 415, 422, 503];
    /// Queries with a body.
    QueryErrors: [400, 404, 413, 415, 422, 503];
    /// Imports.
    ImportErrors: [400, 404, 408, 413, 415, 503];
    /// Changes of a cluster's membership.
    MembershipErrors: [400, 409, 413, 415, 422, 503];
}

/// What every operation shares: the error statuses of [`COMMON_ERRORS`], and the bearer
/// scheme (optional: a server without a token takes requests without one).
struct Common;

impl utoipa::Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let common = error_responses(&COMMON_ERRORS);
        for (path, item) in openapi.paths.paths.iter_mut() {
            // One handler serves PUT and POST (an upsert either way): the POST operation gets
            // an id of its own, as operation ids are unique in a document.
            if let (Some(put), Some(post)) = (&item.put, &mut item.post) {
                if put.operation_id == post.operation_id {
                    post.operation_id = put.operation_id.as_ref().map(|id| format!("{id}_by_post"));
                }
            }
            let on_memories = path.starts_with("/v1/memories");
            let reads_by_post = path.ends_with("/paths") || path.ends_with("/search");
            if on_memories {
                if let Some(get) = &mut item.get {
                    add_parameters(get, read_parameters());
                }
                for write in [&mut item.put, &mut item.delete].into_iter().flatten() {
                    add_parameters(write, write_parameters());
                }
                if let Some(post) = &mut item.post {
                    add_parameters(
                        post,
                        if reads_by_post {
                            read_parameters()
                        } else if path.ends_with("/import") {
                            vec![redirect_parameter()]
                        } else {
                            write_parameters()
                        },
                    );
                }
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for (code, response) in &common {
                    operation
                        .responses
                        .responses
                        .entry(code.clone())
                        .or_insert_with(|| response.clone());
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, schema) in components.schemas.iter_mut() {
            if is_answer(name) {
                if let RefOr::T(schema) = schema {
                    require_every_field(schema);
                }
            }
        }
        for (_, name, description) in ERROR_STATUSES {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorAnswer")))
                        .build(),
                )
                .build();
            components
                .responses
                .insert(name.to_string(), RefOr::T(response));
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::default(),
        ]);
    }
}

/// The read options every read of a memory takes (see `http::cluster`).
fn read_parameters() -> Vec<Parameter> {
    let consistency = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["linearizable", "stale"]));
    let seq = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0));
    vec![
        ParameterBuilder::new()
            .name("consistency")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some("On a cluster's node: linearizable (the default) sees every write acknowledged before the read, on any node; stale answers at once with this node's state (the Sutra-Applied header says how far it is). A single server always answers linearizably."))
            .schema(Some(consistency))
            .build(),
        ParameterBuilder::new()
            .name("min_seq")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some("On a cluster's node: answer once this node applied the write with this seq (read-your-writes on any node, without asking the leader); 503 behind if it does not within 5 s."))
            .schema(Some(seq))
            .build(),
    ]
}

/// The option every write of a memory takes (see `http::cluster`).
fn redirect_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("redirect")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some("On a cluster's node that does not lead: 1 answers 307 to the leader's API instead of forwarding the write (0, the default, forwards it)."))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["0", "1", "false", "true"])),
        ))
        .build()
}

/// The options of a write: `redirect`, and the `Idempotency-Key` header.
fn write_parameters() -> Vec<Parameter> {
    vec![
        redirect_parameter(),
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("On a cluster's node: the write applies once however many times it is sent with this key (1-255 visible ASCII characters); sent again, it answers what it answered the first time; the same key with another request is refused (422 idempotency_key_reused). The cluster keeps the last 100,000 keys. A single server refuses the header (422): it keeps no keys."))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
            .build(),
    ]
}

fn add_parameters(operation: &mut Operation, more: Vec<Parameter>) {
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .extend(more.into_iter().map(RefOr::T));
}

/// Whether the schema `name` is an answer's (a body the server sends).
fn is_answer(name: &str) -> bool {
    name.ends_with("Answer")
        || name.ends_with("Written")
        || ["MemorySummary", "ClusterMember", "NodeHealth"].contains(&name)
}

/// An answer carries every field (serde writes `null` for an absent value; none of them skips
/// a field), so its schema requires them all: a client's generated types then say "always
/// there, maybe null" instead of "maybe missing".
fn require_every_field(schema: &mut Schema) {
    match schema {
        Schema::Object(object) => {
            object.required = object.properties.keys().cloned().collect();
        }
        Schema::OneOf(one_of) => {
            for item in &mut one_of.items {
                if let RefOr::T(item) = item {
                    require_every_field(item);
                }
            }
        }
        Schema::AllOf(all_of) => {
            for item in &mut all_of.items {
                if let RefOr::T(item) = item {
                    require_every_field(item);
                }
            }
        }
        _ => {}
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sutra",
        description = "Durable knowledge-graph and vector memory. Every write is answered only after it is synced to disk."
    ),
    paths(
        api::health,
        api::openapi,
        api::list_memories,
        api::create_memory,
        api::memory_stats,
        api::drop_memory,
        api::checkpoint,
        api::reopen_memory,
        api::scan_concepts,
        api::put_concept,
        api::get_concept,
        api::delete_concept,
        api::list_associations,
        api::neighbourhood,
        api::similar,
        api::put_association,
        api::delete_association,
        api::invalidate_association,
        api::batch,
        api::paths,
        api::search,
        api::export,
        api::import,
        api::metrics,
        crate::http::cluster::cluster,
        crate::http::cluster::add_member,
        crate::http::cluster::promote_member,
        crate::http::cluster::remove_member,
        crate::http::cluster::transfer_leader,
    ),
    components(schemas(ErrorAnswer)),
    modifiers(&Common)
)]
struct Document;

/// The document.
pub fn document() -> Value {
    // Serializing a tree of strings, maps and numbers cannot fail.
    serde_json::to_value(Document::openapi()).expect("the OpenAPI document serializes")
}
