"""Every tool, over each transport, its effect checked through `/v1`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, Target, call, connect, refused, start, stdio

from sutra_memory import Sutra

REFERENCE_TOOLS = {
    "create_entities",
    "create_relations",
    "add_observations",
    "delete_entities",
    "delete_observations",
    "delete_relations",
    "read_graph",
    "search_nodes",
    "open_nodes",
}
OWN_TOOLS = {"find_paths", "neighbourhood", "similar", "search"}


def entities(sutra: Sutra, memory: str) -> dict[str, str]:
    """The memory's entities through /v1: name → type."""
    m = sutra.memory(memory)
    return {
        c.content: str(c.metadata["entity_type"])
        for c in m.concepts()
        if "entity_type" in c.metadata
    }


def observations(sutra: Sutra, memory: str, name: str) -> set[str]:
    return {c.content for c in sutra.memory(memory).concepts(filter={"observation_of": name})}


def relations(sutra: Sutra, memory: str) -> set[tuple[str, str, str]]:
    m = sutra.memory(memory)
    names = {c.id: c.content for c in m.concepts() if "entity_type" in c.metadata}
    found = set()
    for id, name in names.items():
        for a in m.associations(id, direction="out", kinds=["semantic"]):
            found.add((name, names[a.target], a.label))
    return found


async def scenario(target: Target, url: str, memory: str) -> None:
    """The reference tool set, then Sutra's own, each checked through /v1 at `url`."""
    async with connect(target) as client:
        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        assert names == REFERENCE_TOOLS | OWN_TOOLS
        schema = next(t for t in listed.tools if t.name == "create_entities").input_schema
        item = json.dumps(schema)
        for field in ("entities", "name", "entityType", "observations"):
            assert f'"{field}"' in item, field
        relation_schema = json.dumps(next(t for t in listed.tools if t.name == "create_relations").input_schema)
        assert '"relationType"' in relation_schema and '"from"' in relation_schema

        created = await call(client, "create_entities", {"entities": [
            {"name": "Alice", "entityType": "person", "observations": ["likes green tea", "works remotely"]},
            {"name": "Acme", "entityType": "company", "observations": ["makes anvils"]},
            {"name": "Berlin", "entityType": "city", "observations": []},
        ]})
        assert [e["name"] for e in created] == ["Alice", "Acme", "Berlin"]
        again = await call(client, "create_entities", {"entities": [
            {"name": "Alice", "entityType": "robot", "observations": ["ignored"]}]})
        assert again == []
        with Sutra(url) as sutra:
            assert entities(sutra, memory) == {"Alice": "person", "Acme": "company", "Berlin": "city"}
            assert observations(sutra, memory, "Alice") == {"likes green tea", "works remotely"}

        made = await call(client, "create_relations", {"relations": [
            {"from": "Alice", "to": "Acme", "relationType": "works_at"},
            {"from": "Acme", "to": "Berlin", "relationType": "located_in"},
            {"from": "Alice", "to": "Acme", "relationType": "founded"},
        ]})
        assert len(made) == 3
        assert await call(client, "create_relations", {"relations": [
            {"from": "Alice", "to": "Acme", "relationType": "works_at"}]}) == []
        error = await refused(client, "create_relations", {"relations": [
            {"from": "Alice", "to": "Mars", "relationType": "visited"}]})
        assert error.startswith("entity_not_found") and '"Mars"' in error
        with Sutra(url) as sutra:
            assert relations(sutra, memory) == {
                ("Alice", "Acme", "works_at"), ("Alice", "Acme", "founded"), ("Acme", "Berlin", "located_in")}

        added = await call(client, "add_observations", {"observations": [
            {"entityName": "Alice", "contents": ["plays chess", "likes green tea"]}]})
        assert added == [{"entityName": "Alice", "addedObservations": ["plays chess"]}]
        error = await refused(client, "add_observations", {"observations": [
            {"entityName": "Nobody", "contents": ["x"]}]})
        assert error.startswith("entity_not_found")
        with Sutra(url) as sutra:
            assert observations(sutra, memory, "Alice") == {"likes green tea", "works remotely", "plays chess"}

        graph = await call(client, "read_graph")
        assert graph["memory"] == memory
        assert {e["name"] for e in graph["entities"]} == {"Alice", "Acme", "Berlin"}
        alice = next(e for e in graph["entities"] if e["name"] == "Alice")
        assert alice["entityType"] == "person"
        assert set(alice["observations"]) == {"likes green tea", "works remotely", "plays chess"}
        assert len(graph["relations"]) == 3 and graph["next_cursor"] is None
        assert graph["summary"]["concepts"] == 3 + 4
        assert graph["summary"]["entities"] == 3 and graph["summary"]["observations"] == 4
        assert graph["summary"]["entity_types"] == {"person": 1, "company": 1, "city": 1}
        assert graph["summary"]["counted_all"] is True
        assert graph["summary"]["associations"] == 3 + 4

        found = await call(client, "search_nodes", {"query": "chess"})
        assert [e["name"] for e in found["entities"]] == ["Alice"]
        found = await call(client, "search_nodes", {"query": "anvils"})
        assert [e["name"] for e in found["entities"]] == ["Acme"]
        found = await call(client, "search_nodes", {"query": "city"})
        assert [e["name"] for e in found["entities"]] == ["Berlin"]
        assert (await call(client, "search_nodes", {"query": "submarine"}))["entities"] == []
        # Only stop words: nothing found by words, not an error.
        assert (await call(client, "search_nodes", {"query": "the of"}))["entities"] == []

        opened = await call(client, "open_nodes", {"names": ["Acme", "Ghost"]})
        assert [e["name"] for e in opened["entities"]] == ["Acme"]
        assert opened["not_found"] == ["Ghost"]
        # Incoming and outgoing relations, with the entities at their other ends.
        assert {(r["from"], r["to"], r["relationType"]) for r in opened["relations"]} == {
            ("Alice", "Acme", "works_at"), ("Alice", "Acme", "founded"), ("Acme", "Berlin", "located_in")}

        paths = await call(client, "find_paths", {"from": "Alice", "to": "Berlin"})
        assert len(paths["paths"]) == 1
        trail = paths["paths"][0]["trail"]
        assert trail in ("Alice -[works_at]-> Acme -[located_in]-> Berlin", "Alice -[founded]-> Acme -[located_in]-> Berlin")
        best = await call(client, "find_paths", {"from": "Alice", "to": "Berlin", "algorithm": "k_best", "k": 3})
        assert len(best["paths"]) == 2
        error = await refused(client, "find_paths", {"from": "Alice", "to": "Atlantis"})
        assert error.startswith("entity_not_found")

        around = await call(client, "neighbourhood", {"name": "Acme"})
        assert {c["name"] for c in around["concepts"]} == {"Acme", "Alice", "Berlin", "makes anvils"}
        assert {(a["from"], a["to"], a["relationType"]) for a in around["associations"]} >= {
            ("Acme", "Berlin", "located_in"), ("Acme", "makes anvils", "has_observation")}

        hits = await call(client, "search", {"query": "anvils", "expand_depth": 1})
        assert hits["hits"][0]["content"] == "makes anvils"
        reached = next(h for h in hits["hits"] if h["content"] == "Acme")
        assert reached["found_by"][0]["retriever"] == "graph"
        assert reached["found_by"][0]["trail"] == [
            {"from": "makes anvils", "to": "Acme", "relationType": "has_observation"}]
        only = await call(client, "search", {"query": "anvils chess", "filter": {"observation_of": "Alice"}})
        assert [h["content"] for h in only["hits"]] == ["plays chess"]

        # No embeddings were given: similar says so, as the tool's error.
        error = await refused(client, "similar", {"name": "Alice"})
        assert "no embedding" in error

        gone = await call(client, "delete_observations", {"deletions": [
            {"entityName": "Alice", "observations": ["plays chess", "never noted"]}]})
        assert gone == [{"entityName": "Alice", "deletedObservations": ["plays chess"]}]
        dropped = await call(client, "delete_relations", {"relations": [
            {"from": "Alice", "to": "Acme", "relationType": "founded"},
            {"from": "Alice", "to": "Berlin", "relationType": "founded"}]})
        assert len(dropped["deleted"]) == 1
        deleted = await call(client, "delete_entities", {"entityNames": ["Acme", "Ghost"]})
        assert deleted == {"deleted": ["Acme"], "not_found": ["Ghost"]}
        with Sutra(url) as sutra:
            assert entities(sutra, memory) == {"Alice": "person", "Berlin": "city"}
            assert observations(sutra, memory, "Alice") == {"likes green tea", "works remotely"}
            assert observations(sutra, memory, "Acme") == set()
            assert relations(sutra, memory) == set()
            assert sutra.memory(memory).stats().concepts == 4


async def test_every_tool_over_streamable_http(server: Server) -> None:
    await scenario(server.url + "/mcp", server.url, "memory")


async def test_every_tool_over_http_on_a_memory_named_in_the_url(server: Server) -> None:
    await scenario(server.url + "/mcp?memory=agent-7", server.url, "agent-7")
    with Sutra(server.url) as sutra:
        assert "memory" not in {m["name"] for m in sutra.memories()}


async def test_every_tool_over_stdio_bridged_to_a_server(server: Server) -> None:
    await scenario(stdio("--url", server.url, "--memory", "bridged"), server.url, "bridged")


async def test_every_tool_over_stdio_owning_a_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "owned"
    async with connect(stdio("--data", str(data))) as client:
        await call(client, "create_entities", {"entities": [
            {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]}]})
    # The data is the directory's: a server started on it afterwards has it.
    later = start(data)
    try:
        with Sutra(later.url) as sutra:
            assert entities(sutra, "memory") == {"Ada": "person"}
            assert observations(sutra, "memory", "Ada") == {"wrote the first program"}
    finally:
        later.stop()


async def test_a_second_process_on_an_owned_directory_is_told_memory_locked(tmp_path: Path) -> None:
    data = tmp_path / "owned"
    async with connect(stdio("--data", str(data))) as first:
        await call(first, "create_entities", {"entities": [{"name": "One", "entityType": "t"}]})
        async with connect(stdio("--data", str(data))) as second:
            error = await refused(second, "read_graph", {})
            assert error.startswith("memory_locked:"), error
            assert "sutra mcp --url" in error
            # The first goes on working.
            assert [e["name"] for e in (await call(first, "read_graph"))["entities"]] == ["One"]
    # Once the first has gone, a new one opens it.
    async with connect(stdio("--data", str(data))) as third:
        assert [e["name"] for e in (await call(third, "read_graph"))["entities"]] == ["One"]


async def test_bad_arguments_are_tool_errors_and_the_server_goes_on(server: Server) -> None:
    async with connect(server.url + "/mcp") as client:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("create_entities", {"entities": "Alice"}, "invalid type"),
            ("create_entities", {"entities": [{"name": "Alice"}]}, "entityType"),
            ("create_entities", {"entities": [{"name": " ", "entityType": "x"}]}, "empty name"),
            ("create_entities", {"entities": [{"name": f"e{i}", "entityType": "x"} for i in range(1001)]},
             "at most 1000"),
            ("create_relations", {"relations": [{"from": "a", "to": "b"}]}, "relationType"),
            ("read_graph", {"limit": 0}, "invalid limit: must be from 1 to 200, not 0"),
            ("read_graph", {"cursor": "not-a-cursor"}, "not a next_cursor"),
            ("search_nodes", {"query": "x", "limit": 101}, "invalid limit: must be from 1 to 100, not 101"),
            ("find_paths", {"from": "a"}, "to"),
            ("find_paths", {"from": "a", "to": "b", "algorithm": "fastest"}, "fastest"),
            ("search", {"query": "x", "k": 100000}, "k"),
            ("search", {"query": "x", "filter": {"unindexed_key": "v"}}, "unindexed_key"),
            ("neighbourhood", {"name": "nobody"}, "entity_not_found"),
            ("create_entities", {"entities": [{"name": "x" * 300_000, "entityType": "t"}]}, "content"),
        ]
        for tool, arguments, expected in cases:
            error = await refused(client, tool, arguments)
            assert expected in error, (tool, error)
        # Nothing was written by any of them, and the server still answers.
        assert (await call(client, "read_graph"))["entities"] == []
    async with connect(server.url + "/mcp?memory=..%2Fescape") as client:
        error = await refused(client, "read_graph", {})
        assert error.startswith("invalid_name"), error
    with Sutra(server.url) as sutra:
        assert sutra.health()["status"] == "ok"


def initialize() -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}}


def test_mcp_follows_the_servers_token_host_and_origin_rules(tmp_path: Path) -> None:
    token = "s3cret-token"
    guarded = start(tmp_path / "data", ["--token", token])
    try:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        url = guarded.url + "/mcp"
        assert httpx.post(url, json=initialize(), headers=headers).status_code == 401
        wrong = {**headers, "Authorization": "Bearer wrong"}
        assert httpx.post(url, json=initialize(), headers=wrong).status_code == 401
        right = {**headers, "Authorization": f"Bearer {token}"}
        answered = httpx.post(url, json=initialize(), headers=right)
        assert answered.status_code == 200, answered.text
        assert answered.json()["result"]["serverInfo"]["name"] == "sutra"
        page = httpx.post(url, json=initialize(), headers={**right, "Origin": "http://evil.example"})
        assert page.status_code == 403 and page.json()["error"]["code"] == "origin_not_allowed"
        host = httpx.post(url, json=initialize(), headers={**right, "Host": "rebound.example"})
        assert host.status_code == 403 and host.json()["error"]["code"] == "host_not_allowed"
    finally:
        guarded.stop()


@pytest.mark.parametrize("limit", [7, 50])
async def test_read_graph_pages_through_every_entity_once(server: Server, limit: int) -> None:
    async with connect(server.url + "/mcp") as client:
        await call(client, "create_entities", {"entities": [
            {"name": f"entity {i:03}", "entityType": "thing", "observations": [f"note {i}", f"other {i}"]}
            for i in range(120)]})
        await call(client, "create_relations", {"relations": [
            {"from": f"entity {i:03}", "to": f"entity {(i + 1) % 120:03}", "relationType": "next"}
            for i in range(120)]})
        seen: list[str] = []
        relations_seen = 0
        cursor = None
        pages = 0
        while True:
            arguments: dict[str, object] = {"limit": limit}
            if cursor is not None:
                arguments["cursor"] = cursor
            page = await call(client, "read_graph", arguments)
            pages += 1
            assert len(page["entities"]) <= limit
            seen.extend(e["name"] for e in page["entities"])
            relations_seen += len(page["relations"])
            for e in page["entities"]:
                n = int(e["name"].split()[1])
                assert set(e["observations"]) == {f"note {n}", f"other {n}"}
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"entity {i:03}" for i in range(120)]
        assert relations_seen == 120
        assert pages in (-(-120 // limit), -(-120 // limit) + 1)


async def test_the_tools_work_on_a_cluster_node() -> None:
    from sutra_memory.testing import serve_cluster_of_one

    with serve_cluster_of_one() as url:
        await scenario(url + "/mcp", url, "memory")


async def test_similar_and_search_by_vector_on_concepts_with_embeddings(server: Server) -> None:
    with Sutra(server.url) as sutra:
        kg = sutra.create_memory("vectors", dimension=3)
        for name, vector in [("Tea", [1.0, 0.0, 0.0]), ("Green tea", [0.9, 0.1, 0.0]),
                             ("Coffee", [0.0, 1.0, 0.0]), ("Granite", [0.0, 0.0, 1.0])]:
            kg.learn(name, embedding=vector, metadata={"entity_type": "thing"})
    async with connect(server.url + "/mcp?memory=vectors") as client:
        near = await call(client, "similar", {"name": "Tea", "k": 1})
        assert [h["name"] for h in near["hits"]] == ["Green tea"]
        by_vector = await call(client, "search", {"query": "", "vector": [0.0, 0.1, 0.9], "k": 1})
        assert [h["content"] for h in by_vector["hits"]] == ["Granite"]
        assert by_vector["hits"][0]["found_by"][0]["retriever"] == "vector"
        both = await call(client, "search", {"query": "coffee", "vector": [0.0, 1.0, 0.0], "k": 1})
        assert [h["content"] for h in both["hits"]] == ["Coffee"]
        assert {f["retriever"] for f in both["hits"][0]["found_by"]} == {"text", "vector"}
        error = await refused(client, "search", {"query": "", "vector": [1.0, 0.0]})
        assert error.startswith("dimension_mismatch"), error
        # The concepts learned through /v1 are entities to the reference tools too.
        graph = await call(client, "read_graph")
        assert graph["summary"]["entity_types"] == {"thing": 4}
