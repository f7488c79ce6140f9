import { useEffect, useState } from "react";
import { asBackendError, KINDS, type BackendError } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import { GraphView } from "../components/GraphView";
import { ErrorNote, link } from "../components/common";
import { useValidAt } from "../components/ValidAt";
import { emptyElements, KIND_COLOURS, merge, type Elements } from "../logic/graph";
import { useBackend } from "../data/context";

export function Graph({ memory, start }: { memory: string; start?: string }) {
  const backend = useBackend();
  const [centre, setCentre] = useState(start ?? "");
  const [elements, setElements] = useState<Elements>(emptyElements());
  const [error, setError] = useState<BackendError | null>(null);
  const [status, setStatus] = useState("");
  const facts = useValidAt("graph");

  async function expand(id: string, reset: boolean) {
    setError(null);
    try {
      const n = await backend.neighbourhood(memory, id, { depth: 1, direction: "both", limit: 200, ...facts.validity });
      const next: Elements = reset ? emptyElements() : { nodes: new Map(elements.nodes), edges: new Map(elements.edges) };
      const added = merge(next, n, reset ? id : undefined);
      setElements(next);
      setStatus(`${added} concept${added === 1 ? "" : "s"} added${n.truncated ? " (limit reached)" : ""}; ${next.nodes.size} shown.`);
    } catch (e) {
      setError(asBackendError(e));
    }
  }

  useEffect(() => {
    if (centre) void expand(centre, true);
  }, [centre, memory, backend, facts.key]);

  return (
    <section>
      <h2>Graph explorer</h2>
      <ConceptPicker memory={memory} label="Centre" name="centre" value={centre} onChange={setCentre} />
      {facts.control}
      <p className="legend" aria-label="legend">
        {KINDS.map((k) => (
          <span key={k} className="kind" style={{ borderColor: KIND_COLOURS[k] }}>
            {k}
          </span>
        ))}
        <span className="muted"> Edges show their kind and label; thicker edges are more confident. Click a concept to expand it.</span>
      </p>
      <ErrorNote error={error} />
      <GraphView elements={elements} label="neighbourhood graph" onNodeClick={(id) => void expand(id, false)} />
      <p role="status">{status}</p>
      {centre ? (
        <p>
          <a href={link(memory, "concept", centre)}>Open the centre concept</a>
        </p>
      ) : null}
    </section>
  );
}
