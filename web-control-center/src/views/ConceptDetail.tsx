import { useState } from "react";
import { asBackendError, KINDS, type Association, type AssociationKey, type BackendError, type Kind } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import { ConfirmButton, ErrorNote, Field, link, Loading, useLoad } from "../components/common";
import { formatNumber, relation } from "../logic/trail";
import { holdsAt, parseTime, validityText } from "../logic/validity";
import { metadataValueText, parseMetadata, vectorText } from "../logic/vector";
import { ConceptForm } from "./ConceptForm";
import { useBackend } from "../data/context";

/** The key of an association, as the backend names it. */
function keyOf(a: Association): AssociationKey {
  return { source: a.source, target: a.target, kind: a.kind, label: a.label };
}

function AssociationRow({ memory, a, other, name, outgoing, now, onChanged }: { memory: string; a: Association; other: string; name: string; outgoing: boolean; now: number; onChanged: () => void }) {
  const backend = useBackend();
  const [editing, setEditing] = useState(false);
  const [confidence, setConfidence] = useState(String(a.confidence));
  const [weight, setWeight] = useState(String(a.weight));
  const [error, setError] = useState<BackendError | null>(null);
  async function act(action: () => Promise<void>) {
    setError(null);
    try {
      await action();
      setEditing(false);
      onChanged();
    } catch (e) {
      setError(asBackendError(e));
    }
  }
  // Learning an association again replaces every field: the ones not edited here go back as
  // they are.
  const save = () =>
    act(() =>
      backend.putAssociation(memory, {
        ...keyOf(a),
        confidence: Number(confidence),
        weight: Number(weight),
        metadata: a.metadata,
        ...(a.valid_from_ms === null ? {} : { valid_from_ms: a.valid_from_ms }),
        ...(a.valid_until_ms === null ? {} : { valid_until_ms: a.valid_until_ms }),
      }),
    );
  const what = `this ${relation(a.kind, a.label)} association`;
  return (
    <tr data-label={a.label} className={holdsAt(a, now) ? undefined : "invalid"}>
      <td>{outgoing ? "→ to" : "← from"}</td>
      <td>
        <a href={link(memory, "concept", other)}>{name}</a>
      </td>
      <td>
        <span className={`kind kind-${a.kind}`}>{a.kind}</span>
      </td>
      <td>{a.label}</td>
      <td>{validityText(a, now)}</td>
      <td>{Object.entries(a.metadata).map(([k, v]) => `${k}=${metadataValueText(v)}`).join(", ")}</td>
      {editing ? (
        <>
          <td>
            <input aria-label="confidence" value={confidence} onChange={(e) => setConfidence(e.target.value)} size={5} />
          </td>
          <td>
            <input aria-label="weight" value={weight} onChange={(e) => setWeight(e.target.value)} size={5} />
          </td>
          <td>
            <button type="button" onClick={() => void save()}>
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
            {holdsAt(a, now) ? (
              <ConfirmButton
                label="Invalidate…"
                question={`Mark ${what} as no longer true? It is kept, with the time it stopped holding.`}
                confirm="Invalidate"
                onConfirm={() => void act(() => backend.invalidateAssociation(memory, keyOf(a)))}
              />
            ) : null}
            <ConfirmButton label="Delete…" question={`Delete ${what}?`} confirm="Delete" onConfirm={() => void act(() => backend.deleteAssociation(memory, keyOf(a)))} />
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
  const [label, setLabel] = useState("");
  const [confidence, setConfidence] = useState("1");
  const [weight, setWeight] = useState("1");
  const [metadata, setMetadata] = useState("");
  const [from, setFrom] = useState("");
  const [until, setUntil] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  const [error, setError] = useState<BackendError | null>(null);
  async function add(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    const problems: Record<string, string> = {};
    const meta = parseMetadata(metadata);
    if (!meta.ok) problems.metadata = meta.error;
    const fromMs = parseTime(from);
    if (!fromMs.ok) problems.valid_from_ms = fromMs.error;
    const untilMs = parseTime(until);
    if (!untilMs.ok) problems.valid_until_ms = untilMs.error;
    setLocal(problems);
    if (!meta.ok || !fromMs.ok || !untilMs.ok) return;
    try {
      await backend.putAssociation(memory, {
        source: id,
        target,
        kind,
        label,
        confidence: Number(confidence),
        weight: Number(weight),
        metadata: meta.metadata,
        ...(fromMs.ms === undefined ? {} : { valid_from_ms: fromMs.ms }),
        ...(untilMs.ms === undefined ? {} : { valid_until_ms: untilMs.ms }),
      });
      setLabel("");
      setMetadata("");
      onAdded();
    } catch (e) {
      setError(asBackendError(e));
    }
  }
  const placed = ["kind", "label", "confidence", "weight", "metadata", "valid_from_ms", "valid_until_ms"];
  const fieldError = (field: string) => local[field] ?? (error?.field === field ? error.message : null);
  return (
    <form className="card" onSubmit={add} aria-label="add an association">
      <h3>Add an outgoing association</h3>
      <ConceptPicker memory={memory} label="Target" name="target" value={target} onChange={setTarget} />
      <div className="row">
        <Field label="Kind" error={fieldError("kind")}>
          <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </Field>
        <Field label="Label (optional)" error={fieldError("label")} hint="the predicate: works_at, founded, …">
          <input name="label" value={label} onChange={(e) => setLabel(e.target.value)} size={14} />
        </Field>
        <Field label="Confidence" error={fieldError("confidence")}>
          <input name="assoc-confidence" value={confidence} onChange={(e) => setConfidence(e.target.value)} size={5} />
        </Field>
        <Field label="Weight" error={fieldError("weight")}>
          <input name="assoc-weight" value={weight} onChange={(e) => setWeight(e.target.value)} size={5} />
        </Field>
      </div>
      <div className="row">
        <Field label="Valid from (optional)" error={fieldError("valid_from_ms")}>
          <input name="valid-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </Field>
        <Field label="Valid until (optional)" error={fieldError("valid_until_ms")}>
          <input name="valid-until" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </Field>
      </div>
      <Field label="Metadata (optional)" error={fieldError("metadata")} hint="one key=value per line, as for concepts">
        <textarea name="assoc-metadata" value={metadata} onChange={(e) => setMetadata(e.target.value)} rows={2} />
      </Field>
      {error && !placed.includes(error.field ?? "") ? <ErrorNote error={error} /> : null}
      <button type="submit" disabled={target === ""}>
        Add association
      </button>
    </form>
  );
}

export function ConceptDetail({ memory, id }: { memory: string; id: string }) {
  const backend = useBackend();
  const concept = useLoad(() => backend.getConcept(memory, id), [backend, memory, id]);
  const [showInvalid, setShowInvalid] = useState(false);
  const links = useLoad(
    async () => {
      const validity = showInvalid ? { include_invalid: true } : {};
      const out = await backend.associations(memory, id, "out", validity);
      const inc = await backend.associations(memory, id, "in", validity);
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
      return { out, in: inc, names, now: Date.now() };
    },
    [backend, memory, id, showInvalid],
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
      <label className="inline">
        <input type="checkbox" name="show-invalid" checked={showInvalid} onChange={(e) => setShowInvalid(e.target.checked)} /> Show facts that no longer hold
      </label>
      {links.loading && !links.data ? <Loading what="associations" /> : null}
      <ErrorNote error={links.error} />
      {links.data ? (
        <table className="table" aria-label="associations">
          <thead>
            <tr>
              <th>Direction</th>
              <th>Concept</th>
              <th>Kind</th>
              <th>Label</th>
              <th>Valid</th>
              <th>Metadata</th>
              <th>Confidence</th>
              <th>Weight</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {links.data.out.map((a) => (
              <AssociationRow key={`o-${a.target}-${a.kind}-${a.label}`} memory={memory} a={a} other={a.target} name={links.data?.names.get(a.target) ?? a.target} outgoing now={links.data?.now ?? Date.now()} onChanged={links.reload} />
            ))}
            {links.data.in.map((a) => (
              <AssociationRow key={`i-${a.source}-${a.kind}-${a.label}`} memory={memory} a={a} other={a.source} name={links.data?.names.get(a.source) ?? a.source} outgoing={false} now={links.data?.now ?? Date.now()} onChanged={links.reload} />
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
