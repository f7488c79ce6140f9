"""A real `sutra serve` (and a one-node cluster) for the tests: `SUTRA_BIN`, or the workspace's
debug build."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sutra_memory import Sutra
from sutra_memory.testing import serve, serve_cluster_of_one

REPO = Path(__file__).resolve().parents[3]
os.environ.setdefault("SUTRA_BIN", str(REPO / "target" / "debug" / "sutra"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    with serve_cluster_of_one() as url:
        yield url


@pytest.fixture()
def sutra(server_url: str) -> Iterator[Sutra]:
    with Sutra(server_url) as client:
        yield client
