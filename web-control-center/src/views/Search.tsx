import { useEffect, useState } from "react";
import { asBackendError, type BackendError, type Hit, type SearchRequest } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import { ErrorNote, Field, link } from "../components/common";
import { formatNumber, stepsText } from "../logic/trail";
import { parseVector } from "../logic/vector";
import { parseFilter } from "../logic/filter";
import { useBackend } from "../data/context";

export function Search({ memory }: { memory: string }) {
  const backend = useBackend();
  const [by, setBy] = useState<"vector" | "concept" | "words">("vector");
  const [words, setWords] = useState("");
  const [vectorText, setVectorText] = useState("");
  const [concept, setConcept] = useState("");
  const [k, setK] = useState("10");
  const [hops, setHops] = useState("0");
  const [diverse, setDiverse] = useState(false);
  const [lambda, setLambda] = useState("0.5");
  const [filterText, setFilterText] = useState("");
  const [filterError, setFilterError] = useState<string | null>(null);
  // The keys filters may name (null: not read yet, or unreadable: the search's answer says why).
  const [keys, setKeys] = useState<string[] | null>(null);

  useEffect(() => {
    let live = true;
    backend.stats(memory).then(
      (stats) => live && setKeys(stats.indexed_keys),
      () => live && setKeys(null),
    );
    return () => {
      live = false;
    };
  }, [backend, memory]);
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [error, setError] = useState<BackendError | null>(null);
  const [local, setLocal] = useState<string | null>(null);

  async function run(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    setLocal(null);
    setFilterError(null);
    let query: SearchRequest = { k: Number(k) };
    const filter = parseFilter(filterText);
    if (!filter.ok) {
      setFilterError(filter.error);
      return;
    }
    if (filter.filter) query = { ...query, filter: filter.filter };
    if (hops !== "0") query = { ...query, expand: { depth: Number(hops) } };
    if (diverse) query = { ...query, mmr: { lambda: Number(lambda) } };
    if (words.trim() !== "") query = { ...query, text: words };
    if (by === "words") {
      if (query.text === undefined) {
        setLocal("enter words to search for, or search by a vector or a concept");
        return;
      }
    } else if (by === "vector") {
      const parsed = parseVector(vectorText);
      if (!parsed.ok) {
        setLocal(parsed.error);
        return;
      }
      query = { ...query, vector: parsed.vector };
    } else {
      query = { ...query, id: concept };
    }
    try {
      setHits(await backend.search(memory, query));
    } catch (e) {
      setError(asBackendError(e));
      setHits(null);
    }
  }

  const contents = new Map((hits ?? []).map((h) => [h.id, h.content]));

  return (
    <section>
      <h2>Search</h2>
      <form className="card" onSubmit={run} aria-label="search">
        <Field label="Words (optional)" error={error?.field === "text" ? error.message : by === "words" ? local : null} hint="found in the concepts' text (BM25); with a vector too, both rankings are fused">
          <input name="text" value={words} onChange={(e) => setWords(e.target.value)} />
        </Field>
        <fieldset className="kinds">
          <legend>And by</legend>
          <label className="check">
            <input type="radio" name="by" checked={by === "words"} onChange={() => setBy("words")} /> the words only
          </label>
          <label className="check">
            <input type="radio" name="by" checked={by === "vector"} onChange={() => setBy("vector")} /> a pasted vector
          </label>
          <label className="check">
            <input type="radio" name="by" checked={by === "concept"} onChange={() => setBy("concept")} /> a concept's embedding
          </label>
        </fieldset>
        {by === "words" ? null : by === "vector" ? (
          <Field label="Vector" error={by === "vector" && local ? local : (error?.field === "vector" || error?.field === "embedding" ? error.message : null)} hint="numbers separated by commas">
            <input name="vector" value={vectorText} onChange={(e) => setVectorText(e.target.value)} />
          </Field>
        ) : (
          <ConceptPicker memory={memory} label="Concept" name="by-concept" value={concept} onChange={setConcept} />
        )}
        <Field
          label="Only concepts whose metadata match (optional)"
          error={filterError ?? (error?.field?.startsWith("filter") ? error.message : null)}
          hint={
            keys === null
              ? "key = value; key = a | b"
              : keys.length === 0
                ? "this memory declares no keys for filters yet: declare them on its overview"
                : `key = value; key = a | b — on the keys this memory declares: ${keys.join(", ")}`
          }
        >
          <input name="filter" value={filterText} onChange={(e) => setFilterText(e.target.value)} placeholder="user = alice; year = 2023 | 2024" />
        </Field>
        <Field label="k" error={error?.field === "k" ? error.message : null}>
          <input name="k" value={k} onChange={(e) => setK(e.target.value)} size={4} />
        </Field>
        <Field label="Follow associations from the hits" error={error?.field?.startsWith("expand") ? error.message : null} hint="concepts the best hits lead to, each with the trail that reached it; scored by its hit's score times the trail's confidences">
          <select name="expand" value={hops} onChange={(e) => setHops(e.target.value)}>
            <option value="0">no</option>
            <option value="1">1 hop</option>
            <option value="2">2 hops</option>
            <option value="3">3 hops</option>
          </select>
        </Field>
        <label className="check">
          <input type="checkbox" name="diverse" checked={diverse} onChange={(e) => setDiverse(e.target.checked)} /> diversify the hits (maximal marginal relevance over their embeddings)
        </label>
        {diverse ? (
          <Field label="λ: weight of relevance (0–1)" error={error?.field === "mmr.lambda" ? error.message : null} hint="1 ranks by relevance alone; lower prefers hits unlike those already chosen">
            <input name="lambda" value={lambda} onChange={(e) => setLambda(e.target.value)} size={4} />
          </Field>
        ) : null}
        <button type="submit">Search</button>
      </form>
      {error && !["text", "vector", "embedding", "k", "mmr.lambda"].includes(error.field ?? "") && !error.field?.startsWith("expand") && !error.field?.startsWith("filter") ? <ErrorNote error={error} /> : null}
      {hits ? (
        hits.length === 0 ? (
          <p>Nothing found.</p>
        ) : (
          <table className="table" aria-label="search results">
            <thead>
              <tr>
                <th>Score</th>
                <th>Concept</th>
                <th>Found by</th>
              </tr>
            </thead>
            <tbody>
              {hits.map((h) => (
                <tr key={h.id}>
                  <td>{formatNumber(h.score)}</td>
                  <td>
                    <a href={link(memory, "concept", h.id)}>{h.content}</a>
                  </td>
                  <td>
                    {h.found_by
                      .map((f) => `${f.retriever} #${f.rank}${f.trail ? ` via ${stepsText(f.trail, (id) => contents.get(id))}` : ""}`)
                      .join(", ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </section>
  );
}
