import cytoscape, { type Core } from "cytoscape";
import { useEffect, useRef } from "react";
import { toCytoscape, type Elements } from "../logic/graph";

/** A Cytoscape graph: kinds as colours, labels as captions, confidence as edge width; click a node to act on it. */
export function GraphView({ elements, onNodeClick, label }: { elements: Elements; onNodeClick?: (id: string) => void; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const click = useRef(onNodeClick);
  click.current = onNodeClick;

  useEffect(() => {
    if (!box.current) return;
    const instance = cytoscape({
      container: box.current,
      style: [
        {
          selector: "node",
          style: {
            label: "data(label)",
            "background-color": "#495057",
            color: "#212529",
            "font-size": 11,
            "text-valign": "bottom",
            "text-margin-y": 4,
            width: 18,
            height: 18,
          },
        },
        { selector: "node[?centre]", style: { "background-color": "#f08c00", width: 24, height: 24 } },
        {
          selector: "edge",
          style: {
            width: "data(width)",
            "line-color": "data(colour)",
            "target-arrow-color": "data(colour)",
            "target-arrow-shape": "triangle",
            "curve-style": "bezier",
            label: "data(caption)",
            "font-size": 9,
            color: "#495057",
          },
        },
      ],
    });
    instance.on("tap", "node", (event) => click.current?.(event.target.id() as string));
    cy.current = instance;
    return () => {
      instance.destroy();
      cy.current = null;
    };
  }, []);

  useEffect(() => {
    const instance = cy.current;
    if (!instance) return;
    instance.elements().remove();
    instance.add(toCytoscape(elements) as cytoscape.ElementDefinition[]);
    instance.layout({ name: "cose", animate: false, randomize: false, nodeDimensionsIncludeLabels: true }).run();
  }, [elements]);

  return <div className="graph" ref={box} role="img" aria-label={label} data-nodes={elements.nodes.size} data-edges={elements.edges.size} />;
}
