"""A real Sutra server for tests (the client's own, the Streamlit client's, and yours): started
on a temporary data directory, stopped and deleted afterwards. No mocks: a test talks to the
engine.

    with serve() as url:
        with Sutra(url) as sutra:
            ...

The binary: `SUTRA_BIN`, or `sutra` on the PATH."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Optional

from .client import Sutra


def binary() -> str:
    """The `sutra` binary the servers are started from."""
    found = os.environ.get("SUTRA_BIN") or shutil.which("sutra")
    if not found or not os.path.exists(found):
        raise RuntimeError("no sutra binary: set SUTRA_BIN (e.g. target/debug/sutra after cargo build -p sutra-server)")
    return found


@contextmanager
def serve(arguments: Sequence[str] = ("--listen", "127.0.0.1:0"), env: Optional[dict[str, str]] = None) -> Iterator[str]:
    """`sutra serve` with `arguments` on a temporary data directory; its URL once it listens."""
    with tempfile.TemporaryDirectory(prefix="sutra-test-") as data:
        server = subprocess.Popen(
            [binary(), "serve", "--ui", "/nonexistent", "--data", data, *arguments],
            stdout=subprocess.PIPE,
            env={**os.environ, "RUST_LOG": "warn", **(env or {})},
            text=True,
        )
        try:
            assert server.stdout is not None
            url = None
            for line in server.stdout:
                url = next((w for w in line.split() if w.startswith("http://")), None)
                if url is not None:
                    break
            if url is None:
                raise RuntimeError("the server stopped before it said where it listens")
            yield url.rstrip("/")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def free_port() -> int:
    """A port of 127.0.0.1 free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_cluster_of_one(token: str = "a-cluster-token-for-tests") -> Iterator[str]:
    """A cluster of one node, once it leads."""
    api, raft = free_port(), free_port()
    arguments = ["--listen", f"127.0.0.1:{api}", "--node-id", "1", "--member", f"1=127.0.0.1:{api}/127.0.0.1:{raft}"]
    with serve(arguments, {"SUTRA_CLUSTER_TOKEN": token}) as url:
        deadline = time.monotonic() + 30
        with Sutra(url) as client:
            while client.cluster().leader != 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the one-node cluster elected no leader in 30 s")
                time.sleep(0.1)
        yield url
