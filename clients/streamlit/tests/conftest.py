"""A real `sutra serve` for the Streamlit client's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sutra_memory.testing import serve

REPO = Path(__file__).resolve().parents[3]
os.environ.setdefault("SUTRA_BIN", str(REPO / "target" / "debug" / "sutra"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    with serve() as url:
        yield url
