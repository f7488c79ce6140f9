import { useState } from "react";
import { asBackendError, KINDS, type Association, type BackendError, type Kind } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import { ConfirmButton, ErrorNote, Field, link, Loading, useLoad } from "../components/common";
import { formatNumber } from "../logic/trail";
import { metadataValueText, vectorText } from "../logic/vector";
import { ConceptForm } from "./ConceptForm";
import { useBackend } from "../data/context";

function AssociationRow({ memory, a, other, name, outgoing, onChanged }: { memory: string; a: Association; other: string; name: string; outgoing: boolean; onChanged: () => void }) {
  const backend = useBackend();
  const [editing, setEditing] = useState(false);
  const [confidence, setConfidence] = useState(String(a.confidence));
  const [weight, setWeight] = useState(String(a.weight));
  const [error, setError] = useState<BackendError | null>(null);
  async function save() {
    try {
      await backend.putAssociation(memory, { source: a.source, target: a.target, kind: a.kind, confidence: Number(confidence), weight: Number(weight) });
      setEditing(false);
      onChanged();
    } catch (e) {
      setError(asBackendError(e));
    }
  }
  async function remove() {
    try {
      await backend.deleteAssociation(memory, a.source, a.target, a.kind);
      onChanged();
    } catch (e) {
      setError(asBackendError(e));
    }
  }
  return (
    <tr>
      <td>{outgoing ? "→ to" : "← from"}</td>
      <td>
        <a href={link(memory, "concept", other)}>{name}</a>
      </td>
      <td>
        <span className={`kind kind-${a.kind}`}>{a.kind}</span>
      </td>
      {editing ? (
        <>
          <td>
            <input aria-label="confidence" value={confidence} onChange={(e) => setConfidence(e.target.value)} size={5} />
          </td>
          <td>
            <input aria-label="weight" value={weight} onChange={(e) => setWeight(e.target.value)} size={5} />
          </td>
          <td>
            <button type="button" onClick={save}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <ErrorNote error={error} />
          </td>
        </>
      ) : (
        <>
          <td>{formatNumber(a.confidence)}</td>
          <td>{formatNumber(a.weight)}</td>
          <td>
            <button type="button" onClick={() => setEditing(true)}>
              Edit
            </button>
            <ConfirmButton label="Delete…" question={`Delete this ${a.kind} association?`} confirm="Delete" onConfirm={() => void remove()} />
            <ErrorNote error={error} />
          </td>
        </>
      )}
    </tr>
  );
}

function AddAssociation({ memory, id, onAdded }: { memory: string; id: string; onAdded: () => void }) {
  const backend = useBackend();
  const [target, setTarget] = useState("");
  const [kind, setKind] = useState<Kind>("semantic");
  const [confidence, setConfidence] = useState("1");
  const [weight, setWeight] = useState("1");
  const [error, setError] = useState<BackendError | null>(null);
  async function add(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      await backend.putAssociation(memory, { source: id, target, kind, confidence: Number(confidence), weight: Number(weight) });
      onAdded();
    } catch (e) {
      setError(asBackendError(e));
    }
  }
  return (
    <form className="card" onSubmit={add} aria-label="add an association">
      <h3>Add an outgoing association</h3>
      <ConceptPicker memory={memory} label="Target" name="target" value={target} onChange={setTarget} />
      <div className="row">
        <Field label="Kind" error={error?.field === "kind" ? error.message : null}>
          <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </Field>
        <Field label="Confidence" error={error?.field === "confidence" ? error.message : null}>
          <input name="assoc-confidence" value={confidence} onChange={(e) => setConfidence(e.target.value)} size={5} />
        </Field>
        <Field label="Weight" error={error?.field === "weight" ? error.message : null}>
          <input name="assoc-weight" value={weight} onChange={(e) => setWeight(e.target.value)} size={5} />
        </Field>
      </div>
      {error && !["kind", "confidence", "weight"].includes(error.field ?? "") ? <ErrorNote error={error} /> : null}
      <button type="submit" disabled={target === ""}>
        Add association
      </button>
    </form>
  );
}

export function ConceptDetail({ memory, id }: { memory: string; id: string }) {
  const backend = useBackend();
  const concept = useLoad(() => backend.getConcept(memory, id), [backend, memory, id]);
  const links = useLoad(
    async () => {
      const out = await backend.associations(memory, id, "out");
      const inc = await backend.associations(memory, id, "in");
      // Name the other ends (the listing carries ids only).
      const others = [...new Set([...out.map((a) => a.target), ...inc.map((a) => a.source)])].slice(0, 200);
      const names = new Map<string, string>();
      await Promise.all(
        others.map(async (other) => {
          try {
            names.set(other, (await backend.getConcept(memory, other)).content);
          } catch {
            names.set(other, other.slice(0, 12));
          }
        }),
      );
      return { out, in: inc, names };
    },
    [backend, memory, id],
  );
  const similar = useLoad(
    async () => (concept.data?.embedding ? backend.search(memory, { id, k: 10 }) : []),
    [backend, memory, id, concept.data],
  );
  const [deleteError, setDeleteError] = useState<BackendError | null>(null);

  async function remove() {
    try {
      await backend.deleteConcept(memory, id);
      window.location.hash = link(memory, "concepts");
    } catch (e) {
      setDeleteError(asBackendError(e));
    }
  }

  if (concept.loading && !concept.data) return <Loading what="the concept" />;
  if (concept.error) return <ErrorNote error={concept.error} />;
  const c = concept.data;
  if (!c) return null;
  return (
    <section>
      <h2>{c.content}</h2>
      <dl className="stats" aria-label="concept fields">
        <dt>Id</dt>
        <dd>
          <code>{c.id}</code>
        </dd>
        <dt>Strength</dt>
        <dd>{c.strength}</dd>
        <dt>Confidence</dt>
        <dd>{c.confidence}</dd>
        <dt>Embedding</dt>
        <dd>{c.embedding ? `[${vectorText(c.embedding)}]` : "none"}</dd>
        <dt>Created</dt>
        <dd>{new Date(c.created_ms).toISOString()}</dd>
        <dt>Updated</dt>
        <dd>{new Date(c.updated_ms).toISOString()}</dd>
        {Object.entries(c.metadata).map(([k, v]) => (
          <div key={k} className="meta">
            <dt>{k}</dt>
            <dd>{metadataValueText(v)}</dd>
          </div>
        ))}
      </dl>
      <p>
        <a href={link(memory, "graph", c.id)}>Explore its neighbourhood</a> ·{" "}
        <ConfirmButton label="Delete this concept…" question={`Delete “${c.content}” and its associations?`} confirm="Delete" onConfirm={() => void remove()} />
      </p>
      <ErrorNote error={deleteError} />
      <h3>Associations</h3>
      {links.loading && !links.data ? <Loading what="associations" /> : null}
      <ErrorNote error={links.error} />
      {links.data ? (
        <table className="table" aria-label="associations">
          <thead>
            <tr>
              <th>Direction</th>
              <th>Concept</th>
              <th>Kind</th>
              <th>Confidence</th>
              <th>Weight</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {links.data.out.map((a) => (
              <AssociationRow key={`o-${a.target}-${a.kind}`} memory={memory} a={a} other={a.target} name={links.data?.names.get(a.target) ?? a.target} outgoing onChanged={links.reload} />
            ))}
            {links.data.in.map((a) => (
              <AssociationRow key={`i-${a.source}-${a.kind}`} memory={memory} a={a} other={a.source} name={links.data?.names.get(a.source) ?? a.source} outgoing={false} onChanged={links.reload} />
            ))}
          </tbody>
          <caption>
            {links.data.out.length} outgoing, {links.data.in.length} incoming
          </caption>
        </table>
      ) : null}
      <AddAssociation memory={memory} id={c.id} onAdded={links.reload} />
      <h3>Most similar by vector</h3>
      {!c.embedding ? <p>This concept has no embedding.</p> : null}
      <ErrorNote error={similar.error} />
      {similar.data && similar.data.length > 0 ? (
        <ol aria-label="similar concepts">
          {similar.data.map((h) => (
            <li key={h.id}>
              <a href={link(memory, "concept", h.id)}>{h.content}</a> <span className="muted">{formatNumber(h.score)}</span>
            </li>
          ))}
        </ol>
      ) : null}
      <ConceptForm key={`${c.id}-${c.updated_ms}`} memory={memory} concept={c} onSaved={() => { concept.reload(); }} />
    </section>
  );
}
