/**
 * Messages between the main-thread client and the worker, typed end to end: each method's
 * arguments and answer, and each read and write request with its answer. The requests mirror
 * the Rust enums the engine reads them into (`wasm/src/engine.rs`: `ReadRequest`,
 * `WriteRequest`); their bodies are the HTTP API's.
 */
import type {
  Association,
  AssociationKey,
  CheckpointReport,
  Concept,
  Hit,
  ImportSummary,
  Kind,
  Language,
  Neighbourhood,
  PathsResult,
  RecoveryReport,
  Stats,
  WriteResult,
} from "./types.js";

/** A concept as the engine answers it (the embedding as a plain array). */
export type RawConcept = Omit<Concept, "embedding"> & { embedding: number[] | null };

/** Query parameters and bodies as the HTTP API takes them (absent fields are left out). */
export type Body = Record<string, unknown>;

/** Every write request, by its `op`, with the answer it gets once it is durable. */
export interface Writes {
  put_concept: { request: { body: Body }; answer: WriteResult & { id: string } };
  delete_concept: { request: { id: string }; answer: WriteResult };
  put_association: { request: { body: Body }; answer: WriteResult };
  delete_association: { request: AssociationKey; answer: WriteResult };
  invalidate_association: { request: AssociationKey & { valid_until_ms?: number }; answer: WriteResult };
  batch: { request: { body: { ops: Body[] } }; answer: WriteResult & { ids: string[] } };
}

/** Every read request, by its `q`, with its answer. */
export interface Reads {
  get: { request: { id: string }; answer: RawConcept };
  scan: { request: { query: Body }; answer: { concepts: RawConcept[]; next: string | null } };
  associations: { request: { id: string; query: Body }; answer: { associations: Association[] } };
  neighbourhood: { request: { id: string; query: Body }; answer: Neighbourhood };
  similar: { request: { id: string; k?: number; ef?: number }; answer: { hits: Hit[] } };
  paths: { request: { body: Body }; answer: PathsResult };
  search: { request: { body: Body }; answer: { hits: Hit[] } };
  stats: { request: Record<never, never>; answer: Omit<Stats, "storage"> };
}

export type WriteOp = keyof Writes;
export type ReadQ = keyof Reads;
/** A write request: `{op: …}` and that op's fields. */
export type WriteRequest<O extends WriteOp = WriteOp> = { [K in O]: { op: K } & Writes[K]["request"] }[O];
/** A read request: `{q: …}` and that query's fields. */
export type ReadRequest<Q extends ReadQ = ReadQ> = { [K in Q]: { q: K } & Reads[K]["request"] }[Q];

/** Every call the worker answers: its arguments, and what it answers. */
export interface Methods {
  open: { args: [name: string, dimension: number, language: Language | undefined, indexedKeys: string[]]; answer: RecoveryReport };
  /** A JSON-encoded {@link WriteRequest}; answered once its group is durable. */
  write: { args: [request: string]; answer: unknown };
  /** A JSON-encoded {@link ReadRequest}. */
  read: { args: [request: string]; answer: unknown };
  checkpoint: { args: []; answer: CheckpointReport };
  export: { args: []; answer: string };
  /** JSON Lines text, and the number of its first line in the whole import. */
  import: { args: [text: string, firstLine: number]; answer: ImportSummary };
  estimate: { args: []; answer: { usage: number | null; quota: number | null } };
  /** Bytes the open memory's own files take. */
  bytes: { args: []; answer: number };
  close: { args: []; answer: undefined };
  list: { args: []; answer: string[] };
  drop: { args: [name: string]; answer: undefined };
}

export type Method = keyof Methods;

/** A call to the worker: its id, its method and that method's arguments. */
export type Call<M extends Method = Method> = { [K in M]: { id: number; method: K; args: Methods[K]["args"] } }[M];

/** An error as it crosses from the worker: the engine's code and message, and the request
 * field it is about and the limit it passed, where there are. */
export interface ErrorReply {
  code: string;
  message: string;
  field?: string;
  limit?: number;
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorReply };

/** What the worker posts: one reply, or the replies to a group of writes committed together. */
export type WorkerMessage = Reply | Reply[];
