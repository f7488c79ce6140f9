// Starts a real `sutra serve` for the data-access tests (no mocks: the HTTP backend talks to the
// engine), and hands its address to the tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { TestProject } from "vitest/node";

let child: ChildProcess | null = null;

export async function setup(project: TestProject): Promise<void> {
  const repo = fileURLToPath(new URL("../../..", import.meta.url));
  const bin = process.env.SUTRA_BIN ?? join(repo, "target/debug/sutra");
  if (!existsSync(bin)) throw new Error(`no sutra binary at ${bin}: cargo build -p sutra-server, or set SUTRA_BIN`);
  const data = mkdtempSync(join(tmpdir(), "sutra-vitest-"));
  child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--ui", "/nonexistent", "--data", data], {
    env: { ...process.env, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const started = child;
  const line = await new Promise<string>((ok, fail) => {
    if (!started.stdout) return fail(new Error("no stdout"));
    createInterface({ input: started.stdout }).once("line", ok);
    started.once("exit", (code: number | null) => fail(new Error(`sutra serve exited with ${code}`)));
  });
  const url = line.split(/\s+/).find((w) => w.startsWith("http://"));
  if (!url) throw new Error(`no address in ${line}`);
  project.provide("sutraUrl", url);
}

export async function teardown(): Promise<void> {
  child?.kill("SIGTERM");
}

declare module "vitest" {
  export interface ProvidedContext {
    sutraUrl: string;
  }
}
