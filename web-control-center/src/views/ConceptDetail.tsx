import { useState } from "react";
import { asBackendError, type BackendError } from "../data/backend";
import { ConfirmButton, ErrorNote, link, Loading, MetadataEntries, useLoad } from "../components/common";
import { formatNumber } from "../logic/trail";
import { vectorText } from "../logic/vector";
import { AddAssociation, AssociationRow } from "./Associations";
import { ConceptForm } from "./ConceptForm";
import { useBackend } from "../data/context";

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
        <MetadataEntries metadata={c.metadata} />
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
