/**
 * Sutra in the browser: a durable knowledge-graph and vector memory on OPFS.
 *
 * ```ts
 * const mem = await Sutra.open("notes", { dimension: 3 });
 * const { id } = await mem.putConcept({ content: "rain", embedding: new Float32Array([1, 0, 0]) });
 * ```
 *
 * Each open memory is owned by one dedicated worker that this client starts; every write is
 * flushed to OPFS before its promise resolves. A memory open in another tab fails with a
 * SutraError whose code is `memory_locked`.
 */
import type { Call, Method, Methods, RawConcept, ReadQ, ReadRequest, Reads, Reply, WorkerMessage, WriteOp, WriteRequest, Writes } from "./protocol.js";
import {
  SutraError,
  type Association,
  type AssociationInput,
  type AssociationKey,
  type AssociationOptions,
  type BatchOp,
  type CheckpointReport,
  type Concept,
  type ConceptInput,
  type Hit,
  type ImportSummary,
  type Kind,
  type Neighbourhood,
  type NeighbourhoodOptions,
  type OpenOptions,
  type Page,
  type PathQuery,
  type PathsResult,
  type RecoveryReport,
  type ScanOptions,
  type SearchQuery,
  type Stats,
  type WriteResult,
} from "./types.js";

export * from "./types.js";
export type { components, paths } from "./api.js";
export { importInPieces, REJECTED_KEPT } from "./pieces.js";
import { importInPieces } from "./pieces.js";

/** Lines per import message: bounds each step and lets progress be reported. */
export const IMPORT_LINES_PER_STEP = 2000;

type Raw = RawConcept;

function toConcept(raw: Raw): Concept {
  return { ...raw, embedding: raw.embedding ? Float32Array.from(raw.embedding) : null };
}

/** A vector as JSON numbers. JSON cannot carry NaN or infinity, so they are refused here with the
 * same code the engine uses for them. */
function toArray(v: Float32Array | number[] | undefined, field: string): number[] | undefined {
  if (v === undefined) return undefined;
  const values = Array.from(v);
  const bad = values.findIndex((x) => typeof x !== "number" || !Number.isFinite(x));
  if (bad >= 0) {
    throw new SutraError(
      "invalid_argument",
      `invalid ${field}[${bad}]: ${String(values[bad])} is not a finite number (NaN and infinity are not allowed)`,
      `${field}[${bad}]`,
    );
  }
  return values;
}

function conceptBody(c: ConceptInput): Record<string, unknown> {
  const body: Record<string, unknown> = { content: c.content };
  if (c.id !== undefined) body.id = c.id;
  if (c.embedding !== undefined) body.embedding = toArray(c.embedding, "embedding");
  if (c.strength !== undefined) body.strength = c.strength;
  if (c.confidence !== undefined) body.confidence = c.confidence;
  if (c.metadata !== undefined) body.metadata = c.metadata;
  return body;
}

function associationBody(a: AssociationInput): Record<string, unknown> {
  return defined({
    source: a.source,
    target: a.target,
    kind: a.kind,
    label: a.label,
    confidence: a.confidence,
    weight: a.weight,
    metadata: a.metadata,
    valid_from_ms: a.valid_from_ms,
    valid_until_ms: a.valid_until_ms,
  });
}

function kindsParam(kinds: Kind[] | undefined): string | undefined {
  return kinds === undefined ? undefined : kinds.join(",");
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Runs `f`, turning a synchronous throw (input checked on this side) into a rejection. */
function attempt<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

function starter(options: Pick<OpenOptions, "workerUrl" | "worker">): () => Worker {
  if (options.worker) return options.worker;
  const url = options.workerUrl ?? new URL("./worker.js", import.meta.url);
  return () => new Worker(url, { type: "module" });
}

/** A worker and the calls waiting for it. */
class Channel {
  private readonly worker: Worker;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: SutraError) => void }>();
  private dead: SutraError | null = null;

  constructor(start: () => Worker) {
    this.worker = start();
    // The answers to a group of writes come in one message.
    this.worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const data = event.data;
      if (Array.isArray(data)) {
        for (const reply of data) this.settle(reply);
      } else {
        this.settle(data);
      }
    };
    this.worker.onerror = (event: ErrorEvent) => {
      this.fail(new SutraError("worker_failed", `the Sutra worker failed: ${event.message || "it could not be loaded"}`));
    };
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new SutraError(reply.error.code, reply.error.message, reply.error.field, reply.error.limit));
  }

  private fail(error: SutraError): void {
    this.dead = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  call<M extends Method>(method: M, ...args: Methods[M]["args"]): Promise<Methods[M]["answer"]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    return new Promise<Methods[M]["answer"]>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const message = { id, method, args } as Call<M>;
      this.worker.postMessage(message);
    });
  }

  terminate(): void {
    this.worker.terminate();
    this.fail(new SutraError("closed", "the memory is closed"));
  }
}

/** An open memory. */
export class Sutra {
  /** What recovery found when the memory was opened. */
  readonly recovery: RecoveryReport;
  /** The memory's name. */
  readonly name: string;
  private readonly channel: Channel;
  private persisted: boolean | null;

  private constructor(name: string, channel: Channel, recovery: RecoveryReport, persisted: boolean | null) {
    this.name = name;
    this.channel = channel;
    this.recovery = recovery;
    this.persisted = persisted;
  }

  /** Opens (creating) a memory stored in this origin's OPFS. */
  static async open(name: string, options: OpenOptions = {}): Promise<Sutra> {
    const channel = new Channel(starter(options));
    let persisted: boolean | null = null;
    try {
      // Ask the browser not to evict this origin's storage under pressure (best effort).
      persisted = (await navigator.storage?.persist?.()) ?? null;
    } catch {
      persisted = null;
    }
    try {
      const recovery = await channel.call("open", name, options.dimension ?? 0, options.language, options.indexedKeys ?? []);
      return new Sutra(name, channel, recovery, persisted);
    } catch (e) {
      channel.terminate();
      throw e;
    }
  }

  /** The names of the memories stored in this origin's OPFS. */
  static async list(options: Pick<OpenOptions, "workerUrl" | "worker"> = {}): Promise<string[]> {
    const channel = new Channel(starter(options));
    try {
      return await channel.call("list");
    } finally {
      channel.terminate();
    }
  }

  /** Deletes a memory and its files. Fails with `memory_locked` while it is open anywhere. */
  static async drop(name: string, options: Pick<OpenOptions, "workerUrl" | "worker"> = {}): Promise<void> {
    const channel = new Channel(starter(options));
    try {
      await channel.call("drop", name);
    } finally {
      channel.terminate();
    }
  }

  private async write<O extends WriteOp>(request: WriteRequest<O>): Promise<Writes[O]["answer"]> {
    return (await this.channel.call("write", JSON.stringify(request))) as Writes[O]["answer"];
  }

  private async read<Q extends ReadQ>(request: ReadRequest<Q>): Promise<Reads[Q]["answer"]> {
    return (await this.channel.call("read", JSON.stringify(request))) as Reads[Q]["answer"];
  }

  /** Learns a concept (upsert). Resolves once it is durable. */
  putConcept(concept: ConceptInput): Promise<WriteResult & { id: string }> {
    return attempt(() => this.write({ op: "put_concept", body: conceptBody(concept) }));
  }

  /** A concept by id. */
  async getConcept(id: string): Promise<Concept> {
    return toConcept(await this.read({ q: "get", id }));
  }

  /** Deletes a concept and its associations. */
  deleteConcept(id: string): Promise<WriteResult> {
    return this.write({ op: "delete_concept", id });
  }

  /** Learns an association (upsert by source, target, kind and label). */
  putAssociation(association: AssociationInput): Promise<WriteResult> {
    return this.write({ op: "put_association", body: associationBody(association) });
  }

  /** Deletes an association (the one with `label`, or the one without). */
  deleteAssociation(source: string, target: string, kind: Kind, label?: string): Promise<WriteResult> {
    const key: AssociationKey = { source, target, kind };
    if (label !== undefined) key.label = label;
    return this.write({ op: "delete_association", ...key });
  }

  /**
   * Invalidates an association without deleting it: it stops holding at `validUntilMs` (default
   * now; an earlier end it has stays). Reads of now stop seeing it; `as_of` and
   * `include_invalid` still do.
   */
  invalidateAssociation(key: AssociationKey, validUntilMs?: number): Promise<WriteResult> {
    const request: AssociationKey & { valid_until_ms?: number } = { ...key };
    if (validUntilMs !== undefined) request.valid_until_ms = validUntilMs;
    return this.write({ op: "invalidate_association", ...request });
  }

  /** Applies operations atomically (all or none, also across crashes). */
  batch(ops: BatchOp[]): Promise<WriteResult & { ids: string[] }> {
    return attempt(() => this.writeBatch(ops));
  }

  private writeBatch(ops: BatchOp[]): Promise<WriteResult & { ids: string[] }> {
    const body = ops.map((op) => {
      switch (op.op) {
        case "put_concept": {
          const { op: _, ...concept } = op;
          return { op: "put_concept", ...conceptBody(concept) };
        }
        case "put_association": {
          const { op: _, ...association } = op;
          return { op: "put_association", ...associationBody(association) };
        }
        default:
          return op;
      }
    });
    return this.write({ op: "batch", body: { ops: body } });
  }

  /** A page of concepts, in id order or another (`options.order`). */
  async scan(options: ScanOptions = {}): Promise<Page> {
    const filter = options.filter === undefined ? undefined : JSON.stringify(options.filter);
    const page = await this.read({ q: "scan", query: defined({ ...options, filter }) });
    return { concepts: page.concepts.map(toConcept), next: page.next };
  }

  /** A concept's associations. */
  async associations(id: string, options: AssociationOptions = {}): Promise<Association[]> {
    const labels = options.labels === undefined ? undefined : JSON.stringify(options.labels);
    const query = defined({ ...options, kinds: kindsParam(options.kinds), labels });
    return (await this.read({ q: "associations", id, query })).associations;
  }

  /** Concepts within some hops, and the associations among them. */
  neighbourhood(id: string, options: NeighbourhoodOptions = {}): Promise<Neighbourhood> {
    const query = defined({ ...options, kinds: kindsParam(options.kinds) });
    return this.read({ q: "neighbourhood", id, query });
  }

  /** Shortest, most confident or k best paths: the reasoning trail. */
  paths(query: PathQuery): Promise<PathsResult> {
    return this.read({ q: "paths", body: defined({ ...query }) });
  }

  /**
   * Search by words (BM25), by a vector or a concept's own embedding (cosine), or by both (fused
   * by rank); optionally expanded along associations from the hits and diversified (MMR).
   */
  async search(query: SearchQuery): Promise<Hit[]> {
    const body = defined({
      text: query.text,
      vector: toArray(query.vector, "vector"),
      id: query.id,
      k: query.k,
      ef: query.ef,
      expand: query.expand,
      mmr: query.mmr,
      filter: query.filter,
    });
    return (await this.read({ q: "search", body })).hits;
  }

  /** Counts, log size, last checkpoint, vector tiers, and this origin's storage use. */
  async stats(): Promise<Stats> {
    const stats = await this.read({ q: "stats" });
    const estimate = await this.channel.call("estimate");
    const bytes = await this.channel.call("bytes");
    return { ...stats, storage_bytes: bytes, storage: { ...estimate, persisted: this.persisted } };
  }

  /** Writes a snapshot now and trims the log. */
  checkpoint(): Promise<CheckpointReport> {
    return this.channel.call("checkpoint");
  }

  /** The whole memory as JSON Lines, in the server's export format. */
  exportJsonl(): Promise<string> {
    return this.channel.call("export");
  }

  /**
   * Imports JSON Lines (the server's export format). Bad lines are rejected with their line
   * number and reason; the rest is imported. `onProgress(linesDone, linesTotal)` is called as
   * it goes.
   */
  async importJsonl(text: string, onProgress?: (done: number, total: number) => void): Promise<ImportSummary> {
    return importInPieces(text, IMPORT_LINES_PER_STEP, (piece, firstLine) => this.channel.call("import", piece, firstLine), onProgress);
  }

  /** Finishes pending writes, closes the files and stops the worker. */
  async close(): Promise<void> {
    try {
      await this.channel.call("close");
    } finally {
      this.channel.terminate();
    }
  }
}
