// What the end-to-end suites share: the real `sutra serve` (which serves the built control
// center) on a data directory, and headless Chromium.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

/** The sutra binary the suites run (SUTRA_BIN, or the debug build). */
export function sutraBin() {
  const bin = process.env.SUTRA_BIN ?? join(REPO, "target/debug/sutra");
  if (!existsSync(bin)) throw new Error(`no sutra binary at ${bin}: cargo build -p sutra-server, or set SUTRA_BIN`);
  return bin;
}

/** `sutra serve` on `data` with the built control center; its process and its address. */
export async function serve(data) {
  const ui = join(REPO, "web-control-center/dist");
  if (!existsSync(join(ui, "index.html"))) throw new Error("the control center is not built: npm run build -w web-control-center");
  const server = spawn(sutraBin(), ["serve", "--listen", "127.0.0.1:0", "--ui", ui, "--data", data], { env: { ...process.env, RUST_LOG: "warn" }, stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((ok, fail) => {
    createInterface({ input: server.stdout }).once("line", ok);
    server.once("exit", (code) => fail(new Error(`sutra serve exited with ${code}`)));
  });
  return { server, base: line.split(/\s+/).find((w) => w.startsWith("http://")) };
}

/** Headless Chromium (Debian's, or CHROMIUM). */
export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ARGS });
}
