/** The kinds of association. */
export type Kind = "semantic" | "causal" | "temporal" | "hierarchical" | "compositional";

/** A concept, every field. */
export interface Concept {
  /** 32 lowercase hex characters. */
  id: string;
  content: string;
  embedding: Float32Array | null;
  strength: number;
  confidence: number;
  metadata: Record<string, string>;
  created_ms: number;
  updated_ms: number;
}

/** What to learn. Without `id` the id is derived from the content (the same text → the same concept). */
export interface ConceptInput {
  id?: string;
  content: string;
  embedding?: Float32Array | number[];
  strength?: number;
  confidence?: number;
  metadata?: Record<string, string>;
}

/** An association, every field. */
export interface Association {
  source: string;
  target: string;
  kind: Kind;
  confidence: number;
  weight: number;
  created_ms: number;
  updated_ms: number;
}

/** What to learn. Key: (source, target, kind); learning it again updates it. */
export interface AssociationInput {
  source: string;
  target: string;
  kind: Kind;
  confidence?: number;
  weight?: number;
}

/** One operation of an atomic batch. */
export type BatchOp =
  | ({ op: "put_concept" } & ConceptInput)
  | { op: "delete_concept"; id: string }
  | ({ op: "put_association" } & AssociationInput)
  | { op: "delete_association"; source: string; target: string; kind: Kind };

/** The answer to a write: its sequence number, once durable. */
export interface WriteResult {
  seq: number;
}

export interface PathQuery {
  from: string;
  to: string;
  algorithm?: "shortest" | "most_confident" | "k_best";
  /** For k_best: 1..=10 (default 3). */
  k?: number;
  direction?: "forward" | "both";
  kinds?: Kind[];
  /** 1..=16 hops (default 6). */
  max_depth?: number;
  /** Concepts the search may expand (default 100,000). */
  visited_max?: number;
}

export interface PathStep {
  from: string;
  to: string;
  kind: Kind;
  confidence: number;
  weight: number;
  /** True when the association was followed from its target to its source. */
  reversed: boolean;
}

export interface Path {
  concepts: { id: string; content: string | null }[];
  steps: PathStep[];
  /** Product of the steps' confidences. */
  confidence: number;
}

export interface PathsResult {
  algorithm: string;
  paths: Path[];
  visited: number;
  /** True when the search stopped at its budget: a path may exist that was not found. */
  budget_exhausted: boolean;
  /**
   * True when the depth limit (`max_depth`) left concepts unexplored that lead on: a longer path
   * may exist (for `shortest`, said only when none was found).
   */
  depth_limited: boolean;
  /** Sequence number of the state the answer was read from. */
  seq: number;
}

export interface SearchQuery {
  vector?: Float32Array | number[];
  /** Search by this concept's own embedding (it is left out of the results). */
  id?: string;
  /** 1..=1000 (default 10). */
  k?: number;
}

export interface Hit {
  id: string;
  /** Cosine similarity. */
  score: number;
  content: string | null;
}

export interface ScanOptions {
  after?: string;
  /** 1..=1000 (default 100). */
  limit?: number;
  prefix?: string;
}

export interface Page {
  concepts: Concept[];
  /** Pass as `after` for the next page; null at the end. */
  next: string | null;
}

export interface AssociationOptions {
  direction?: "out" | "in" | "both";
  kinds?: Kind[];
  min_confidence?: number;
  limit?: number;
}

export interface NeighbourhoodOptions {
  /** 0..=4 hops (default 1). */
  depth?: number;
  direction?: "forward" | "both";
  kinds?: Kind[];
  /** 1..=2000 concepts (default 200). */
  limit?: number;
}

export interface Neighbourhood {
  concepts: { id: string; hops: number; content: string | null; strength: number | null; confidence: number | null }[];
  associations: Association[];
  truncated: boolean;
}

export interface Stats {
  concepts: number;
  associations: number;
  dimension: number | null;
  vectors: { sealed: number; fresh: number; stale: number; segments: number };
  last_seq: number;
  log_bytes: number;
  checkpoint_seq: number | null;
  poisoned: string | null;
  /** This origin's storage, from navigator.storage. */
  storage: { usage: number | null; quota: number | null; persisted: boolean | null };
}

export interface RecoveryReport {
  snapshot_seq: number | null;
  records_replayed: number;
  records_skipped: number;
  torn_bytes_dropped: number;
  last_seq: number;
}

export interface CheckpointReport {
  seq: number;
  snapshot_bytes: number;
  log_bytes_dropped: number;
}

export interface ImportSummary {
  concepts: number;
  associations: number;
  rejected_count: number;
  /** The first rejected lines (1-based) and why. */
  rejected: { line: number; reason: string }[];
}

export interface OpenOptions {
  /** Fix a new memory's vector dimension. */
  dimension?: number;
  /** Where the worker script is (default: next to this module). */
  workerUrl?: string | URL;
  /**
   * Starts the worker instead (for bundlers that must see the worker's URL to bundle it, e.g.
   * `() => new Worker(new URL("../wasm/js/worker.ts", import.meta.url), { type: "module" })`).
   */
  worker?: () => Worker;
}

/**
 * Every failure is a SutraError with a stable `code` (and, where there is one, the `field` it is
 * about and the `limit` it passed): the server's codes (invalid_argument,
 * invalid_id, limit_exceeded, dimension_mismatch, concept_not_found, association_not_found,
 * conflict, poisoned, storage_error, corrupt_log, corrupt_snapshot, unsupported_version,
 * invalid_json, invalid_name) plus memory_locked (open in another tab) and worker_failed.
 */
export class SutraError extends Error {
  readonly code: string;
  /** The request field the error is about, as the request named it (`confidence`, `ops[2].embedding`), if there is one. */
  readonly field: string | undefined;
  /** The limit that was passed, for `limit_exceeded` (the memory's dimension for `dimension_mismatch`). */
  readonly limit: number | undefined;
  constructor(code: string, message: string, field?: string, limit?: number) {
    super(message);
    this.name = "SutraError";
    this.code = code;
    this.field = field;
    this.limit = limit;
  }
}
