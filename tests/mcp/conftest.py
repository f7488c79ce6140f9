"""The MCP server's tests: a real MCP client (the official Python SDK, `mcp`) against the real
`sutra` binary (`SUTRA_BIN`, or the workspace's debug build), over Streamable HTTP (`/mcp` on
`sutra serve`) and stdio (`sutra mcp`); the data checked through `/v1` with the Python client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import TextContent

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("SUTRA_BIN", str(REPO / "target" / "debug" / "sutra"))
BIN = os.environ["SUTRA_BIN"]


class ToolError(Exception):
    """A tool's error answer (`isError`), its text."""


@dataclass
class Server:
    """A `sutra serve` process on a data directory of the test's."""

    data: Path
    process: subprocess.Popen[str]
    url: str

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def start(data: Path, arguments: Sequence[str] = ()) -> Server:
    """`sutra serve` on `data` (kept across restarts), once it listens."""
    process = subprocess.Popen(
        [BIN, "serve", "--ui", "/nonexistent", "--data", str(data), "--listen", "127.0.0.1:0", *arguments],
        stdout=subprocess.PIPE,
        env={**os.environ, "RUST_LOG": "warn"},
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        url = next((w for w in line.split() if w.startswith("http://")), None)
        if url is not None:
            return Server(data, process, url.rstrip("/"))
    process.wait(timeout=30)
    raise RuntimeError(f"the server stopped before it said where it listens (exit {process.returncode})")


def check_deep(data: Path) -> str:
    """`sutra check --deep` on a stopped server's data: every checksum, the log replayed, the
    rebuilt state's integrity; its report (it fails the test on any problem)."""
    done = subprocess.run([BIN, "check", "--deep", "--data", str(data)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(integrity checked)" in done.stdout, done.stdout
    return done.stdout


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    running = start(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


Target = Union[str, StdioServerParameters]


def stdio(*arguments: str) -> StdioServerParameters:
    """`sutra mcp` with `arguments`, started by the client."""
    return StdioServerParameters(command=BIN, args=["mcp", *arguments], env={**os.environ, "RUST_LOG": "warn"})


@asynccontextmanager
async def connect(target: Target) -> AsyncIterator[Client]:
    async with Client(target) as client:
        yield client


def text_of(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text


async def call(client: Client, tool: str, arguments: Optional[dict[str, Any]] = None) -> Any:
    """A tool's answer as JSON; its error answer raised as ToolError."""
    result = await client.call_tool(tool, arguments or {})
    text = text_of(result)
    if result.is_error:
        raise ToolError(text)
    return json.loads(text)


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """The text of a call that must be the tool's error."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, (tool, arguments, text_of(result))
    return text_of(result)
