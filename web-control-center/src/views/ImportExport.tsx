import { useState } from "react";
import { asBackendError, type BackendError, type ImportSummary } from "../data/backend";
import { ErrorNote } from "../components/common";
import { useBackend } from "../data/context";

export function ImportExport({ memory }: { memory: string }) {
  const backend = useBackend();
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [summary, setSummary] = useState<ImportSummary | null>(null);
  const [error, setError] = useState<BackendError | null>(null);
  const [exported, setExported] = useState<string | null>(null);

  async function importFile(file: File) {
    setError(null);
    setSummary(null);
    setProgress({ done: 0, total: 1 });
    try {
      const text = await file.text();
      setSummary(await backend.importJsonl(memory, text, (done, total) => setProgress({ done, total })));
    } catch (e) {
      setError(asBackendError(e));
    }
  }

  async function exportFile() {
    setError(null);
    try {
      const text = await backend.exportJsonl(memory);
      const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `${memory}.jsonl`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setExported(`Exported ${text.split("\n").filter((l) => l !== "").length} lines to ${memory}.jsonl.`);
    } catch (e) {
      setError(asBackendError(e));
    }
  }

  return (
    <section>
      <h2>Import and export</h2>
      <div className="card">
        <h3>Import JSON Lines</h3>
        <p className="muted">
          The format <code>sutra export</code> and every Sutra memory write: a header line, concepts, then associations.
        </p>
        <input
          type="file"
          name="import-file"
          accept=".jsonl,.ndjson,application/x-ndjson,text/plain"
          aria-label="JSON Lines file to import"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void importFile(file);
          }}
        />
        {progress ? (
          <p>
            <progress aria-label="import progress" max={progress.total} value={progress.done} /> {progress.done} / {progress.total} lines
          </p>
        ) : null}
        {summary ? (
          <div role="status" aria-label="import summary">
            <p>
              Imported {summary.concepts} concepts and {summary.associations} associations; {summary.rejected_count} lines rejected.
            </p>
            {summary.rejected.length > 0 ? (
              <ul aria-label="rejected lines">
                {summary.rejected.map((r) => (
                  <li key={r.line}>
                    line {r.line}: {r.reason}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
      </div>
      <div className="card">
        <h3>Export</h3>
        <button type="button" onClick={exportFile}>
          Download {memory}.jsonl
        </button>
        {exported ? <p role="status">{exported}</p> : null}
      </div>
      <ErrorNote error={error} />
    </section>
  );
}
