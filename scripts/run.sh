#!/usr/bin/env bash
# Runs Sutra: builds the server and serves the HTTP API (/v1) and the control center (/).
# Extra arguments go to `sutra serve` (e.g. --data DIR --listen ADDR --token T).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not on PATH: install Rust with rustup first" >&2
  exit 1
fi
cargo build --release -p sutra-server
exec ./target/release/sutra serve "$@"
