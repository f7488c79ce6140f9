/** The data-access interface over a Sutra server's HTTP API. */
import { importInPieces } from "sutra-wasm";
import { asBackendError, BackendError, replacing, sameAssociation, type Backend, type ClusterStatus, type MemoryStats, type MemorySummary, type NewMemory, type SearchRequest } from "./backend";
import type {
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
  Neighbourhood,
  NeighbourhoodOptions,
  Page,
  PathQuery,
  PathsResult,
  ScanOptions,
} from "sutra-wasm";

/** Lines per import request, so the progress bar moves and no request is huge. */
export const IMPORT_LINES_PER_REQUEST = 500;

type RawConcept = Omit<Concept, "embedding"> & { embedding: number[] | null };

function toConcept(raw: RawConcept): Concept {
  return { ...raw, embedding: raw.embedding ? Float32Array.from(raw.embedding) : null };
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined) as [string, string | number | boolean][];
  if (entries.length === 0) return "";
  return "?" + entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&");
}

export class HttpBackend implements Backend {
  readonly mode = "server" as const;
  readonly description: string;
  private readonly base: string;
  private readonly token: string | null;

  constructor(baseUrl: string, token: string | null) {
    this.base = baseUrl.replace(/\/+$/, "");
    this.token = token && token.length > 0 ? token : null;
    this.description = `Sutra server at ${this.base}`;
  }

  private async request<T>(method: string, path: string, body?: unknown, raw?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (raw !== undefined) {
      headers["content-type"] = "application/x-ndjson";
      payload = raw;
    } else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { method, headers, body: payload ?? null });
    } catch (e) {
      throw new BackendError("unreachable", `cannot reach ${this.base}: ${asBackendError(e).message}`);
    }
    const text = await response.text();
    if (!response.ok) {
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string; field?: string; limit?: number } };
        throw new BackendError(
          parsed.error?.code ?? `http_${response.status}`,
          parsed.error?.message ?? text,
          parsed.error?.field ?? null,
          parsed.error?.limit ?? null,
        );
      } catch (e) {
        if (e instanceof BackendError) throw e;
        throw new BackendError(`http_${response.status}`, text || response.statusText);
      }
    }
    const type = response.headers.get("content-type") ?? "";
    return (type.startsWith("application/json") ? JSON.parse(text) : text) as T;
  }

  private m(memory: string): string {
    return `/v1/memories/${encodeURIComponent(memory)}`;
  }

  async listMemories(): Promise<MemorySummary[]> {
    const answer = await this.request<{ memories: MemorySummary[] }>("GET", "/v1/memories");
    return answer.memories.map((m) => ({
      name: m.name,
      status: m.status,
      concepts: m.concepts ?? null,
      associations: m.associations ?? null,
      dimension: m.dimension ?? null,
      language: m.language ?? null,
      storage_bytes: m.storage_bytes ?? null,
      ...(m.error ? { error: m.error } : {}),
    }));
  }

  async createMemory(name: string, options: NewMemory): Promise<void> {
    await this.request("POST", "/v1/memories", {
      name,
      ...(options.dimension === null ? {} : { dimension: options.dimension }),
      ...(options.language === null ? {} : { language: options.language }),
      ...(options.indexedKeys.length === 0 ? {} : { indexed_keys: options.indexedKeys }),
    });
  }

  async dropMemory(name: string): Promise<void> {
    await this.request("DELETE", this.m(name));
  }

  async stats(memory: string): Promise<MemoryStats> {
    const s = await this.request<MemoryStats & { storage_bytes?: number }>("GET", this.m(memory));
    return { ...s, storage_bytes: s.storage_bytes ?? null };
  }

  cluster(): Promise<ClusterStatus> {
    return this.request("GET", "/v1/cluster");
  }

  checkpoint(memory: string): Promise<CheckpointReport> {
    return this.request("POST", `${this.m(memory)}/checkpoint`);
  }

  async scan(memory: string, options: ScanOptions): Promise<Page> {
    const page = await this.request<{ concepts: RawConcept[]; next: string | null }>(
      "GET",
      `${this.m(memory)}/concepts${query({
        order: options.order,
        after: options.after,
        limit: options.limit,
        prefix: options.prefix,
        filter: options.filter === undefined ? undefined : JSON.stringify(options.filter),
      })}`,
    );
    return { concepts: page.concepts.map(toConcept), next: page.next };
  }

  async getConcept(memory: string, id: string): Promise<Concept> {
    return toConcept(await this.request<RawConcept>("GET", `${this.m(memory)}/concepts/${encodeURIComponent(id)}`));
  }

  putConcept(memory: string, concept: ConceptInput): Promise<{ id: string; seq: number }> {
    const body = { ...concept, embedding: concept.embedding === undefined ? undefined : Array.from(concept.embedding) };
    return this.request("PUT", `${this.m(memory)}/concepts`, body);
  }

  async deleteConcept(memory: string, id: string): Promise<void> {
    await this.request("DELETE", `${this.m(memory)}/concepts/${encodeURIComponent(id)}`);
  }

  async associations(memory: string, id: string, direction: "out" | "in", validity: Validity = {}): Promise<Association[]> {
    const answer = await this.request<{ associations: Association[] }>(
      "GET",
      `${this.m(memory)}/concepts/${encodeURIComponent(id)}/associations${query({
        direction,
        limit: 1000,
        as_of: validity.as_of,
        include_invalid: validity.include_invalid,
      })}`,
    );
    return answer.associations;
  }

  async putAssociation(memory: string, association: AssociationInput): Promise<void> {
    await this.request("PUT", `${this.m(memory)}/associations`, association);
  }

  async replaceAssociation(memory: string, old: AssociationKey, association: AssociationInput): Promise<void> {
    if (sameAssociation(old, association)) return this.putAssociation(memory, association);
    await this.request("POST", `${this.m(memory)}/batch`, { ops: replacing(old, association) });
  }

  async deleteAssociation(memory: string, key: AssociationKey): Promise<void> {
    await this.request("DELETE", `${this.associationPath(memory, key)}${query({ label: key.label })}`);
  }

  async invalidateAssociation(memory: string, key: AssociationKey, untilMs?: number): Promise<void> {
    await this.request("POST", `${this.associationPath(memory, key)}/invalidate${query({ label: key.label, valid_until_ms: untilMs })}`);
  }

  private associationPath(memory: string, key: AssociationKey): string {
    return `${this.m(memory)}/associations/${encodeURIComponent(key.source)}/${encodeURIComponent(key.target)}/${key.kind}`;
  }

  neighbourhood(memory: string, id: string, options: NeighbourhoodOptions): Promise<Neighbourhood> {
    return this.request(
      "GET",
      `${this.m(memory)}/concepts/${encodeURIComponent(id)}/neighbourhood${query({
        depth: options.depth,
        direction: options.direction,
        kinds: options.kinds?.join(","),
        limit: options.limit,
        as_of: options.as_of,
        include_invalid: options.include_invalid,
      })}`,
    );
  }

  paths(memory: string, q: PathQuery): Promise<PathsResult> {
    return this.request("POST", `${this.m(memory)}/paths`, q);
  }

  async search(memory: string, q: SearchRequest): Promise<Hit[]> {
    return (await this.request<{ hits: Hit[] }>("POST", `${this.m(memory)}/search`, q)).hits;
  }

  async indexMetadata(memory: string, keys: string[]): Promise<void> {
    await this.request("POST", `${this.m(memory)}/batch`, { ops: [{ op: "index_metadata", keys }] });
  }

  exportJsonl(memory: string): Promise<string> {
    return this.request("GET", `${this.m(memory)}/export`);
  }

  async importJsonl(memory: string, text: string, onProgress: (done: number, total: number) => void): Promise<ImportSummary> {
    // The server numbers each request's lines from 1: renumbered to lines of the whole file.
    return importInPieces(
      text,
      IMPORT_LINES_PER_REQUEST,
      async (piece, firstLine) => {
        const part = await this.request<ImportSummary>("POST", `${this.m(memory)}/import`, undefined, piece + "\n");
        return { ...part, rejected: part.rejected.map((r) => ({ line: r.line + firstLine - 1, reason: r.reason })) };
      },
      onProgress,
    );
  }

  async close(): Promise<void> {}
}
