import { useEffect, useState } from "react";
import { asBackendError, type BackendError } from "../data/backend";
import { ErrorNote, Field, Loading, useLoad } from "../components/common";
import { parseKeys } from "../logic/filter";
import { formatBytes } from "../logic/trail";
import { useBackend } from "../data/context";

/** How often the overview reads the memory's stats again, in ms. */
export const REFRESH_MS = 2000;

export function Overview({ memory }: { memory: string }) {
  const backend = useBackend();
  const { data, error, loading, reload } = useLoad(() => backend.stats(memory), [backend, memory]);
  // The counts move while the page is open (other clients' writes, an import, indexing):
  // read them again every few seconds while the page is visible.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") reload();
    }, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);
  const [note, setNote] = useState<string | null>(null);
  const [cpError, setCpError] = useState<BackendError | null>(null);
  const [busy, setBusy] = useState(false);
  const [keysText, setKeysText] = useState<string | null>(null);
  const [keysError, setKeysError] = useState<BackendError | null>(null);
  const [keysNote, setKeysNote] = useState<string | null>(null);

  async function declareKeys(event: React.FormEvent) {
    event.preventDefault();
    setKeysError(null);
    setKeysNote(null);
    const keys = parseKeys(keysText ?? "");
    try {
      await backend.indexMetadata(memory, keys);
      setKeysNote(keys.length === 0 ? "No keys declared: filters name none." : `Filters may name ${keys.join(", ")}.`);
      setKeysText(null);
      reload();
    } catch (e) {
      setKeysError(asBackendError(e));
    }
  }

  async function checkpoint() {
    setBusy(true);
    setCpError(null);
    try {
      const report = await backend.checkpoint(memory);
      setNote(
        report.written
          ? `Checkpoint written at sequence ${report.seq}: ${formatBytes(report.snapshot_bytes)} snapshot, ${formatBytes(report.log_bytes_dropped)} of log dropped.`
          : `Nothing new since the checkpoint at sequence ${report.seq}: its ${formatBytes(report.snapshot_bytes)} snapshot is kept as it is.`,
      );
      reload();
    } catch (e) {
      setCpError(asBackendError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <h2>Overview</h2>
      {loading && !data ? <Loading what="stats" /> : null}
      <ErrorNote error={error} />
      {data ? (
        <dl className="stats" aria-label="memory stats">
          <dt>Concepts</dt>
          <dd data-stat="concepts">{data.concepts}</dd>
          <dt>Associations</dt>
          <dd data-stat="associations">{data.associations}</dd>
          <dt>Vector dimension</dt>
          <dd>{data.dimension ?? "not fixed yet"}</dd>
          <dt>Text search</dt>
          <dd data-stat="language">{data.language ? `stemmed in ${data.language}` : "words as written (no stemming)"}</dd>
          <dt>Keys for filters</dt>
          <dd data-stat="indexed-keys">{data.indexed_keys.length === 0 ? "none declared" : data.indexed_keys.join(", ")}</dd>
          <dt>Vectors</dt>
          <dd>
            <span data-stat="vectors">
              {data.vectors.fresh === 0
                ? `${data.vectors.sealed} indexed`
                : `${data.vectors.sealed} indexed, ${data.vectors.fresh} waiting`}
            </span>
            {data.vectors.stale > 0 ? ` (${data.vectors.stale} replaced or deleted, hidden until the index is rebuilt)` : ""}
            {data.vectors.fresh > 0 ? (
              <>
                <progress
                  aria-label="vector indexing"
                  value={data.vectors.sealed}
                  max={data.vectors.sealed + data.vectors.fresh}
                />
                <span className="muted" data-stat="indexing">
                  Vectors waiting are already found by searches (each is compared with the query one by one); they are
                  indexed in batches while many arrive, and all of them once writes pause for a few seconds.
                </span>
              </>
            ) : null}
          </dd>
          <dt>Log size</dt>
          <dd>{formatBytes(data.log_bytes)}</dd>
          <dt>Last sequence number</dt>
          <dd>{data.last_seq}</dd>
          <dt>Last checkpoint</dt>
          <dd data-stat="checkpoint">{data.checkpoint_seq === null ? "none yet" : `at sequence ${data.checkpoint_seq}`}</dd>
          <dt>Size of its files</dt>
          <dd data-stat="storage" data-bytes={data.storage_bytes ?? undefined}>
            {formatBytes(data.storage_bytes)}
            {data.site_bytes != null ? (
              <span className="muted" data-site-bytes={data.site_bytes}>
                {" "}
                (this browser keeps {formatBytes(data.site_bytes)} for this site in all: every memory and the app)
              </span>
            ) : null}
          </dd>
          {data.poisoned ? (
            <>
              <dt>Writes refused</dt>
              <dd className="error">{data.poisoned}</dd>
            </>
          ) : null}
        </dl>
      ) : null}
      <button type="button" onClick={checkpoint} disabled={busy}>
        Checkpoint now
      </button>
      {note ? <p role="status">{note}</p> : null}
      <ErrorNote error={cpError} />
      {data ? (
        <form className="card" onSubmit={declareKeys} aria-label="keys for filters">
          <Field
            label="Metadata keys searches and pages may filter on"
            error={keysError?.field === "keys" ? keysError.message : null}
            hint="separated by commas, at most 16; replaces the keys declared before"
          >
            <input name="keys" value={keysText ?? data.indexed_keys.join(", ")} onChange={(e) => setKeysText(e.target.value)} />
          </Field>
          <button type="submit">Declare keys</button>
          {keysNote ? <p role="status">{keysNote}</p> : null}
        </form>
      ) : null}
      {keysError && keysError.field !== "keys" ? <ErrorNote error={keysError} /> : null}
    </section>
  );
}
