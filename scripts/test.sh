#!/usr/bin/env bash
# Runs every check Sutra has, installing what it needs first (idempotent: a second run skips
# every install). This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not on PATH: install Rust with rustup first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # Must equal the wasm-bindgen crate version. Not --locked: its lockfile pins a crate version
  # the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
fi
if ! command -v node >/dev/null 2>&1; then
  echo "node is not on PATH: install Node.js 20.19 or newer" >&2
  exit 1
fi
npm ci --no-audit --no-fund

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "lint"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p sutra-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings

step "core builds for wasm32 (no I/O, no threads needed)"
cargo build -p sutra-core --features json --target wasm32-unknown-unknown

step "fuzz targets build"
# Built without the fuzzing instrumentation (that needs nightly flags); running them is
# described in the README.
cargo build --manifest-path fuzz/Cargo.toml --release --bins

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
SUTRA_BIN="$PWD/target/debug/sutra" npm test -w sutra-wasm
