/**
 * The one data-access interface the views use. Two implementations: a Sutra server over HTTP
 * (data/http.ts) and the engine running in this browser on OPFS (data/browser.ts). No view knows
 * which one it talks to.
 */
import { KINDS, LANGUAGES } from "sutra-wasm";
import type {
  components,
  Association,
  AssociationInput,
  AssociationKey,
  BatchOp,
  CheckpointReport,
  Concept,
  ConceptInput,
  FilterValue,
  Hit,
  ImportSummary,
  Kind,
  Language,
  Neighbourhood,
  NeighbourhoodOptions,
  Page,
  PathQuery,
  PathsResult,
  ScanOptions,
  Validity,
} from "sutra-wasm";

export type {
  Association,
  AssociationInput,
  AssociationKey,
  Validity,
  CheckpointReport,
  Concept,
  ConceptInput,
  Hit,
  ImportSummary,
  Kind,
  Language,
  Neighbourhood,
  NeighbourhoodOptions,
  Page,
  PathQuery,
  PathsResult,
  ScanOptions,
};

/** Every kind and every stemming language, from the engine's own lists (through the generated
 * API types). */
export { KINDS, LANGUAGES };

/** A search as the search page sends it (the engine's own request, both modes). */
export interface SearchRequest {
  text?: string;
  vector?: number[];
  id?: string;
  k: number;
  expand?: { depth: number };
  mmr?: { lambda: number };
  /** Only the concepts whose metadata match (on the keys the memory indexes). */
  filter?: Record<string, FilterValue>;
}

export interface MemorySummary {
  name: string;
  status: string;
  concepts: number | null;
  associations: number | null;
  dimension: number | null;
  /** The language its texts are stemmed in (null: none, or not known without opening it). */
  language: Language | null;
  /** Bytes its files take (null: not known without opening it, or shared on a cluster node). */
  storage_bytes: number | null;
  error?: string;
}

/** What a new memory fixes when it is made. */
export interface NewMemory {
  /** Its vector dimension (null: fixed by the first embedding). */
  dimension: number | null;
  /** The language its texts are stemmed in (null: none). */
  language: Language | null;
  /** The metadata keys it indexes for filters (none: declared later, if ever). */
  indexedKeys: string[];
}

/** A memory's stats as the views show them: the engine's (the server's answer's shape, in both modes). */
export type MemoryStats = components["schemas"]["StatsAnswer"] & {
  /** Bytes the memory's own files take (server: on disk; browser: in OPFS). */
  storage_bytes: number | null;
  /** Browser mode: what this browser keeps for the whole site (every memory and the app). */
  site_bytes?: number | null;
};

/** The cluster as the server that answers sees it (the server's answer, `GET /v1/cluster`). */
export type ClusterStatus = components["schemas"]["ClusterAnswer"];
/** One member of a cluster. */
export type ClusterMember = components["schemas"]["ClusterMember"];

export interface Backend {
  /** "server" or "browser", for the header only. */
  readonly mode: "server" | "browser";
  /** Where the data lives, for people. */
  readonly description: string;
  listMemories(): Promise<MemorySummary[]>;
  createMemory(name: string, options: NewMemory): Promise<void>;
  dropMemory(name: string): Promise<void>;
  stats(memory: string): Promise<MemoryStats>;
  checkpoint(memory: string): Promise<CheckpointReport>;
  scan(memory: string, options: ScanOptions): Promise<Page>;
  getConcept(memory: string, id: string): Promise<Concept>;
  putConcept(memory: string, concept: ConceptInput): Promise<{ id: string; seq: number }>;
  deleteConcept(memory: string, id: string): Promise<void>;
  /** A concept's associations one way: those valid now, unless `validity` asks for a time
   * (`as_of`) or for everything (`include_invalid`). */
  associations(memory: string, id: string, direction: "out" | "in", validity?: Validity): Promise<Association[]>;
  putAssociation(memory: string, association: AssociationInput): Promise<void>;
  /**
   * Learns `association` in place of the one `old` names, in one atomic write: the same key
   * replaces it; another (a new label) deletes the old one in the same batch.
   */
  replaceAssociation(memory: string, old: AssociationKey, association: AssociationInput): Promise<void>;
  deleteAssociation(memory: string, key: AssociationKey): Promise<void>;
  /** Closes an association's validity at `untilMs` (default now) without deleting it. */
  invalidateAssociation(memory: string, key: AssociationKey, untilMs?: number): Promise<void>;
  neighbourhood(memory: string, id: string, options: NeighbourhoodOptions): Promise<Neighbourhood>;
  paths(memory: string, query: PathQuery): Promise<PathsResult>;
  search(memory: string, query: SearchRequest): Promise<Hit[]>;
  /** Declares the metadata keys filters may name (replacing those declared before). */
  indexMetadata(memory: string, keys: string[]): Promise<void>;
  exportJsonl(memory: string): Promise<string>;
  importJsonl(memory: string, text: string, onProgress: (done: number, total: number) => void): Promise<ImportSummary>;
  /** The cluster the server is a node of (`role` "single" for a server on its own); null for
   * memories kept in this browser, which are not replicated. */
  cluster(): Promise<ClusterStatus | null>;
  /** Releases what the backend holds (open memories, workers). */
  close(): Promise<void>;
}

/** An error from a backend: the engine's code and message, and — as the engine puts them on the
 * wire — the request field it is about and the limit it passed. */
export class BackendError extends Error {
  readonly code: string;
  /** The request field the engine named (`confidence`, `ops[1].embedding[2]`), if any. */
  readonly path: string | null;
  /** The limit that was passed, for `limit_exceeded`. */
  readonly limit: number | null;
  constructor(code: string, message: string, path: string | null = null, limit: number | null = null) {
    super(message);
    this.name = "BackendError";
    this.code = code;
    this.path = path;
    this.limit = limit;
  }

  /** The form's input the error is about (content, embedding, strength, …), if it names one. */
  get field(): string | null {
    return formField(this.path);
  }
}

/** The form input a request field belongs to: its first name, without a batch operation's
 * place or an index (`ops[1].embedding[2]` is the embedding input). */
export function formField(path: string | null): string | null {
  if (!path) return null;
  const bare = path.replace(/^ops\[\d+\]\./, "");
  return /^[a-z_]+/.exec(bare)?.[0] ?? null;
}

/** Whether `association` has the key `key` names (no label is the label ""). */
export function sameAssociation(key: AssociationKey, association: AssociationInput): boolean {
  return key.source === association.source && key.target === association.target && key.kind === association.kind && (key.label ?? "") === (association.label ?? "");
}

/** The batch that learns `association` in place of the one `old` names. */
export function replacing(old: AssociationKey, association: AssociationInput): BatchOp[] {
  return [
    { op: "delete_association", ...old },
    { op: "put_association", ...association },
  ];
}

/** Turns anything thrown into a BackendError. */
export function asBackendError(e: unknown): BackendError {
  if (e instanceof BackendError) return e;
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const error = e as { code: unknown; message: unknown; field?: unknown; limit?: unknown };
    return new BackendError(
      String(error.code),
      String(error.message),
      typeof error.field === "string" ? error.field : null,
      typeof error.limit === "number" ? error.limit : null,
    );
  }
  if (e instanceof Error) return new BackendError("unavailable", e.message);
  return new BackendError("unavailable", String(e));
}
