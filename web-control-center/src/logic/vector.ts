import type { MetadataValue, Metadata } from "sutra-wasm";

/** Parses a pasted vector: numbers separated by commas or spaces, brackets optional. */
export function parseVector(text: string): { ok: true; vector: number[] } | { ok: false; error: string } {
  const trimmed = text.trim().replace(/^\[/, "").replace(/\]$/, "").trim();
  if (trimmed === "") return { ok: false, error: "enter numbers separated by commas, e.g. 0.1, 0.2, 0.3" };
  const parts = trimmed.split(/[\s,]+/).filter((p) => p !== "");
  const vector: number[] = [];
  for (const [i, part] of parts.entries()) {
    const value = Number(part);
    if (!Number.isFinite(value)) return { ok: false, error: `value ${i + 1} (${JSON.stringify(part)}) is not a finite number` };
    vector.push(value);
  }
  return { ok: true, vector };
}

/**
 * A value as typed after `key=`: `true`/`false`, a number, a JSON list of strings
 * (`["run", "ran"]`) and a JSON string (`"2024"`, to keep digits as text) are read as such;
 * anything else is text as typed.
 */
export function parseMetadataValue(text: string): { ok: true; value: MetadataValue } | { ok: false; error: string } {
  if (text === "true" || text === "false") return { ok: true, value: text === "true" };
  if (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    const n = Number(text);
    return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, error: `${text} is not a finite number` };
  }
  if (text.startsWith("[") || text.startsWith('"')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, error: `${text} is not a JSON list or string; write ["a", "b"] or "text"` };
    }
    if (typeof parsed === "string") return { ok: true, value: parsed };
    if (Array.isArray(parsed) && parsed.every((item): item is string => typeof item === "string")) return { ok: true, value: parsed };
    return { ok: false, error: "a list holds strings only" };
  }
  return { ok: true, value: text };
}

/**
 * A value as `parseMetadataValue` reads it back: text that would read as another type, or lose
 * its spaces or line breaks on the way, is quoted.
 */
export function metadataValueText(value: MetadataValue): string {
  if (typeof value !== "string") return JSON.stringify(value);
  if (value.trim() !== value || value.includes("\n")) return JSON.stringify(value);
  const back = parseMetadataValue(value);
  return back.ok && back.value === value ? value : JSON.stringify(value);
}

/** Parses "key=value" lines into metadata (values typed as `parseMetadataValue` says). */
export function parseMetadata(text: string): { ok: true; metadata: Metadata } | { ok: false; error: string } {
  const metadata: Metadata = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { ok: false, error: `line ${i + 1}: write key=value` };
    const value = parseMetadataValue(line.slice(eq + 1).trim());
    if (!value.ok) return { ok: false, error: `line ${i + 1}: ${value.error}` };
    metadata[line.slice(0, eq).trim()] = value.value;
  }
  return { ok: true, metadata };
}

/** Metadata back to "key=value" lines. */
export function formatMetadata(metadata: Metadata): string {
  return Object.entries(metadata)
    .map(([k, v]) => `${k}=${metadataValueText(v)}`)
    .join("\n");
}

/** True for a 32-character lowercase hex concept id. */
export function isConceptId(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text.trim());
}

/** The shortest decimal text that reads back as the same 32-bit float (0.9, not 0.8999999761581421). */
export function f32Text(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const f = Math.fround(x);
  for (let digits = 1; digits <= 9; digits++) {
    const text = String(Number(f.toPrecision(digits)));
    if (Math.fround(Number(text)) === f) return text;
  }
  return String(f);
}

/** A vector as editable text. */
export function vectorText(v: ArrayLike<number>): string {
  return Array.from(v, f32Text).join(", ");
}
