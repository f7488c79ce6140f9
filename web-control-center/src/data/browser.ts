/** The data-access interface over the engine running in this browser (sutra-wasm, on OPFS). */
import { Sutra, type ImportSummary } from "sutra-wasm";
import { asBackendError, replacing, sameAssociation, type Backend, type MemoryStats, type MemorySummary, type NewMemory, type SearchRequest } from "./backend";
import type {
  Association,
  AssociationInput,
  AssociationKey,
  Validity,
  CheckpointReport,
  Concept,
  ConceptInput,
  Hit,
  Kind,
  Neighbourhood,
  NeighbourhoodOptions,
  Page,
  PathQuery,
  PathsResult,
  ScanOptions,
} from "sutra-wasm";

/** Starts the engine's worker; Vite bundles the worker and its WebAssembly from this URL. */
export function startWorker(): Worker {
  return new Worker(new URL("../../../wasm/js/worker.ts", import.meta.url), { type: "module" });
}

export class BrowserBackend implements Backend {
  readonly mode = "browser" as const;
  readonly description = "this browser (OPFS)";
  private readonly open = new Map<string, Promise<Sutra>>();

  private memory(name: string, options?: NewMemory): Promise<Sutra> {
    let memory = this.open.get(name);
    if (!memory) {
      memory = Sutra.open(name, {
        worker: startWorker,
        ...(options?.dimension ? { dimension: options.dimension } : {}),
        ...(options?.language ? { language: options.language } : {}),
        ...(options?.indexedKeys.length ? { indexedKeys: options.indexedKeys } : {}),
      });
      this.open.set(name, memory);
      memory.catch(() => this.open.delete(name));
    }
    return memory;
  }

  private async run<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw asBackendError(e);
    }
  }

  listMemories(): Promise<MemorySummary[]> {
    return this.run(async () => {
      const names = await Sutra.list({ worker: startWorker });
      // Counts and sizes of the memories this tab holds; the others are only read by opening
      // them, which would take them from any other tab.
      return Promise.all(
        names.map(async (name): Promise<MemorySummary> => {
          const held = this.open.get(name);
          if (held) {
            const s = await (await held).stats();
            return { name, status: "open", concepts: s.concepts, associations: s.associations, dimension: s.dimension ?? null, language: s.language ?? null, storage_bytes: s.storage_bytes };
          }
          return { name, status: "stored", concepts: null, associations: null, dimension: null, language: null, storage_bytes: null };
        }),
      );
    });
  }

  createMemory(name: string, options: NewMemory): Promise<void> {
    return this.run(async () => {
      const existing = await Sutra.list({ worker: startWorker });
      if (existing.includes(name)) throw { code: "memory_exists", message: `memory "${name}" already exists` };
      await this.memory(name, options);
    });
  }

  dropMemory(name: string): Promise<void> {
    return this.run(async () => {
      const memory = this.open.get(name);
      this.open.delete(name);
      if (memory) await (await memory).close();
      await Sutra.drop(name, { worker: startWorker });
    });
  }

  stats(name: string): Promise<MemoryStats> {
    return this.run(async () => {
      const s = await (await this.memory(name)).stats();
      return { ...s, storage_bytes: s.storage_bytes, site_bytes: s.storage.usage };
    });
  }

  /** Memories in this browser are not replicated. */
  cluster(): Promise<null> {
    return Promise.resolve(null);
  }

  checkpoint(name: string): Promise<CheckpointReport> {
    return this.run(async () => (await this.memory(name)).checkpoint());
  }

  scan(name: string, options: ScanOptions): Promise<Page> {
    return this.run(async () => (await this.memory(name)).scan(options));
  }

  getConcept(name: string, id: string): Promise<Concept> {
    return this.run(async () => (await this.memory(name)).getConcept(id));
  }

  putConcept(name: string, concept: ConceptInput): Promise<{ id: string; seq: number }> {
    return this.run(async () => (await this.memory(name)).putConcept(concept));
  }

  deleteConcept(name: string, id: string): Promise<void> {
    return this.run(async () => {
      await (await this.memory(name)).deleteConcept(id);
    });
  }

  associations(name: string, id: string, direction: "out" | "in", validity: Validity = {}): Promise<Association[]> {
    return this.run(async () => (await this.memory(name)).associations(id, { ...validity, direction, limit: 1000 }));
  }

  putAssociation(name: string, association: AssociationInput): Promise<void> {
    return this.run(async () => {
      await (await this.memory(name)).putAssociation(association);
    });
  }

  replaceAssociation(name: string, old: AssociationKey, association: AssociationInput): Promise<void> {
    if (sameAssociation(old, association)) return this.putAssociation(name, association);
    return this.run(async () => {
      await (await this.memory(name)).batch(replacing(old, association));
    });
  }

  deleteAssociation(name: string, key: AssociationKey): Promise<void> {
    return this.run(async () => {
      await (await this.memory(name)).deleteAssociation(key.source, key.target, key.kind, key.label);
    });
  }

  invalidateAssociation(name: string, key: AssociationKey, untilMs?: number): Promise<void> {
    return this.run(async () => {
      await (await this.memory(name)).invalidateAssociation(key, untilMs);
    });
  }

  neighbourhood(name: string, id: string, options: NeighbourhoodOptions): Promise<Neighbourhood> {
    return this.run(async () => (await this.memory(name)).neighbourhood(id, options));
  }

  paths(name: string, query: PathQuery): Promise<PathsResult> {
    return this.run(async () => (await this.memory(name)).paths(query));
  }

  search(name: string, query: SearchRequest): Promise<Hit[]> {
    return this.run(async () => (await this.memory(name)).search(query));
  }

  indexMetadata(name: string, keys: string[]): Promise<void> {
    return this.run(async () => {
      await (await this.memory(name)).batch([{ op: "index_metadata", keys }]);
    });
  }

  exportJsonl(name: string): Promise<string> {
    return this.run(async () => (await this.memory(name)).exportJsonl());
  }

  importJsonl(name: string, text: string, onProgress: (done: number, total: number) => void): Promise<ImportSummary> {
    return this.run(async () => (await this.memory(name)).importJsonl(text, onProgress));
  }

  async close(): Promise<void> {
    const open = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(open.map(async (m) => (await m).close()));
  }
}
