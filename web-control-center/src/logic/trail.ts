/** Turns paths into readable reasoning trails: concept → kind, confidence → concept … */
import type { Path } from "sutra-wasm";

export interface TrailPart {
  concept: { id: string; label: string };
  /** The hop leading to the next concept (absent on the last). */
  hop?: { kind: string; label: string; confidence: number; reversed: boolean };
}

export function label(content: string | null | undefined, id: string): string {
  return content && content.length > 0 ? content : id.slice(0, 8);
}

export function trail(path: Path): TrailPart[] {
  return path.concepts.map((c, i) => {
    const step = path.steps[i];
    const part: TrailPart = { concept: { id: c.id, label: label(c.content, c.id) } };
    if (step) part.hop = { kind: step.kind, label: step.label, confidence: step.confidence, reversed: step.reversed };
    return part;
  });
}

/** A hop's kind, and its label when it has one: "causal", "semantic:works_at". */
export function relation(kind: string, label: string): string {
  return label.length > 0 ? `${kind}:${label}` : kind;
}

/** One line of text: "rain —causal 0.9→ wet streets —causal:floods 0.8→ slippery roads". */
export function trailText(path: Path): string {
  return trail(path)
    .map((p) =>
      p.hop
        ? `${p.concept.label} ${p.hop.reversed ? "←" : "—"}${relation(p.hop.kind, p.hop.label)} ${formatNumber(p.hop.confidence)}${p.hop.reversed ? "—" : "→"} `
        : p.concept.label,
    )
    .join("");
}

/**
 * The trail of a search hit reached along the graph, as one line (see {@link trailText}): the
 * concepts named by `contentOf` where it knows them, by the start of their id otherwise.
 */
export function stepsText(steps: Path["steps"], contentOf: (id: string) => string | undefined): string {
  const first = steps[0];
  if (first === undefined) return "";
  return trailText({
    concepts: [first.from, ...steps.map((s) => s.to)].map((id) => ({ id, content: contentOf(id) ?? null })),
    steps,
    confidence: steps.reduce((c, s) => c * s.confidence, 1),
  });
}

/** A number with at most 3 decimals, no trailing zeros. */
export function formatNumber(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

/** Bytes for people. */
export function formatBytes(n: number | null): string {
  if (n === null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
