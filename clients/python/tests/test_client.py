"""The client against a real server: every call's data read back, every error's class, code and
field checked."""

from __future__ import annotations

import itertools
import time

import numpy
import pytest

from sutra_memory import ConceptNotFound, Conflict, DimensionMismatch, InvalidRequest, LimitExceeded, MemoryExists, MemoryNotFound, NotFound, Sutra

_names = (f"py{i}" for i in itertools.count())


def test_concepts_are_learned_read_paged_and_forgotten(sutra: Sutra) -> None:
    notes = sutra.create_memory(next(_names), dimension=3)
    rain = notes.learn("rain", embedding=[1, 0, 0], confidence=0.9, metadata={"source": "sky", "year": 2024, "tags": ["water"]})
    concept = notes.get(rain)
    assert (concept.id, concept.content) == (rain, "rain")
    assert concept.confidence == pytest.approx(0.9)
    assert concept.embedding == [1.0, 0.0, 0.0]
    assert concept.metadata == {"source": "sky", "year": 2024, "tags": ["water"]}
    for i in range(7):
        notes.learn(f"note {i}")
    assert sorted(c.content for c in notes.concepts(prefix="note", page_size=3)) == [f"note {i}" for i in range(7)]
    page = notes.page(limit=5)
    assert len(page.concepts) == 5 and page.next is not None
    # Other orders, paged: by content, and the last updated first.
    assert [c.content for c in notes.concepts(order="content", page_size=3)] == [f"note {i}" for i in range(7)] + ["rain"]
    time.sleep(0.01)
    notes.learn("note 3", metadata={"edited": True})
    newest = notes.page(order="updated", limit=2)
    assert newest.concepts[0].content == "note 3" and newest.next is not None
    after = notes.page(order="updated", after=newest.next, limit=10)
    assert "note 3" not in [c.content for c in after.concepts] and len(after.concepts) == 6
    stats = notes.stats()
    assert (stats.concepts, stats.dimension, stats.name) == (8, 3, notes.name)
    notes.forget(rain)
    with pytest.raises(ConceptNotFound) as missing:
        notes.get(rain)
    assert missing.value.code == "concept_not_found" and isinstance(missing.value, NotFound)
    assert missing.value.status == 404


def test_numpy_vectors_are_taken(sutra: Sutra) -> None:
    notes = sutra.create_memory(next(_names), dimension=2)
    notes.learn("east", embedding=numpy.array([1.0, 0.0], dtype=numpy.float32))
    notes.learn("north", embedding=numpy.array([0, 1]))
    hits = notes.search(vector=numpy.array([0.9, 0.1]), k=1)
    assert [h.content for h in hits] == ["east"]
    assert hits[0].found_by[0].retriever == "vector"


def test_associations_carry_labels_validity_and_the_trail(sutra: Sutra) -> None:
    kg = sutra.create_memory(next(_names))
    alice, acme, bolt = (kg.learn(name) for name in ("alice", "acme", "bolt"))
    kg.associate(alice, acme, label="works_at", confidence=0.9, metadata={"doc": "hr"}, valid_from_ms=1_000)
    kg.associate(alice, acme, label="founded", confidence=0.8)
    kg.associate(acme, bolt, "compositional", label="makes", confidence=0.5)
    out = kg.associations(alice, direction="out")
    assert sorted((a.label, round(a.confidence, 4)) for a in out) == [("founded", 0.8), ("works_at", 0.9)]
    works = next(a for a in out if a.label == "works_at")
    assert (works.metadata, works.valid_from_ms, works.valid_until_ms) == ({"doc": "hr"}, 1_000, None)
    assert [a.label for a in kg.associations(alice, labels=["founded"])] == ["founded"]

    # Invalidated: hidden from reads of now, kept for include_invalid.
    kg.invalidate(alice, acme, "semantic", label="works_at")
    assert [a.label for a in kg.associations(alice, direction="out")] == ["founded"]
    closed = [a for a in kg.associations(alice, direction="out", include_invalid=True) if a.label == "works_at"]
    assert len(closed) == 1 and closed[0].valid_until_ms is not None

    paths = kg.paths(alice, bolt, algorithm="most_confident")
    trail = paths.paths[0]
    assert [c.content for c in trail.concepts] == ["alice", "acme", "bolt"]
    assert [(s.from_, s.to, s.label) for s in trail.steps] == [(alice, acme, "founded"), (acme, bolt, "makes")]
    assert trail.confidence == pytest.approx(0.4)
    around = kg.neighbourhood(alice, depth=2)
    assert sorted(c.content for c in around.concepts if c.content) == ["acme", "alice", "bolt"]
    assert {c.content: c.hops for c in around.concepts}["bolt"] == 2

    kg.dissociate(alice, acme, "semantic", label="founded")
    with pytest.raises(NotFound) as gone:
        kg.dissociate(alice, acme, "semantic", label="founded")
    assert gone.value.code == "association_not_found"


def test_search_by_words_inside_a_filter_and_expanded(sutra: Sutra) -> None:
    shared = sutra.create_memory(next(_names), language="english", indexed_keys=["user"])
    ids = shared.batch(
        [
            {"op": "put_concept", "content": "alice likes running in the rain", "metadata": {"user": "alice"}},
            {"op": "put_concept", "content": "bob runs every day", "metadata": {"user": "bob"}},
            {"op": "put_concept", "content": "umbrellas", "metadata": {"user": "alice"}},
        ]
    ).ids
    shared.associate(ids[0], ids[2], "causal", label="needs", confidence=0.7)
    hits = shared.search("runs", filter={"user": "alice"})
    assert [h.content for h in hits] == ["alice likes running in the rain"]
    assert [h.content for h in shared.search("runs", filter={"user": {"in": ["alice", "bob"]}})] != []
    expanded = shared.search("running", expand={"depth": 1}, filter={"user": "alice"})
    by_content = {h.content: h for h in expanded}
    assert set(by_content) == {"alice likes running in the rain", "umbrellas"}
    graph = next(f for f in by_content["umbrellas"].found_by if f.retriever == "graph")
    assert graph.trail is not None and [(s.kind, s.label) for s in graph.trail] == [("causal", "needs")]
    assert [c.content for c in shared.concepts(filter={"user": "bob"})] == ["bob runs every day"]


def test_errors_are_classes_with_code_field_and_limit(sutra: Sutra) -> None:
    name = next(_names)
    notes = sutra.create_memory(name, dimension=2)
    with pytest.raises(MemoryExists) as exists:
        sutra.create_memory(name)
    assert exists.value.code == "memory_exists" and isinstance(exists.value, Conflict)
    with pytest.raises(InvalidRequest) as bad:
        notes.learn("too sure", confidence=1.5)
    assert (bad.value.code, bad.value.field, bad.value.status) == ("invalid_argument", "confidence", 422)
    with pytest.raises(LimitExceeded) as big:
        sutra.create_memory(next(_names), indexed_keys=[f"k{i}" for i in range(17)])
    assert (big.value.code, big.value.field, big.value.limit) == ("limit_exceeded", "indexed_keys", 16)
    with pytest.raises(DimensionMismatch) as wrong:
        notes.learn("three", embedding=[1, 2, 3])
    assert wrong.value.code == "dimension_mismatch"
    with pytest.raises(MemoryNotFound) as nowhere:
        sutra.memory("nothing-here").stats()
    assert nowhere.value.code == "memory_not_found"
    # A refused batch writes nothing.
    with pytest.raises(InvalidRequest):
        notes.batch([{"op": "put_concept", "content": "kept?"}, {"op": "put_concept", "content": "bad", "strength": -1}])
    assert notes.stats().concepts == 0
    sutra.drop_memory(name)
    assert name not in [m["name"] for m in sutra.memories()]


def test_similar_checkpoint_reopen_and_the_cluster_view(sutra: Sutra) -> None:
    vectors = sutra.create_memory(next(_names), dimension=2)
    east = vectors.learn("east", embedding=[1, 0])
    vectors.learn("east by north", embedding=[0.9, 0.1])
    vectors.learn("north", embedding=[0, 1])
    assert [h.content for h in vectors.similar(east, k=1)] == ["east by north"]
    done = vectors.checkpoint()
    assert done.written and done.seq == vectors.stats().last_seq
    assert vectors.stats().checkpoint_seq == done.seq
    assert not vectors.checkpoint().written, "nothing changed since"
    reopened = vectors.reopen()
    assert (reopened.reopened, reopened.last_seq) == (vectors.name, done.seq)
    assert vectors.get(east).content == "east"
    single = sutra.cluster()
    assert (single.role, single.members) == ("single", [])
