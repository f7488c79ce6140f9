// The HTTP implementation of the data-access interface, against a real Sutra server.
import { beforeAll, describe, expect, inject, it } from "vitest";
import { BackendError } from "../../src/data/backend";
import { HttpBackend, IMPORT_LINES_PER_REQUEST } from "../../src/data/http";

const backend = () => new HttpBackend(inject("sutraUrl"), null);

describe("HttpBackend", () => {
  const memory = "unit";
  let rain = "";
  let wet = "";

  beforeAll(async () => {
    await backend().createMemory(memory, { dimension: 3, language: null, indexedKeys: [] });
    rain = (await backend().putConcept(memory, { content: "rain", embedding: [1, 0, 0], confidence: 0.9, metadata: { src: "sky" } })).id;
    wet = (await backend().putConcept(memory, { content: "wet streets", embedding: new Float32Array([0.9, 0.1, 0]) })).id;
    await backend().putAssociation(memory, { source: rain, target: wet, kind: "causal", confidence: 0.8 });
  });

  it("lists memories with their counts", async () => {
    const list = await backend().listMemories();
    const unit = list.find((m) => m.name === memory);
    expect(unit).toMatchObject({ name: memory, status: "open", concepts: 2, associations: 1, dimension: 3 });
  });

  it("creates a memory that stems its texts in a language, and shows it", async () => {
    await backend().createMemory("unit-stemmed", { dimension: null, language: "english", indexedKeys: ["user", "year"] });
    await backend().putConcept("unit-stemmed", { content: "wet streets" });
    const listed = (await backend().listMemories()).find((m) => m.name === "unit-stemmed");
    expect(listed).toMatchObject({ language: "english", dimension: null });
    expect((await backend().stats("unit-stemmed")).language).toBe("english");
    expect((await backend().stats("unit-stemmed")).indexed_keys).toEqual(["user", "year"]);
    const hits = await backend().search("unit-stemmed", { text: "street", k: 10 });
    expect(hits.map((h) => h.content)).toEqual(["wet streets"]);
    // The plain memory matches words as written.
    expect(await backend().search(memory, { text: "street", k: 10 })).toEqual([]);
  });

  it("reads concepts back with every field, embeddings as Float32Array", async () => {
    const c = await backend().getConcept(memory, rain);
    expect(c.content).toBe("rain");
    expect(c.embedding).toBeInstanceOf(Float32Array);
    expect(Array.from(c.embedding ?? [])).toEqual([1, 0, 0]);
    expect(c.confidence).toBe(0.9);
    expect(c.metadata).toEqual({ src: "sky" });
  });

  it("scans by prefix and pages", async () => {
    const page = await backend().scan(memory, { prefix: "wet" });
    expect(page.concepts.map((c) => c.content)).toEqual(["wet streets"]);
    const first = await backend().scan(memory, { limit: 1 });
    expect(first.concepts).toHaveLength(1);
    expect(first.next).not.toBeNull();
  });

  it("declares keys for filters, and searches and scans inside a filter", async () => {
    const refused = await backend()
      .search(memory, { vector: [1, 0, 0], k: 2, filter: { src: "sky" } })
      .then(() => null, (e: unknown) => e as BackendError);
    expect([refused?.code, refused?.path, refused?.field]).toEqual(["invalid_argument", 'filter["src"]', "filter"]);
    await backend().indexMetadata(memory, ["src"]);
    expect((await backend().stats(memory)).indexed_keys).toEqual(["src"]);
    const hits = await backend().search(memory, { vector: [0, 1, 0], k: 2, filter: { src: { in: ["sky", "sea"] } } });
    expect(hits.map((h) => h.content)).toEqual(["rain"]);
    const page = await backend().scan(memory, { filter: { src: "sky" } });
    expect(page.concepts.map((c) => c.content)).toEqual(["rain"]);
    expect((await backend().scan(memory, { filter: { src: "sea" } })).concepts).toEqual([]);
    await backend().indexMetadata(memory, []);
    expect((await backend().stats(memory)).indexed_keys).toEqual([]);
  });

  it("lists associations both ways and finds paths and neighbours", async () => {
    expect((await backend().associations(memory, rain, "out")).map((a) => [a.target, a.kind, a.confidence])).toEqual([[wet, "causal", 0.8]]);
    expect((await backend().associations(memory, wet, "in")).map((a) => a.source)).toEqual([rain]);
    const paths = await backend().paths(memory, { from: rain, to: wet, algorithm: "most_confident" });
    expect(paths.paths[0]?.concepts.map((c) => c.content)).toEqual(["rain", "wet streets"]);
    const n = await backend().neighbourhood(memory, rain, { depth: 1 });
    expect(n.concepts.map((c) => c.content).sort()).toEqual(["rain", "wet streets"]);
  });

  it("replaces an association in place, or under a new label in one write", async () => {
    const m = "unit-edit";
    await backend().createMemory(m, { dimension: null, language: null, indexedKeys: [] });
    const alice = (await backend().putConcept(m, { content: "alice" })).id;
    const acme = (await backend().putConcept(m, { content: "acme" })).id;
    const key = { source: alice, target: acme, kind: "semantic" as const, label: "works_at" };
    await backend().putAssociation(m, { ...key, confidence: 0.5, valid_from_ms: 1000 });
    // The same key: replaced in place.
    await backend().replaceAssociation(m, key, { ...key, confidence: 0.7, metadata: { doc: "hr" }, valid_from_ms: 1000 });
    const listed = async () => (await backend().associations(m, alice, "out", { include_invalid: true })).map((a) => [a.label, a.confidence, a.metadata, a.valid_from_ms]);
    expect(await listed()).toEqual([["works_at", 0.7, { doc: "hr" }, 1000]]);
    // A new label: the old fact goes in the same batch.
    await backend().replaceAssociation(m, key, { ...key, label: "founded", confidence: 0.9, valid_from_ms: 1000 });
    expect(await listed()).toEqual([["founded", 0.9, {}, 1000]]);
    // Refused whole: the old one stays when the new one is bad.
    const refused = await backend()
      .replaceAssociation(m, { ...key, label: "founded" }, { ...key, label: "led", confidence: 2 })
      .then(() => null, (e: unknown) => e as BackendError);
    expect([refused?.code, refused?.field]).toEqual(["invalid_argument", "confidence"]);
    expect(await listed()).toEqual([["founded", 0.9, {}, 1000]]);
  });

  it("searches by vector and by concept", async () => {
    const hits = await backend().search(memory, { vector: [1, 0, 0], k: 2 });
    expect(hits.map((h) => h.content)).toEqual(["rain", "wet streets"]);
    const similar = await backend().search(memory, { id: rain, k: 5 });
    expect(similar.map((h) => h.id)).toEqual([wet]);
  });

  it("turns server errors into BackendErrors that name the field", async () => {
    const bad = await backend()
      .putConcept(memory, { content: "x", confidence: 1.5 })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BackendError);
    expect((bad as BackendError).code).toBe("invalid_argument");
    expect((bad as BackendError).field).toBe("confidence");
    expect((bad as BackendError).path).toBe("confidence");
    const long = await backend()
      .putConcept(memory, { content: "x".repeat(300_000) })
      .catch((e: unknown) => e as BackendError);
    expect(long).toMatchObject({ code: "limit_exceeded", path: "content", limit: 262_144 });
    const dim = await backend()
      .putConcept(memory, { content: "y", embedding: [1, 2] })
      .catch((e: unknown) => e as BackendError);
    expect(dim).toMatchObject({ code: "dimension_mismatch", field: "embedding" });
    const missing = await backend()
      .getConcept(memory, "ffffffffffffffffffffffffffffffff")
      .catch((e: unknown) => e as BackendError);
    expect(missing).toMatchObject({ code: "concept_not_found" });
    const gone = await new HttpBackend("http://127.0.0.1:9", null).listMemories().catch((e: unknown) => e as BackendError);
    expect(gone).toMatchObject({ code: "unreachable" });
  });

  it("imports in pieces with progress, renumbering rejected lines, and exports the same", async () => {
    const lines = [JSON.stringify({ type: "memory", format: 5, dimension: 3, language: null, indexed_keys: ["n"] })];
    for (let i = 0; i < IMPORT_LINES_PER_REQUEST + 20; i++) {
      lines.push(JSON.stringify({ type: "concept", id: (i + 1).toString(16).padStart(32, "0"), content: `line ${i}`, embedding: null, strength: 1, confidence: 1, metadata: i % 2 ? {} : { n: i, tags: ["a"] }, created_ms: 5, updated_ms: 6 }));
    }
    lines.push("garbage");
    await backend().createMemory("unit-import", { dimension: null, language: null, indexedKeys: [] });
    const progress: [number, number][] = [];
    const summary = await backend().importJsonl("unit-import", lines.join("\n") + "\n", (d, t) => progress.push([d, t]));
    expect(summary.concepts).toBe(IMPORT_LINES_PER_REQUEST + 20);
    expect(summary.rejected).toEqual([{ line: lines.length, reason: expect.stringContaining("expected") }]);
    expect(progress[0]).toEqual([0, lines.length]);
    expect(progress.at(-1)).toEqual([lines.length, lines.length]);
    const exported = await backend().exportJsonl("unit-import");
    const parse = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l) as unknown);
    expect(parse(exported)).toEqual(parse(lines.slice(0, -1).join("\n")));
  });

  it("checkpoints, reports stats, and drops", async () => {
    const report = await backend().checkpoint(memory);
    expect(report.seq).toBeGreaterThan(0);
    const stats = await backend().stats(memory);
    expect(stats).toMatchObject({ concepts: 2, associations: 1, checkpoint_seq: report.seq });
    expect(stats.storage_bytes).toBeGreaterThan(0);
    await backend().dropMemory("unit-import");
    expect((await backend().listMemories()).some((m) => m.name === "unit-import")).toBe(false);
  });
});
