"""Starts a real `sutra serve` on a temporary data directory for the tests (no mocks: the client
talks to the engine). The binary: `SUTRA_BIN`, or the workspace's debug build."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest

from sutra_memory import Sutra

REPO = Path(__file__).resolve().parents[3]


def _binary() -> str:
    binary = os.environ.get("SUTRA_BIN", str(REPO / "target" / "debug" / "sutra"))
    if not Path(binary).exists():
        raise RuntimeError(f"no sutra binary at {binary}: cargo build -p sutra-server, or set SUTRA_BIN")
    return binary


@contextmanager
def _serving(arguments: list[str], env: Optional[dict[str, str]] = None) -> Iterator[str]:
    """`sutra serve` with `arguments` on a temporary data directory; its URL once it listens."""
    with tempfile.TemporaryDirectory(prefix="sutra-pytest-") as data:
        server = subprocess.Popen(
            [_binary(), "serve", "--ui", "/nonexistent", "--data", data, *arguments],
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


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    with _serving(["--listen", "127.0.0.1:0"]) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    """A cluster of one node (it leads once it has elected itself)."""
    api, raft = _free_port(), _free_port()
    arguments = ["--listen", f"127.0.0.1:{api}", "--node-id", "1", "--member", f"1=127.0.0.1:{api}/127.0.0.1:{raft}"]
    with _serving(arguments, {"SUTRA_CLUSTER_TOKEN": "a-cluster-token-for-the-python-tests"}) as url:
        deadline = time.monotonic() + 30
        with Sutra(url) as client:
            while client.cluster().leader != 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the one-node cluster elected no leader in 30 s")
                time.sleep(0.1)
        yield url


@pytest.fixture()
def sutra(server_url: str) -> Iterator[Sutra]:
    with Sutra(server_url) as client:
        yield client
