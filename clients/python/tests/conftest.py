"""Starts a real `sutra serve` on a temporary data directory for the tests (no mocks: the client
talks to the engine). The binary: `SUTRA_BIN`, or the workspace's debug build."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sutra_memory import Sutra

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    binary = os.environ.get("SUTRA_BIN", str(REPO / "target" / "debug" / "sutra"))
    if not Path(binary).exists():
        raise RuntimeError(f"no sutra binary at {binary}: cargo build -p sutra-server, or set SUTRA_BIN")
    with tempfile.TemporaryDirectory(prefix="sutra-pytest-") as data:
        server = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--ui", "/nonexistent", "--data", data],
            stdout=subprocess.PIPE,
            env={**os.environ, "RUST_LOG": "warn"},
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            url = next((w for w in line.split() if w.startswith("http://")), None)
            if url is None:
                raise RuntimeError(f"no address in the server's first line: {line!r}")
            yield url.rstrip("/")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


@pytest.fixture()
def sutra(server_url: str) -> Iterator[Sutra]:
    with Sutra(server_url) as client:
        yield client
