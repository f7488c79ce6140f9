"""Many writes from a stream, in pieces, with progress; and answers as tables and graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from sutra_memory import AsyncSutra, Sutra, to_networkx, to_pandas


def test_json_lines_are_imported_in_pieces_with_rejected_lines_numbered_in_the_whole(sutra: Sutra, tmp_path: Path) -> None:
    lines = [json.dumps({"type": "memory", "format": 5, "dimension": 2})]
    lines += [json.dumps({"type": "concept", "content": f"imported {i}", "embedding": [1.0, i]}) for i in range(9)]
    lines.insert(5, "this line is not JSON")
    lines.insert(9, json.dumps({"type": "concept", "content": "too confident", "confidence": 3}))
    file = tmp_path / "memory.jsonl"
    lines.insert(3, "")  # a blank line: no data, but a line the numbers count
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    told: list[tuple[int, Optional[int]]] = []
    memory = sutra.create_memory("imported")
    summary = memory.import_jsonl(file, lines_per_request=3, progress=lambda done, total: told.append((done, total)))
    assert (summary.concepts, summary.rejected_count) == (9, 2)
    assert [r.line for r in summary.rejected] == [7, 11], summary.rejected
    assert [lines[r.line - 1] for r in summary.rejected] == ["this line is not JSON", lines[10]]
    assert [r.reason for r in summary.rejected] == [
        "not valid JSON: a bare word (text goes in double quotes; the words JSON knows are true, false and null) (at column 2)",
        "invalid confidence: must be from 0 to 1, not 3",
    ]
    assert told == [(0, 13), (3, 13), (6, 13), (9, 13), (12, 13), (13, 13)]
    assert memory.stats().concepts == 9

    # Exported and imported again elsewhere: the same concepts.
    exported = memory.export()
    copy = sutra.create_memory("imported-copy")
    again = copy.import_jsonl(exported.splitlines(), lines_per_request=4)
    assert (again.concepts, again.rejected_count) == (9, 0)
    assert sorted(c.content for c in copy.concepts()) == sorted(f"imported {i}" for i in range(9))
    with pytest.raises(ValueError):
        copy.import_jsonl([], lines_per_request=0)


def test_concepts_are_learned_in_atomic_batches_from_a_stream(sutra: Sutra) -> None:
    memory = sutra.create_memory("many", dimension=2)
    told: list[tuple[int, Optional[int]]] = []
    stream = ({"content": f"fact {i}", "embedding": [1.0, float(i)], "metadata": {"n": i}} for i in range(1_203))
    ids = memory.learn_many(stream, batch_size=500, progress=lambda done, total: told.append((done, total)))
    assert len(ids) == len(set(ids)) == 1_203
    assert told == [(0, None), (500, None), (1_000, None), (1_203, None)]
    assert memory.get(ids[1_202]).metadata == {"n": 1_202}
    shown = memory.learn_many(["a", "b"], progress=True)  # a tqdm bar (tqdm is installed here)
    assert [memory.get(i).content for i in shown] == ["a", "b"]


@pytest.mark.asyncio
async def test_the_async_client_imports_and_learns_many_too(server_url: str) -> None:
    async with AsyncSutra(server_url) as sutra:
        memory = await sutra.create_memory("async-many")
        ids = await memory.learn_many((f"async {i}" for i in range(7)), batch_size=3)
        assert len(ids) == 7
        summary = await memory.import_jsonl([json.dumps({"type": "concept", "content": "one more"}), "{"], lines_per_request=1)
        assert (summary.concepts, [r.line for r in summary.rejected]) == (1, [2])
        assert (await memory.stats()).concepts == 8


def test_answers_become_tables_and_graphs(sutra: Sutra) -> None:
    kg = sutra.create_memory("frames")
    alice, acme, bolt = kg.learn_many(["alice", "acme", "bolt"])
    kg.associate(alice, acme, label="works_at", confidence=0.9)
    kg.associate(alice, acme, label="founded", confidence=0.6)
    kg.associate(acme, bolt, "compositional", label="makes", confidence=0.5)
    table = to_pandas(kg.associations(alice, direction="out"))
    assert sorted(table["label"]) == ["founded", "works_at"]
    assert {"source", "target", "kind", "confidence", "valid_from_ms"} <= set(table.columns)
    graph = to_networkx(kg.neighbourhood(alice, depth=2))
    assert graph.nodes[bolt]["content"] == "bolt" and graph.nodes[bolt]["hops"] == 2
    assert sorted(graph[alice][acme]) == ["semantic:founded", "semantic:works_at"]
    assert graph[acme][bolt]["compositional:makes"]["confidence"] == pytest.approx(0.5)
    trail = to_networkx(kg.paths(alice, bolt, algorithm="most_confident"))
    assert list(trail.edges(keys=True)) == [(alice, acme, "semantic:works_at"), (acme, bolt, "compositional:makes")]
