/** Builds Cytoscape elements from neighbourhoods and paths: kinds as colours, confidence as width. */
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
}

export interface EdgeData {
  id: string;
  source: string;
  target: string;
  kind: string;
  /** What the edge shows: its kind, and its label when it has one. */
  caption: string;
  confidence: number;
  colour: string;
  width: number;
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
      elements.edges.set(e.id, e);
    }
  }
  return added;
}

/** The elements of some paths (the concepts and the hops taken). */
export function pathElements(paths: Path[]): Elements {
  const elements = emptyElements();
  for (const p of paths) {
    for (const c of p.concepts) {
      elements.nodes.set(c.id, { id: c.id, label: label(c.content, c.id) });
    }
    for (const s of p.steps) {
      const source = s.reversed ? s.to : s.from;
      const target = s.reversed ? s.from : s.to;
      const e = edge({ source, target, kind: s.kind as Association["kind"], label: s.label, confidence: s.confidence });
      elements.edges.set(e.id, e);
    }
  }
  return elements;
}

/** In Cytoscape's format. */
export function toCytoscape(elements: Elements): { data: Record<string, unknown> }[] {
  return [
    ...[...elements.nodes.values()].map((n) => ({ data: { ...n } })),
    ...[...elements.edges.values()].map((e) => ({ data: { ...e } })),
  ];
}
