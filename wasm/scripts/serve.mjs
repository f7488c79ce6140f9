// A small static file server for the browser engine's example and tests (no dependencies).
// `node scripts/serve.mjs [--port N] [--open-example]` serves wasm/ on 127.0.0.1.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".map": "application/json",
  ".css": "text/css; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
};

export const WASM_ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Serves `root` on 127.0.0.1:`port` (0: any free port); resolves to { url, close }. */
export function serve(root = WASM_ROOT, port = 0) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const file = normalize(join(root, path.endsWith("/") ? `${path}index.html` : path));
      if (!file.startsWith(root)) {
        res.writeHead(403).end("forbidden");
        return;
      }
      const info = await stat(file);
      if (!info.isFile()) throw new Error("not a file");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  return new Promise((resolvePromise) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`;
      resolvePromise({ url, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 8787;
  const { url } = await serve(WASM_ROOT, port);
  const page = process.argv.includes("--open-example") ? `${url}/example/` : url;
  console.log(`Serving the Sutra browser engine at ${page} (Ctrl-C to stop)`);
}
