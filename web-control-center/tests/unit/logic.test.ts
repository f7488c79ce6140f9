// The view logic that is not trivial: parsing what people type, naming the field an error is
// about, the reasoning trail, and the graph elements.
import { describe, expect, it } from "vitest";
import { BackendError, formField } from "../../src/data/backend";
import { collapse, edgeShown, edgeWidth, emptyElements, labelsOf, merge, neighbours, pathElements, startingPoint, trailColour, without, TRAIL_COLOURS } from "../../src/logic/graph";
import { formatBytes, stepsText, trailText } from "../../src/logic/trail";
import { f32Text, formatMetadata, isConceptId, parseMetadata, parseVector, vectorText } from "../../src/logic/vector";
import { holdsAt, parseTime, timeInputText, validityText } from "../../src/logic/validity";
import { parseFilter, parseKeys } from "../../src/logic/filter";
import { parseRoute, ROUTES } from "../../src/App";
import { link } from "../../src/components/common";
import { importInPieces, REJECTED_KEPT, type ImportSummary } from "sutra-wasm";
import type { Path } from "sutra-wasm";

describe("parsing input", () => {
  it("reads pasted vectors in the usual shapes", () => {
    expect(parseVector("[0.1, 0.2, 0.3]")).toEqual({ ok: true, vector: [0.1, 0.2, 0.3] });
    expect(parseVector("1 2\t3")).toEqual({ ok: true, vector: [1, 2, 3] });
    expect(parseVector("1, two")).toEqual({ ok: false, error: 'value 2 ("two") is not a finite number' });
    expect(parseVector("  ").ok).toBe(false);
    expect(parseVector("1, Infinity").ok).toBe(false);
  });

  it("reads filters: clauses by ; or lines, values typed, a | b for any of them", () => {
    expect(parseFilter("  ")).toEqual({ ok: true, filter: null });
    expect(parseFilter("user = alice; year = 2023 | 2024\nok=true\ncode = \"007\"")).toEqual({
      ok: true,
      filter: { user: "alice", year: { in: [2023, 2024] }, ok: true, code: "007" },
    });
    expect(parseFilter("alice")).toEqual({ ok: false, error: "clause 1: write key = value (or key = a | b)" });
    expect(parseFilter("a = 1; a = 2")).toEqual({ ok: false, error: "clause 2: a is named twice; give its values as a | b" });
    expect(parseFilter('tags = ["x"]')).toEqual({ ok: false, error: "clause 1: a value is a string, a number or true/false" });
    expect(parseFilter("user =")).toEqual({ ok: false, error: "clause 1: a value is a string, a number or true/false" });
    expect(parseKeys(" user, year  user\tlang,")).toEqual(["user", "year", "lang"]);
  });

  it("reads metadata lines with typed values", () => {
    expect(parseMetadata("a=1\n\n b = two=2 ")).toEqual({ ok: true, metadata: { a: 1, b: "two=2" } });
    expect(parseMetadata('year=2024\nscore=-0.5\nok=true\ntags=["run", "ran"]\ncode="007"\nname=Ada')).toEqual({
      ok: true,
      metadata: { year: 2024, score: -0.5, ok: true, tags: ["run", "ran"], code: "007", name: "Ada" },
    });
    expect(parseMetadata("novalue")).toEqual({ ok: false, error: "line 1: write key=value" });
    expect(parseMetadata("x=1\ntags=[1, 2]")).toEqual({ ok: false, error: "line 2: a list holds strings only" });
    expect(parseMetadata("tags=[oops")).toEqual({ ok: false, error: 'line 1: [oops is not a JSON list or string; write ["a", "b"] or "text"' });
  });

  it("writes metadata back as text that reads back the same", () => {
    const metadata = { code: "007", flag: "true", n: 7, on: false, tags: ["a b", "c"], text: "plain", spaced: " x", multi: "a\nb" };
    const text = formatMetadata(metadata);
    expect(text).toBe('code="007"\nflag="true"\nn=7\non=false\ntags=["a b","c"]\ntext=plain\nspaced=" x"\nmulti="a\\nb"');
    expect(parseMetadata(text)).toEqual({ ok: true, metadata });
  });

  it("shows 32-bit floats in their shortest form", () => {
    expect(f32Text(Math.fround(0.9))).toBe("0.9");
    expect(f32Text(Math.fround(0.1))).toBe("0.1");
    expect(vectorText(new Float32Array([0.9, 0.1, 0]))).toBe("0.9, 0.1, 0");
    expect(f32Text(1 / 3)).toBe("0.33333334");
    expect(Math.fround(Number(f32Text(1 / 3)))).toBe(Math.fround(1 / 3));
  });

  it("recognises concept ids", () => {
    expect(isConceptId("0123456789abcdef0123456789abcdef")).toBe(true);
    expect(isConceptId("0123456789ABCDEF0123456789abcdef")).toBe(false);
    expect(isConceptId("rain")).toBe(false);
  });
});

describe("which form input an engine error is about", () => {
  it.each([
    ["confidence", "confidence"],
    ["ops[0].confidence", "confidence"],
    ["ops[12].embedding[2]", "embedding"],
    ["content", "content"],
    ["ops[1].metadata.k", "metadata"],
    ['metadata["year"]', "metadata"],
    ["max_depth", "max_depth"],
    ["target", "target"],
    [null, null],
  ])("%s", (path, field) => {
    expect(formField(path)).toBe(field);
  });
  it("takes the field the engine sent, not the message's words", () => {
    const error = new BackendError("invalid_argument", "invalid confidence: must be from 0 to 1, not 1.5", "confidence");
    expect(error.field).toBe("confidence");
    expect(new BackendError("invalid_argument", "invalid confidence: must be from 0 to 1, not 1.5").field).toBeNull();
  });
});

const path: Path = {
  concepts: [
    { id: "a".repeat(32), content: "rain" },
    { id: "b".repeat(32), content: "wet streets" },
    { id: "c".repeat(32), content: null },
  ],
  steps: [
    { from: "a".repeat(32), to: "b".repeat(32), kind: "causal", label: "", confidence: 0.9, weight: 1, reversed: false },
    { from: "b".repeat(32), to: "c".repeat(32), kind: "semantic", label: "soaks", confidence: 0.8000000119, weight: 1, reversed: true },
  ],
  confidence: 0.72,
};

describe("the reasoning trail", () => {
  it("reads concept, kind and confidence, hop by hop, direction included", () => {
    expect(trailText(path)).toBe("rain —causal 0.9→ wet streets ←semantic:soaks 0.8— cccccccc");
  });

  it("reads a search hit's trail with the contents it knows", () => {
    const known = new Map([["a".repeat(32), "rain"], ["b".repeat(32), "wet streets"]]);
    expect(stepsText(path.steps, (id) => known.get(id))).toBe("rain —causal 0.9→ wet streets ←semantic:soaks 0.8— cccccccc");
    expect(stepsText([], (id) => known.get(id))).toBe("");
  });

  it("formats sizes", () => {
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
  });
});

describe("graph elements", () => {
  it("colours each trail, marks from and to, and widens confident edges", () => {
    const other: Path = {
      concepts: [path.concepts[0]!, { id: "d".repeat(32), content: "flood" }, path.concepts[2]!],
      steps: [
        { from: "a".repeat(32), to: "d".repeat(32), kind: "causal", label: "", confidence: 0.5, weight: 1, reversed: false },
        { from: "d".repeat(32), to: "c".repeat(32), kind: "causal", label: "", confidence: 0.5, weight: 1, reversed: false },
      ],
      confidence: 0.25,
    };
    const elements = pathElements([path, other, { ...path, confidence: 0.7 }]);
    expect(elements.nodes.size).toBe(4);
    const reversed = [...elements.edges.values()].find((e) => e.kind === "semantic");
    expect(reversed).toMatchObject({ source: "c".repeat(32), target: "b".repeat(32), colour: trailColour(0), caption: "semantic:soaks", trails: [0, 2] });
    expect([...elements.edges.values()].filter((e) => e.trails?.includes(1)).map((e) => e.colour)).toEqual([trailColour(1), trailColour(1)]);
    expect(trailColour(0)).not.toBe(trailColour(1));
    expect(trailColour(TRAIL_COLOURS.length)).toBe(trailColour(0));
    expect(elements.nodes.get("a".repeat(32))?.role).toBe("from");
    expect(elements.nodes.get("c".repeat(32))?.role).toBe("to");
    expect(elements.nodes.get("d".repeat(32))?.role).toBeUndefined();
    expect(edgeWidth(0)).toBe(1);
    expect(edgeWidth(1)).toBe(8);
    expect(edgeWidth(0.9)).toBeGreaterThan(edgeWidth(0.2));
  });

  it("expands a neighbourhood without duplicating concepts", () => {
    const elements = emptyElements();
    const hood = {
      concepts: [
        { id: "a", hops: 0, content: "rain", strength: 1, confidence: 1 },
        { id: "b", hops: 1, content: "wet", strength: 1, confidence: 1 },
      ],
      associations: [
        { source: "a", target: "b", kind: "causal" as const, label: "", confidence: 0.5, weight: 1, metadata: {}, valid_from_ms: null, valid_until_ms: null, created_ms: 0, updated_ms: 0 },
        { source: "a", target: "b", kind: "causal" as const, label: "wets", confidence: 0.5, weight: 1, metadata: {}, valid_from_ms: null, valid_until_ms: null, created_ms: 0, updated_ms: 0 },
      ],
      truncated: false,
    };
    expect(merge(elements, hood, "a")).toBe(2);
    expect(merge(elements, hood)).toBe(0);
    expect(elements.nodes.get("a")?.centre).toBe(true);
    expect([...elements.edges.values()].map((e) => e.caption)).toEqual(["causal", "causal:wets"]);
    expect(labelsOf(elements)).toEqual(["", "wets"]);
  });

  it("collapses the concepts hanging from one, never the centre or one linked elsewhere", () => {
    const association = (source: string, target: string) => ({ source, target, kind: "causal" as const, label: "", confidence: 0.5, weight: 1, metadata: {}, valid_from_ms: null, valid_until_ms: null, created_ms: 0, updated_ms: 0 });
    const concept = (id: string) => ({ id, hops: 1, content: id, strength: 1, confidence: 1 });
    const elements = emptyElements();
    // c is the centre; b hangs from a only; d is linked to a and c; e hangs from b.
    merge(elements, { concepts: ["a", "b", "c", "d", "e"].map(concept), associations: [association("a", "b"), association("c", "a"), association("a", "d"), association("d", "c"), association("b", "e")], truncated: false }, "c");
    expect(collapse(elements, "a")).toEqual({ nodes: [], edges: [] });
    const fromB = collapse(elements, "b");
    expect(fromB.nodes).toEqual(["e"]);
    const smaller = without(elements, fromB);
    expect([...smaller.nodes.keys()]).toEqual(["a", "b", "c", "d"]);
    expect(elements.nodes.size).toBe(5);
    expect(collapse(smaller, "a")).toEqual({ nodes: ["b"], edges: [[...smaller.edges.values()].find((e) => e.target === "b")!.id] });
    expect(collapse(smaller, "d").nodes).toEqual([]);
  });

  it("starts a new concept next to the placed ones it is linked to, the same spot every time", () => {
    const linked = neighbours(pathElements([path]));
    expect(linked.get("b".repeat(32))).toEqual(["a".repeat(32), "c".repeat(32)]);
    const placed = new Map([["a".repeat(32), { x: 100, y: 100 }]]);
    const near = startingPoint("b".repeat(32), linked.get("b".repeat(32))!, placed, 10);
    expect(Math.hypot(near.x - 100, near.y - 100)).toBeLessThanOrEqual(5);
    expect(startingPoint("b".repeat(32), linked.get("b".repeat(32))!, placed, 10)).toEqual(near);
    const far = startingPoint("c".repeat(32), linked.get("c".repeat(32))!, placed, 10);
    expect(Math.hypot(far.x, far.y)).toBeGreaterThanOrEqual(5);
    expect(Math.hypot(far.x, far.y)).toBeLessThanOrEqual(15);
  });

  it("filters associations by kind, label and confidence", () => {
    const [causal, semantic] = [...pathElements([path]).edges.values()];
    const all = { kinds: new Set(["causal", "semantic"]), labels: null, minConfidence: 0 };
    expect(edgeShown(causal!, all)).toBe(true);
    expect(edgeShown(causal!, { ...all, kinds: new Set(["semantic"]) })).toBe(false);
    expect(edgeShown(semantic!, { ...all, labels: new Set([""]) })).toBe(false);
    expect(edgeShown(causal!, { ...all, labels: new Set([""]) })).toBe(true);
    expect(edgeShown(causal!, { ...all, minConfidence: 0.85 })).toBe(true);
    expect(edgeShown(semantic!, { ...all, minConfidence: 0.85 })).toBe(false);
  });
});

describe("routes", () => {
  it("reads the hash", () => {
    expect(parseRoute("#/")).toEqual({ memory: null, view: "memories" });
    expect(parseRoute("#/m/notes/concept/abc")).toEqual({ memory: "notes", view: "concept", id: "abc" });
    expect(parseRoute("#/m/notes")).toEqual({ memory: "notes", view: "overview" });
  });

  it("has each view once in its table, and every view's link leads back to it", () => {
    const views = ROUTES.map((r) => r.view);
    expect(new Set(views).size).toBe(views.length);
    expect(ROUTES.filter((r) => r.label).map((r) => r.label)).toEqual([
      "Overview",
      "Concepts",
      "Graph",
      "Paths",
      "Search",
      "Import / export",
    ]);
    for (const view of views) {
      expect(parseRoute(link("a memory/with slash", view))).toEqual({ memory: "a memory/with slash", view });
    }
  });
});

describe("the one chunked import", () => {
  const summary = (concepts: number, rejected: { line: number; reason: string }[] = []): ImportSummary => ({
    concepts,
    associations: 0,
    rejected_count: rejected.length,
    rejected,
  });

  it("sends pieces in order with their first line, adds the answers up and reports progress", async () => {
    const text = Array.from({ length: 7 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
    const sent: [string, number][] = [];
    const progress: [number, number][] = [];
    const total = await importInPieces(
      text,
      3,
      async (piece, firstLine) => {
        sent.push([piece, firstLine]);
        const lines = piece.split("\n");
        // The last line of each piece is "rejected", numbered in the whole text.
        return summary(lines.length - 1, [{ line: firstLine + lines.length - 1, reason: "no" }]);
      },
      (done, all) => progress.push([done, all]),
    );
    expect(sent).toEqual([
      ["line 1\nline 2\nline 3", 1],
      ["line 4\nline 5\nline 6", 4],
      ["line 7", 7],
    ]);
    expect(progress).toEqual([
      [0, 7],
      [3, 7],
      [6, 7],
      [7, 7],
    ]);
    expect(total).toEqual({
      concepts: 4,
      associations: 0,
      rejected_count: 3,
      rejected: [
        { line: 3, reason: "no" },
        { line: 6, reason: "no" },
        { line: 7, reason: "no" },
      ],
    });
  });

  it("keeps the first rejected lines and counts the rest, and refuses a piece size that is not one", async () => {
    const text = Array.from({ length: 250 }, () => "x").join("\n");
    const total = await importInPieces(text, 50, async (piece, firstLine) =>
      summary(
        0,
        piece.split("\n").map((_, i) => ({ line: firstLine + i, reason: "bad" })),
      ),
    );
    expect(total.rejected_count).toBe(250);
    expect(total.rejected.length).toBe(REJECTED_KEPT);
    expect(total.rejected.at(-1)).toEqual({ line: REJECTED_KEPT, reason: "bad" });
    await expect(importInPieces("x", 0, async () => summary(0))).rejects.toThrow(RangeError);
    await expect(importInPieces("", 10, async () => summary(1))).resolves.toEqual(summary(0));
  });
});

describe("validity", () => {
  const at = (text: string) => new Date(text).getTime();
  it("reads datetime inputs as local time and refuses what is not one", () => {
    expect(parseTime("")).toEqual({ ok: true, ms: undefined });
    expect(parseTime("2024-05-01T09:30")).toEqual({ ok: true, ms: at("2024-05-01T09:30") });
    expect(parseTime("yesterday")).toEqual({ ok: false, error: "yesterday is not a date and time (2024-05-01T09:30)" });
  });

  it("writes a time back as the datetime input holds it, to the minute", () => {
    expect(timeInputText(at("2024-05-01T09:30"))).toBe("2024-05-01T09:30");
    expect(timeInputText(at("2024-05-01T09:30:59.999"))).toBe("2024-05-01T09:30");
    expect(parseTime(timeInputText(at("1999-12-31T23:59")))).toEqual({ ok: true, ms: at("1999-12-31T23:59") });
  });

  it("says an interval in words, and whether it holds now (the end excluded)", () => {
    const from = at("2020-01-01T00:00");
    const until = at("2021-01-01T00:00");
    expect(validityText({ valid_from_ms: null, valid_until_ms: null }, 0)).toBe("always");
    expect(validityText({ valid_from_ms: from, valid_until_ms: null }, until)).toBe("since 2020-01-01 00:00");
    expect(validityText({ valid_from_ms: from, valid_until_ms: until }, until)).toBe("2020-01-01 00:00 – 2021-01-01 00:00 (no longer valid)");
    expect(validityText({ valid_from_ms: from, valid_until_ms: null }, from - 1)).toBe("since 2020-01-01 00:00 (not yet valid)");
    expect(validityText({ valid_from_ms: null, valid_until_ms: until }, from)).toBe("until 2021-01-01 00:00");
    expect(holdsAt({ valid_from_ms: from, valid_until_ms: until }, from)).toBe(true);
    expect(holdsAt({ valid_from_ms: from, valid_until_ms: until }, until)).toBe(false);
  });
});
