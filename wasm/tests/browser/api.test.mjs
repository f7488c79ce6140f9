// The JavaScript API in headless Chromium: durable across reloads, one owner per memory, typed
// errors, group commit under concurrent writes, and export/import round trips with the server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startBrowser, startServer, startSite, testPage } from "./harness.mjs";

let site;
let browser;

before(async () => {
  site = await startSite();
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test("writes survive a page reload, every field intact", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const ids = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("persist", { dimension: 3 });
    const a = await mem.putConcept({ content: "alpha", embedding: new Float32Array([1, 0, 0]), strength: 2, confidence: 0.5, metadata: { k: "v", n: -3, x: 0.25, on: true, tags: ["a", "b"] } });
    const b = await mem.putConcept({ content: "beta", embedding: [0, 1, 0] });
    await mem.putAssociation({ source: a.id, target: b.id, kind: "causal", confidence: 0.75 });
    const batch = await mem.batch([{ op: "put_concept", content: "gamma", embedding: [0, 0, 1] }]);
    await mem.putAssociation({ source: b.id, target: batch.ids[0], kind: "temporal", confidence: 0.5 });
    await mem.checkpoint();
    await mem.putConcept({ content: "after the checkpoint" });
    return { a: a.id, b: b.id, c: batch.ids[0] };
  });
  // No close: the reload kills the worker as a crash would.
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const seen = await page.evaluate(async (ids) => {
    const mem = await sutra.Sutra.open("persist");
    const a = await mem.getConcept(ids.a);
    const out = {
      a: { content: a.content, embedding: Array.from(a.embedding), isF32: a.embedding instanceof Float32Array, strength: a.strength, confidence: a.confidence, metadata: a.metadata },
      stats: await mem.stats(),
      recovery: mem.recovery,
      out: await mem.associations(ids.a, { direction: "out" }),
      path: await mem.paths({ from: ids.a, to: ids.c, algorithm: "most_confident" }),
      hits: await mem.search({ vector: new Float32Array([1, 0, 0]), k: 2 }),
      effort: await mem.search({ vector: [1, 0, 0], k: 2, ef: 64 }),
      words: await mem.search({ text: "Checkpoint" }),
      fused: await mem.search({ text: "beta", vector: [1, 0, 0], k: 2 }),
      expanded: await mem.search({ text: "alpha", expand: { depth: 2, direction: "forward" } }),
      diverse: await mem.search({ vector: [1, 0, 0], k: 2, mmr: { lambda: 1 } }),
      scan: (await mem.scan({ prefix: "after" })).concepts.map((c) => c.content),
    };
    await mem.close();
    return out;
  }, ids);
  assert.deepEqual(seen.a, { content: "alpha", embedding: [1, 0, 0], isF32: true, strength: 2, confidence: 0.5, metadata: { k: "v", n: -3, on: true, tags: ["a", "b"], x: 0.25 } });
  assert.equal(seen.stats.concepts, 4);
  assert.equal(seen.stats.associations, 2);
  assert.equal(seen.stats.dimension, 3);
  assert.ok(seen.stats.storage.usage > 0, "storage estimate reported");
  assert.equal(seen.recovery.snapshot_seq, 6, "the checkpoint was loaded (the dimension is record 1)");
  assert.equal(seen.recovery.records_replayed, 1, "and the write after it replayed");
  assert.equal(seen.recovery.rewritten_from, null, "files of today's format are kept as they are");
  assert.deepEqual(seen.out.map((x) => [x.target, x.kind, x.confidence]), [[ids.b, "causal", 0.75]]);
  assert.deepEqual(seen.path.paths[0].concepts.map((c) => c.content), ["alpha", "beta", "gamma"]);
  assert.equal(seen.path.paths[0].confidence, 0.375);
  assert.equal(seen.hits[0].id, ids.a);
  assert.equal(seen.hits[0].score, 1);
  assert.deepEqual(seen.effort, seen.hits, "a search effort per query, the same answers on four vectors");
  assert.deepEqual(seen.words.map((h) => [h.content, h.found_by.map((f) => [f.retriever, f.rank])]), [["after the checkpoint", [["text", 1]]]]);
  // Words and a vector: alpha is the vector's first, beta the words' first and somewhere in
  // the vector's list too, so beta's fused score (1/61 + 1/(60 + its vector rank)) beats
  // alpha's (1/61).
  assert.deepEqual(seen.fused.map((h) => [h.content, h.found_by.map((f) => f.retriever)]), [["beta", ["text", "vector"]], ["alpha", ["vector"]]]);
  assert.ok(Math.abs(seen.fused[1].score - 1 / 61) < 1e-7, String(seen.fused[1].score));
  // Expanded from alpha along its associations: beta at 0.75 of alpha's score, gamma through
  // beta at 0.75 × 0.5, each with its trail.
  assert.deepEqual(
    seen.expanded.map((h) => [h.content, h.found_by.map((f) => [f.retriever, f.rank, (f.trail ?? []).map((s) => [s.from, s.to, s.kind, s.confidence])])]),
    [
      ["alpha", [["text", 1, []]]],
      ["beta", [["graph", 1, [[ids.a, ids.b, "causal", 0.75]]]]],
      ["gamma", [["graph", 2, [[ids.a, ids.b, "causal", 0.75], [ids.b, ids.c, "temporal", 0.5]]]]],
    ],
  );
  assert.ok(Math.abs(seen.expanded[2].score - seen.expanded[0].score * 0.375) < 1e-6, JSON.stringify(seen.expanded));
  assert.deepEqual(seen.diverse.map((h) => h.id), seen.hits.map((h) => h.id), "λ 1 is relevance alone");
  assert.deepEqual(seen.scan, ["after the checkpoint"]);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("labelled facts are distinct, invalidated not deleted, and survive a reload", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const ids = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("facts");
    const alice = await mem.putConcept({ content: "alice" });
    const acme = await mem.putConcept({ content: "acme" });
    await mem.putAssociation({ source: alice.id, target: acme.id, kind: "semantic", label: "works_at", metadata: { doc: "hr.pdf" }, valid_from_ms: 1000 });
    await mem.batch([
      { op: "put_association", source: alice.id, target: acme.id, kind: "semantic", label: "founded" },
      { op: "invalidate_association", source: alice.id, target: acme.id, kind: "semantic", label: "works_at", valid_until_ms: 2000 },
    ]);
    return { alice: alice.id, acme: acme.id };
  });
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const seen = await page.evaluate(async (ids) => {
    const mem = await sutra.Sutra.open("facts");
    const labels = async (options) => (await mem.associations(ids.alice, options)).map((a) => [a.label, a.valid_from_ms, a.valid_until_ms, a.metadata]);
    const out = {
      now: await labels({}),
      then: await labels({ as_of: 1500 }),
      all: await labels({ include_invalid: true }),
      onlyWorksAt: await labels({ include_invalid: true, labels: ["works_at", "married_to"] }),
      trail: (await mem.paths({ from: ids.alice, to: ids.acme, algorithm: "k_best", k: 3, include_invalid: true })).paths.map((p) => p.steps[0].label),
      stats: await mem.stats(),
    };
    await mem.invalidateAssociation({ source: ids.alice, target: ids.acme, kind: "semantic", label: "founded" }, 1);
    out.afterInvalidate = await labels({});
    out.beforeStart = await mem.invalidateAssociation({ source: ids.alice, target: ids.acme, kind: "semantic", label: "works_at" }, 999).then(
      () => "no error",
      (e) => [e.code, e.field, e.message],
    );
    await mem.deleteAssociation(ids.alice, ids.acme, "semantic", "works_at");
    out.afterDelete = await labels({ include_invalid: true });
    try {
      await mem.putAssociation({ source: ids.alice, target: ids.acme, kind: "causal", valid_from_ms: 10, valid_until_ms: 9 });
    } catch (e) {
      out.error = [e.code, e.field, e.message];
    }
    await mem.close();
    return out;
  }, ids);
  assert.deepEqual(seen.now, [["founded", null, null, {}]]);
  assert.deepEqual(seen.then, [["founded", null, null, {}], ["works_at", 1000, 2000, { doc: "hr.pdf" }]]);
  assert.deepEqual(seen.all, seen.then);
  assert.deepEqual(seen.onlyWorksAt, [["works_at", 1000, 2000, { doc: "hr.pdf" }]]);
  assert.deepEqual(seen.trail, ["founded", "works_at"]);
  assert.equal(seen.stats.labels, 2);
  assert.deepEqual(seen.afterInvalidate, []);
  assert.deepEqual(seen.beforeStart, ["invalid_argument", "valid_until_ms", "invalid valid_until_ms: 999 (1970-01-01T00:00:00.999Z) is before the association's valid_from_ms 1000 (1970-01-01T00:00:01Z)"]);
  assert.deepEqual(seen.afterDelete, [["founded", null, 1, {}]]);
  assert.deepEqual(seen.error, ["invalid_argument", "valid_until_ms", "invalid valid_until_ms: 9 (1970-01-01T00:00:00.009Z) is before valid_from_ms 10 (1970-01-01T00:00:00.010Z)"]);
  await context.close();
});

test("a memory opened with a language stems its texts and queries, and keeps it", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const first = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("stemmed", { language: "english" });
    await mem.putConcept({ content: "She was running home" });
    await mem.putConcept({ content: "he runs daily" });
    await mem.putConcept({ content: "a runner's shoes" });
    const words = async (text) => (await mem.search({ text })).map((h) => h.content).sort();
    const out = { run: await words("run"), stats: (await mem.stats()).language };
    await mem.close();
    return out;
  });
  assert.deepEqual(first.run, ["She was running home", "he runs daily"]);
  assert.equal(first.stats, "english");
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const again = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("stemmed");
    const out = {
      run: (await mem.search({ text: "RUNNING" })).length,
      language: (await mem.stats()).language,
    };
    await mem.close();
    const other = await sutra.Sutra.open("stemmed", { language: "french" }).then(
      () => "opened",
      (e) => [e.code, e.message],
    );
    const unknown = await sutra.Sutra.open("klingon", { language: "klingon" }).then(
      () => "opened",
      (e) => [e.code, e.field, e.message.slice(0, 60)],
    );
    return { ...out, other, unknown };
  });
  assert.equal(again.run, 2, "the language is kept: a reopen stems without being told");
  assert.equal(again.language, "english");
  assert.deepEqual(again.other, ["conflict", "conflict: this memory stems its texts in english, not french: a memory's language is chosen once"]);
  assert.deepEqual(again.unknown, ["invalid_argument", "language", "invalid language: \"klingon\" is not a stemming language: use "]);
  await context.close();
});

test("filters on declared keys keep searches and scans to one user's concepts, after a reload too", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const first = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("filtered", { dimension: 2 });
    const refused = await mem.search({ vector: [1, 0], filter: { user: "alice" } }).then(
      () => "answered",
      (e) => [e.code, e.field],
    );
    const ops = [{ op: "index_metadata", keys: ["user", "year"] }];
    for (let i = 0; i < 30; i++) {
      const alice = i % 3 === 0;
      ops.push({
        op: "put_concept",
        content: `note ${i} about rain`,
        embedding: alice ? [0, 1] : [1, 0.01 * i],
        metadata: { user: alice ? "alice" : "bob", year: 2020 + (i % 5) },
      });
    }
    await mem.batch(ops);
    const out = {
      refused,
      keys: (await mem.stats()).indexed_keys,
      near: (await mem.search({ vector: [1, 0], k: 5, filter: { user: "alice" } })).map((h) => Number(h.content.split(" ")[1]) % 3),
      words: (await mem.search({ text: "rain", k: 50, filter: { user: "alice", year: { in: [2020, 2023] } } })).map((h) => h.content).sort(),
      scan: (await mem.scan({ filter: { user: "alice" }, limit: 4 })),
    };
    await mem.close();
    return out;
  });
  assert.deepEqual(first.refused, ["invalid_argument", "filter[\"user\"]"]);
  assert.deepEqual(first.keys, ["user", "year"]);
  assert.deepEqual(first.near, [0, 0, 0, 0, 0], "alice's notes are those of a multiple of 3");
  // alice's are 0, 3, ..., 27: years 2020 + (i % 5) in {2020, 2023} for i = 0, 3, 15, 18.
  assert.deepEqual(first.words, ["note 0 about rain", "note 15 about rain", "note 18 about rain", "note 3 about rain"]);
  assert.equal(first.scan.concepts.length, 4);
  assert.ok(first.scan.concepts.every((c) => c.metadata.user === "alice"));
  assert.notEqual(first.scan.next, null, "ten of alice's, four a page");
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const again = await page.evaluate(async () => {
    // Opened with another key: added to those declared, none taken away.
    const mem = await sutra.Sutra.open("filtered", { indexedKeys: ["agent"] });
    let after;
    const seen = [];
    do {
      const page = await mem.scan({ filter: { user: "alice" }, limit: 4, after });
      seen.push(...page.concepts.map((c) => c.metadata.user));
      after = page.next ?? undefined;
    } while (after !== undefined);
    const out = { seen, keys: (await mem.stats()).indexed_keys };
    await mem.close();
    // A new memory made with its keys; bad keys refused by field.
    const made = await sutra.Sutra.open("keyed", { indexedKeys: ["user", "user"] });
    const madeKeys = (await made.stats()).indexed_keys;
    await made.close();
    const bad = await sutra.Sutra.open("badkeys", { indexedKeys: [""] }).then(
      () => "opened",
      (e) => [e.code, e.field],
    );
    return { ...out, madeKeys, bad, listed: await sutra.Sutra.list() };
  });
  assert.deepEqual(again.keys, ["agent", "user", "year"]);
  assert.deepEqual(again.seen, Array(10).fill("alice"));
  assert.deepEqual(again.madeKeys, ["user"]);
  assert.deepEqual(again.bad, ["invalid_argument", "indexed_keys[0]"]);
  assert.ok(again.listed.includes("keyed") && !again.listed.includes("badkeys"), "nothing made for bad keys");
  await context.close();
});

test("a second tab gets a clear memory_locked error, and can open once the first closes", async () => {
  const context = await browser.newContext();
  const first = await testPage(context, site);
  const second = await testPage(context, site);
  await first.evaluate(async () => {
    window.mem = await sutra.Sutra.open("shared");
    await window.mem.putConcept({ content: "owned by the first tab" });
  });
  const refused = await second.evaluate(async () => {
    try {
      await sutra.Sutra.open("shared");
      return null;
    } catch (e) {
      return { isSutraError: e instanceof sutra.SutraError, code: e.code, message: e.message };
    }
  });
  assert.ok(refused, "the second tab opened a memory the first one owns");
  assert.equal(refused.isSutraError, true);
  assert.equal(refused.code, "memory_locked");
  assert.match(refused.message, /open in another tab/);
  const dropRefused = await second.evaluate(() => sutra.Sutra.drop("shared").then(() => null, (e) => e.code));
  assert.equal(dropRefused, "memory_locked");
  await first.evaluate(() => window.mem.close());
  const count = await second.evaluate(async () => {
    const mem = await sutra.Sutra.open("shared");
    const n = (await mem.stats()).concepts;
    await mem.close();
    return n;
  });
  assert.equal(count, 1);
  await context.close();
});

test("bad input gets typed errors and the memory keeps working", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const codes = await page.evaluate(async () => {
    const code = (p) => p.then(() => "no error", (e) => `${e instanceof sutra.SutraError}:${e.code}:${e.field ?? ""}:${e.limit ?? ""}`);
    const mem = await sutra.Sutra.open("errors", { dimension: 2 });
    const { id } = await mem.putConcept({ content: "x", embedding: [1, 0] });
    const out = {
      confidence: await code(mem.putConcept({ content: "y", confidence: 2 })),
      dimension: await code(mem.putConcept({ content: "z", embedding: [1, 2, 3] })),
      nan: await code(mem.putConcept({ content: "n", embedding: [NaN, 1] })),
      badId: await code(mem.getConcept("xyz")),
      missing: await code(mem.getConcept("ffffffffffffffffffffffffffffffff")),
      searchDim: await code(mem.search({ vector: [1, 0, 0] })),
      bigK: await code(mem.search({ vector: [1, 0], k: 1001 })),
      bigEf: await code(mem.search({ vector: [1, 0], ef: 4097 })),
      deep: await code(mem.paths({ from: id, to: id, max_depth: 17 })),
      kind: await code(mem.putAssociation({ source: id, target: id, kind: "friendship" })),
      batch: await code(mem.batch([{ op: "put_concept", content: "half" }, { op: "delete_concept", id: "ffffffffffffffffffffffffffffffff" }])),
      name: await code(sutra.Sutra.open("Bad Name")),
    };
    out.afterwards = (await mem.stats()).concepts;
    out.stillWrites = (await mem.putConcept({ content: "still fine" })).seq > 0;
    await mem.close();
    return out;
  });
  // code, then the field the error is about and the limit it passed (as on the server's wire).
  assert.deepEqual(codes, {
    confidence: "true:invalid_argument:confidence:",
    dimension: "true:dimension_mismatch:embedding:2",
    nan: "true:invalid_argument:embedding[0]:",
    badId: "true:invalid_id:id:",
    missing: "true:concept_not_found::",
    searchDim: "true:dimension_mismatch:embedding:2",
    bigK: "true:limit_exceeded:k:1000",
    bigEf: "true:limit_exceeded:ef:4096",
    deep: "true:limit_exceeded:max_depth:16",
    kind: "true:invalid_argument:kind:",
    batch: "true:concept_not_found::",
    name: "true:invalid_name:name:",
    afterwards: 1,
    stillWrites: true,
  });
  await context.close();
});

test("concurrent writes are all acknowledged with distinct sequence numbers", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const result = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("concurrent");
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => mem.putConcept({ content: `item ${i}` })));
    const seqs = new Set(results.map((r) => r.seq));
    const stats = await mem.stats();
    await mem.close();
    return { distinct: seqs.size, concepts: stats.concepts, last: stats.last_seq };
  });
  assert.deepEqual(result, { distinct: 300, concepts: 300, last: 300 });
  await context.close();
});

test("vectors written in a burst are indexed in the background, and searches go on meanwhile", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const result = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("burst", { dimension: 8 });
    const vector = (n) => Float32Array.from({ length: 8 }, (_, i) => Math.sin(n * 0.37 + i * 1.3));
    // Two writes of 5,000 vectors: two drains, where one indexing step (1,024) follows each.
    for (let b = 0; b < 2; b++) {
      await mem.batch(Array.from({ length: 5000 }, (_, j) => ({ op: "put_concept", content: `v ${b * 5000 + j}`, embedding: vector(b * 5000 + j) })));
    }
    const first = await mem.stats();
    // No more writes: the worker keeps indexing between calls, and answers them meanwhile.
    const started = performance.now();
    let stats = first;
    let searches = 0;
    while (stats.vectors.fresh >= 2000 && performance.now() - started < 60000) {
      const hits = await mem.search({ vector: vector(1234), k: 1 });
      if (hits[0]?.content !== "v 1234") throw new Error(`search found ${JSON.stringify(hits)}`);
      searches++;
      stats = await mem.stats();
    }
    await mem.close();
    return { firstFresh: first.vectors.fresh, fresh: stats.vectors.fresh, sealed: stats.vectors.sealed, searches };
  });
  assert.ok(result.fresh < 2000, `the burst was not indexed in the background: ${JSON.stringify(result)}`);
  assert.equal(result.fresh + result.sealed, 10000);
  assert.ok(result.searches > 0, "searches were answered while it indexed");
  await context.close();
});

test("a quiet memory indexes its last vectors with no write after them", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  const result = await page.evaluate(async () => {
    const mem = await sutra.Sutra.open("quiet", { dimension: 4 });
    // Far under the browser's budget of 2,000 fresh vectors that makes indexing due on writes.
    await mem.batch(Array.from({ length: 40 }, (_, j) => ({ op: "put_concept", content: `q ${j}`, embedding: [1, j, j * j, 1 / (j + 1)] })));
    const first = (await mem.stats()).vectors;
    // No more writes (reads do not run the worker's housekeeping): its own tick finds the
    // memory quiet after two seconds. Looked at every 200 ms, for at most 15 s.
    const started = performance.now();
    let after = first;
    while (after.fresh > 0 && performance.now() - started < 15000) {
      await new Promise((done) => setTimeout(done, 200));
      after = (await mem.stats()).vectors;
    }
    const waited = performance.now() - started;
    await mem.close();
    return { first: first.fresh, fresh: after.fresh, sealed: after.sealed, notBeforeQuiet: waited >= 1500 };
  });
  assert.deepEqual(result, { first: 40, fresh: 0, sealed: 40, notBeforeQuiet: true });
  await context.close();
});

test("export in the browser imports on the server exactly, and back", async () => {
  const server = await startServer();
  const context = await browser.newContext();
  const page = await testPage(context, site);
  try {
    const fromBrowser = await page.evaluate(async () => {
      const mem = await sutra.Sutra.open("roundtrip", { dimension: 2 });
      const a = await mem.putConcept({ content: "sun", embedding: [0.25, 0.5], strength: 3, confidence: 0.9, metadata: { lang: "en", src: "sky" } });
      const b = await mem.putConcept({ content: "warmth" });
      await mem.putAssociation({ source: a.id, target: b.id, kind: "causal", confidence: 0.8, weight: 2.5 });
      const text = await mem.exportJsonl();
      await mem.close();
      return text;
    });
    assert.equal(fromBrowser.trim().split("\n").length, 4, "header, 2 concepts, 1 association");
    assert.equal((await server.call("POST", "/v1/memories", { name: "fromweb" })).status, 201);
    const imported = await server.call("POST", "/v1/memories/fromweb/import", fromBrowser, "application/x-ndjson");
    assert.equal(imported.status, 200, imported.text);
    assert.deepEqual([imported.json.concepts, imported.json.associations, imported.json.rejected_count], [2, 1, 0]);
    const onServer = await server.call("GET", "/v1/memories/fromweb/export");
    assert.equal(onServer.text, fromBrowser, "the server's export equals the browser's");

    // And back: data written on the server, imported in the browser.
    await server.call("POST", "/v1/memories", { name: "fromserver" });
    const ops = Array.from({ length: 50 }, (_, i) => ({ op: "put_concept", content: `fact ${i}`, metadata: { i: String(i) } }));
    assert.equal((await server.call("POST", "/v1/memories/fromserver/batch", { ops })).status, 200);
    const serverText = (await server.call("GET", "/v1/memories/fromserver/export")).text;
    const back = await page.evaluate(async (text) => {
      const mem = await sutra.Sutra.open("fromserver");
      const progress = [];
      const summary = await mem.importJsonl(text, (done, total) => progress.push([done, total]));
      const again = await mem.exportJsonl();
      await mem.close();
      return { summary, again, progress };
    }, serverText);
    assert.deepEqual([back.summary.concepts, back.summary.rejected_count], [50, 0]);
    assert.equal(back.again, serverText, "the browser's export equals the server's");
    assert.deepEqual(back.progress.at(-1), [51, 51]);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("the browser's export of a hub of more than 10,000 associations is complete and imports back exactly", async () => {
  const context = await browser.newContext();
  const page = await testPage(context, site);
  try {
    const result = await page.evaluate(async () => {
      const SPOKES = 10_050;
      const mem = await sutra.Sutra.open("hub");
      const hub = await mem.putConcept({ content: "hub" });
      const spokes = [];
      for (let start = 0; start < SPOKES; start += 5000) {
        const ops = [];
        for (let i = start; i < Math.min(SPOKES, start + 5000); i++) ops.push({ op: "put_concept", content: `spoke ${i}` });
        spokes.push(...(await mem.batch(ops)).ids);
      }
      for (let start = 0; start < SPOKES; start += 5000) {
        const ops = spokes.slice(start, start + 5000).map((target) => ({ op: "put_association", source: hub.id, target, kind: "semantic", confidence: 0.5 }));
        await mem.batch(ops);
      }
      const text = await mem.exportJsonl();
      await mem.close();
      const copy = await sutra.Sutra.open("hubcopy");
      const summary = await copy.importJsonl(text);
      const again = await copy.exportJsonl();
      const stats = await copy.stats();
      await copy.close();
      const lines = text.trim().split("\n");
      return {
        associationLines: lines.filter((l) => l.includes('"type":"association"')).length,
        summary,
        same: again === text,
        associations: stats.associations,
      };
    });
    assert.equal(result.associationLines, 10_050, "every association of the hub exported");
    assert.deepEqual([result.summary.associations, result.summary.rejected_count], [10_050, 0]);
    assert.equal(result.associations, 10_050);
    assert.ok(result.same, "export → import → export is exact");
  } finally {
    await context.close();
  }
});
