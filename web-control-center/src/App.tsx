import { useEffect, useMemo, useState } from "react";
import type { Backend } from "./data/backend";
import { BrowserBackend } from "./data/browser";
import { HttpBackend } from "./data/http";
import { link } from "./components/common";
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
  return { memory: null, view: "memories" };
}

const VIEWS: [string, string][] = [
  ["overview", "Overview"],
  ["concepts", "Concepts"],
  ["graph", "Graph"],
  ["paths", "Paths"],
  ["search", "Vector search"],
  ["io", "Import / export"],
];

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
  let body;
  if (!memory) body = <Memories backend={backend} />;
  else if (route.view === "concepts") body = <Concepts backend={backend} memory={memory} />;
  else if (route.view === "concept" && route.id) body = <ConceptDetail backend={backend} memory={memory} id={route.id} />;
  else if (route.view === "graph") body = <Graph backend={backend} memory={memory} {...(route.id ? { start: route.id } : {})} />;
  else if (route.view === "paths") body = <Paths backend={backend} memory={memory} />;
  else if (route.view === "search") body = <Search backend={backend} memory={memory} />;
  else if (route.view === "io") body = <ImportExport backend={backend} memory={memory} />;
  else body = <Overview backend={backend} memory={memory} />;

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
              {VIEWS.map(([view, label]) => (
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
        <main>{body}</main>
      </div>
    </div>
  );
}
