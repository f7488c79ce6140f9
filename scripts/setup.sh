# Idempotent installs shared by scripts/run.sh and scripts/test.sh (source it; each function
# skips what is already there, so a second run costs seconds).

WASM_BINDGEN_VERSION=0.2.130

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not on PATH: install Rust with rustup first" >&2
    exit 1
  fi
}

need_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "node is not on PATH: install Node.js 20.19 or newer" >&2
    exit 1
  fi
}

ensure_wasm_toolchain() {
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    # Must equal the wasm-bindgen crate version. Not --locked: its lockfile pins a crate
    # version the registry mirror lacks.
    cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium chromium-driver
  fi
}

ensure_npm_packages() {
  need_node
  npm ci --no-audit --no-fund
}

# Workload 10's peer (hnswlib on numpy) and the type checker for the Python in the repository.
# Pinned: the peer's numbers must not move under the benchmark.
# httpx, pydantic, pytest, pytest-asyncio, and the optional pandas, networkx, tqdm, langgraph and
# llama-index-core, and streamlit: the Python client (clients/python), its framework stores,
# the Streamlit client (clients/streamlit) and their tests; pydantic pinned
# where other packages a machine may carry accept it. mcp: the official MCP SDK, whose client
# tests the MCP server (tests/mcp).
PYTHON_PACKAGES="numpy==2.4.6 hnswlib==0.8.0 mypy==1.19.1 httpx==0.28.1 pydantic==2.13.3 pytest==9.2.0 pytest-asyncio==1.5.0 pandas==3.1.1 networkx==3.6.1 tqdm==4.70.1 langgraph==1.2.24 llama-index-core==0.14.25 streamlit==1.67.0 mcp==2.3.0"

ensure_python_packages() {
  # (pip checks the pins itself: seconds when they are all there.)
  python3 -m pip install --quiet --root-user-action=ignore $PYTHON_PACKAGES
}
