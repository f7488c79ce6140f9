import { useState } from "react";
import { asBackendError, LANGUAGES, type BackendError, type Language } from "../data/backend";
import { ErrorNote, Field, link, Loading, useLoad } from "../components/common";
import { useBackend } from "../data/context";
import { parseKeys } from "../logic/filter";
import { formatBytes } from "../logic/trail";

export function Memories() {
  const backend = useBackend();
  const { data, error, loading, reload } = useLoad(() => backend.listMemories(), [backend]);
  const [name, setName] = useState("");
  const [dimension, setDimension] = useState("");
  const [language, setLanguage] = useState<Language | "">("");
  const [keys, setKeys] = useState("");
  const [createError, setCreateError] = useState<BackendError | null>(null);
  const [busy, setBusy] = useState(false);
  const [dropping, setDropping] = useState<string | null>(null);
  const [confirmText, setConfirmText] = useState("");
  const [dropError, setDropError] = useState<BackendError | null>(null);

  const keysError = createError?.field?.startsWith("indexed_keys") ?? false;

  async function create(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setCreateError(null);
    try {
      const dim = dimension.trim() === "" ? null : Number(dimension);
      await backend.createMemory(name.trim(), { dimension: dim, language: language === "" ? null : language, indexedKeys: parseKeys(keys) });
      window.location.hash = link(name.trim(), "overview");
    } catch (e) {
      setCreateError(asBackendError(e));
    } finally {
      setBusy(false);
    }
  }

  async function drop(memory: string) {
    setDropError(null);
    try {
      await backend.dropMemory(memory);
      setDropping(null);
      setConfirmText("");
      reload();
    } catch (e) {
      setDropError(asBackendError(e));
    }
  }

  return (
    <section>
      <h2>Memories</h2>
      <p className="muted">Stored in {backend.description}.</p>
      {loading && !data ? <Loading what="memories" /> : null}
      <ErrorNote error={error} />
      {data && data.length === 0 ? <p>No memories yet: create one below.</p> : null}
      {data && data.length > 0 ? (
        <table className="table" aria-label="memories">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Concepts</th>
              <th>Associations</th>
              <th>Dimension</th>
              <th>Language</th>
              <th>Size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.map((m) => (
              <tr key={m.name}>
                <td>
                  <a href={link(m.name, "overview")}>{m.name}</a>
                </td>
                <td title={m.error}>{m.status}</td>
                <td>{m.concepts ?? "—"}</td>
                <td>{m.associations ?? "—"}</td>
                <td>{m.dimension ?? "—"}</td>
                <td>{m.language ?? "—"}</td>
                <td data-size={m.storage_bytes ?? undefined}>{formatBytes(m.storage_bytes)}</td>
                <td>
                  {dropping === m.name ? (
                    <span className="confirm">
                      <label>
                        Type <code>{m.name}</code> to drop it for good:{" "}
                        <input aria-label={`confirm dropping ${m.name}`} value={confirmText} onChange={(e) => setConfirmText(e.target.value)} autoFocus />
                      </label>
                      <button type="button" className="danger" disabled={confirmText !== m.name} onClick={() => drop(m.name)}>
                        Drop
                      </button>
                      <button type="button" onClick={() => setDropping(null)}>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <button type="button" onClick={() => { setDropping(m.name); setConfirmText(""); }}>
                      Drop…
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {data?.some((m) => m.status === "stored") ? (
        <p className="muted">
          The counts and size of a memory kept in this browser show once this tab has opened it (opening one takes it from any other tab).
        </p>
      ) : null}
      <ErrorNote error={dropError} />
      <form className="card" onSubmit={create} aria-label="create a memory">
        <h3>Create a memory</h3>
        <Field label="Name" error={createError?.field === "name" ? createError.message : null} hint="a-z, 0-9, _ and -">
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label="Vector dimension (optional)" error={createError?.field === "dimension" ? createError.message : null} hint="fixed by the first embedding if left empty">
          <input name="dimension" inputMode="numeric" value={dimension} onChange={(e) => setDimension(e.target.value)} />
        </Field>
        <Field label="Stemming language (optional)" error={createError?.field === "language" ? createError.message : null} hint={'text search matches words by their stem ("runs" finds "running"); chosen once'}>
          <select name="language" value={language} onChange={(e) => setLanguage(e.target.value as Language | "")}>
            <option value="">none: words as written</option>
            {LANGUAGES.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Keys for filters (optional)" error={keysError ? createError?.message : null} hint="metadata keys searches and pages can filter on, e.g. user, agent (more can be declared later)">
          <input name="indexed_keys" value={keys} onChange={(e) => setKeys(e.target.value)} />
        </Field>
        {createError && !keysError && !["name", "dimension", "language"].includes(createError.field ?? "") ? <ErrorNote error={createError} /> : null}
        <button type="submit" disabled={busy || name.trim() === ""}>
          Create
        </button>
      </form>
    </section>
  );
}
