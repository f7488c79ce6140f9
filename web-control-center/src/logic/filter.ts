import type { FilterValue } from "sutra-wasm";
import { parseMetadataValue } from "./vector";

/** A search's or a page's filter: each key's one value, or several (`{ in: [...] }`). */
export type Filter = Record<string, FilterValue>;

/**
 * A filter as typed: clauses separated by `;` or new lines, each `key = value` or
 * `key = a | b | c` (any of them). Values are typed as metadata values are (`2024` a number,
 * `true` a flag, `"2024"` text); a list is not a filter's value. Empty text is no filter.
 */
export function parseFilter(text: string): { ok: true; filter: Filter | null } | { ok: false; error: string } {
  const clauses = text
    .split(/[;\n]/)
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (clauses.length === 0) return { ok: true, filter: null };
  const filter: Filter = {};
  for (const [i, clause] of clauses.entries()) {
    const at = clause.indexOf("=");
    const key = at < 0 ? "" : clause.slice(0, at).trim();
    if (key === "") return { ok: false, error: `clause ${i + 1}: write key = value (or key = a | b)` };
    if (key in filter) return { ok: false, error: `clause ${i + 1}: ${key} is named twice; give its values as a | b` };
    const values: (string | number | boolean)[] = [];
    for (const part of clause.slice(at + 1).split("|")) {
      const parsed = parseMetadataValue(part.trim());
      if (!parsed.ok) return { ok: false, error: `clause ${i + 1}: ${parsed.error}` };
      if (Array.isArray(parsed.value) || parsed.value === "") {
        return { ok: false, error: `clause ${i + 1}: a value is a string, a number or true/false` };
      }
      values.push(parsed.value);
    }
    const [only] = values;
    filter[key] = values.length === 1 && only !== undefined ? only : { in: values };
  }
  return { ok: true, filter };
}

/** Keys typed for filters: separated by commas or spaces, each once. */
export function parseKeys(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((k) => k !== ""))];
}
