#!/usr/bin/env bash
# Builds the sutra-wasm npm package: the engine to WebAssembly (pkg/, wasm-bindgen --target web)
# and the TypeScript client and worker (dist/). Needs wasm-bindgen-cli equal to the crate's
# wasm-bindgen version (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=..
profile=${SUTRA_WASM_PROFILE:-release}
flag=$([ "$profile" = release ] && echo --release || echo)
cargo build -p sutra-wasm --target wasm32-unknown-unknown $flag
wasm-bindgen --target web --out-dir pkg "$root/target/wasm32-unknown-unknown/$profile/sutra_wasm.wasm"
"$root/node_modules/.bin/tsc" -p .
