//! Every limit the engine enforces, in one place. Names carry their unit.

/// Largest concept content, in bytes of UTF-8.
pub const CONTENT_BYTES_MAX: usize = 256 * 1024;
/// Most metadata entries on one concept.
pub const METADATA_ENTRIES_MAX: usize = 64;
/// Largest metadata key, in bytes.
pub const METADATA_KEY_BYTES_MAX: usize = 256;
/// Largest metadata value, in bytes (a list's strings plus one byte per item; a number 8,
/// a flag 1).
pub const METADATA_VALUE_BYTES_MAX: usize = 8 * 1024;
/// Most items in a metadata value that is a list of strings.
pub const METADATA_LIST_ITEMS_MAX: usize = 1024;
/// Largest total of all metadata keys and values of one concept, in bytes.
pub const METADATA_BYTES_MAX: usize = 64 * 1024;
/// Most metadata keys a memory indexes for filters.
pub const INDEXED_KEYS_MAX: usize = 16;
/// Longest association label, in bytes of UTF-8.
pub const LABEL_BYTES_MAX: usize = 256;
/// Most distinct association labels in one memory (a link packs a label's number, 1 and up, in
/// 29 bits).
pub const LABELS_MAX: u32 = (1 << 29) - 1;
/// Largest embedding dimension.
pub const DIMENSION_MAX: u32 = 4096;
/// Most operations in one batch (one log record).
pub const BATCH_OPS_MAX: usize = 10_000;
/// Largest encoded batch (one log record payload), in bytes.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Default maximum path depth (hops) for path queries.
pub const PATH_DEPTH_DEFAULT: u32 = 6;
/// Largest path depth (hops) a path query may ask for.
pub const PATH_DEPTH_MAX: u32 = 16;
/// Most paths a k-best-paths query may ask for.
pub const PATHS_K_MAX: u32 = 10;
/// Default number of nodes a graph search may visit before it stops and says so.
pub const VISITED_NODES_DEFAULT: u32 = 100_000;
/// Largest visited-node budget a graph search may ask for.
pub const VISITED_NODES_MAX: u32 = 2_000_000;
/// Longest word the text index keeps, in bytes (longer ones are not indexed or searched for).
pub const TEXT_TERM_BYTES_MAX: usize = 64;
/// Longest text query, in bytes.
pub const TEXT_QUERY_BYTES_MAX: usize = 4096;
/// Most distinct terms in one text query.
pub const TEXT_QUERY_TERMS_MAX: usize = 64;
/// Most results of one vector search.
pub const VECTOR_K_MAX: u32 = 1000;
/// Longest candidate list a vector search may ask for in each graph (its effort, `ef`).
pub const VECTOR_EF_MAX: u32 = 4096;
/// Most concepts in one scan page.
pub const SCAN_LIMIT_MAX: u32 = 1000;
/// Most concepts one prefix scan examines (there is no index on content).
pub const SCAN_EXAMINED_MAX: usize = 100_000;
/// Most concepts a listing in another order than the ids' sorts (it reads them all: the
/// orders have no index, so that they cost no memory until asked for).
pub const SORTED_SCAN_MAX: usize = 2_000_000;
/// Most associations one listing returns.
pub const ASSOCIATIONS_LIMIT_MAX: u32 = 10_000;

/// How many labels a listing of associations may keep to (any of them).
pub const LISTING_LABELS_MAX: usize = 64;
/// Most hops of a neighbourhood query.
pub const NEIGHBOURHOOD_DEPTH_MAX: u32 = 4;
/// Most concepts a neighbourhood query returns.
pub const NEIGHBOURHOOD_NODES_MAX: u32 = 2000;
/// Most hops a search's expansion follows from a hit.
pub const EXPAND_DEPTH_MAX: u32 = 3;
/// Most associations a search's expansion follows from one concept.
pub const EXPAND_PER_CONCEPT_MAX: u32 = 100;
/// Most associations one search's expansion may follow in all (`k × (p + p² + … + p^depth)` for
/// `p` associations per concept), checked before it starts.
pub const EXPAND_HOPS_MAX: u64 = 100_000;

// Relations between the limits, checked when the code is compiled.
const _: () = assert!(PATH_DEPTH_DEFAULT <= PATH_DEPTH_MAX);
const _: () = assert!(VISITED_NODES_DEFAULT <= VISITED_NODES_MAX);
const _: () = assert!(METADATA_KEY_BYTES_MAX + METADATA_VALUE_BYTES_MAX <= METADATA_BYTES_MAX);
// A list at its item limit of one-byte strings fits within a value's bytes.
const _: () = assert!(2 * METADATA_LIST_ITEMS_MAX <= METADATA_VALUE_BYTES_MAX);
const _: () = assert!(SCAN_LIMIT_MAX as usize <= SCAN_EXAMINED_MAX);
const _: () = assert!(NEIGHBOURHOOD_NODES_MAX <= VISITED_NODES_MAX);
// One concept at every limit at once (content, metadata, a vector of the largest dimension)
// fits in one batch's encoding, so a concept the API accepts can always be written.
const _: () = assert!(
    CONTENT_BYTES_MAX + 2 * METADATA_BYTES_MAX + 4 * DIMENSION_MAX as usize + 1024
        <= BATCH_BYTES_MAX
);
