// The cluster as the control center reads it, from real servers: a single server (the shared
// one), and a three-node cluster of real `sutra serve --node-id` processes started here.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { HttpBackend } from "../../src/data/http";
import { memberRows, summary } from "../../src/logic/cluster";

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

const nodes: ChildProcess[] = [];
const apis: string[] = [];

async function leaderOf(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const seen = await Promise.all(apis.map((api) => new HttpBackend(`http://${api}`, null).cluster().then((s) => s.leader, () => null)));
    if (seen.every((l) => l !== null && l === seen[0])) return seen[0] as number;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("no leader");
}

beforeAll(async () => {
  const repo = fileURLToPath(new URL("../../..", import.meta.url));
  const bin = process.env.SUTRA_BIN ?? join(repo, "target/debug/sutra");
  if (!existsSync(bin)) throw new Error(`no sutra binary at ${bin}`);
  const dir = mkdtempSync(join(tmpdir(), "sutra-vitest-cluster-"));
  const members: string[] = [];
  for (let id = 1; id <= 3; id++) {
    const api = `127.0.0.1:${await freePort()}`;
    const raft = `127.0.0.1:${await freePort()}`;
    apis.push(api);
    members.push(`${id}=${api}/${raft}`);
  }
  for (let id = 1; id <= 3; id++) {
    const args = ["serve", "--listen", apis[id - 1] ?? "", "--ui", "/nonexistent", "--data", join(dir, `node${id}`), "--node-id", String(id)];
    for (const m of members) args.push("--member", m);
    const child = spawn(bin, args, {
      env: { ...process.env, RUST_LOG: "error", SUTRA_CLUSTER_TOKEN: "the-control-center-test-token" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    nodes.push(child);
    await new Promise<string>((ok, fail) => {
      if (!child.stdout) return fail(new Error("no stdout"));
      createInterface({ input: child.stdout }).once("line", ok);
      child.once("exit", (code: number | null) => fail(new Error(`node ${id} exited with ${code}`)));
    });
  }
  await leaderOf();
}, 30_000);

afterAll(() => {
  for (const n of nodes) n.kill("SIGKILL");
});

describe("the cluster view's data", () => {
  it("says a single server is on its own", async () => {
    const status = await new HttpBackend(inject("sutraUrl"), null).cluster();
    expect(status).toMatchObject({ role: "single", node: null, members: [] });
    expect(summary(status)).toContain("not a node of a cluster");
    expect(memberRows(status)).toEqual([]);
  });

  it("shows every member from any node, and each one's lag from the leader", async () => {
    const leader = await leaderOf();
    const fromLeader = await new HttpBackend(`http://${apis[leader - 1]}`, null).cluster();
    expect(fromLeader.role).toBe("leader");
    expect(fromLeader.members.map((m) => [m.id, m.kind, m.api])).toEqual(apis.map((api, i) => [i + 1, "voter", api]));
    const rows = memberRows(fromLeader);
    expect(rows.filter((r) => r.leader).map((r) => r.member.id)).toEqual([leader]);
    expect(rows.filter((r) => r.self).map((r) => r.member.id)).toEqual([leader]);
    expect(rows.every((r) => r.health === "answering")).toBe(true);
    expect(summary(fromLeader)).toContain(`node ${leader} leads`);

    const follower = leader % 3 + 1;
    const fromFollower = await new HttpBackend(`http://${apis[follower - 1]}`, null).cluster();
    expect(fromFollower.role).toBe("follower");
    expect(fromFollower.leader).toBe(leader);
    expect(memberRows(fromFollower).every((r) => r.health === "unknown")).toBe(true);
    expect(memberRows(fromFollower).map((r) => r.behind)).toEqual(["—", "—", "—"]);
    expect(rows.find((r) => r.leader)?.behind).toBe("in step");
  });

  it("flags a member that stopped answering", async () => {
    const leader = await leaderOf();
    const stopped = leader % 3 + 1;
    nodes[stopped - 1]?.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 2500));
    const status = await new HttpBackend(`http://${apis[leader - 1]}`, null).cluster();
    const row = memberRows(status).find((r) => r.member.id === stopped);
    expect(row?.health).toBe("not answering");
    // A write the stopped member cannot have: it is behind by it, in entries and in time.
    const backend = new HttpBackend(`http://${apis[leader - 1]}`, null);
    const written = Date.now();
    await backend.createMemory("lagging", { dimension: null, language: null, indexedKeys: [] });
    await new Promise((r) => setTimeout(r, 300));
    const after = memberRows(await backend.cluster()).find((r) => r.member.id === stopped);
    const since = Date.now() - written;
    const [, entries, ms] = /^(\d+) entr(?:y|ies), (\d+) ms$/.exec(after?.behind ?? "") ?? [];
    expect(Number(entries)).toBeGreaterThanOrEqual(1);
    expect(Number(ms)).toBeGreaterThanOrEqual(250);
    expect(Number(ms)).toBeLessThanOrEqual(since + 5);
    expect(memberRows(status).filter((r) => r.health === "answering").map((r) => r.member.id).sort()).toEqual(
      [1, 2, 3].filter((id) => id !== stopped),
    );
  });
});
