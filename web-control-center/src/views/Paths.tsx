import { useMemo, useState } from "react";
import { asBackendError, KINDS, type BackendError, type Kind, type PathsResult } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import { GraphPicture } from "../components/GraphPicture";
import { ErrorNote, Field, link } from "../components/common";
import { pathElements, trailColour } from "../logic/graph";
import { formatNumber, relation, trail } from "../logic/trail";
import { useValidAt } from "../components/ValidAt";
import { useBackend } from "../data/context";

type Results = { shortest: PathsResult; confident: PathsResult; best: PathsResult };

/** A search's trails as text; with `onHover`, each in its colour on the graph, and hovering (or
 * focusing) one brings it forward there. */
function Trail({ memory, result, title, onHover }: { memory: string; result: PathsResult; title: string; onHover?: (trail: number | null) => void }) {
  return (
    <div className="card" aria-label={title}>
      <h3>{title}</h3>
      {result.paths.length === 0 ? <p>No path within the limits{result.budget_exhausted ? " (the search budget ran out: a path may exist)" : ""}.</p> : null}
      {result.depth_limited ? (
        <p className="muted" data-depth-limited>
          The depth limit was reached: {result.paths.length === 0 ? "a path longer than the limit may exist" : "a longer path may be more confident"}. Raise the maximum depth to search further.
        </p>
      ) : null}
      {result.paths.map((p, i) => (
        <p
          key={i}
          className={onHover ? "trail coloured" : "trail"}
          data-trail
          {...(onHover
            ? {
                style: { borderColor: trailColour(i) },
                tabIndex: 0,
                onMouseEnter: () => onHover(i),
                onMouseLeave: () => onHover(null),
                onFocus: () => onHover(i),
                onBlur: () => onHover(null),
              }
            : {})}
        >
          {trail(p).map((part, j) => (
            <span key={j}>
              <a href={link(memory, "concept", part.concept.id)}>{part.concept.label}</a>
              {part.hop ? (
                <span className={`hop kind-${part.hop.kind}`}>
                  {" "}
                  {part.hop.reversed ? "←" : "—"}
                  {relation(part.hop.kind, part.hop.label)} {formatNumber(part.hop.confidence)}
                  {part.hop.reversed ? "—" : "→"}{" "}
                </span>
              ) : null}
            </span>
          ))}
          <span className="muted"> (confidence {formatNumber(p.confidence)})</span>
        </p>
      ))}
      <p className="muted">{result.visited} concepts visited</p>
    </div>
  );
}

export function Paths({ memory, start }: { memory: string; start?: string }) {
  const backend = useBackend();
  const [from, setFrom] = useState(start ?? "");
  const [to, setTo] = useState("");
  const [k, setK] = useState("3");
  const [depth, setDepth] = useState("6");
  const [both, setBoth] = useState(false);
  const [kinds, setKinds] = useState<Kind[]>([...KINDS]);
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<BackendError | null>(null);
  const [busy, setBusy] = useState(false);
  const [hovered, setHovered] = useState<number | null>(null);
  const facts = useValidAt("paths");

  const elements = useMemo(() => pathElements(results?.best.paths ?? []), [results]);
  const emphasis = useMemo(
    () => (hovered === null ? null : new Set([...elements.edges.values()].filter((e) => e.trails?.includes(hovered)).map((e) => e.id))),
    [elements, hovered],
  );

  async function find(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const common = { from, to, direction: both ? ("both" as const) : ("forward" as const), kinds, max_depth: Number(depth), ...facts.validity };
      const [shortest, confident, best] = await Promise.all([
        backend.paths(memory, { ...common, algorithm: "shortest" }),
        backend.paths(memory, { ...common, algorithm: "most_confident" }),
        backend.paths(memory, { ...common, algorithm: "k_best", k: Number(k) }),
      ]);
      setResults({ shortest, confident, best });
    } catch (e) {
      setError(asBackendError(e));
      setResults(null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <h2>Paths</h2>
      <form className="card" onSubmit={find} aria-label="find paths">
        <div className="row">
          <ConceptPicker memory={memory} label="From" name="from" value={from} onChange={setFrom} />
          <ConceptPicker memory={memory} label="To" name="to" value={to} onChange={setTo} />
        </div>
        <div className="row">
          <Field label="k best" error={error?.field === "k" ? error.message : null}>
            <input name="k" value={k} onChange={(e) => setK(e.target.value)} size={3} />
          </Field>
          <Field label="Max depth" error={error?.field === "max_depth" ? error.message : null}>
            <input name="max_depth" value={depth} onChange={(e) => setDepth(e.target.value)} size={3} />
          </Field>
          <label className="check">
            <input type="checkbox" checked={both} onChange={(e) => setBoth(e.target.checked)} /> follow associations both ways
          </label>
        </div>
        <fieldset className="kinds">
          <legend>Kinds</legend>
          {KINDS.map((kind) => (
            <label key={kind} className="check">
              <input type="checkbox" checked={kinds.includes(kind)} onChange={(e) => setKinds(e.target.checked ? [...kinds, kind] : kinds.filter((x) => x !== kind))} /> {kind}
            </label>
          ))}
        </fieldset>
        {facts.control}
        <button type="submit" disabled={busy || from === "" || to === ""}>
          Find paths
        </button>
      </form>
      {error && error.field !== "k" && error.field !== "max_depth" ? <ErrorNote error={error} /> : null}
      {results ? (
        <>
          <Trail memory={memory} result={results.shortest} title="Shortest (fewest hops)" />
          <Trail memory={memory} result={results.confident} title="Most confident" />
          <Trail memory={memory} result={results.best} title={`${k} best`} onHover={setHovered} />
          <p className="muted">
            The {k} best trails on the graph, each in its colour (as its line above): <span className="from-mark">from</span> and <span className="to-mark">to</span>{" "}
            are marked; hover a trail to bring it forward.
          </p>
          <GraphPicture elements={elements} label="paths graph" emphasis={emphasis} name={`${memory}-paths`} />
        </>
      ) : null}
    </section>
  );
}
