/** A concept's associations: a row each (edit every field, invalidate, delete) and the form that adds one. */
import { useState } from "react";
import { asBackendError, KINDS, type Association, type AssociationInput, type AssociationKey, type BackendError, type Kind } from "../data/backend";
import { ConceptPicker } from "../components/ConceptPicker";
import { ConfirmButton, ErrorNote, Field, link } from "../components/common";
import { formatNumber, relation } from "../logic/trail";
import { holdsAt, parseTime, timeInputText, validityText } from "../logic/validity";
import { formatMetadata, metadataValueText, parseMetadata } from "../logic/vector";
import { useBackend } from "../data/context";

/** The key of an association, as the backend names it. */
function keyOf(a: Association): AssociationKey {
  return { source: a.source, target: a.target, kind: a.kind, label: a.label };
}

/** What both forms edit of an association, as the inputs hold it. */
interface FieldsText {
  label: string;
  confidence: string;
  weight: string;
  metadata: string;
  from: string;
  until: string;
}

const BLANK: FieldsText = { label: "", confidence: "1", weight: "1", metadata: "", from: "", until: "" };

function fieldsOf(a: Association): FieldsText {
  return {
    label: a.label,
    confidence: String(a.confidence),
    weight: String(a.weight),
    metadata: formatMetadata(a.metadata),
    from: a.valid_from_ms === null ? "" : timeInputText(a.valid_from_ms),
    until: a.valid_until_ms === null ? "" : timeInputText(a.valid_until_ms),
  };
}

type Fields = Pick<AssociationInput, "label" | "confidence" | "weight" | "metadata" | "valid_from_ms" | "valid_until_ms">;

/**
 * The inputs as the fields of a request, or the problems found here (by the request's field
 * names). A time input left as it was keeps the time it showed to the millisecond (the input
 * holds minutes).
 */
function parseFields(text: FieldsText, was?: Association): { ok: true; fields: Fields } | { ok: false; problems: Record<string, string> } {
  const problems: Record<string, string> = {};
  const meta = parseMetadata(text.metadata);
  if (!meta.ok) problems.metadata = meta.error;
  const time = (input: string, before: number | null | undefined, field: string): number | undefined => {
    if (was && before !== null && before !== undefined && input === timeInputText(before)) return before;
    const parsed = parseTime(input);
    if (!parsed.ok) problems[field] = parsed.error;
    return parsed.ok ? parsed.ms : undefined;
  };
  const from = time(text.from, was?.valid_from_ms, "valid_from_ms");
  const until = time(text.until, was?.valid_until_ms, "valid_until_ms");
  if (!meta.ok || Object.keys(problems).length > 0) return { ok: false, problems };
  return {
    ok: true,
    fields: {
      label: text.label,
      confidence: Number(text.confidence),
      weight: Number(text.weight),
      metadata: meta.metadata,
      ...(from === undefined ? {} : { valid_from_ms: from }),
      ...(until === undefined ? {} : { valid_until_ms: until }),
    },
  };
}

/** Fields the forms place next to their input (others show under the form). */
const PLACED = ["kind", "label", "confidence", "weight", "metadata", "valid_from_ms", "valid_until_ms"];

/** The inputs of the fields both forms edit. */
function FieldInputs({ text, onChange, fieldError }: { text: FieldsText; onChange: (text: FieldsText) => void; fieldError: (field: string) => string | null }) {
  const set = (field: keyof FieldsText) => (e: { target: { value: string } }) => onChange({ ...text, [field]: e.target.value });
  return (
    <>
      <div className="row">
        <Field label="Label (optional)" error={fieldError("label")} hint="the predicate: works_at, founded, …">
          <input name="label" value={text.label} onChange={set("label")} size={14} />
        </Field>
        <Field label="Confidence" error={fieldError("confidence")}>
          <input name="assoc-confidence" value={text.confidence} onChange={set("confidence")} size={5} />
        </Field>
        <Field label="Weight" error={fieldError("weight")}>
          <input name="assoc-weight" value={text.weight} onChange={set("weight")} size={5} />
        </Field>
      </div>
      <div className="row">
        <Field label="Valid from (optional)" error={fieldError("valid_from_ms")}>
          <input name="valid-from" type="datetime-local" value={text.from} onChange={set("from")} />
        </Field>
        <Field label="Valid until (optional)" error={fieldError("valid_until_ms")}>
          <input name="valid-until" type="datetime-local" value={text.until} onChange={set("until")} />
        </Field>
      </div>
      <Field label="Metadata (optional)" error={fieldError("metadata")} hint="one key=value per line, as for concepts">
        <textarea name="assoc-metadata" value={text.metadata} onChange={set("metadata")} rows={2} />
      </Field>
    </>
  );
}

/** A form's state: its inputs, the problems found before sending, and the engine's error. */
function useFieldsForm(initial: FieldsText) {
  const [text, setText] = useState(initial);
  const [local, setLocal] = useState<Record<string, string>>({});
  const [error, setError] = useState<BackendError | null>(null);
  const fieldError = (field: string) => local[field] ?? (error?.field === field ? error.message : null);
  const unplaced = error && !PLACED.includes(error.field ?? "") ? error : null;
  /** Parses the inputs and sends them; true when the backend took them. */
  async function submit(was: Association | undefined, send: (fields: Fields) => Promise<void>): Promise<boolean> {
    setError(null);
    const parsed = parseFields(text, was);
    setLocal(parsed.ok ? {} : parsed.problems);
    if (!parsed.ok) return false;
    try {
      await send(parsed.fields);
      return true;
    } catch (e) {
      setError(asBackendError(e));
      return false;
    }
  }
  return { text, setText, fieldError, unplaced, submit };
}

/** Edits every field of an association; a new label makes it another association (the old one deleted in the same write). */
function EditAssociation({ memory, a, onDone, onCancel }: { memory: string; a: Association; onDone: () => void; onCancel: () => void }) {
  const backend = useBackend();
  const form = useFieldsForm(fieldsOf(a));
  async function save(event: React.FormEvent) {
    event.preventDefault();
    const saved = await form.submit(a, (fields) => backend.replaceAssociation(memory, keyOf(a), { ...keyOf(a), ...fields }));
    if (saved) onDone();
  }
  return (
    <form className="card" onSubmit={save} aria-label="edit this association">
      <FieldInputs text={form.text} onChange={form.setText} fieldError={form.fieldError} />
      {form.text.label !== a.label ? <p className="muted">A new label makes this another fact: the one labelled “{a.label}” is replaced by it, in one write.</p> : null}
      <ErrorNote error={form.unplaced} />
      <button type="submit">Save</button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

export function AssociationRow({ memory, a, other, name, outgoing, now, onChanged }: { memory: string; a: Association; other: string; name: string; outgoing: boolean; now: number; onChanged: () => void }) {
  const backend = useBackend();
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<BackendError | null>(null);
  async function act(action: () => Promise<void>) {
    setError(null);
    try {
      await action();
      onChanged();
    } catch (e) {
      setError(asBackendError(e));
    }
  }
  const what = `this ${relation(a.kind, a.label)} association`;
  return (
    <>
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
        <td>{formatNumber(a.confidence)}</td>
        <td>{formatNumber(a.weight)}</td>
        <td>
          <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
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
      </tr>
      {editing ? (
        <tr className="editing">
          <td colSpan={9}>
            <EditAssociation
              memory={memory}
              a={a}
              onCancel={() => setEditing(false)}
              onDone={() => {
                setEditing(false);
                onChanged();
              }}
            />
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function AddAssociation({ memory, id, onAdded }: { memory: string; id: string; onAdded: () => void }) {
  const backend = useBackend();
  const [target, setTarget] = useState("");
  const [kind, setKind] = useState<Kind>("semantic");
  const form = useFieldsForm(BLANK);
  async function add(event: React.FormEvent) {
    event.preventDefault();
    const added = await form.submit(undefined, (fields) => backend.putAssociation(memory, { source: id, target, kind, ...fields }));
    if (added) {
      form.setText({ ...form.text, label: "", metadata: "" });
      onAdded();
    }
  }
  return (
    <form className="card" onSubmit={add} aria-label="add an association">
      <h3>Add an outgoing association</h3>
      <ConceptPicker memory={memory} label="Target" name="target" value={target} onChange={setTarget} />
      <Field label="Kind" error={form.fieldError("kind")}>
        <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
          {KINDS.map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
      </Field>
      <FieldInputs text={form.text} onChange={form.setText} fieldError={form.fieldError} />
      <ErrorNote error={form.unplaced} />
      <button type="submit" disabled={target === ""}>
        Add association
      </button>
    </form>
  );
}
