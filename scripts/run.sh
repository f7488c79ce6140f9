#!/usr/bin/env bash
# Runs Sutra: builds what is missing (the server, the browser engine and the control center) and
# serves the HTTP API (/v1) and the control center (/) at http://127.0.0.1:7878, data in
# ./sutra-data. Extra arguments go to `sutra serve` (e.g. --data DIR --listen ADDR --token T).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
need_cargo
if [ ! -f web-control-center/dist/index.html ]; then
  echo "Building the control center (once; delete web-control-center/dist to rebuild)…"
  ensure_wasm_toolchain
  ensure_npm_packages
  npm run build -w sutra-wasm
  npm run build -w web-control-center
fi
cargo build --release -p sutra-server
exec ./target/release/sutra serve --ui web-control-center/dist "$@"
