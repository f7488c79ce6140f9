import { useEffect, useMemo, useState, type KeyboardEvent } from "react";
import { asBackendError, KINDS, type BackendError, type Concept, type Hit } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import type { Selection } from "../components/GraphCanvas";
import { GraphPicture } from "../components/GraphPicture";
import { ErrorNote, link, MetadataEntries } from "../components/common";
import { useValidAt } from "../components/ValidAt";
import { collapse, edgeShown, emptyElements, KIND_COLOURS, labelsOf, merge, without, type EdgeData, type Elements } from "../logic/graph";
import { formatNumber, relation } from "../logic/trail";
import { useBackend } from "../data/context";

/** The most concepts one expansion adds (the engine's neighbourhood limit). */
const EXPAND_LIMIT = 2000;

/** The selected concept's fields and actions. */
function ConceptPanel({
  memory,
  id,
  onExpand,
  onCollapse,
}: {
  memory: string;
  id: string;
  onExpand: () => void;
  onCollapse: () => void;
}) {
  const backend = useBackend();
  const [concept, setConcept] = useState<Concept | null>(null);
  const [error, setError] = useState<BackendError | null>(null);
  useEffect(() => {
    let live = true;
    setConcept(null);
    setError(null);
    backend.getConcept(memory, id).then(
      (c) => live && setConcept(c),
      (e: unknown) => live && setError(asBackendError(e)),
    );
    return () => {
      live = false;
    };
  }, [backend, memory, id]);
  return (
    <>
      <h3>{concept?.content ?? id.slice(0, 12)}</h3>
      <ErrorNote error={error} />
      <dl className="stats">
        <dt>Id</dt>
        <dd>
          <code>{id}</code>
        </dd>
        {concept ? (
          <>
            <dt>Strength</dt>
            <dd>{formatNumber(concept.strength)}</dd>
            <dt>Confidence</dt>
            <dd>{formatNumber(concept.confidence)}</dd>
            <dt>Embedding</dt>
            <dd>{concept.embedding ? `${concept.embedding.length} dimensions` : "none"}</dd>
            <MetadataEntries metadata={concept.metadata} />
          </>
        ) : null}
      </dl>
      <div className="row">
        <button type="button" onClick={onExpand} title="Enter">
          Expand
        </button>
        <button type="button" onClick={onCollapse} title="Delete">
          Collapse
        </button>
        <a href={link(memory, "concept", id)}>Open</a>
        <a href={link(memory, "paths", id)}>Find paths from here</a>
      </div>
    </>
  );
}

function AssociationPanel({ memory, edge, name }: { memory: string; edge: EdgeData; name: (id: string) => string }) {
  const a = edge.association;
  return (
    <>
      <h3>
        {name(edge.source)} —{relation(edge.kind, edge.label)}→ {name(edge.target)}
      </h3>
      <dl className="stats">
        <dt>Kind</dt>
        <dd>{edge.kind}</dd>
        <dt>Label</dt>
        <dd>{edge.label === "" ? "none" : edge.label}</dd>
        <dt>Confidence</dt>
        <dd>{formatNumber(edge.confidence)}</dd>
        {a ? (
          <>
            <dt>Weight</dt>
            <dd>{formatNumber(a.weight)}</dd>
            <dt>Valid</dt>
            <dd>
              {a.valid_from_ms === null ? "always" : `from ${new Date(a.valid_from_ms).toISOString()}`}
              {a.valid_until_ms === null ? "" : ` until ${new Date(a.valid_until_ms).toISOString()}`}
            </dd>
            <MetadataEntries metadata={a.metadata} />
          </>
        ) : null}
      </dl>
      <div className="row">
        <a href={link(memory, "concept", edge.source)}>Open {name(edge.source)}</a>
        <a href={link(memory, "concept", edge.target)}>Open {name(edge.target)}</a>
      </div>
    </>
  );
}

export function Graph({ memory, start }: { memory: string; start?: string }) {
  const backend = useBackend();
  const [centre, setCentre] = useState(start ?? "");
  const [elements, setElements] = useState<Elements>(emptyElements());
  const [selected, setSelected] = useState<Selection>(null);
  const [error, setError] = useState<BackendError | null>(null);
  const [status, setStatus] = useState("");
  const [depth, setDepth] = useState(1);
  const [limit, setLimit] = useState(200);
  const [kinds, setKinds] = useState<Set<string>>(new Set(KINDS));
  const [hiddenLabels, setHiddenLabels] = useState<Set<string>>(new Set());
  const [minConfidence, setMinConfidence] = useState(0);
  const [words, setWords] = useState("");
  const [hits, setHits] = useState<Hit[] | null>(null);
  const facts = useValidAt("graph");

  /** Adds a concept's neighbourhood to the picture (or starts a new picture from it). */
  async function expand(id: string, reset: boolean) {
    setError(null);
    try {
      const n = await backend.neighbourhood(memory, id, { depth, direction: "both", limit, ...facts.validity });
      setElements((current) => {
        const next: Elements = reset ? emptyElements() : { nodes: new Map(current.nodes), edges: new Map(current.edges) };
        const added = merge(next, n, reset ? id : undefined);
        setStatus(`${added} concept${added === 1 ? "" : "s"} added${n.truncated ? ` (the limit of ${limit} was reached)` : ""}; ${next.nodes.size} shown.`);
        return next;
      });
      if (reset) setSelected({ type: "concept", id });
    } catch (e) {
      setError(asBackendError(e));
    }
  }

  function collapseAround(id: string) {
    const drop = collapse(elements, id);
    setElements(without(elements, drop));
    setStatus(`${drop.nodes.length} concept${drop.nodes.length === 1 ? "" : "s"} collapsed into ${elements.nodes.get(id)?.label ?? id.slice(0, 8)}.`);
  }

  useEffect(() => {
    if (centre) void expand(centre, true);
  }, [centre, memory, backend, facts.key]);

  async function find(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      setHits(await backend.search(memory, { text: words, k: 10 }));
    } catch (e) {
      setError(asBackendError(e));
      setHits(null);
    }
  }

  /** A concept found: selected where it is drawn, or added with its neighbourhood. */
  function focus(id: string) {
    if (elements.nodes.has(id)) setSelected({ type: "concept", id });
    else if (elements.nodes.size === 0) setCentre(id);
    else void expand(id, false).then(() => setSelected({ type: "concept", id }));
  }

  const labels = useMemo(() => labelsOf(elements), [elements]);
  const shown = useMemo(
    () => (e: EdgeData) => edgeShown(e, { kinds, labels: new Set(labels.filter((l) => !hiddenLabels.has(l))), minConfidence }),
    [kinds, labels, hiddenLabels, minConfidence],
  );
  const name = (id: string) => elements.nodes.get(id)?.label ?? id.slice(0, 8);
  const selectedEdge = selected?.type === "association" ? elements.edges.get(selected.id) : undefined;

  function key(event: KeyboardEvent<HTMLDivElement>) {
    if (selected?.type !== "concept") return;
    if (event.key === "Enter") void expand(selected.id, false);
    else if (event.key === "Delete" || event.key === "Backspace") collapseAround(selected.id);
    else if (event.key === "o") window.location.hash = link(memory, "concept", selected.id);
    else return;
    event.preventDefault();
  }

  return (
    <section>
      <h2>Graph explorer</h2>
      <div className="row">
        <ConceptPicker memory={memory} label="Centre" name="centre" value={centre} onChange={setCentre} />
        <form className="row find" onSubmit={find} aria-label="find concepts in the graph">
          <label className="field">
            <span className="field-label">Find by words</span>
            <input name="graph-words" value={words} onChange={(e) => setWords(e.target.value)} placeholder="words in a concept's text" />
          </label>
          <button type="submit" disabled={words.trim() === ""}>
            Find
          </button>
        </form>
      </div>
      {hits ? (
        <ul className="hits" aria-label="concepts found">
          {hits.length === 0 ? <li className="muted">Nothing found.</li> : null}
          {hits.map((h) => (
            <li key={h.id}>
              <button type="button" className="link" onClick={() => focus(h.id)}>
                {h.content || h.id.slice(0, 12)}
              </button>
              {elements.nodes.has(h.id) ? <span className="muted"> (in the picture)</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="row">
        <label className="field">
          <span className="field-label">Expand by</span>
          <select name="graph-depth" value={depth} onChange={(e) => setDepth(Number(e.target.value))}>
            {[1, 2, 3, 4].map((d) => (
              <option key={d} value={d}>
                {d} hop{d === 1 ? "" : "s"}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">At most, per expansion</span>
          <select name="graph-limit" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
            {[50, 200, 500, EXPAND_LIMIT].map((l) => (
              <option key={l} value={l}>
                {l} concepts
              </option>
            ))}
          </select>
        </label>
        {facts.control}
      </div>
      <fieldset className="kinds" aria-label="filters">
        <legend>Show</legend>
        {KINDS.map((k) => (
          <label key={k} className="check kind" style={{ borderColor: KIND_COLOURS[k] }}>
            <input type="checkbox" name={`graph-kind-${k}`} checked={kinds.has(k)} onChange={(e) => setKinds((s) => toggled(s, k, e.target.checked))} /> {k}
          </label>
        ))}
        {labels.length > 1 || (labels.length === 1 && labels[0] !== "") ? (
          <span className="row" aria-label="labels">
            {labels.map((l) => (
              <label key={l} className="check">
                <input type="checkbox" name={`graph-label-${l}`} checked={!hiddenLabels.has(l)} onChange={(e) => setHiddenLabels((s) => toggled(s, l, !e.target.checked))} />{" "}
                {l === "" ? <em>no label</em> : l}
              </label>
            ))}
          </span>
        ) : null}
        <label className="check">
          confidence ≥ {formatNumber(minConfidence)}
          <input type="range" name="graph-min-confidence" min={0} max={1} step={0.05} value={minConfidence} onChange={(e) => setMinConfidence(Number(e.target.value))} />
        </label>
      </fieldset>
      <ErrorNote error={error} />
      {elements.nodes.size === 0 ? (
        <p className="muted">Start from a concept: choose a centre, or find concepts by words and pick one.</p>
      ) : null}
      <div className="explorer">
        <GraphPicture elements={elements} label="neighbourhood graph" selected={selected} onSelect={setSelected} shown={shown} onKeyDown={key} name={`${memory}-graph`} />
        <aside className="card panel" aria-label="selection">
          {selected?.type === "concept" && elements.nodes.has(selected.id) ? (
            <ConceptPanel key={selected.id} memory={memory} id={selected.id} onExpand={() => void expand(selected.id, false)} onCollapse={() => collapseAround(selected.id)} />
          ) : selectedEdge ? (
            <AssociationPanel memory={memory} edge={selectedEdge} name={name} />
          ) : (
            <p className="muted">
              Click a concept or an association to see it here. With the picture focused: Enter expands the selected concept, Delete collapses it, o opens it; + − 0
              and the arrows zoom, fit and pan; Escape clears the selection.
            </p>
          )}
        </aside>
      </div>
      <p role="status">{status}</p>
    </section>
  );
}

function toggled(set: Set<string>, item: string, on: boolean): Set<string> {
  const next = new Set(set);
  if (on) next.add(item);
  else next.delete(item);
  return next;
}
