// Shared set-up for the browser tests: a static server for wasm/, Debian's Chromium driven by
// playwright-core, and the real `sutra` server for round trips.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { serve } from "../../scripts/serve.mjs";

export const REPO = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export async function startSite() {
  if (!existsSync(join(REPO, "wasm/dist/sutra.js")) || !existsSync(join(REPO, "wasm/pkg/sutra_wasm_bg.wasm"))) {
    throw new Error("the package is not built: run `npm run build -w sutra-wasm` first");
  }
  return serve();
}

export async function startBrowser() {
  const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** A page of `context` with the client loaded as `window.sutra`. */
export async function testPage(context, site) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${site.url}/tests/browser/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 20_000 });
  page.errors = errors;
  return page;
}

/** Starts `sutra serve` on a free port with a fresh data directory. */
export async function startServer() {
  const bin = process.env.SUTRA_BIN ?? join(REPO, "target/debug/sutra");
  if (!existsSync(bin)) {
    throw new Error(`no sutra binary at ${bin}: build it (cargo build -p sutra-server) or set SUTRA_BIN`);
  }
  const data = mkdtempSync(join(tmpdir(), "sutra-roundtrip-"));
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--ui", "/nonexistent", "--data", data], {
    env: { ...process.env, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise((resolveLine, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", resolveLine);
    child.once("exit", (code) => reject(new Error(`sutra serve exited with ${code}`)));
  });
  const url = line.split(/\s+/).find((w) => w.startsWith("http://"));
  if (!url) throw new Error(`no address in ${line}`);
  return {
    url,
    async call(method, path, body, contentType = "application/json") {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": contentType },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await response.text();
      const isJson = (response.headers.get("content-type") ?? "").startsWith("application/json");
      return { status: response.status, text, json: isJson ? JSON.parse(text) : null };
    },
    stop() {
      child.kill("SIGTERM");
      return new Promise((done) => child.once("exit", done));
    },
  };
}
