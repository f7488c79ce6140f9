import { useEffect, useRef, useState } from "react";
import type { Concept } from "../data/backend";
import { ErrorNote, link, Loading, useLoad } from "../components/common";
import { isConceptId } from "../logic/vector";
import { parseFilter } from "../logic/filter";
import { ConceptForm } from "./ConceptForm";
import { useBackend } from "../data/context";

const PAGE = 25;
/** Concepts learned on this page kept on top of it. */
const LEARNED_SHOWN = 5;

export function Concepts({ memory }: { memory: string }) {
  const backend = useBackend();
  const [search, setSearch] = useState("");
  const [filterText, setFilterText] = useState("");
  const filter = parseFilter(filterText);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const after = cursors[cursors.length - 1];
  // Pages are in id order, so a concept just learned is rarely on the page shown: the last ones
  // learned here are shown, marked, above the table.
  const [learned, setLearned] = useState<Concept[]>([]);
  const learnedTable = useRef<HTMLTableElement>(null);
  useEffect(() => {
    learnedTable.current?.scrollIntoView({ block: "nearest" });
  }, [learned]);
  async function showLearned(id: string) {
    reload();
    try {
      const concept = await backend.getConcept(memory, id);
      setLearned((shown) => [concept, ...shown.filter((c) => c.id !== id)].slice(0, LEARNED_SHOWN));
    } catch {
      // Deleted in the meantime: nothing to show.
    }
  }
  const { data, error, loading, reload } = useLoad(async (): Promise<{ concepts: Concept[]; next: string | null }> => {
    const term = search.trim();
    if (isConceptId(term)) {
      try {
        return { concepts: [await backend.getConcept(memory, term)], next: null };
      } catch (e) {
        if ((e as { code?: string }).code === "concept_not_found") return { concepts: [], next: null };
        throw e;
      }
    }
    const only = filter.ok && filter.filter ? { filter: filter.filter } : {};
    return backend.scan(memory, { ...(after ? { after } : {}), limit: PAGE, ...(term ? { prefix: term } : {}), ...only });
  }, [backend, memory, search, after, filterText]);

  return (
    <section>
      <h2>Concepts</h2>
      <label className="field">
        <span className="field-label">Find by id or by the start of the text</span>
        <input
          name="search"
          type="search"
          value={search}
          onChange={(e) => {
            setSearch(e.target.value);
            setCursors([undefined]);
          }}
        />
      </label>
      <label className="field">
        <span className="field-label">Only those whose metadata match (key = value; key = a | b)</span>
        <input
          name="filter"
          value={filterText}
          placeholder="user = alice"
          onChange={(e) => {
            setFilterText(e.target.value);
            setCursors([undefined]);
          }}
        />
        {filter.ok ? null : <span className="error">{filter.error}</span>}
      </label>
      {learned.length > 0 ? (
        <table className="table learned" aria-label="just learned" ref={learnedTable}>
          <caption>Just learned</caption>
          <tbody>
            {learned.map((c) => (
              <tr key={c.id} className="new">
                <td>
                  <a href={link(memory, "concept", c.id)}>{c.content}</a>
                </td>
                <td>{c.strength}</td>
                <td>{c.confidence}</td>
                <td>{c.embedding ? `${c.embedding.length}-d` : "—"}</td>
                <td>
                  <code>{c.id}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {loading && !data ? <Loading what="concepts" /> : null}
      <ErrorNote error={error} />
      {data ? (
        <>
          <table className="table" aria-label="concepts">
            <thead>
              <tr>
                <th>Content</th>
                <th>Strength</th>
                <th>Confidence</th>
                <th>Vector</th>
                <th>Id</th>
              </tr>
            </thead>
            <tbody>
              {data.concepts.map((c) => (
                <tr key={c.id}>
                  <td>
                    <a href={link(memory, "concept", c.id)}>{c.content}</a>
                  </td>
                  <td>{c.strength}</td>
                  <td>{c.confidence}</td>
                  <td>{c.embedding ? `${c.embedding.length}-d` : "—"}</td>
                  <td>
                    <code>{c.id}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.concepts.length === 0 ? <p>No concepts {search ? "match" : "yet"}.</p> : null}
          <div className="pager">
            <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" disabled={!data.next} onClick={() => data.next && setCursors([...cursors, data.next])}>
              Next page
            </button>
          </div>
        </>
      ) : null}
      <ConceptForm memory={memory} onSaved={(id) => void showLearned(id)} />
    </section>
  );
}
