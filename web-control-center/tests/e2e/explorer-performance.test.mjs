// The graph explorer on a large memory, in headless Chromium against the real `sutra serve`: a
// generated memory of 100,000 concepts and 500,000 associations (SUTRA_E2E_PERF_CONCEPTS sets
// the concepts, 5 associations each), 10,000 concepts opened in the explorer
// (SUTRA_E2E_PERF_NODES) by expansions of 2,000; it measures the time from a click to the
// concepts drawn and the frames per second while panning, prints them and writes them to
// target/e2e-explorer-performance.json. Chromium draws WebGL here in software (SwiftShader): the
// numbers are a floor, and docs/BENCHMARKS.md says so.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, REPO, serve, sutraBin } from "./harness.mjs";
const CONCEPTS = Number(process.env.SUTRA_E2E_PERF_CONCEPTS ?? 100_000);
const PER_CONCEPT = 5;
const NODES = Number(process.env.SUTRA_E2E_PERF_NODES ?? 10_000);

let server;
let browser;
let base;

const id = (n) => (n + 1).toString(16).padStart(32, "0");

/** Concepts "node n<i>", each with 5 associations to others drawn at random (a fixed seed), of
 * every kind in turn, confidence 0.5 to 1. */
async function generate(file) {
  const out = createWriteStream(file);
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const kinds = ["semantic", "causal", "temporal", "hierarchical", "compositional"];
  let lines = [];
  let associations = 0;
  const flush = async () => {
    if (!out.write(lines.join(""))) await new Promise((ok) => out.once("drain", ok));
    lines = [];
  };
  for (let i = 0; i < CONCEPTS; i++) {
    lines.push(`${JSON.stringify({ type: "concept", id: id(i), content: `node n${i}` })}\n`);
    if (lines.length >= 5000) await flush();
  }
  for (let i = 0; i < CONCEPTS; i++) {
    for (let j = 0; j < PER_CONCEPT; j++) {
      const target = (i + 1 + Math.floor(random() * (CONCEPTS - 1))) % CONCEPTS;
      lines.push(`${JSON.stringify({ type: "association", source: id(i), target: id(target), kind: kinds[j], confidence: 0.5 + random() / 2 })}\n`);
      associations++;
      if (lines.length >= 5000) await flush();
    }
  }
  await flush();
  await new Promise((ok) => out.end(ok));
  return associations;
}

before(async () => {
  const scratch = mkdtempSync(join(tmpdir(), "sutra-e2e-perf-"));
  const file = join(scratch, "big.jsonl");
  const associations = await generate(file);
  const data = join(scratch, "data");
  const imported = spawnSync(sutraBin(), ["import", "--data", data, "--memory", "big", file], { encoding: "utf8" });
  assert.equal(imported.status, 0, imported.stderr);
  assert.match(imported.stdout + imported.stderr, new RegExp(`imported ${CONCEPTS} concepts and ${associations} associations`));
  ({ server, base } = await serve(data));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test(`the explorer draws ${NODES} concepts of a memory of ${CONCEPTS} concepts and ${CONCEPTS * PER_CONCEPT} associations, and pans`, { timeout: 600_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/#/m/big/graph`);
  await page.getByText("Start from a concept").waitFor();
  await page.locator('select[name="graph-depth"]').selectOption("4");
  await page.locator('select[name="graph-limit"]').selectOption("2000");
  const picture = page.locator('[aria-label="neighbourhood graph"]');
  const count = async (name) => Number(await picture.getAttribute(name));
  /** Runs `act`, then waits for more concepts drawn and the next frame; the milliseconds between. */
  const drawn = async (act) => {
    const before = await count("data-nodes");
    const start = await page.evaluate(() => performance.now());
    await act();
    await page.waitForFunction((n) => Number(document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-nodes")) > n, before, { timeout: 60_000 });
    const end = await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(performance.now())))));
    return end - start;
  };

  // Panning: the camera moves every frame for 3 s; the frames the browser drew in that time. The
  // peer: the same picture, empty, in the same browser (the frame rate drawing leaves).
  const panning = () =>
    picture.evaluate(
      (el) =>
        new Promise((ok) => {
          const camera = el.sigma.getCamera();
          const { x, y } = camera.getState();
          const start = performance.now();
          let frames = 0;
          const step = (now) => {
            frames++;
            const t = (now - start) / 1000;
            camera.setState({ x: x + 0.2 * Math.sin(t * 2), y: y + 0.2 * Math.cos(t * 2) });
            if (now - start < 3000) requestAnimationFrame(step);
            else ok(frames / ((now - start) / 1000));
          };
          requestAnimationFrame(step);
        }),
    );
  await picture.waitFor();
  const emptyFps = await panning();

  // The first 2,000 from a centre chosen by its text.
  const firstPaint = await drawn(() => page.locator('input[name="centre"]').fill("node n0"));
  // Then concepts found by words, each expanded onto the picture, until it holds NODES.
  let last = 0;
  let expansions = 1;
  for (let k = 1; (await count("data-nodes")) < NODES; k++) {
    assert.ok(k < 40, `only ${await count("data-nodes")} concepts after ${k} expansions`);
    const word = `n${(k * 7919) % CONCEPTS}`;
    await page.locator('input[name="graph-words"]').fill(word);
    await page.getByRole("form", { name: "find concepts in the graph" }).getByRole("button", { name: "Find" }).click();
    const hit = page.getByRole("list", { name: "concepts found" }).getByRole("button", { name: `node ${word}`, exact: true });
    await hit.waitFor();
    if ((await hit.locator("xpath=..").getByText("(in the picture)").count()) > 0) continue;
    last = await drawn(() => hit.click());
    expansions++;
  }
  await page.waitForFunction(() => document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-layout") === "settled", null, { timeout: 60_000 });
  const nodes = await count("data-nodes");
  const edges = await count("data-edges");
  // What is drawn is what the graph holds (the renderer's own graph), every association's ends in it.
  const held = await picture.evaluate((el) => ({ order: el.graphology.order, size: el.graphology.size, dangling: el.graphology.filterEdges((e, a, s, t) => !el.graphology.hasNode(s) || !el.graphology.hasNode(t)).length }));
  assert.deepEqual(held, { order: nodes, size: edges, dangling: 0 });
  assert.ok(nodes >= NODES, `${nodes} concepts drawn`);
  assert.ok(edges >= nodes - expansions, `${edges} associations drawn among ${nodes} concepts`);

  const fps = await panning();
  assert.ok(fps > 0 && emptyFps > 0);
  const report = {
    concepts: CONCEPTS,
    associations: CONCEPTS * PER_CONCEPT,
    drawn: { concepts: nodes, associations: edges, expansions },
    first_paint_ms: Math.round(firstPaint),
    last_expansion_ms: Math.round(last),
    panning_fps: Math.round(fps * 10) / 10,
    panning_fps_empty_picture: Math.round(emptyFps * 10) / 10,
    panning_ratio_to_empty: Math.round((fps / emptyFps) * 1000) / 1000,
    renderer: await page.evaluate(() => {
      const gl = document.createElement("canvas").getContext("webgl2");
      const info = gl?.getExtension("WEBGL_debug_renderer_info");
      return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : "unknown";
    }),
  };
  console.log(`explorer performance: ${JSON.stringify(report)}`);
  mkdirSync(join(REPO, "target"), { recursive: true });
  writeFileSync(join(REPO, "target", "e2e-explorer-performance.json"), `${JSON.stringify(report, null, 2)}\n`);
  assert.deepEqual(errors, []);
  await page.close();
});
