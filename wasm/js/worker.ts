/**
 * The dedicated worker that owns one memory: it holds the memory's Web Lock, opens its OPFS
 * files through the WebAssembly engine, and answers the client's calls. Writes that arrive while
 * a flush is running are put into the next flush together (group commit): the worker stages
 * every queued write, flushes once, then answers each.
 */
import init, { Engine, dropMemory, listMemories, storageEstimate } from "../pkg/sutra_wasm.js";
import type { Call, ErrorReply, Method, Methods, Reply, WorkerMessage } from "./protocol.js";

interface WorkerScope {
  onmessage: ((event: MessageEvent<Call>) => void) | null;
  postMessage(message: WorkerMessage): void;
}
const scope = self as unknown as WorkerScope;

let ready: Promise<unknown> | null = null;
let engine: Engine | null = null;
let releaseLock: (() => void) | null = null;

interface Pending {
  id: number;
  request: string;
}
const writes: Pending[] = [];
let draining = false;

// A write that finds the worker quiet is committed at once. One that arrives while the worker
// is still in the task of a drain, or before that drain's marker (below) has come back, was
// queued during a flush, and others may be queued behind it: its drain is scheduled with a
// message to ourselves, which runs after the messages already queued (so concurrent writes
// share one flush) without a timer's delay.
const wake = new MessageChannel();
wake.port1.onmessage = () => drain();
// Posted at the end of each drain: when it comes back, every message queued during the drain
// has been taken, so the worker is quiet.
const marker = new MessageChannel();
let quiet = true;
marker.port1.onmessage = () => {
  quiet = true;
};

// Background indexing goes on between calls, one step (at most 1,024 vectors) per task: the
// calls that arrive meanwhile are answered between steps, and the vectors written in a burst
// get indexed even if no write follows it.
const idle = new MessageChannel();
let indexing = false;
idle.port1.onmessage = () => {
  indexing = false;
  housekeeping();
};

// While a memory is open, housekeeping also runs every so often with no call at all: the core's
// policy then indexes a quiet memory's last vectors (and those found at open) and retries a
// checkpoint that failed.
const HOUSEKEEPING_TICK_MS = 1000;
let ticker: ReturnType<typeof setInterval> | null = null;

function reply(message: Reply): void {
  scope.postMessage(message);
}

function failure(e: unknown): ErrorReply {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const error = e as { code: unknown; message: unknown; field?: unknown; limit?: unknown };
    const reply: ErrorReply = { code: String(error.code), message: String(error.message) };
    if (typeof error.field === "string") reply.field = error.field;
    if (typeof error.limit === "number") reply.limit = error.limit;
    return reply;
  }
  if (e instanceof Error) {
    return { code: "worker_failed", message: `${e.name}: ${e.message}` };
  }
  return { code: "worker_failed", message: String(e) };
}

function lockName(name: string): string {
  return `sutra-memory:${name}`;
}

/** Takes the memory's Web Lock without waiting; false when another tab or worker holds it. */
function takeLock(name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(lockName(name), { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise<void>((release) => {
          releaseLock = release;
        });
      })
      .catch(reject);
  });
}

function requireEngine(): Engine {
  if (!engine) {
    throw { code: "closed", message: "the memory is closed" };
  }
  return engine;
}

/** Stages every queued write, flushes once, answers them (in one message). */
function drain(): void {
  draining = false;
  const batch = writes.splice(0);
  if (batch.length === 0) return;
  quiet = false;
  const replies: Reply[] = [];
  try {
    commitGroup(batch, replies);
  } finally {
    if (replies.length > 0) scope.postMessage(replies);
    marker.port2.postMessage(null);
  }
  housekeeping();
}

function commitGroup(batch: Pending[], replies: Reply[]): void {
  let current: Engine;
  try {
    current = requireEngine();
  } catch (e) {
    for (const w of batch) replies.push({ id: w.id, ok: false, error: failure(e) });
    return;
  }
  const staged: { id: number; value: unknown }[] = [];
  const now = Date.now();
  for (const w of batch) {
    try {
      staged.push({ id: w.id, value: JSON.parse(current.stage(w.request, now)) });
    } catch (e) {
      replies.push({ id: w.id, ok: false, error: failure(e) });
    }
  }
  if (staged.length > 0) {
    try {
      current.commit();
      for (const s of staged) replies.push({ id: s.id, ok: true, value: s.value });
    } catch (e) {
      const error = failure(e);
      for (const s of staged) replies.push({ id: s.id, ok: false, error });
    }
  }
}

/** One piece of indexing or a due checkpoint; while there was indexing to do, schedules the next. */
function housekeeping(): void {
  if (!engine) return;
  let more = false;
  try {
    more = (JSON.parse(engine.maintain()) as { resealed: boolean }).resealed;
  } catch {
    // Housekeeping failures surface on the next write or in stats (poisoned).
  }
  if (more && !indexing) {
    indexing = true;
    idle.port2.postMessage(null);
  }
}

/** What each method answers (a write is answered by `drain`, so its own answer is nothing). */
type Answer<M extends Method> = Promise<Methods[M]["answer"] | undefined>;

async function handle(call: Call): Answer<Method> {
  switch (call.method) {
    case "open": {
      const [name, dimension, language, indexedKeys] = call.args;
      const got = await takeLock(name);
      if (!got) {
        throw { code: "memory_locked", message: `memory "${name}" is open in another tab or worker` };
      }
      try {
        engine = await Engine.open(name, dimension, language, indexedKeys);
      } catch (e) {
        releaseLock?.();
        releaseLock = null;
        throw e;
      }
      ticker ??= setInterval(housekeeping, HOUSEKEEPING_TICK_MS);
      return JSON.parse(engine.recovery());
    }
    case "write": {
      writes.push({ id: call.id, request: call.args[0] });
      if (quiet) {
        drain();
      } else if (!draining) {
        draining = true;
        wake.port2.postMessage(null);
      }
      return undefined; // answered by drain()
    }
    case "read":
      return JSON.parse(requireEngine().read(call.args[0], Date.now())) as unknown;
    case "checkpoint":
      return JSON.parse(requireEngine().checkpoint());
    case "export": {
      const e = requireEngine();
      e.export_start();
      const parts: string[] = [];
      for (let chunk = e.export_next(); chunk !== undefined; chunk = e.export_next()) {
        parts.push(chunk);
      }
      return parts.join("");
    }
    case "import": {
      const [text, firstLine] = call.args;
      return JSON.parse(requireEngine().import_lines(text, firstLine, Date.now()));
    }
    case "estimate":
      return JSON.parse(await storageEstimate());
    case "bytes":
      return requireEngine().storage_bytes();
    case "close": {
      drain();
      if (ticker !== null) clearInterval(ticker);
      ticker = null;
      engine?.free();
      engine = null;
      releaseLock?.();
      releaseLock = null;
      return undefined;
    }
    case "list":
      return JSON.parse(await listMemories());
    case "drop": {
      const [name] = call.args;
      const got = await takeLock(name);
      if (!got) {
        throw { code: "memory_locked", message: `memory "${name}" is open in another tab or worker` };
      }
      try {
        await dropMemory(name);
      } finally {
        releaseLock?.();
        releaseLock = null;
      }
      return undefined;
    }
  }
}

scope.onmessage = (event: MessageEvent<Call>) => {
  const call = event.data;
  ready ??= init();
  ready
    .then(() => handle(call))
    .then(
      (value) => {
        if (call.method !== "write") reply({ id: call.id, ok: true, value });
      },
      (e: unknown) => reply({ id: call.id, ok: false, error: failure(e) }),
    );
};
