import { useEffect, useRef, useState } from "react";
import type { Concept } from "../data/backend";
import { ErrorNote, link, Loading, useLoad } from "../components/common";
import { isConceptId, metadataValueText } from "../logic/vector";
import { parseFilter } from "../logic/filter";
import { ConceptForm } from "./ConceptForm";
import { useBackend } from "../data/context";

const PAGE = 25;
/** Concepts learned on this page kept on top of it. */
const LEARNED_SHOWN = 5;

type Order = "updated" | "content" | "id";
const ORDERS: { order: Order; label: string }[] = [
  { order: "updated", label: "last updated first" },
  { order: "content", label: "content" },
  { order: "id", label: "id" },
];

/** The metadata columns chosen for a memory, kept in this browser. */
function useColumns(memory: string): [string[], (columns: string[]) => void] {
  const key = `sutra.columns.${memory}`;
  const [columns, setColumns] = useState<string[]>(() => {
    try {
      const saved: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
      return Array.isArray(saved) ? saved.filter((c): c is string => typeof c === "string") : [];
    } catch {
      return [];
    }
  });
  return [
    columns,
    (next) => {
      setColumns(next);
      localStorage.setItem(key, JSON.stringify(next));
    },
  ];
}

/** A row of the concepts table: its content (linked), numbers, the chosen metadata, its id. */
function ConceptRow({ memory, concept: c, columns, isNew }: { memory: string; concept: Concept; columns: string[]; isNew: boolean }) {
  return (
    <tr className={isNew ? "new" : undefined}>
      <td>
        <a href={link(memory, "concept", c.id)}>{c.content}</a>
      </td>
      <td>{c.strength}</td>
      <td>{c.confidence}</td>
      <td>{c.embedding ? `${c.embedding.length}-d` : "—"}</td>
      <td>{new Date(c.updated_ms).toISOString().slice(0, 19).replace("T", " ")}</td>
      {columns.map((k) => {
        const value = c.metadata[k];
        return <td key={k}>{value === undefined ? "—" : metadataValueText(value)}</td>;
      })}
      <td>
        <code>{c.id}</code>
      </td>
    </tr>
  );
}

export function Concepts({ memory }: { memory: string }) {
  const backend = useBackend();
  const [search, setSearch] = useState("");
  const [filterText, setFilterText] = useState("");
  const filter = parseFilter(filterText);
  const [order, setOrder] = useState<Order>("updated");
  const [columns, setColumns] = useColumns(memory);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const after = cursors[cursors.length - 1];
  // A concept just learned is on the first page in the default order, marked; in the others it is
  // rarely on the page shown: the last ones learned here are shown, marked, above the table.
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
    return backend.scan(memory, { order, ...(after ? { after } : {}), limit: PAGE, ...(term ? { prefix: term } : {}), ...only });
  }, [backend, memory, search, after, filterText, order]);
  const learnedIds = new Set(learned.map((c) => c.id));
  const elsewhere = learned.filter((c) => !data?.concepts.some((d) => d.id === c.id));
  // The metadata keys of the page shown (and those chosen before), to choose columns from.
  const keys = [...new Set([...columns, ...(data?.concepts ?? []).flatMap((c) => Object.keys(c.metadata))])].sort();

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
      <div className="row">
        <label className="field">
          <span className="field-label">Order</span>
          <select
            name="order"
            value={order}
            onChange={(e) => {
              setOrder(e.target.value as Order);
              setCursors([undefined]);
            }}
          >
            {ORDERS.map((o) => (
              <option key={o.order} value={o.order}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        {keys.length > 0 ? (
          <fieldset className="kinds" aria-label="metadata columns">
            <legend>Metadata columns</legend>
            {keys.map((k) => (
              <label key={k} className="check">
                <input type="checkbox" name={`column-${k}`} checked={columns.includes(k)} onChange={(e) => setColumns(e.target.checked ? [...columns, k] : columns.filter((c) => c !== k))} /> {k}
              </label>
            ))}
          </fieldset>
        ) : null}
      </div>
      {elsewhere.length > 0 ? (
        <table className="table learned" aria-label="just learned" ref={learnedTable}>
          <caption>Just learned</caption>
          <tbody>
            {elsewhere.map((c) => (
              <ConceptRow key={c.id} memory={memory} concept={c} columns={columns} isNew />
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
                <th>Updated</th>
                {columns.map((k) => (
                  <th key={k}>{k}</th>
                ))}
                <th>Id</th>
              </tr>
            </thead>
            <tbody>
              {data.concepts.map((c) => (
                <ConceptRow key={c.id} memory={memory} concept={c} columns={columns} isNew={learnedIds.has(c.id)} />
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
