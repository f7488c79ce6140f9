/**
 * In browser mode, a memory is held by one tab at a time (its OPFS files are open in that tab's
 * worker). A memory another tab holds is explained here instead of its views — no action that
 * could only fail is offered — and opened as soon as the other tab lets go of it.
 */
import { useEffect, useState, type ReactNode } from "react";
import { asBackendError } from "../data/backend";
import { useBackend } from "../data/context";
import { Loading } from "./common";

/** How often a held memory is tried again, in ms. */
export const LOCKED_RETRY_MS = 2000;

type Gate = { state: "checking" } | { state: "open" } | { state: "locked"; tries: number };

export function MemoryGate({ memory, children }: { memory: string; children: ReactNode }) {
  const backend = useBackend();
  const [gate, setGate] = useState<Gate>({ state: backend.mode === "browser" ? "checking" : "open" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (backend.mode !== "browser") {
      setGate({ state: "open" });
      return;
    }
    let current = true;
    backend.stats(memory).then(
      () => current && setGate({ state: "open" }),
      (e: unknown) => {
        if (!current) return;
        // Anything but a held memory is the views' to show, with their own errors.
        if (asBackendError(e).code === "memory_locked") setGate((g) => ({ state: "locked", tries: g.state === "locked" ? g.tries + 1 : 1 }));
        else setGate({ state: "open" });
      },
    );
    return () => {
      current = false;
    };
  }, [backend, memory, attempt]);

  useEffect(() => {
    if (gate.state !== "locked") return;
    const timer = window.setTimeout(() => setAttempt((a) => a + 1), LOCKED_RETRY_MS);
    return () => window.clearTimeout(timer);
  }, [gate]);

  if (gate.state === "checking") return <Loading what={`memory “${memory}”`} />;
  if (gate.state === "open") return <>{children}</>;
  return (
    <section className="locked" aria-labelledby="locked-title">
      <h2 id="locked-title">“{memory}” is open in another tab</h2>
      <p>
        A memory kept in this browser is held by one tab at a time, so that two tabs never write over each other. Close it in the other
        tab (or work there); this page opens it as soon as it is free, trying every {LOCKED_RETRY_MS / 1000} seconds.
      </p>
      <p className="muted" role="status">
        Tried {gate.tries} {gate.tries === 1 ? "time" : "times"}; still held.
      </p>
      <button type="button" onClick={() => setAttempt((a) => a + 1)}>
        Try again now
      </button>
    </section>
  );
}
