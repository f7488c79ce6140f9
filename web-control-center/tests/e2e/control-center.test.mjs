// The control center end to end, in headless Chromium driven by playwright-core, against the
// real `sutra serve` (which serves the built app), in both modes: "a Sutra server" and
// "this browser". Screenshots of the main views go to a folder this test prints.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, REPO, serve } from "./harness.mjs";

const SHOTS = process.env.SUTRA_SCREENSHOTS ?? join(REPO, "target", "e2e-screenshots");

let server;
let browser;
let base;

before(async () => {
  ({ server, base } = await serve(mkdtempSync(join(tmpdir(), "sutra-e2e-"))));
  browser = await launch();
  mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots of the main views: ${SHOTS}`);
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function open(context) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.errors = errors;
  await page.goto(`${base}/#/`);
  await page.getByRole("heading", { name: "Memories" }).waitFor();
  return page;
}

async function useMode(page, mode) {
  await page.getByLabel("backend").selectOption(mode);
  await page.getByRole("heading", { name: "Memories" }).waitFor();
}

async function createMemory(page, name, dimension, language = "", keys = "") {
  await page.goto(`${base}/#/`);
  await page.locator('input[name="name"]').fill(name);
  await page.locator('input[name="dimension"]').fill(String(dimension));
  await page.locator('select[name="language"]').selectOption(language);
  await page.locator('input[name="indexed_keys"]').fill(keys);
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.locator('[data-stat="concepts"]').waitFor();
}

async function learn(page, memory, content, embedding, metadata = "") {
  await page.goto(`${base}/#/m/${memory}/concepts`);
  const form = page.getByRole("form", { name: "create a concept" });
  await form.locator('textarea[name="content"]').fill(content);
  await form.locator('input[name="embedding"]').fill(embedding);
  await form.locator('textarea[name="metadata"]').fill(metadata);
  await form.getByRole("button", { name: "Learn" }).click();
  await page.getByRole("table", { name: "concepts" }).getByRole("link", { name: content, exact: true }).waitFor();
}

async function pick(page, name, content) {
  const input = page.locator(`input[name="${name}"]`);
  await input.fill(content);
  await input.locator("xpath=..").getByText(/^chosen: [0-9a-f]{32}$/).waitFor();
}

async function associate(page, memory, from, to, kind, confidence) {
  await page.goto(`${base}/#/m/${memory}/concepts`);
  await page.getByRole("table", { name: "concepts" }).getByRole("link", { name: from, exact: true }).click();
  await page.getByRole("heading", { name: from }).waitFor();
  const form = page.getByRole("form", { name: "add an association" });
  await pick(form, "target", to);
  await form.locator('select[name="kind"]').selectOption(kind);
  await form.locator('input[name="assoc-confidence"]').fill(String(confidence));
  await form.getByRole("button", { name: "Add association" }).click();
  await page.getByRole("table", { name: "associations" }).getByText(kind).first().waitFor();
}

function jsonl(count) {
  const lines = [JSON.stringify({ type: "memory", format: 1, dimension: 3 })];
  for (let i = 0; i < count; i++) {
    const id = (BigInt(i + 1) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, "0").slice(-32);
    lines.push(JSON.stringify({ type: "concept", id, content: `imported fact ${i}`, embedding: [Math.sin(i), Math.cos(i), 0.5], strength: 1, confidence: 0.5, metadata: { batch: "e2e" }, created_ms: 1_700_000_000_000, updated_ms: 1_700_000_000_000 + i }));
  }
  lines.push("this line is not JSON");
  return lines.join("\n") + "\n";
}

/** The whole tour of one mode; returns the page. */
async function tour(page, mode, memory) {
  // A memory made with the keys filters may name shows them at once.
  await createMemory(page, `keys-${mode}`, 2, "", "user, agent user");
  await page.locator('[data-stat="indexed-keys"]').filter({ hasText: "agent, user" }).waitFor();
  await createMemory(page, memory, 3, "english");
  await page.locator('[data-stat="language"]').filter({ hasText: "stemmed in english" }).waitFor();
  await shot(page, `${mode}-overview-empty`);
  await learn(page, memory, "rain", "1, 0, 0", 'year=2024\ntags=["water", "weather"]\ncode="007"');
  await learn(page, memory, "wet streets", "0.9, 0.1, 0");
  await learn(page, memory, "slippery roads", "0.7, 0.3, 0.1");
  await shot(page, `${mode}-concepts`);

  // A validation message from the engine next to its field.
  const form = page.getByRole("form", { name: "create a concept" });
  await form.locator('textarea[name="content"]').fill("too confident");
  await form.locator('input[name="confidence"]').fill("1.5");
  await form.getByRole("button", { name: "Learn" }).click();
  await form.getByRole("alert").filter({ hasText: /^invalid confidence: must be from 0 to 1, not 1\.5$/ }).waitFor();

  await associate(page, memory, "rain", "wet streets", "causal", 0.9);
  // Typed metadata, shown as it reads back into the form.
  assert.deepEqual(await page.locator("div.meta dt").allInnerTexts(), ["code", "tags", "year"]);
  assert.deepEqual(await page.locator("div.meta dd").allInnerTexts(), ['"007"', '["water","weather"]', "2024"]);
  await associate(page, memory, "wet streets", "slippery roads", "causal", 0.8);
  await shot(page, `${mode}-concept-detail`);

  // Deleting asks first: the first click deletes nothing, Cancel keeps everything.
  const associations = page.getByRole("table", { name: "associations" });
  const rows = await associations.locator("tbody tr").count();
  await associations.getByRole("button", { name: "Delete…" }).first().click();
  await page.getByRole("group", { name: /^Delete this causal association\?$/ }).waitFor();
  await page.getByRole("group", { name: /^Delete this causal association\?$/ }).getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Delete this concept…" }).click();
  const ask = page.getByRole("group", { name: "Delete “wet streets” and its associations?" });
  await ask.waitFor();
  await ask.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("heading", { name: "wet streets" }).waitFor();
  assert.equal(await associations.locator("tbody tr").count(), rows, "nothing was deleted");

  // Paths: the readable trail.
  await page.goto(`${base}/#/m/${memory}/paths`);
  const paths = page.getByRole("form", { name: "find paths" });
  await pick(paths, "from", "rain");
  await pick(paths, "to", "slippery roads");
  await paths.getByRole("button", { name: "Find paths" }).click();
  const trail = page.getByLabel("Most confident").locator("[data-trail]").first();
  await trail.waitFor();
  assert.match(await trail.innerText(), /rain\s*—causal 0\.9→\s*wet streets\s*—causal 0\.8→\s*slippery roads\s*\(confidence 0\.72\)/);
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="paths graph"]')?.getAttribute("data-nodes")) === 3);
  // On the graph, the trail's start and end are marked, its hops in its colour; hovering it
  // brings its 2 hops forward.
  const colours = await page.locator('[aria-label="paths graph"]').evaluate((el) => el.graphology.nodes().map((n) => [el.graphology.getNodeAttribute(n, "label"), el.graphology.getNodeAttribute(n, "color")]));
  assert.deepEqual(Object.fromEntries(colours), { rain: "#2b8a3e", "wet streets": "#495057", "slippery roads": "#c92a2a" });
  const best = page.getByLabel("3 best").locator("[data-trail]").first();
  assert.equal(await page.locator('[aria-label="paths graph"]').getAttribute("data-highlighted"), "0");
  await best.hover();
  await page.waitForFunction(() => document.querySelector('[aria-label="paths graph"]')?.getAttribute("data-highlighted") === "2");
  await shot(page, `${mode}-paths`);

  // Graph explorer around rain: expand by clicking.
  await page.goto(`${base}/#/m/${memory}/graph`);
  await pick(page, "centre", "rain");
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-nodes")) === 2);
  await shot(page, `${mode}-graph`);

  // A fact with a label, metadata and a validity; invalidated, it is kept but reads of now no
  // longer show it (nor the search's expansion below).
  await page.goto(`${base}/#/m/${memory}/concepts`);
  await page.getByRole("table", { name: "concepts" }).getByRole("link", { name: "rain", exact: true }).click();
  await page.getByRole("heading", { name: "rain" }).waitFor();
  const add = page.getByRole("form", { name: "add an association" });
  await pick(add, "target", "slippery roads");
  await add.locator('input[name="label"]').fill("makes risky");
  await add.locator('input[name="valid-from"]').fill("2020-01-01T00:00");
  await add.locator('textarea[name="assoc-metadata"]').fill("doc=road report");
  await add.getByRole("button", { name: "Add association" }).click();
  const fact = page.locator('tr[data-label="makes risky"]');
  await fact.waitFor();
  assert.match(await fact.innerText(), /semantic\s+makes risky\s+since 2020-01-01 00:00\s+doc=road report/);
  // A validity that ends before it starts: the engine's message next to its field.
  await add.locator('input[name="valid-until"]').fill("2019-01-01T00:00");
  await add.getByRole("button", { name: "Add association" }).click();
  await add.getByRole("alert").filter({ hasText: "is before valid_from_ms" }).waitFor();
  // Edited: a new label and more metadata, the validity kept; the old label's fact is gone
  // (replaced in one write). Then back to its label.
  await fact.getByRole("button", { name: "Edit" }).click();
  const edit = page.getByRole("form", { name: "edit this association" });
  await edit.locator('input[name="label"]').fill("makes riskier");
  await edit.locator('textarea[name="assoc-metadata"]').fill("doc=road report\nchecked=true");
  await edit.getByRole("button", { name: "Save" }).click();
  const edited = page.locator('tr[data-label="makes riskier"]');
  await edited.waitFor();
  await fact.waitFor({ state: "detached" });
  assert.match(await edited.innerText(), /semantic\s+makes riskier\s+since 2020-01-01 00:00\s+checked=true, doc=road report/);
  await edited.getByRole("button", { name: "Edit" }).click();
  await edit.locator('input[name="label"]').fill("makes risky");
  await edit.locator('textarea[name="assoc-metadata"]').fill("doc=road report");
  await edit.getByRole("button", { name: "Save" }).click();
  await fact.waitFor();
  await edited.waitFor({ state: "detached" });
  await fact.getByRole("button", { name: "Invalidate…" }).click();
  await page.getByRole("group", { name: /^Mark this semantic:makes risky association as no longer true/ }).getByRole("button", { name: "Invalidate" }).click();
  await fact.waitFor({ state: "detached" });
  await page.locator('input[name="show-invalid"]').check();
  await fact.waitFor();
  assert.match(await fact.innerText(), /since 2020-01-01 00:00|2020-01-01 00:00 – /);
  assert.match(await fact.innerText(), /no longer valid/);
  await shot(page, `${mode}-invalidated-fact`);
  // The graph explorer follows what holds now, or every fact (the label on the edge).
  await page.goto(`${base}/#/m/${memory}/graph`);
  await pick(page, "centre", "rain");
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-nodes")) === 2);
  await page.locator('select[name="graph-valid"]').selectOption("all");
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-nodes")) === 3);
  await shot(page, `${mode}-graph-all-facts`);

  // Search with a pasted vector.
  await page.goto(`${base}/#/m/${memory}/search`);
  await page.locator('input[name="vector"]').fill("[1, 0, 0]");
  await page.getByRole("button", { name: "Search" }).click();
  const first = page.getByRole("table", { name: "search results" }).locator("tbody tr").first();
  await first.waitFor();
  assert.match(await first.innerText(), /^1\s+rain\s+vector #1$/);
  await shot(page, `${mode}-search`);
  // Full-text search by words (stemmed: "road" finds "roads"), and words with the vector at
  // once (fused).
  await page.locator('input[name="text"]').fill("slippery road");
  await page.getByLabel("the words only").check();
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("table", { name: "search results" }).getByText("text #1").waitFor();
  assert.match(await first.innerText(), /slippery roads\s+text #1$/);
  await page.getByLabel("a pasted vector").check();
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("table", { name: "search results" }).getByText("text #1, vector #").waitFor();
  assert.match(await first.innerText(), /slippery roads\s+text #1, vector #3$/);
  // Following associations from the hits: each concept reached shows the trail that reached it.
  await page.locator('input[name="text"]').fill("rain");
  await page.getByLabel("the words only").check();
  await page.locator('select[name="expand"]').selectOption("2");
  await page.getByRole("button", { name: "Search" }).click();
  const results = page.getByRole("table", { name: "search results" });
  await results.getByText("graph #2").waitFor();
  assert.deepEqual(
    (await results.locator("tbody tr td:nth-child(3)").allInnerTexts()).map((t) => t.trim()),
    ["text #1", "graph #1 via rain —causal 0.9→ wet streets", "graph #2 via rain —causal 0.9→ wet streets —causal 0.8→ slippery roads"],
  );
  await shot(page, `${mode}-search-expanded`);
  // Keys declared on the overview; then a search kept to the concepts whose metadata match.
  await page.goto(`${base}/#/m/${memory}`);
  await page.locator('[data-stat="indexed-keys"]').filter({ hasText: "none declared" }).waitFor();
  const keys = page.getByRole("form", { name: "keys for filters" });
  await keys.locator('input[name="keys"]').fill("year");
  await keys.getByRole("button", { name: "Declare keys" }).click();
  await page.locator('[data-stat="indexed-keys"]').filter({ hasText: "year" }).waitFor();
  await page.goto(`${base}/#/m/${memory}/search`);
  await page.getByText("on the keys this memory declares: year").waitFor();
  await page.locator('input[name="text"]').fill("");
  await page.getByLabel("a pasted vector").check();
  await page.locator('input[name="vector"]').fill("0.7, 0.3, 0.1");
  await page.locator('input[name="filter"]').fill("year = 2023 | 2024");
  await page.getByRole("button", { name: "Search" }).click();
  await results.locator("tbody tr").first().filter({ hasText: "rain" }).waitFor();
  assert.deepEqual(
    (await results.locator("tbody tr td:nth-child(2)").allInnerTexts()).map((t) => t.trim()),
    ["rain"],
    "only rain has a year",
  );
  await page.locator('input[name="filter"]').fill("colour = red");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByText("is not an indexed metadata key: this memory indexes year").waitFor();
  await shot(page, `${mode}-search-filtered`);

  // Import a file: the progress bar, then the summary with the rejected line.
  await page.goto(`${base}/#/m/${memory}/io`);
  const file = join(mkdtempSync(join(tmpdir(), "sutra-import-")), "facts.jsonl");
  writeFileSync(file, jsonl(1200));
  await page.getByLabel("JSON Lines file to import").setInputFiles(file);
  const bar = page.getByRole("progressbar", { name: "import progress" });
  await bar.waitFor();
  const summary = page.getByRole("status", { name: "import summary" });
  await summary.waitFor({ timeout: 60_000 });
  assert.match(await summary.innerText(), /Imported 1200 concepts and 0 associations; 1 lines rejected/);
  assert.match(await summary.innerText(), /line 1202: /);
  assert.equal(await bar.getAttribute("value"), "1202");
  await shot(page, `${mode}-import`);

  // Export it back.
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: `Download ${memory}.jsonl` }).click();
  const text = readFileSync(await (await download).path(), "utf8");
  const lines = text.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.filter((l) => l.type === "concept").length, 1203);
  assert.equal(lines.filter((l) => l.type === "association").length, 3);
  const risky = lines.find((l) => l.label === "makes risky");
  assert.deepEqual([risky.metadata, risky.valid_from_ms, typeof risky.valid_until_ms], [{ doc: "road report" }, new Date("2020-01-01T00:00").getTime(), "number"]);
  assert.deepEqual(lines[0], { type: "memory", format: 5, dimension: 3, language: "english", indexed_keys: ["year"] });
  assert.deepEqual(lines.find((l) => l.content === "rain").metadata, { code: "007", tags: ["water", "weather"], year: 2024 });

  // Among 1203 concepts, the last updated come first: one just learned is on top, marked. In id
  // order it is rarely on the page shown, so it is shown, marked, above it; in content order
  // ("a…" before "imported…") it is first again.
  await page.goto(`${base}/#/m/${memory}/concepts`);
  const create = page.getByRole("form", { name: "create a concept" });
  await create.locator('textarea[name="content"]').fill("a fact learned last");
  await create.getByRole("button", { name: "Learn" }).click();
  const table = page.getByRole("table", { name: "concepts" });
  const firstRow = table.locator("tbody tr").first();
  await firstRow.filter({ hasText: "a fact learned last" }).waitFor();
  assert.equal(await firstRow.getAttribute("class"), "new");
  assert.equal(await page.getByRole("table", { name: "just learned" }).count(), 0);
  // Then the tour's three, learned today; then the imported facts, updated in 2023 in order
  // (updated_ms 1_700_000_000_000 + i), the newest first.
  const contents = (await table.locator("tbody tr td:first-child").allInnerTexts()).slice(1, 6);
  assert.deepEqual([...contents.slice(0, 3)].sort(), ["rain", "slippery roads", "wet streets"]);
  assert.deepEqual(contents.slice(3), ["imported fact 1199", "imported fact 1198"]);
  await page.locator('select[name="order"]').selectOption("id");
  const learned = page.getByRole("table", { name: "just learned" });
  await learned.locator("tr.new").getByRole("link", { name: "a fact learned last", exact: true }).waitFor();
  assert.equal(await table.getByRole("link", { name: "a fact learned last" }).count(), 0);
  await shot(page, `${mode}-concepts-learned`);
  await page.locator('select[name="order"]').selectOption("content");
  await firstRow.filter({ hasText: "a fact learned last" }).waitFor();
  assert.match(await table.locator("tbody tr").nth(1).innerText(), /^imported fact 0\t/);
  assert.match(await table.locator("tbody tr").nth(2).innerText(), /^imported fact 1\t/);
  assert.match(await table.locator("tbody tr").nth(3).innerText(), /^imported fact 10\t/);
  // A metadata column, chosen from the keys on the page, kept for the next visit.
  await page.locator('input[name="column-batch"]').check();
  await table.getByRole("columnheader", { name: "batch" }).waitFor();
  assert.deepEqual((await table.locator("tbody tr td:nth-child(6)").allInnerTexts()).slice(0, 3), ["—", "e2e", "e2e"]);
  await page.locator('select[name="order"]').selectOption("updated");
  await page.reload();
  await table.getByRole("columnheader", { name: "batch" }).waitFor();
  await shot(page, `${mode}-concepts-columns`);
  await page.goto(`${base}/#/m/${memory}/overview`);
  await page.locator('[data-stat="concepts"]').filter({ hasText: "1204" }).waitFor();
  await page.getByRole("button", { name: "Checkpoint now" }).click();
  await page.locator('[data-stat="checkpoint"]').filter({ hasText: "at sequence" }).waitFor();
  // Once writes pause, every vector is indexed, and the page says so without being reloaded.
  await page.locator('[data-stat="vectors"]').filter({ hasText: /^\d+ indexed$/ }).waitFor({ timeout: 30_000 });
  await shot(page, `${mode}-overview`);
  return page;
}

test("server mode: concepts, associations, paths, search, import with progress, export", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await open(context);
  await tour(page, "server", "e2e-server");
  // The data really is on the server.
  const stats = await (await fetch(`${base}/v1/memories/e2e-server`)).json();
  assert.equal(stats.concepts, 1204);
  assert.equal(stats.associations, 3);
  await page.goto(`${base}/#/`);
  await page.getByRole("table", { name: "memories" }).getByRole("link", { name: "e2e-server" }).waitFor();
  await shot(page, "server-memories");
  // A server address that does not answer: its error, and none of the old server's memories
  // listed under it.
  await page.getByRole("button", { name: base }).click();
  await page.getByLabel("server URL").fill("http://127.0.0.1:9");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByRole("alert").filter({ hasText: "unreachable" }).waitFor();
  assert.equal(await page.getByRole("table", { name: "memories" }).count(), 0, "the old server's memories are not listed");
  await page.getByRole("button", { name: "http://127.0.0.1:9" }).click();
  await page.getByLabel("server URL").fill(base);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByRole("table", { name: "memories" }).getByRole("link", { name: "e2e-server" }).waitFor();
  // The cluster view says this server is on its own (tests/unit/cluster.test.ts reads a real
  // three-node cluster's data).
  await page.getByRole("link", { name: "Cluster" }).click();
  await page.getByRole("heading", { name: "Cluster" }).waitFor();
  await page.getByText("This server is not a node of a cluster").waitFor();
  // Narrow window.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/m/e2e-server/concepts`);
  await page.getByRole("table", { name: "concepts" }).waitFor();
  await shot(page, "server-concepts-narrow");
  assert.deepEqual(page.errors, []);
  await context.close();
});

const SPOKES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"];

/** A hub with 12 spokes (odd ones causal, even ones semantic labelled "has"; confidence 0.35 to
 * 0.9), each spoke with 3 hierarchical leaves (0.9). */
function starJsonl() {
  const id = (n) => n.toString(16).padStart(32, "0");
  const lines = [JSON.stringify({ type: "concept", id: id(1), content: "hub" })];
  SPOKES.forEach((w, i) => {
    lines.push(JSON.stringify({ type: "concept", id: id(100 + i), content: `${w} spoke` }));
    ["one", "two", "three"].forEach((n, j) => lines.push(JSON.stringify({ type: "concept", id: id(1000 + 10 * i + j), content: `${w} leaf ${n}` })));
  });
  SPOKES.forEach((w, i) => {
    const odd = (i + 1) % 2 === 1;
    lines.push(JSON.stringify({ type: "association", source: id(1), target: id(100 + i), kind: odd ? "causal" : "semantic", label: odd ? "" : "has", confidence: 0.3 + 0.05 * (i + 1) }));
    for (let j = 0; j < 3; j++) lines.push(JSON.stringify({ type: "association", source: id(100 + i), target: id(1000 + 10 * i + j), kind: "hierarchical", confidence: 0.9 }));
  });
  return lines.join("\n") + "\n";
}

/** The graph explorer on a star: start from a search, expand (the concepts drawn keep their
 * places), filter, select by click and by search, collapse, the camera by keys, export. */
async function explore(mode) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await open(context);
  if (mode === "browser") await useMode(page, "browser");
  const memory = `star-${mode}`;
  await createMemory(page, memory, 2);
  await page.goto(`${base}/#/m/${memory}/io`);
  const file = join(mkdtempSync(join(tmpdir(), "sutra-star-")), "star.jsonl");
  writeFileSync(file, starJsonl());
  await page.getByLabel("JSON Lines file to import").setInputFiles(file);
  await page.getByRole("status", { name: "import summary" }).filter({ hasText: "Imported 49 concepts and 48 associations" }).waitFor({ timeout: 30_000 });

  await page.goto(`${base}/#/m/${memory}/graph`);
  await page.getByText("Start from a concept").waitFor();
  const picture = page.locator('[aria-label="neighbourhood graph"]');
  const attr = (name) => picture.getAttribute(name);
  const settled = async (nodes) => {
    await page.waitForFunction((n) => {
      const el = document.querySelector('[aria-label="neighbourhood graph"]');
      return el?.getAttribute("data-nodes") === String(n) && el.getAttribute("data-layout") === "settled";
    }, nodes, { timeout: 20_000 });
  };
  const positions = () => picture.evaluate((el) => Object.fromEntries(el.graphology.mapNodes((n, a) => [a.label, [a.x, a.y]])));
  const find = async (words, hit) => {
    await page.locator('input[name="graph-words"]').fill(words);
    await page.getByRole("form", { name: "find concepts in the graph" }).getByRole("button", { name: "Find" }).click();
    await page.getByRole("list", { name: "concepts found" }).getByRole("button", { name: hit, exact: true }).click();
  };
  const panel = page.getByRole("complementary", { name: "selection" });

  // Start from a search: the hub and its 12 spokes, the hub selected.
  await find("hub", "hub");
  await settled(13);
  assert.equal(await attr("data-edges"), "12");
  assert.equal(await attr("data-renderer"), "webgl");
  await panel.getByRole("heading", { name: "hub" }).waitFor();
  const before = await positions();
  await shot(page, `${mode}-explorer-star`);

  // Select a spoke by clicking it where it is drawn, and expand it from the panel: 3 leaves
  // join, and the 13 concepts drawn before have not moved.
  const at = await picture.evaluate((el) => {
    const node = el.graphology.findNode((n, a) => a.label === "golf spoke");
    const a = el.graphology.getNodeAttributes(node);
    return el.sigma.graphToViewport({ x: a.x, y: a.y });
  });
  const box = await picture.boundingBox();
  await page.mouse.click(box.x + at.x, box.y + at.y);
  await panel.getByRole("heading", { name: "golf spoke" }).waitFor();
  await panel.getByRole("button", { name: "Expand" }).click();
  await settled(16);
  const after = await positions();
  for (const [label, xy] of Object.entries(before)) assert.deepEqual(after[label], xy, `${label} stayed where it was`);
  assert.ok(after["golf leaf one"], "the leaves joined");

  // Filters: without causal (6 spokes), only the 9 other associations are drawn; without the
  // label "has" too, 3; confidence ≥ 0.8 keeps the leaves' and the spokes' from 0.8 up.
  assert.equal(await attr("data-shown-edges"), "15");
  await page.locator('input[name="graph-kind-causal"]').uncheck();
  await page.waitForFunction(() => document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-shown-edges") === "9");
  await page.locator('input[name="graph-label-has"]').uncheck();
  await page.waitForFunction(() => document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-shown-edges") === "3");
  await shot(page, `${mode}-explorer-filtered`);
  await page.locator('input[name="graph-kind-causal"]').check();
  await page.locator('input[name="graph-label-has"]').check();
  await page.locator('input[name="graph-min-confidence"]').fill("0.85");
  // 0.3 + 0.05 × (i + 1) ≥ 0.85 for the last 2 spokes (kilo's, lima's 0.9), and golf's 3 leaves.
  await page.waitForFunction(() => document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-shown-edges") === "5");
  await page.locator('input[name="graph-min-confidence"]').fill("0");
  await page.waitForFunction(() => document.querySelector('[aria-label="neighbourhood graph"]')?.getAttribute("data-shown-edges") === "15");

  // Search to focus a concept already drawn: selected, no concept added. Then the keyboard: Delete
  // collapses golf (selected again by search), Enter expands it back.
  await find("charlie spoke", "charlie spoke");
  await panel.getByRole("heading", { name: "charlie spoke" }).waitFor();
  assert.equal(await attr("data-nodes"), "16");
  await find("golf spoke", "golf spoke");
  await panel.getByRole("heading", { name: "golf spoke" }).waitFor();
  await picture.focus();
  await page.keyboard.press("Delete");
  await settled(13);
  await page.keyboard.press("Enter");
  await settled(16);
  // The camera: + zooms in, 0 fits again.
  const ratio = () => picture.evaluate((el) => el.sigma.getCamera().ratio);
  await page.keyboard.press("+");
  await page.waitForFunction(() => document.querySelector('[aria-label="neighbourhood graph"]').sigma.getCamera().ratio < 0.9);
  await page.keyboard.press("0");
  await page.waitForFunction(() => Math.abs(document.querySelector('[aria-label="neighbourhood graph"]').sigma.getCamera().ratio - 1) < 1e-6);
  assert.equal(await ratio(), 1);

  // Export: the PNG has the picture in it (not a blank canvas), the SVG every concept drawn.
  const tools = page.getByRole("toolbar", { name: "neighbourhood graph tools" });
  let download = page.waitForEvent("download");
  await tools.getByRole("button", { name: "PNG" }).click();
  const png = readFileSync(await (await download).path());
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const inked = await page.evaluate(async (b64) => {
    const image = new Image();
    image.src = `data:image/png;base64,${b64}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const c = canvas.getContext("2d");
    c.drawImage(image, 0, 0);
    const data = c.getImageData(0, 0, image.width, image.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) n++;
    return n;
  }, png.toString("base64"));
  assert.ok(inked > 500, `the PNG has ${inked} dark pixels`);
  download = page.waitForEvent("download");
  await tools.getByRole("button", { name: "SVG" }).click();
  const svg = readFileSync(await (await download).path(), "utf8");
  assert.equal((svg.match(/<circle /g) ?? []).length, 16);
  assert.equal((svg.match(/<line /g) ?? []).length, 15);
  assert.match(svg, />golf leaf two<\/text>/);

  // From the panel to the paths view, from the selected concept.
  await panel.getByRole("link", { name: "Find paths from here" }).click();
  await page.getByRole("heading", { name: "Paths" }).waitFor();
  await page.getByText(`chosen: ${(106).toString(16).padStart(32, "0")}`).waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
}

test("server mode: the graph explorer — start from a search, expand in place, filter, select, collapse, keys, export", async () => {
  await explore("server");
});

test("browser mode: the graph explorer — start from a search, expand in place, filter, select, collapse, keys, export", async () => {
  await explore("browser");
});

test("server mode: the overview follows writes made elsewhere and explains vectors waiting to be indexed", async () => {
  const post = (path, body) => fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal((await post("/v1/memories", { name: "live", dimension: 2 })).status, 201);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await open(context);
  await page.goto(`${base}/#/m/live/overview`);
  await page.locator('[data-stat="concepts"]').filter({ hasText: /^0$/ }).waitFor();
  // The server's list and overview give the memory's own size on disk.
  assert.ok(Number(await page.locator('[data-stat="storage"]').getAttribute("data-bytes")) > 0);
  assert.equal(await page.locator("[data-site-bytes]").count(), 0);
  // Another client writes a concept with a vector every 400 ms: the memory never pauses long
  // enough for its last vectors to be indexed, and the page, never reloaded, follows it.
  let written = 0;
  const writer = (async () => {
    for (; written < 15; written++) {
      const answer = await post("/v1/memories/live/concepts", { content: `fact ${written}`, embedding: [Math.cos(written), Math.sin(written)] });
      assert.equal(answer.status, 200);
      await new Promise((ok) => setTimeout(ok, 400));
    }
  })();
  await page.locator('[data-stat="vectors"]').filter({ hasText: /waiting$/ }).waitFor({ timeout: 15_000 });
  await page.locator('[data-stat="indexing"]').filter({ hasText: "indexed in batches" }).waitFor();
  await page.getByRole("progressbar", { name: "vector indexing" }).waitFor();
  await shot(page, "server-overview-indexing");
  await writer;
  await page.locator('[data-stat="concepts"]').filter({ hasText: /^15$/ }).waitFor({ timeout: 10_000 });
  await page.locator('[data-stat="vectors"]').filter({ hasText: /^15 indexed$/ }).waitFor({ timeout: 20_000 });
  assert.equal(await page.getByRole("progressbar", { name: "vector indexing" }).count(), 0);
  const listed = (await (await fetch(`${base}/v1/memories`)).json()).memories.find((m) => m.name === "live");
  await page.goto(`${base}/#/`);
  const row = page.getByRole("row").filter({ hasText: "live" });
  await row.getByRole("cell", { name: "15", exact: true }).first().waitFor();
  assert.ok(listed.storage_bytes > 0);
  assert.ok(Number(await row.locator("[data-size]").getAttribute("data-size")) > 0);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("browser mode: the same tour on OPFS, and everything is still there after a reload", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await open(context);
  await useMode(page, "browser");
  await tour(page, "browser", "e2e-browser");
  // Nothing of it reached the server.
  const onServer = await (await fetch(`${base}/v1/memories/e2e-browser`)).json();
  assert.equal(onServer.error.code, "memory_not_found");
  await page.reload();
  await page.goto(`${base}/#/m/e2e-browser/concepts`);
  await page.locator('input[name="search"]').fill("slippery");
  await page.getByRole("table", { name: "concepts" }).getByRole("link", { name: "slippery roads" }).waitFor();
  await page.goto(`${base}/#/m/e2e-browser/overview`);
  await page.locator('[data-stat="concepts"]').filter({ hasText: "1204" }).waitFor();
  // The size is the memory's own files, not the site's whole storage.
  const storage = page.locator('[data-stat="storage"]');
  const own = Number(await storage.getAttribute("data-bytes"));
  const site = Number(await storage.locator("[data-site-bytes]").getAttribute("data-site-bytes"));
  assert.ok(own > 100_000 && own < site, `memory ${own} B, site ${site} B`);
  await page.goto(`${base}/#/`);
  await page.getByRole("table", { name: "memories" }).getByRole("link", { name: "e2e-browser" }).waitFor();
  // Held by this tab: its counts and size in the list.
  const row = page.getByRole("row").filter({ hasText: "e2e-browser" });
  await row.getByRole("cell", { name: "1204", exact: true }).waitFor();
  assert.equal(Number(await row.locator("[data-size]").getAttribute("data-size")), own);
  await shot(page, "browser-memories-after-reload");
  // Drop both, with the typed confirmation.
  for (const name of ["keys-browser", "e2e-browser"]) {
    await page.getByRole("row").filter({ hasText: name }).getByRole("button", { name: "Drop…" }).click();
    await page.getByLabel(`confirm dropping ${name}`).fill(name);
    await page.getByRole("button", { name: "Drop", exact: true }).click();
    await page.getByRole("table", { name: "memories" }).getByRole("link", { name: name }).waitFor({ state: "detached" });
  }
  await page.getByText("No memories yet").waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("browser mode: a memory another tab holds is explained, tried again, and opened once that tab closes", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const first = await open(context);
  await useMode(first, "browser");
  await createMemory(first, "held", 0);
  // The second tab shares the first's settings (this browser) and storage.
  const second = await open(context);
  await second.goto(`${base}/#/m/held/overview`);
  await second.getByRole("heading", { name: "“held” is open in another tab" }).waitFor();
  // None of the memory's views, so no action that could only fail.
  assert.equal(await second.getByRole("heading", { name: "Overview" }).count(), 0);
  assert.equal(await second.getByText("memory_locked").count(), 0);
  await second.getByRole("button", { name: "Try again now" }).click();
  await second.getByText(/Tried ([2-9]|\d\d+) times; still held/).waitFor();
  await shot(second, "browser-memory-held-by-another-tab");
  // The first tab closes: the second opens the memory by itself.
  await first.close();
  await second.getByRole("heading", { name: "Overview" }).waitFor({ timeout: 20_000 });
  await second.locator('[data-stat="concepts"]').waitFor();
  assert.deepEqual(second.errors, []);
  await context.close();
});
