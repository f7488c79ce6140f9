// Workload 8 of the benchmarks: durable writes on OPFS in headless Chromium, Sutra's browser
// engine (through its public API: each call goes to its worker and back) against SQLite wasm on
// the opfs-sahpool VFS (its loop runs inside its own worker, the peer's best case). Single
// writes are awaited one by one; batched writes commit 100 concepts at a time.
//
//   node bench/browser/opfs.mjs [--quick]
//
// Needs the browser package built (`npm run build -w sutra-wasm`; a release build for numbers)
// and Chromium (CHROMIUM, default /usr/bin/chromium). Prints Markdown table rows.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "../../wasm/scripts/serve.mjs";
import { CHROMIUM_ARGS } from "../../wasm/tests/browser/harness.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const quick = process.argv.includes("--quick");
const scale = quick ? { single: 200, batches: 20, batchSize: 100 } : { single: 3000, batches: 300, batchSize: 100 };

if (!existsSync(join(REPO, "wasm/dist/sutra.js")) || !existsSync(join(REPO, "wasm/pkg/sutra_wasm_bg.wasm"))) {
  throw new Error("the browser package is not built: run `npm run build -w sutra-wasm` first");
}

const site = await serve(REPO);
// A persistent profile on disk: an incognito context would keep OPFS in memory, and flushes
// would prove nothing.
const profile = mkdtempSync(join(tmpdir(), "sutra-bench-profile-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: CHROMIUM_ARGS,
});
try {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  // The browser tests' page: it loads the client as `window.sutra`.
  await page.goto(`${site.url}/wasm/tests/browser/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 20_000 });

  const ours = await page.evaluate(async ({ single, batches, batchSize }) => {
    const mem = await sutra.Sutra.open(`bench-${Date.now()}`);
    let started = performance.now();
    for (let i = 0; i < single; i++) {
      await mem.putConcept({ content: `concept number ${i} of the benchmark` });
    }
    const singleMs = performance.now() - started;
    // The same single writes from 64 callers at once (workload 1's shape): the worker commits
    // whatever is queued with one flush.
    started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (let i = next++; i < single; i = next++) {
          await mem.putConcept({ content: `concurrent concept number ${i} of the benchmark` });
        }
      }),
    );
    const concurrentMs = performance.now() - started;
    started = performance.now();
    for (let b = 0; b < batches; b++) {
      const ops = [];
      for (let j = 0; j < batchSize; j++) {
        ops.push({ op: "put_concept", content: `concept number ${single + b * batchSize + j} of the benchmark` });
      }
      await mem.batch(ops);
    }
    const batchMs = performance.now() - started;
    const count = (await mem.stats()).concepts;
    await mem.close();
    return { singleMs, concurrentMs, batchMs, count: count - single };
  }, scale);

  // Runs one job in a dedicated worker of the page and returns the worker's one answer.
  const inWorker = (url, job) =>
    page.evaluate(
      ({ url, job }) =>
        new Promise((done) => {
          const worker = new Worker(url, { type: "module" });
          worker.onmessage = (event) => {
            worker.terminate();
            done(event.data);
          };
          worker.onerror = (event) => done({ error: event.message });
          worker.postMessage(job);
        }),
      { url, job },
    );
  const peers = {};
  for (const journal of ["wal", "truncate"]) {
    peers[journal] = await inWorker("/bench/browser/sqlite-worker.mjs", { ...scale, journal });
    if (peers[journal].error) throw new Error(`sqlite-wasm (${journal}): ${peers[journal].error}`);
  }
  const inside = await inWorker("/bench/browser/engine-worker.mjs", scale);
  if (inside.error) throw new Error(`Sutra's engine in its worker: ${inside.error}`);
  const floor = await inWorker("/bench/browser/flush-worker.mjs", scale);
  if (floor.error) throw new Error(`flush floor: ${floor.error}`);
  if (floor.size !== floor.expected) throw new Error(`flush floor wrote ${floor.size} bytes, expected ${floor.expected}`);
  if (errors.length) throw errors[0];

  const expected = scale.single + scale.batches * scale.batchSize;
  for (const [who, result] of [["Sutra", ours], ["Sutra in its worker", inside], ...Object.entries(peers)]) {
    if (result.count !== expected) throw new Error(`${who} stored ${result.count} concepts, expected ${expected}`);
  }
  // The peer's faster journal mode is the one compared.
  const best = (key) =>
    Object.values(peers).reduce((a, b) => (a[key] <= b[key] ? a : b));
  const rate = (n, ms) => (n / ms) * 1000;
  const fmt = (r) => (r >= 1000 ? `${(r / 1000).toFixed(1)} k writes/s` : `${r.toFixed(1)} writes/s`);
  // SQLite runs one transaction at a time: 64 callers queueing on its worker get its one-by-one
  // rate at best, which is what its row of the concurrent case shows.
  for (const peer of Object.values(peers)) peer.concurrentMs = peer.singleMs;
  for (const [kind, n, key, unit] of [
    ["single writes, each awaited", scale.single, "singleMs", "concepts"],
    ["single writes from 64 concurrent callers", scale.single, "concurrentMs", "concepts"],
    [`batched writes, ${scale.batchSize} concepts per transaction`, scale.batches * scale.batchSize, "batchMs", "concepts"],
  ]) {
    const peer = best(key);
    const ours_rate = rate(n, ours[key]);
    const peer_rate = rate(n, peer[key]);
    const ratio = ours_rate / peer_rate;
    console.log(
      `| 8 | durable ${kind}, on OPFS in Chromium (${n} ${unit}) | ${fmt(ours_rate)} | SQLite ${peer.version} wasm, opfs-sahpool, journal_mode=${peer.mode}, synchronous=FULL: ${fmt(peer_rate)} | ${ratio.toFixed(2)}× | ≥ 3× | ${ratio >= 3 ? "yes" : "no"} |`,
    );
  }
  // Like for like with the peer, whose loop runs in its worker: Sutra's engine called in its
  // worker, without the client's round trip per call.
  for (const [kind, n, key] of [
    ["single writes, each flushed", scale.single, "singleMs"],
    [`batched writes, ${scale.batchSize} concepts per transaction`, scale.batches * scale.batchSize, "batchMs"],
  ]) {
    const peer = best(key);
    const ratio = rate(n, inside[key]) / rate(n, peer[key]);
    console.log(
      `| 8 | like for like: ${kind}, Sutra's engine called inside its worker as the peer's loop is (not the client's path) (${n} concepts) | ${fmt(rate(n, inside[key]))} | SQLite: ${fmt(rate(n, peer[key]))} | ${ratio.toFixed(2)}× | — | — |`,
    );
  }
  // Not a peer: what one flush per write costs by itself, so the single-write rows can be read
  // against the floor both engines share.
  const floorRate = rate(scale.single, floor.singleMs);
  console.log(
    `| 8 | floor: one OPFS write + flush() per write, nothing else (${scale.single} writes) | — | ${fmt(floorRate)} | Sutra ${(rate(scale.single, ours.singleMs) / floorRate).toFixed(2)}×, SQLite ${(rate(scale.single, best("singleMs").singleMs) / floorRate).toFixed(2)}× of it | — | — |`,
  );
} finally {
  await context.close();
  await site.close();
  rmSync(profile, { recursive: true, force: true });
}
