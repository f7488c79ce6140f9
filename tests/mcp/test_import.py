"""`sutra import --from mcp-memory`: the reference memory server's file, as the tools keep it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import BIN, call, connect, start

LINES = [
    {"type": "entity", "name": "John_Smith", "entityType": "person",
     "observations": ["Speaks fluent Spanish", "Graduated in 2019"]},
    {"type": "entity", "name": "Anthropic", "entityType": "organization", "observations": ["AI safety company"]},
    {"type": "relation", "from": "John_Smith", "to": "Anthropic", "relationType": "works_at"},
    {"type": "relation", "from": "John_Smith", "to": "Nowhere", "relationType": "lives_in"},
    {"type": "entity", "name": "Mount_Fuji", "entityType": "place"},
]


def run_import(file: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, "import", "--from", "mcp-memory", str(file), "--memory", "kg", "--data", str(data)],
        capture_output=True, text=True, timeout=120)


async def test_the_reference_servers_file_is_imported_as_the_tools_keep_it(tmp_path: Path) -> None:
    file = tmp_path / "memory.jsonl"
    text = "\n".join(json.dumps(line) for line in LINES[:2]) + "\n\n"  # a blank line 3
    text += "\n".join(json.dumps(line) for line in LINES[2:]) + "\n"
    text += '{"type":"entity","name":"Cut' + "\n"  # line 7: cut short by a crash
    text += '{"type":"entity","name":"","entityType":"x"}'  # line 8, without a newline
    file.write_text(text)
    data = tmp_path / "data"

    done = run_import(file, data)
    assert done.returncode == 2, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == ('imported 3 entities (3 observations) and 1 relations into "kg"; 0 already there; '
                      "3 lines rejected")
    assert out[1] == '  line 5: no entity is named "Nowhere"'
    assert out[2].startswith("  line 7: not an entity or relation line:")
    assert out[3] == "  line 8: an entity needs a name"

    # Again: nothing new, nothing doubled.
    again = run_import(file, data)
    assert again.stdout.splitlines()[0].startswith(
        'imported 0 entities (0 observations) and 0 relations into "kg"; 4 already there')

    server = start(data)
    try:
        async with connect(server.url + "/mcp?memory=kg") as client:
            opened = await call(client, "open_nodes", {"names": ["John_Smith", "Anthropic", "Mount_Fuji"]})
            assert {e["name"]: (e["entityType"], sorted(e["observations"])) for e in opened["entities"]} == {
                "John_Smith": ("person", ["Graduated in 2019", "Speaks fluent Spanish"]),
                "Anthropic": ("organization", ["AI safety company"]),
                "Mount_Fuji": ("place", []),
            }
            assert opened["relations"] == [{"from": "John_Smith", "to": "Anthropic", "relationType": "works_at"}]
            found = await call(client, "search_nodes", {"query": "Spanish"})
            assert [e["name"] for e in found["entities"]] == ["John_Smith"]
    finally:
        server.stop()


def test_import_refuses_a_server_owned_directory(tmp_path: Path) -> None:
    file = tmp_path / "memory.jsonl"
    file.write_text(json.dumps(LINES[0]) + "\n")
    data = tmp_path / "data"
    server = start(data)
    try:
        done = run_import(file, data)
        assert done.returncode == 1
        assert "memory_locked" in done.stderr and "already in use" in done.stderr
    finally:
        server.stop()
