import { useEffect, useId, useState } from "react";
import { isConceptId } from "../logic/vector";
import { useBackend } from "../data/context";

/** Pick a concept by id or by the start of its text. */
export function ConceptPicker({
  memory,
  label,
  value,
  onChange,
  name,
}: {
  memory: string;
  label: string;
  value: string;
  onChange: (id: string) => void;
  name: string;
}) {
  const backend = useBackend();
  const [text, setText] = useState("");
  const [options, setOptions] = useState<{ id: string; content: string }[]>([]);
  const list = useId();
  useEffect(() => {
    const t = text.trim();
    if (t === "" || isConceptId(t)) {
      setOptions([]);
      if (isConceptId(t)) onChange(t);
      return;
    }
    let live = true;
    backend.scan(memory, { prefix: t, limit: 8 }).then(
      (page) => {
        if (!live) return;
        setOptions(page.concepts.map((c) => ({ id: c.id, content: c.content })));
        const exact = page.concepts.find((c) => c.content === t);
        if (exact) onChange(exact.id);
      },
      () => live && setOptions([]),
    );
    return () => {
      live = false;
    };
  }, [text, memory, backend]);
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      <input
        name={name}
        list={list}
        value={text}
        placeholder="concept id or the start of its text"
        onChange={(e) => setText(e.target.value)}
        aria-describedby={`${list}-chosen`}
      />
      <datalist id={list}>
        {options.map((o) => (
          <option key={o.id} value={o.content} />
        ))}
      </datalist>
      <span className="hint" id={`${list}-chosen`}>
        {value ? `chosen: ${value}` : "nothing chosen yet"}
      </span>
    </label>
  );
}
