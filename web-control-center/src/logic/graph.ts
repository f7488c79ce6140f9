/** Builds the explorer's elements from neighbourhoods and paths (kinds as colours, confidence as
 * width), places new concepts next to the ones they hang from, and filters what is drawn. */
import type { Association, Neighbourhood, Path } from "sutra-wasm";
import { label, relation } from "./trail";

export const KIND_COLOURS: Record<string, string> = {
  semantic: "#2f6fde",
  causal: "#d9480f",
  temporal: "#2b8a3e",
  hierarchical: "#7048e8",
  compositional: "#c2255c",
};

export function edgeWidth(confidence: number): number {
  return 1 + Math.round(Math.max(0, Math.min(1, confidence)) * 7);
}

export interface NodeData {
  id: string;
  label: string;
  centre?: boolean;
  /** On a paths graph: where every trail starts or ends. */
  role?: "from" | "to";
}

export interface EdgeData {
  id: string;
  source: string;
  target: string;
  kind: string;
  /** The association's own label ("" when it has none). */
  label: string;
  /** What the edge shows: its kind, and its label when it has one. */
  caption: string;
  confidence: number;
  colour: string;
  width: number;
  /** On a paths graph: the trails (their indexes) that take this hop. */
  trails?: number[];
  /** The association as the engine gave it (a neighbourhood's: weight, metadata, validity). */
  association?: Association;
}

export interface Elements {
  nodes: Map<string, NodeData>;
  edges: Map<string, EdgeData>;
}

export function emptyElements(): Elements {
  return { nodes: new Map(), edges: new Map() };
}

function edge(a: Pick<Association, "source" | "target" | "kind" | "label" | "confidence">): EdgeData {
  return {
    id: `${a.source}-${a.kind}-${a.target}-${a.label}`,
    source: a.source,
    target: a.target,
    kind: a.kind,
    label: a.label,
    caption: relation(a.kind, a.label),
    confidence: a.confidence,
    colour: KIND_COLOURS[a.kind] ?? "#888",
    width: edgeWidth(a.confidence),
  };
}

/** Adds a neighbourhood to the elements (expanding the graph); returns how many nodes were new. */
export function merge(elements: Elements, n: Neighbourhood, centre?: string): number {
  let added = 0;
  for (const c of n.concepts) {
    if (!elements.nodes.has(c.id)) {
      elements.nodes.set(c.id, { id: c.id, label: label(c.content, c.id), ...(c.id === centre ? { centre: true } : {}) });
      added++;
    }
  }
  for (const a of n.associations) {
    if (elements.nodes.has(a.source) && elements.nodes.has(a.target)) {
      const e = edge(a);
      elements.edges.set(e.id, { ...e, association: a });
    }
  }
  return added;
}

/** Colours that tell trails apart (and from the kinds' colours), the first trail first. */
export const TRAIL_COLOURS = ["#e8590c", "#1971c2", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599", "#e03131", "#5c940d"];

export function trailColour(trail: number): string {
  return TRAIL_COLOURS[trail % TRAIL_COLOURS.length] ?? "#888";
}

/** The elements of some paths: the concepts and the hops taken, each hop with the trails that
 * take it (coloured by the first), and where they start and end marked. */
export function pathElements(paths: Path[]): Elements {
  const elements = emptyElements();
  paths.forEach((p, trail) => {
    p.concepts.forEach((c, i) => {
      // A concept keeps the role it first had (a trail's end may be another's middle).
      const role = elements.nodes.get(c.id)?.role ?? (i === 0 ? "from" : i === p.concepts.length - 1 ? "to" : undefined);
      elements.nodes.set(c.id, { id: c.id, label: label(c.content, c.id), ...(role ? { role } : {}) });
    });
    for (const s of p.steps) {
      const source = s.reversed ? s.to : s.from;
      const target = s.reversed ? s.from : s.to;
      const e = edge({ source, target, kind: s.kind as Association["kind"], label: s.label, confidence: s.confidence });
      const known = elements.edges.get(e.id);
      if (known) known.trails = [...(known.trails ?? []), trail];
      else elements.edges.set(e.id, { ...e, colour: trailColour(trail), trails: [trail] });
    }
  });
  return elements;
}

/** The concepts and associations a collapse of `id` takes away: the concepts whose only
 * associations shown are with `id` (the centre stays), and those associations. */
export function collapse(elements: Elements, id: string): { nodes: string[]; edges: string[] } {
  const linked = neighbours(elements);
  const others = (n: string) => new Set((linked.get(n) ?? []).filter((m) => m !== n));
  const nodes = [...others(id)].filter((n) => {
    const theirs = others(n);
    return !elements.nodes.get(n)?.centre && theirs.size === 1 && theirs.has(id);
  });
  const gone = new Set(nodes);
  const edges = [...elements.edges.values()].filter((e) => gone.has(e.source) || gone.has(e.target)).map((e) => e.id);
  return { nodes, edges };
}

/** The elements without some concepts and associations (a new value: the old one is kept). */
export function without(elements: Elements, drop: { nodes: string[]; edges: string[] }): Elements {
  const nodes = new Map(elements.nodes);
  const edges = new Map(elements.edges);
  for (const n of drop.nodes) nodes.delete(n);
  for (const e of drop.edges) edges.delete(e);
  return { nodes, edges };
}

export interface Point {
  x: number;
  y: number;
}

/** A number in [0, 1) fixed by a text (so a concept lands at the same spot every time). */
function unit(text: string, salt: number): number {
  let h = 2166136261 ^ salt;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967296;
}

/** Each concept's neighbours among the elements (both directions). */
export function neighbours(elements: Elements): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (a: string, b: string) => {
    const list = out.get(a);
    if (list) list.push(b);
    else out.set(a, [b]);
  };
  for (const e of elements.edges.values()) {
    add(e.source, e.target);
    add(e.target, e.source);
  }
  return out;
}

/**
 * Where a concept new to the picture starts: around the middle of the placed concepts it is
 * associated with (so an expansion grows out of what was clicked), or, with none placed, on a
 * ring around the picture. Placed concepts never move here.
 */
export function startingPoint(id: string, linked: readonly string[], placed: ReadonlyMap<string, Point>, spread: number): Point {
  let x = 0;
  let y = 0;
  let n = 0;
  for (const other of linked) {
    const at = placed.get(other);
    if (at) {
      x += at.x;
      y += at.y;
      n++;
    }
  }
  const angle = unit(id, 1) * 2 * Math.PI;
  if (n > 0) {
    const r = spread * (0.2 + 0.3 * unit(id, 2));
    return { x: x / n + r * Math.cos(angle), y: y / n + r * Math.sin(angle) };
  }
  return { x: spread * Math.cos(angle) * (0.5 + unit(id, 3)), y: spread * Math.sin(angle) * (0.5 + unit(id, 3)) };
}

/** What the explorer draws: the kinds and labels chosen (null: every label) and the least
 * confidence. */
export interface EdgeFilter {
  kinds: ReadonlySet<string>;
  labels: ReadonlySet<string> | null;
  minConfidence: number;
}

export function edgeShown(e: EdgeData, filter: EdgeFilter): boolean {
  return filter.kinds.has(e.kind) && (filter.labels === null || filter.labels.has(e.label)) && e.confidence >= filter.minConfidence;
}

/** The labels among the elements' associations, sorted ("" is the associations without one). */
export function labelsOf(elements: Elements): string[] {
  return [...new Set([...elements.edges.values()].map((e) => e.label))].sort();
}
