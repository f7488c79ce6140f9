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

/** Parses "key=value" lines into metadata. */
export function parseMetadata(text: string): { ok: true; metadata: Record<string, string> } | { ok: false; error: string } {
  const metadata: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { ok: false, error: `line ${i + 1}: write key=value` };
    metadata[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return { ok: true, metadata };
}

/** Metadata back to "key=value" lines. */
export function formatMetadata(metadata: Record<string, string>): string {
  return Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
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
