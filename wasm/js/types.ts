/**
 * The package's types. The shapes of the wire (answers, and the bodies the inputs must fit) come
 * from `api.ts`, generated from the server's OpenAPI document (`docs/openapi.json`, itself
 * generated from the Rust types) by `npm run api-types`; CI checks it is up to date. Here they
 * get their JavaScript names, and embeddings are `Float32Array`s.
 */
import type { components } from "./api.js";
import { errorCodeValues, kindValues, languageValues } from "./api.js";

type Schemas = components["schemas"];

/** The kinds of association. */
export type Kind = Schemas["Kind"];

/** A language a memory's texts are stemmed in (`"english"`, `"french"`, …). */
export type Language = Schemas["Language"];

/** Every stemming language, in the engine's order. */
export const LANGUAGES: readonly Language[] = languageValues;
/** Every kind, in the engine's order. */
export const KINDS: readonly Kind[] = kindValues;

/** The error codes of the engine and the server (the browser adds memory_locked and worker_failed). */
export type ErrorCode = Schemas["ErrorCode"];
/** Every error code of the engine and the server. */
export const ERROR_CODES: readonly ErrorCode[] = errorCodeValues;

/** A concept, every field. */
export type Concept = Omit<Schemas["ConceptAnswer"], "embedding"> & { embedding: Float32Array | null };

/** A metadata value: a string, a number (a whole number stays whole), a boolean or a list of strings. */
export type MetadataValue = Schemas["MetadataValue"];
/** Metadata: string keys to values. */
export type Metadata = Record<string, MetadataValue>;

/** What to learn. Without `id` the id is derived from the content (the same text → the same concept). */
export interface ConceptInput {
  id?: string;
  content: string;
  embedding?: Float32Array | number[];
  strength?: number;
  confidence?: number;
  metadata?: Metadata;
}

/** An association, every field. */
export type Association = Schemas["AssociationAnswer"];

/**
 * What to learn. Key: (source, target, kind, label); learning it again updates it. `label` is
 * the fact's predicate ("works_at"; at most 256 bytes, one line; default none); the validity
 * interval is `valid_from_ms` (inclusive) to `valid_until_ms` (exclusive), ms since the epoch,
 * open-ended where left out.
 */
export interface AssociationInput {
  source: string;
  target: string;
  kind: Kind;
  label?: string;
  confidence?: number;
  weight?: number;
  metadata?: Metadata;
  valid_from_ms?: number;
  valid_until_ms?: number;
}

/** Names one association: its source, target, kind and label (default none). */
export type AssociationKey = {
  source: string;
  target: string;
  kind: Kind;
  label?: string;
};

/** One operation of an atomic batch. */
export type BatchOp =
  | ({ op: "put_concept" } & ConceptInput)
  | { op: "delete_concept"; id: string }
  | ({ op: "put_association" } & AssociationInput)
  | ({ op: "delete_association" } & AssociationKey)
  | ({ op: "invalidate_association"; valid_until_ms?: number } & AssociationKey)
  | { op: "index_metadata"; keys: string[] };

/**
 * What a filter allows for one metadata key: a value (a string, a number or a flag; a list of
 * strings matches when it holds the string), or `{ in: [...] }` for one of several.
 */
export type FilterValue = Schemas["FilterValue"];

/**
 * Which associations a read follows: by default those valid now; `as_of` (ms since the epoch)
 * those valid then; `include_invalid` all of them, invalidated ones too (not with `as_of`).
 */
export interface Validity {
  as_of?: number;
  include_invalid?: boolean;
}

/** The answer to a write: its sequence number, once durable. */
export type WriteResult = Schemas["WriteAnswer"];

export interface PathQuery {
  from: string;
  to: string;
  algorithm?: Schemas["PathAlgorithm"];
  /** For k_best: 1..=10 (default 3). */
  k?: number;
  direction?: Schemas["PathDirection"];
  kinds?: Kind[];
  /** 1..=16 hops (default 6). */
  max_depth?: number;
  /** Concepts the search may expand (default 100,000). */
  visited_max?: number;
  /** Follow the associations valid at this time (default now). */
  as_of?: number;
  /** Follow invalidated associations too. */
  include_invalid?: boolean;
}

/** One hop of a path; `reversed` when the association was followed from its target to its source. */
export type PathStep = Schemas["StepAnswer"];

/** One path: its concepts, its hops, and the product of the hops' confidences. */
export type Path = Schemas["PathAnswer"];

/**
 * A path query's answer. `budget_exhausted`: the search stopped at its budget (a path may exist
 * that was not found); `depth_limited`: `max_depth` left concepts unexplored that lead on (for
 * `shortest`, said only when none was found); `seq`: the state it was read from.
 */
export type PathsResult = Schemas["PathsAnswer"];

/**
 * A search: by words (full text, BM25), by a vector or a concept's embedding, or by words and
 * a vector at once (the two result lists fused by reciprocal rank fusion); optionally expanded
 * along the graph from the best hits (`expand`) and diversified (`mmr`).
 */
export interface SearchQuery {
  /** Words to find in the concepts' content (case-insensitive; common words such as "the" are not indexed). */
  text?: string;
  vector?: Float32Array | number[];
  /** Search by this concept's own embedding (it is left out of the results). */
  id?: string;
  /** 1..=1000 (default 10; at most 250 with `mmr`). */
  k?: number;
  /**
   * Search effort: the candidate list each index graph is searched with (k + 1 ..= 4096;
   * default the memory's own, 96, grown past 100,000 vectors). Higher finds more of the true
   * nearest, more slowly.
   */
  ef?: number;
  /**
   * Also find the concepts the best `k` hits' associations lead to: `depth` 1..=3 hops (default
   * 1), `direction` `both` (default) or `forward`, `kinds` and `labels` followed (default all),
   * `per_concept` most confident associations followed from each concept (1..=100, default
   * 10), the associations valid now (or `as_of` a time, or all with `include_invalid`). A concept
   * reached scores its hit's score times the trail's confidences, and its `found_by` entry
   * (`retriever: "graph"`) holds the `trail`.
   */
  expand?: Schemas["ExpandBody"];
  /**
   * Diversify by maximal marginal relevance over the stored embeddings: `lambda` 0..=1 (default
   * 0.5) is the weight of relevance against unlikeness to the hits already chosen.
   */
  mmr?: Schemas["MmrBody"];
  /**
   * Keep only the concepts whose metadata match, every key (only keys the memory indexes, see
   * the batch operation `index_metadata`): applied inside each retriever, so the hits are the
   * best of those kept.
   */
  filter?: Record<string, FilterValue>;
}

/**
 * A search hit: `score` is the cosine similarity (by vector), the BM25 score (by words), the
 * fused score (both), or for a concept reached along the graph its hit's score times the
 * trail's confidences; `found_by` says where each retriever ranked it (and, for the graph, the
 * trail that reached it).
 */
export type Hit = Schemas["HitAnswer"];

export interface ScanOptions {
  /** `id` (default), `updated` (the last updated first) or `content`; the other orders than
   * the ids' read every concept listed (at most 2,000,000) to sort them. */
  order?: "id" | "updated" | "content";
  /** The previous page's `next`, in the same order. */
  after?: string;
  /** 1..=1000 (default 100). */
  limit?: number;
  prefix?: string;
  /** Only the concepts a filter keeps, as a search's `filter` (on the keys the memory indexes). */
  filter?: Record<string, FilterValue>;
}

/** A page of concepts; pass `next` as `after` for the next page (null at the end). */
export type Page = Omit<Schemas["PageAnswer"], "concepts"> & { concepts: Concept[] };

export interface AssociationOptions extends Validity {
  direction?: "out" | "in" | "both";
  kinds?: Kind[];
  /** Only those with one of these labels ("" is an unlabelled association's). */
  labels?: string[];
  min_confidence?: number;
  limit?: number;
}

export interface NeighbourhoodOptions extends Validity {
  /** 0..=4 hops (default 1). */
  depth?: number;
  direction?: Schemas["PathDirection"];
  kinds?: Kind[];
  /** 1..=2000 concepts (default 200). */
  limit?: number;
}

/** Concepts within some hops of a centre, and the associations among them. */
export type Neighbourhood = Schemas["NeighbourhoodAnswer"];

/** A memory's counts, log, checkpoint and vector tiers, its files' size, and this origin's
 * storage. */
export type Stats = Schemas["StatsAnswer"] & {
  /** Bytes this memory's own files take in OPFS (its log and snapshot slots). */
  storage_bytes: number;
  /** This origin's storage, from navigator.storage (every memory and whatever else the site keeps). */
  storage: { usage: number | null; quota: number | null; persisted: boolean | null };
};

export interface RecoveryReport {
  snapshot_seq: number | null;
  records_replayed: number;
  records_skipped: number;
  torn_bytes_dropped: number;
  last_seq: number;
  /** The format versions of files written by an older build, read and rewritten in today's as the memory opened. */
  rewritten_from: { log_version: number; snapshot_version: number | null } | null;
}

/** What a checkpoint did. */
export type CheckpointReport = Schemas["CheckpointAnswer"];

/** What an import did, and the first rejected lines (1-based) and why. */
export type ImportSummary = Schemas["ImportSummary"];

/**
 * The inputs are JavaScript-friendly (embeddings may be Float32Arrays), but what they become on
 * the wire must fit the server's body schemas: checked here at compile time, so a field renamed
 * or retyped in the Rust types fails `tsc` until the package follows.
 */
type Wire<T> = { [K in keyof T]: T[K] extends Float32Array | number[] | undefined ? number[] : T[K] };
type Fits<T, Body> = Required<Wire<T>> extends Required<{ [K in keyof Body]-?: Exclude<Body[K], null> }> ? true : never;
export const INPUTS_FIT_THE_WIRE: [
  Fits<ConceptInput, Schemas["ConceptBody"]>,
  Fits<AssociationInput, Schemas["AssociationBody"]>,
  Fits<PathQuery, Schemas["PathsBody"]>,
  Fits<SearchQuery, Schemas["SearchBody"]>,
] = [true, true, true, true];

export interface OpenOptions {
  /** Fix a new memory's vector dimension. */
  dimension?: number;
  /**
   * Stem a new memory's texts (and every text search) in this language, so that "runs" finds
   * "running"; a memory's language is chosen once (opening with another is refused).
   */
  language?: Language;
  /**
   * Metadata keys to index for filters (at most 16 in all), besides those the memory indexes
   * already: a new memory is made with them; none is ever taken away by opening.
   */
  indexedKeys?: string[];
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
  /** One of {@link ERROR_CODES}, or memory_locked / worker_failed (the browser's own). */
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
