import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { asBackendError, type BackendError } from "../data/backend";
import type { MetadataValue } from "sutra-wasm";
import { metadataValueText } from "../logic/vector";

/** Runs `load` when its dependencies change; exposes data, loading and error states. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): {
  data: T | null;
  error: BackendError | null;
  loading: boolean;
  reload: () => void;
} {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<BackendError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const current = useRef(0);
  useEffect(() => {
    const run = ++current.current;
    setLoading(true);
    setError(null);
    load().then(
      (value) => {
        if (run !== current.current) return;
        setData(value);
        setLoading(false);
      },
      (e: unknown) => {
        if (run !== current.current) return;
        // What was loaded before is no longer known to be true (another server, a failed
        // reload): show the error, not stale data under it.
        setData(null);
        setError(asBackendError(e));
        setLoading(false);
      },
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export function ErrorNote({ error }: { error: BackendError | null }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      <strong>{error.code}</strong>: {error.message}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** A labelled form field with the engine's validation message next to it. */
export function Field({ label, error, children, hint }: { label: string; error?: string | null; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      {children}
      {hint && !error ? <span className="hint">{hint}</span> : null}
      {error ? (
        <span className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </label>
  );
}

export function link(memory: string, view: string, id?: string): string {
  return `#/m/${encodeURIComponent(memory)}/${view}${id ? `/${id}` : ""}`;
}

/** A button for an action that cannot be undone: the first click asks, the second acts. */
export function ConfirmButton({ label, question, confirm, onConfirm }: { label: string; question: string; confirm: string; onConfirm: () => void }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className="danger" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      {question}{" "}
      <button
        type="button"
        className="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** Metadata as entries of a description list (`<dl>`), one `div.meta` per key. */
export function MetadataEntries({ metadata }: { metadata: Record<string, MetadataValue> }) {
  return (
    <>
      {Object.entries(metadata).map(([k, v]) => (
        <div key={k} className="meta">
          <dt>{k}</dt>
          <dd>{metadataValueText(v)}</dd>
        </div>
      ))}
    </>
  );
}
