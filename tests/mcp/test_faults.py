"""Many agents at once, and a server killed while they write: every acknowledged tool call's
data is there after a restart, and nothing is half-applied."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import anyio
from conftest import Server, ToolError, call, check_deep, connect, start, stdio

from sutra_memory import Sutra

CLIENTS = 16
ROUNDS = int(os.environ.get("SUTRA_MCP_ROUNDS", "8"))


def entity(client: int, round: int) -> dict[str, object]:
    name = f"agent{client:02} fact {round:03}"
    return {"name": name, "entityType": f"kind{client % 4}",
            "observations": [f"{name} seen", f"{name} noted", f"{name} kept"]}


async def test_sixteen_clients_writing_at_once_lose_nothing(server: Server) -> None:
    async def agent(n: int) -> None:
        # Half over HTTP, half through stdio bridges: both share the one server.
        target = server.url + "/mcp" if n % 2 == 0 else stdio("--url", server.url)
        async with connect(target) as client:
            for r in range(ROUNDS):
                made = await call(client, "create_entities", {"entities": [entity(n, r)]})
                assert len(made) == 1
                if r > 0:
                    await call(client, "create_relations", {"relations": [{
                        "from": entity(n, r)["name"], "to": entity(n, r - 1)["name"], "relationType": "follows"}]})
                await call(client, "add_observations", {"observations": [{
                    "entityName": entity(n, r)["name"], "contents": [f"round {r}", "shared words"]}]})

    async with anyio.create_task_group() as group:
        for n in range(CLIENTS):
            group.start_soon(agent, n)

    with Sutra(server.url) as sutra:
        m = sutra.memory("memory")
        concepts = list(m.concepts())
        names = {c.content for c in concepts if "entity_type" in c.metadata}
        assert names == {str(entity(n, r)["name"]) for n in range(CLIENTS) for r in range(ROUNDS)}
        # Each entity, its 3 + 2 observations; relations: ROUNDS - 1 per client; 5 observation
        # links per entity.
        assert len(concepts) == CLIENTS * ROUNDS * 6
        stats = m.stats()
        assert stats.associations == CLIENTS * ROUNDS * 5 + CLIENTS * (ROUNDS - 1)
        for c in concepts:
            if "observation_of" in c.metadata:
                assert str(c.metadata["observation_of"]) in names
    async with connect(server.url + "/mcp") as client:
        opened = await call(client, "open_nodes", {"names": [entity(3, 1)["name"]]})
        assert {(r["from"], r["to"]) for r in opened["relations"]} == {
            (entity(3, 1)["name"], entity(3, 0)["name"]), (entity(3, 2)["name"], entity(3, 1)["name"])}
        assert set(opened["entities"][0]["observations"]) == {
            f"{entity(3, 1)['name']} seen", f"{entity(3, 1)['name']} noted", f"{entity(3, 1)['name']} kept",
            "round 1", "shared words"}
    # Nothing corrupted: every checksum, the log replayed, the rebuilt graph checked both ways.
    server.stop()
    assert "memory: ok (integrity checked)" in check_deep(server.data)


async def test_acknowledged_tool_calls_survive_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start(data)
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def writer(n: int, url: str) -> None:
        async with connect(url + "/mcp") as client:
            r = 0
            while not stop.is_set():
                e = entity(n, r)
                try:
                    await call(client, "create_entities", {"entities": [e]})
                except (ToolError, Exception):
                    return  # the server is gone: this call's outcome is unknown
                acknowledged.append(str(e["name"]))
                r += 1

    async def kill_soon() -> None:
        await asyncio.sleep(1.5)
        server.kill()  # SIGKILL while the writers are mid-call
        stop.set()

    started = time.monotonic()
    await asyncio.gather(*(writer(n, server.url) for n in range(8)), kill_soon(), return_exceptions=True)
    assert server.process.returncode is not None and server.process.returncode < 0
    assert len(acknowledged) >= 8, f"only {len(acknowledged)} calls acknowledged in {time.monotonic() - started:.1f} s"

    print(f"{len(acknowledged)} calls acknowledged before the SIGKILL")
    again = start(data)
    try:
        with Sutra(again.url) as sutra:
            m = sutra.memory("memory")
            present: dict[str, set[str]] = {}
            for c in m.concepts():
                if "entity_type" in c.metadata:
                    present.setdefault(c.content, set())
                elif "observation_of" in c.metadata:
                    present.setdefault(str(c.metadata["observation_of"]), set()).add(c.content)
            # Every acknowledged call's entity, with all of its observations.
            for name in acknowledged:
                assert present.get(name) == {f"{name} seen", f"{name} noted", f"{name} kept"}, name
            # Nothing half-applied: an entity whose call was cut is there whole or not at all,
            # and no observation is without its entity.
            for name, notes in present.items():
                assert notes == {f"{name} seen", f"{name} noted", f"{name} kept"}, name
        async with connect(again.url + "/mcp") as client:
            opened = await call(client, "open_nodes", {"names": acknowledged[-3:]})
            assert sorted(e["name"] for e in opened["entities"]) == sorted(acknowledged[-3:])
    finally:
        again.stop()
    check_deep(data)
