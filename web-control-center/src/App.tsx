import { useEffect, useMemo, useState, type ReactNode } from "react";
import type { Backend } from "./data/backend";
import { BrowserBackend } from "./data/browser";
import { BackendProvider } from "./data/context";
import { HttpBackend } from "./data/http";
import { link } from "./components/common";
import { MemoryGate } from "./components/MemoryGate";
import { Cluster } from "./views/Cluster";
import { ConceptDetail } from "./views/ConceptDetail";
import { Concepts } from "./views/Concepts";
import { Graph } from "./views/Graph";
import { ImportExport } from "./views/ImportExport";
import { Memories } from "./views/Memories";
import { Overview } from "./views/Overview";
import { Paths } from "./views/Paths";
import { Search } from "./views/Search";

interface Settings {
  mode: "server" | "browser";
  url: string;
  token: string;
}

const SETTINGS_KEY = "sutra-control-center";

function loadSettings(): Settings {
  const fallback: Settings = { mode: "server", url: window.location.origin, token: "" };
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "null") as Partial<Settings> | null;
    return { ...fallback, ...(saved ?? {}) };
  } catch {
    return fallback;
  }
}

interface Route {
  memory: string | null;
  view: string;
  id?: string;
}

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "");
  if (parts[0] === "m" && parts[1]) {
    const route: Route = { memory: decodeURIComponent(parts[1]), view: parts[2] ?? "overview" };
    if (parts[3]) route.id = parts[3];
    return route;
  }
  if (parts[0] === "cluster") return { memory: null, view: "cluster" };
  return { memory: null, view: "memories" };
}

/** The views of a memory: where each is (`#/m/<memory>/<view>[/<id>]`), its label in the
 * navigation (none: reached from another view), and what it shows. */
interface View {
  view: string;
  label?: string;
  render: (memory: string, id: string | undefined) => ReactNode;
}

export const ROUTES: View[] = [
  { view: "overview", label: "Overview", render: (memory) => <Overview memory={memory} /> },
  { view: "concepts", label: "Concepts", render: (memory) => <Concepts memory={memory} /> },
  { view: "concept", render: (memory, id) => (id ? <ConceptDetail memory={memory} id={id} /> : null) },
  { view: "graph", label: "Graph", render: (memory, id) => <Graph memory={memory} {...(id ? { start: id } : {})} /> },
  { view: "paths", label: "Paths", render: (memory, id) => <Paths memory={memory} {...(id ? { start: id } : {})} /> },
  { view: "search", label: "Search", render: (memory) => <Search memory={memory} /> },
  { view: "io", label: "Import / export", render: (memory) => <ImportExport memory={memory} /> },
];

/** What the route shows: the memories, or one of a memory's views (its overview when the view
 * is unknown or lacks the id it needs). */
function body(route: Route): ReactNode {
  const memory = route.memory;
  if (!memory) return route.view === "cluster" ? <Cluster /> : <Memories />;
  const shown = ROUTES.find((r) => r.view === route.view)?.render(memory, route.id);
  return shown ?? <Overview memory={memory} />;
}

export function App() {
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  const [editing, setEditing] = useState(false);
  const backend: Backend = useMemo(
    () => (settings.mode === "browser" ? new BrowserBackend() : new HttpBackend(settings.url, settings.token)),
    [settings],
  );

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
    return () => void backend.close();
  }, [settings, backend]);

  const memory = route.memory;

  return (
    <div className="app">
      <header>
        <h1>
          <a href="#/">Sutra</a>
        </h1>
        <label className="mode">
          <span>Memories in</span>
          <select
            aria-label="backend"
            value={settings.mode}
            onChange={(e) => {
              setSettings({ ...settings, mode: e.target.value as Settings["mode"] });
              window.location.hash = "#/";
            }}
          >
            <option value="server">a Sutra server</option>
            <option value="browser">this browser</option>
          </select>
        </label>
        {settings.mode === "server" ? (
          <a className="cluster-link" href="#/cluster" aria-current={route.view === "cluster" ? "page" : undefined}>
            Cluster
          </a>
        ) : null}
        {settings.mode === "server" ? (
          editing ? (
            <form
              className="server"
              onSubmit={(e) => {
                e.preventDefault();
                const form = new FormData(e.currentTarget);
                setSettings({ ...settings, url: String(form.get("url") ?? ""), token: String(form.get("token") ?? "") });
                setEditing(false);
              }}
            >
              <input name="url" aria-label="server URL" defaultValue={settings.url} />
              <input name="token" aria-label="bearer token" type="password" placeholder="token (if needed)" defaultValue={settings.token} />
              <button type="submit">Connect</button>
            </form>
          ) : (
            <button type="button" className="link" onClick={() => setEditing(true)}>
              {settings.url}
            </button>
          )
        ) : null}
      </header>
      <div className="layout">
        {memory ? (
          <nav aria-label="views">
            <p className="memory-name">{memory}</p>
            <ul>
              {ROUTES.filter((r) => r.label).map(({ view, label }) => (
                <li key={view}>
                  <a href={link(memory, view)} aria-current={route.view === view ? "page" : undefined}>
                    {label}
                  </a>
                </li>
              ))}
              <li>
                <a href="#/">All memories</a>
              </li>
            </ul>
          </nav>
        ) : null}
        <main>
          <BackendProvider backend={backend}>
            {memory ? (
              <MemoryGate key={memory} memory={memory}>
                {body(route)}
              </MemoryGate>
            ) : (
              body(route)
            )}
          </BackendProvider>
        </main>
      </div>
    </div>
  );
}
