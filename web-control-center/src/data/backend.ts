/**
 * The one data-access interface the views use. Two implementations: a Sutra server over HTTP
 * (data/http.ts) and the engine running in this browser on OPFS (data/browser.ts). No view knows
 * which one it talks to.
 */
import type {
  Association,
  AssociationInput,
  CheckpointReport,
  Concept,
  ConceptInput,
  Hit,
  ImportSummary,
  Kind,
  Neighbourhood,
  NeighbourhoodOptions,
  Page,
  PathQuery,
  PathsResult,
  ScanOptions,
} from "sutra-wasm";

export type {
  Association,
  AssociationInput,
  CheckpointReport,
  Concept,
  ConceptInput,
  Hit,
  ImportSummary,
  Kind,
  Neighbourhood,
  NeighbourhoodOptions,
  Page,
  PathQuery,
  PathsResult,
  ScanOptions,
};

export const KINDS: Kind[] = ["semantic", "causal", "temporal", "hierarchical", "compositional"];

export interface MemorySummary {
  name: string;
  status: string;
  concepts: number | null;
  associations: number | null;
  dimension: number | null;
  error?: string;
}

export interface MemoryStats {
  concepts: number;
  associations: number;
  dimension: number | null;
  vectors: { sealed: number; fresh: number; stale: number; segments: number };
  last_seq: number;
  log_bytes: number;
  checkpoint_seq: number | null;
  poisoned: string | null;
  /** Bytes on disk (server: the memory's files; browser: this origin's OPFS usage). */
  storage_bytes: number | null;
}

export interface Backend {
  /** "server" or "browser", for the header only. */
  readonly mode: "server" | "browser";
  /** Where the data lives, for people. */
  readonly description: string;
  listMemories(): Promise<MemorySummary[]>;
  createMemory(name: string, dimension: number | null): Promise<void>;
  dropMemory(name: string): Promise<void>;
  stats(memory: string): Promise<MemoryStats>;
  checkpoint(memory: string): Promise<CheckpointReport>;
  scan(memory: string, options: ScanOptions): Promise<Page>;
  getConcept(memory: string, id: string): Promise<Concept>;
  putConcept(memory: string, concept: ConceptInput): Promise<{ id: string; seq: number }>;
  deleteConcept(memory: string, id: string): Promise<void>;
  associations(memory: string, id: string, direction: "out" | "in"): Promise<Association[]>;
  putAssociation(memory: string, association: AssociationInput): Promise<void>;
  deleteAssociation(memory: string, source: string, target: string, kind: Kind): Promise<void>;
  neighbourhood(memory: string, id: string, options: NeighbourhoodOptions): Promise<Neighbourhood>;
  paths(memory: string, query: PathQuery): Promise<PathsResult>;
  search(memory: string, query: { vector?: number[]; id?: string; k: number }): Promise<Hit[]>;
  exportJsonl(memory: string): Promise<string>;
  importJsonl(memory: string, text: string, onProgress: (done: number, total: number) => void): Promise<ImportSummary>;
  /** Releases what the backend holds (open memories, workers). */
  close(): Promise<void>;
}

/** An error from a backend, with the engine's code and, when the message names one, the field. */
export class BackendError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "BackendError";
    this.code = code;
  }

  /** The input field the error is about (content, embedding, strength, …), if it names one. */
  get field(): string | null {
    return fieldOf(this.code, this.message);
  }
}

const FIELDS = ["id", "content", "embedding", "strength", "confidence", "metadata", "weight", "kind", "source", "target", "dimension", "name", "k", "vector", "max_depth", "visited_max"];

/** The form field an engine error message is about. */
export function fieldOf(code: string, message: string): string | null {
  if (code === "dimension_mismatch") return "embedding";
  if (code === "invalid_name") return "name";
  const patterns = [
    /^invalid (?:ops\[\d+\]\.)?([a-z_]+)/,
    /^(?:ops\[\d+\]\.)?([a-z_]+)(?:\[| \(|\.| is too large)/,
    /unknown field `([a-z_]+)`/,
    /^[^:]*?([a-z_]+): invalid type/,
  ];
  for (const pattern of patterns) {
    const match = pattern.exec(message);
    if (match?.[1] && FIELDS.includes(match[1])) return match[1];
  }
  return null;
}

/** Turns anything thrown into a BackendError. */
export function asBackendError(e: unknown): BackendError {
  if (e instanceof BackendError) return e;
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return new BackendError(String((e as { code: unknown }).code), String((e as { message: unknown }).message));
  }
  if (e instanceof Error) return new BackendError("unavailable", e.message);
  return new BackendError("unavailable", String(e));
}
