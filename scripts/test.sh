#!/usr/bin/env bash
# Runs every check Sutra has, installing what it needs first (idempotent: a second run skips
# every install). This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not on PATH: install Rust with rustup first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "lint"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "core builds for wasm32 (no I/O, no threads needed)"
cargo build -p sutra-core --features json --target wasm32-unknown-unknown

step "fuzz targets build"
# Built without the fuzzing instrumentation (that needs nightly flags); running them is
# described in the README.
cargo build --manifest-path fuzz/Cargo.toml --release --bins

step "tests"
cargo test --workspace
