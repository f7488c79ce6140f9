import { lazy, Suspense, type ComponentProps } from "react";
import type { GraphCanvas } from "./GraphCanvas";

/** The WebGL renderer, loaded when a view first draws a graph (it is most of the app's size, and
 * needs a browser with WebGL). */
const Canvas = lazy(() => import("./GraphCanvas").then((m) => ({ default: m.GraphCanvas })));

/** A graph picture (see {@link GraphCanvas}), its renderer loaded on first use. */
export function GraphPicture(props: ComponentProps<typeof GraphCanvas>) {
  return (
    <Suspense fallback={<p role="status">Loading the graph renderer…</p>}>
      <Canvas {...props} />
    </Suspense>
  );
}
