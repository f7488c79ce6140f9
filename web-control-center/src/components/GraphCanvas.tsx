import { MultiDirectedGraph } from "graphology";
import FA2Layout from "graphology-layout-forceatlas2/worker";
import forceAtlas2 from "graphology-layout-forceatlas2";
import Sigma from "sigma";
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { neighbours, startingPoint, type EdgeData, type Elements, type Point } from "../logic/graph";

interface NodeAttributes {
  x: number;
  y: number;
  size: number;
  label: string;
  color: string;
  /** Held where it is while the layout places the concepts that are new. */
  fixed: boolean;
}

interface EdgeAttributes {
  size: number;
  color: string;
  label: string;
  type: "arrow";
  weight: number;
  data: EdgeData;
}

type Picture = MultiDirectedGraph<NodeAttributes, EdgeAttributes>;

/** What is selected in a picture: a concept or an association (by their element ids). */
export type Selection = { type: "concept"; id: string } | { type: "association"; id: string } | null;

const NODE = "#495057";
const CENTRE = "#f08c00";
const FROM = "#2b8a3e";
const TO = "#c92a2a";
const FADED = "#e9ecef";

/** How long the layout may run for a picture of `n` concepts (it stops sooner when nothing is new). */
function layoutMillis(n: number): number {
  return Math.min(4000, 600 + 2 * n);
}

function download(name: string, blob: Blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A graph drawn by sigma.js with WebGL (tens of thousands of concepts and associations pan and
 * zoom smoothly), laid out by ForceAtlas2 in a web worker. Concepts already drawn keep their place
 * when elements are added: the new ones start next to what they are associated with and only they
 * move. Kinds are colours, confidence is width; a click selects, the buttons (or + − 0 and the
 * arrows, with the picture focused) zoom, fit and pan; the picture exports as PNG or SVG.
 */
export function GraphCanvas({
  elements,
  label,
  selected = null,
  onSelect,
  shown,
  emphasis = null,
  onKeyDown,
  name = "graph",
}: {
  elements: Elements;
  label: string;
  selected?: Selection;
  onSelect?: (selection: Selection) => void;
  /** Which associations are drawn (all when absent); concepts left with none drawn are hidden. */
  shown?: (edge: EdgeData) => boolean;
  /** Associations to bring forward (the others fade), or null. */
  emphasis?: ReadonlySet<string> | null;
  /** Keys the picture does not use itself (Enter, Delete…), with the picture focused. */
  onKeyDown?: (event: KeyboardEvent<HTMLDivElement>) => void;
  /** The exported files' names: `<name>.png`, `<name>.svg`. */
  name?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const sigma = useRef<Sigma<NodeAttributes, EdgeAttributes> | null>(null);
  const graph = useRef<Picture>(new MultiDirectedGraph<NodeAttributes, EdgeAttributes>());
  const layout = useRef<{ supervisor: FA2Layout; timer: ReturnType<typeof setTimeout> } | null>(null);
  const [running, setRunning] = useState(false);
  const [drawn, setDrawn] = useState({ nodes: 0, edges: 0 });
  // What the reducers read (kept in refs so that changing them refreshes without rebuilding).
  const view = useRef({ selected, shown, emphasis, hidden: new Set<string>(), emphasised: new Set<string>() });
  const select = useRef(onSelect);
  select.current = onSelect;

  useEffect(() => {
    if (!box.current) return;
    const instance = new Sigma<NodeAttributes, EdgeAttributes>(graph.current, box.current, {
      renderEdgeLabels: true,
      enableEdgeEvents: true,
      defaultEdgeType: "arrow",
      labelRenderedSizeThreshold: 6,
      zIndex: true,
      nodeReducer: (node, data) => {
        const v = view.current;
        if (v.hidden.has(node)) return { ...data, hidden: true };
        const picked = v.selected?.type === "concept" && v.selected.id === node;
        const faded = v.emphasis !== null && !v.emphasised.has(node);
        return { ...data, ...(faded ? { color: FADED, label: "" } : {}), ...(picked ? { highlighted: true, size: data.size + 4, zIndex: 2 } : {}) };
      },
      edgeReducer: (edge, data) => {
        const v = view.current;
        if (v.hidden.has(edge)) return { ...data, hidden: true };
        const picked = v.selected?.type === "association" && v.selected.id === edge;
        if (v.emphasis !== null) {
          return v.emphasis.has(edge) ? { ...data, size: data.size + 2, zIndex: 1 } : { ...data, color: FADED, label: "", zIndex: 0 };
        }
        return picked ? { ...data, size: data.size + 3, zIndex: 1, color: "#212529" } : data;
      },
    });
    instance.on("clickNode", ({ node }) => select.current?.({ type: "concept", id: node }));
    instance.on("clickEdge", ({ edge }) => select.current?.({ type: "association", id: edge }));
    instance.on("clickStage", () => select.current?.(null));
    sigma.current = instance;
    // The graph as drawn (positions included) and its renderer (the camera), for the console
    // and the end-to-end tests.
    Object.defineProperty(box.current, "graphology", { value: graph.current, configurable: true });
    Object.defineProperty(box.current, "sigma", { value: instance, configurable: true });
    return () => {
      stopLayout();
      instance.kill();
      sigma.current = null;
    };
  }, []);

  // What is drawn follows the elements: gone ones are dropped, new ones placed next to what they
  // are associated with, and only they are laid out.
  useEffect(() => {
    const g = graph.current;
    for (const e of g.edges()) if (!elements.edges.has(e)) g.dropEdge(e);
    for (const n of g.nodes()) if (!elements.nodes.has(n)) g.dropNode(n);
    const placed = new Map<string, Point>();
    g.forEachNode((n, a) => placed.set(n, { x: a.x, y: a.y }));
    const spread = Math.max(1, Math.sqrt(placed.size));
    const fresh: string[] = [];
    const linked = neighbours(elements);
    for (const node of elements.nodes.values()) {
      const color = node.role === "from" ? FROM : node.role === "to" ? TO : node.centre ? CENTRE : NODE;
      if (g.hasNode(node.id)) {
        g.mergeNodeAttributes(node.id, { label: node.label, color });
      } else {
        const at = startingPoint(node.id, linked.get(node.id) ?? [], placed, spread);
        placed.set(node.id, at);
        g.addNode(node.id, { ...at, size: 6, label: node.label, color, fixed: false });
        fresh.push(node.id);
      }
    }
    for (const e of elements.edges.values()) {
      const attributes = { size: e.width, color: e.colour, label: e.caption, type: "arrow" as const, weight: e.confidence, data: e };
      if (g.hasEdge(e.id)) g.replaceEdgeAttributes(e.id, attributes);
      else g.addDirectedEdgeWithKey(e.id, e.source, e.target, attributes);
    }
    // Sizes by how connected a concept is in the picture.
    g.forEachNode((n) => g.setNodeAttribute(n, "size", 5 + Math.min(10, 2 * Math.log2(1 + g.degree(n)))));
    setDrawn({ nodes: g.order, edges: g.size });
    refilter();
    if (fresh.length > 0) lay(fresh);
  }, [elements]);

  /** Stops the layout running, if one is. */
  function stopLayout() {
    const running = layout.current;
    if (!running) return;
    clearTimeout(running.timer);
    running.supervisor.kill();
    layout.current = null;
  }

  function lay(fresh: string[]) {
    const g = graph.current;
    stopLayout();
    const free = new Set(fresh);
    g.forEachNode((n) => g.setNodeAttribute(n, "fixed", !free.has(n)));
    if (g.order < 2) {
      setRunning(false);
      return;
    }
    const supervisor = new FA2Layout(g, { settings: { ...forceAtlas2.inferSettings(g), barnesHutOptimize: g.order > 500 }, getEdgeWeight: "weight" });
    supervisor.start();
    setRunning(true);
    const timer = setTimeout(() => {
      supervisor.kill();
      if (layout.current?.supervisor === supervisor) layout.current = null;
      setRunning(false);
    }, layoutMillis(g.order));
    layout.current = { supervisor, timer };
  }

  // Filters: associations not shown are hidden, and so are concepts left with none shown (a
  // concept with no association at all stays).
  function refilter() {
    const g = graph.current;
    const v = view.current;
    const hidden = new Set<string>();
    const emphasised = new Set<string>();
    let hiddenEdges = 0;
    if (v.shown) {
      const keep = v.shown;
      g.forEachEdge((e, a) => {
        if (keep(a.data)) return;
        hidden.add(e);
        hiddenEdges++;
      });
      g.forEachNode((n) => {
        if (g.degree(n) > 0 && g.edges(n).every((e) => hidden.has(e))) hidden.add(n);
      });
    }
    if (v.emphasis) {
      for (const e of v.emphasis) {
        if (!g.hasEdge(e)) continue;
        emphasised.add(g.source(e));
        emphasised.add(g.target(e));
      }
    }
    v.hidden = hidden;
    v.emphasised = emphasised;
    sigma.current?.refresh();
    box.current?.setAttribute("data-shown-edges", String(g.size - hiddenEdges));
  }

  useEffect(() => {
    view.current = { ...view.current, selected, shown, emphasis };
    refilter();
  }, [selected, shown, emphasis]);

  function camera(action: "in" | "out" | "fit" | "left" | "right" | "up" | "down") {
    const s = sigma.current;
    if (!s) return;
    const c = s.getCamera();
    if (action === "in") void c.animatedZoom({ duration: 200 });
    else if (action === "out") void c.animatedUnzoom({ duration: 200 });
    else if (action === "fit") {
      s.setCustomBBox(null);
      void c.animatedReset({ duration: 300 });
    } else {
      const step = 0.1 * c.ratio;
      const { x, y } = c.getState();
      const [dx, dy] = action === "left" ? [-step, 0] : action === "right" ? [step, 0] : action === "up" ? [0, step] : [0, -step];
      void c.animate({ x: x + dx, y: y + dy }, { duration: 150 });
    }
  }

  /** The picture as it is on the screen, in one PNG (the layers sigma draws on, white behind). */
  async function png() {
    const s = sigma.current;
    if (!s) return;
    s.refresh();
    const layers = s.getCanvases();
    const first = layers.edges;
    if (!first) return;
    const out = document.createElement("canvas");
    out.width = first.width;
    out.height = first.height;
    const context = out.getContext("2d");
    if (!context) return;
    context.fillStyle = "#fff";
    context.fillRect(0, 0, out.width, out.height);
    for (const layer of ["edges", "edgeLabels", "nodes", "labels"]) {
      const canvas = layers[layer];
      if (canvas) context.drawImage(canvas, 0, 0, out.width, out.height);
    }
    const blob = await new Promise<Blob | null>((ok) => out.toBlob(ok, "image/png"));
    if (blob) download(`${name}.png`, blob);
  }

  /** The picture as SVG: what is shown, where it is on the screen, with its labels. */
  function svg() {
    const s = sigma.current;
    if (!s) return;
    const g = graph.current;
    const { width, height } = s.getDimensions();
    const v = view.current;
    const at = new Map<string, Point>();
    g.forEachNode((n, a) => {
      if (!v.hidden.has(n)) at.set(n, s.graphToViewport({ x: a.x, y: a.y }));
    });
    const parts: string[] = [];
    g.forEachEdge((e, a, source, target) => {
      const p = at.get(source);
      const q = at.get(target);
      if (v.hidden.has(e) || !p || !q) return;
      parts.push(`<line x1="${p.x.toFixed(1)}" y1="${p.y.toFixed(1)}" x2="${q.x.toFixed(1)}" y2="${q.y.toFixed(1)}" stroke="${a.color}" stroke-width="${a.size}" marker-end="url(#arrow)"><title>${escapeXml(a.label)}</title></line>`);
    });
    g.forEachNode((n, a) => {
      const p = at.get(n);
      if (!p) return;
      parts.push(`<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="${(a.size / 2 + 2).toFixed(1)}" fill="${a.color}"/>`);
      parts.push(`<text x="${(p.x + a.size / 2 + 4).toFixed(1)}" y="${(p.y + 4).toFixed(1)}">${escapeXml(a.label)}</text>`);
    });
    const text = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
      `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#868e96"/></marker></defs>`,
      `<rect width="100%" height="100%" fill="#fff"/>`,
      ...parts,
      `</svg>`,
    ].join("\n");
    download(`${name}.svg`, new Blob([text], { type: "image/svg+xml" }));
  }

  function key(event: KeyboardEvent<HTMLDivElement>) {
    const keys: Record<string, Parameters<typeof camera>[0]> = {
      "+": "in",
      "=": "in",
      "-": "out",
      "0": "fit",
      ArrowLeft: "left",
      ArrowRight: "right",
      ArrowUp: "up",
      ArrowDown: "down",
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      camera(action);
    } else if (event.key === "Escape") {
      select.current?.(null);
    } else {
      onKeyDown?.(event);
    }
  }

  return (
    <div className="graph-frame">
      <div className="graph-tools" role="toolbar" aria-label={`${label} tools`}>
        <button type="button" onClick={() => camera("in")} title="Zoom in (+)">
          Zoom in
        </button>
        <button type="button" onClick={() => camera("out")} title="Zoom out (−)">
          Zoom out
        </button>
        <button type="button" onClick={() => camera("fit")} title="Fit the picture (0)">
          Fit
        </button>
        <button type="button" onClick={() => void png()}>
          PNG
        </button>
        <button type="button" onClick={svg}>
          SVG
        </button>
        <span className="muted" role="status">
          {running ? "Laying out…" : `${drawn.nodes} concepts, ${drawn.edges} associations`}
        </span>
      </div>
      <div
        className="graph"
        ref={box}
        tabIndex={0}
        role="application"
        aria-label={label}
        aria-roledescription="graph"
        onKeyDown={key}
        data-renderer="webgl"
        data-nodes={drawn.nodes}
        data-edges={drawn.edges}
        data-layout={running ? "running" : "settled"}
        data-selected={selected?.id ?? ""}
        data-highlighted={emphasis?.size ?? 0}
      />
    </div>
  );
}
