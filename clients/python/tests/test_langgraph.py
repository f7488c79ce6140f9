"""The LangGraph store on a real server, against LangGraph's own in-memory store: the same
operations, the same answers (items in id order against insertion order are compared as sets
where the store promises no order)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from langgraph.store.base import BaseStore, Item
from langgraph.store.memory import InMemoryStore

from sutra_memory import Sutra
from sutra_memory.langgraph import NAMESPACE_DEPTH_MAX, SutraStore

WORDS = ["rain", "sun", "snow", "wind", "fog", "storm", "heat", "cold"]


def embed(texts: list[str]) -> list[list[float]]:
    """A small embedding of the weather words a text names (distinct texts, distinct vectors)."""
    vectors = []
    for text in texts:
        v = [float(text.count(w)) for w in WORDS] + [0.01 * (len(text) % 7)]
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        vectors.append([x / norm for x in v])
    return vectors


def seen(items: list[Any]) -> set[tuple[tuple[str, ...], str, str]]:
    return {(i.namespace, i.key, repr(sorted(i.value.items()))) for i in items}


def fill(store: BaseStore) -> None:
    store.put(("users", "alice"), "a1", {"text": "rain all day", "kind": "note", "n": 1})
    store.put(("users", "alice"), "a2", {"text": "sun and wind", "kind": "note", "n": 2})
    store.put(("users", "alice", "drafts"), "d1", {"text": "snow storm", "kind": "draft", "n": 3})
    store.put(("users", "bob"), "b1", {"text": "fog and cold", "kind": "note", "n": 4, "tags": {"lang": "en"}})
    store.put(("docs",), "readme", {"text": "heat wave", "kind": "doc", "n": 5}, index=False)
    store.put(("users", "alice"), "a2", {"text": "sun and more wind", "kind": "note", "n": 6})
    store.delete(("users", "bob"), "nobody")


def test_the_store_answers_what_langgraphs_own_store_answers(server_url: str) -> None:
    index: Any = {"dims": len(WORDS) + 1, "embed": embed, "fields": ["text"]}
    ours = SutraStore(server_url, memory="lg-same", index=index)
    theirs = InMemoryStore(index=index)
    for store in (ours, theirs):
        fill(store)

    # (A get in a namespace that holds nothing makes the in-memory store list that namespace
    # from then on: not asked here, and below the namespace of a deleted last item is listed
    # by it and not by Sutra's store.)
    for namespace, key in [(("users", "alice"), "a1"), (("users", "alice"), "a2"), (("docs",), "readme"), (("users", "bob"), "nobody")]:
        got, want = ours.get(namespace, key), theirs.get(namespace, key)
        assert (got is None) == (want is None), (namespace, key)
        if got is not None and want is not None:
            assert (got.namespace, got.key, got.value) == (want.namespace, want.key, want.value)
            assert got.created_at <= got.updated_at

    for prefix, filter in [
        (("users",), None),
        (("users", "alice"), None),
        (("users",), {"kind": "note"}),
        (("users",), {"n": {"$gt": 2}}),
        (("users",), {"tags": {"lang": "en"}}),
        ((), {"kind": {"$ne": "note"}}),
        (("nowhere",), None),
    ]:
        assert seen(ours.search(prefix, filter=filter, limit=10)) == seen(theirs.search(prefix, filter=filter, limit=10)), (prefix, filter)

    # By meaning: the same best items in the same order (every vector distinct).
    for query, prefix in [("rain", ("users",)), ("wind and sun", ()), ("snow", ("users", "alice"))]:
        found = ours.search(prefix, query=query, limit=2)
        expected = theirs.search(prefix, query=query, limit=2)
        assert [(i.namespace, i.key) for i in found] == [(i.namespace, i.key) for i in expected], query
        assert all(i.score is not None for i in found)

    conditions: list[dict[str, Any]] = [
        {},
        {"prefix": ("users",)},
        {"suffix": ("drafts",)},
        {"prefix": ("users", "*")},
        {"max_depth": 1},
        {"prefix": ("users",), "max_depth": 2},
    ]
    for condition in conditions:
        assert ours.list_namespaces(**condition) == theirs.list_namespaces(**condition), condition

    # Deleted: gone from gets, searches and listings alike.
    for store in (ours, theirs):
        store.delete(("users", "alice", "drafts"), "d1")
    assert ours.get(("users", "alice", "drafts"), "d1") is None
    assert ours.search(("users", "alice", "drafts")) == []
    assert ours.list_namespaces() == [("docs",), ("users", "alice"), ("users", "bob")]
    assert theirs.list_namespaces() == [("docs",), ("users", "alice"), ("users", "alice", "drafts"), ("users", "bob")]
    ours.close()


def test_the_store_is_durable_across_clients_and_searches_by_words_without_an_index(server_url: str) -> None:
    first = SutraStore(server_url, memory="lg-words")
    first.put(("agent", "facts"), "f1", {"text": "the user prefers green tea"})
    first.put(("agent", "facts"), "f2", {"text": "the user lives in Lisbon"})
    first.close()
    again = SutraStore(server_url, memory="lg-words")
    got = again.get(("agent", "facts"), "f1")
    assert isinstance(got, Item) and got.value == {"text": "the user prefers green tea"}
    hits = again.search(("agent",), query="Lisbon")
    assert [h.key for h in hits] == ["f2"]
    with Sutra(server_url) as sutra:
        stats = sutra.memory("lg-words").stats()
        assert stats.concepts == 2 and "lg_ns0" in stats.indexed_keys


@pytest.mark.asyncio
async def test_the_async_methods_reach_the_same_memory(server_url: str) -> None:
    store = SutraStore(server_url, memory="lg-async")
    await store.aput(("a",), "k", {"x": 1})
    got = await store.aget(("a",), "k")
    assert got is not None and got.value == {"x": 1}
    assert [i.key for i in await store.asearch(("a",))] == ["k"]
    assert await store.alist_namespaces() == [("a",)]
    await store.adelete(("a",), "k")
    assert await store.aget(("a",), "k") is None
    store.close()


def test_bad_namespaces_are_refused_by_the_store(server_url: str) -> None:
    store = SutraStore(server_url, memory="lg-bad")
    with pytest.raises(ValueError):
        store.put(tuple(f"l{i}" for i in range(NAMESPACE_DEPTH_MAX + 1)), "k", {"x": 1})
    store.close()


def test_a_memory_made_before_gets_the_stores_keys_and_keeps_its_own(sutra: Sutra, server_url: str) -> None:
    sutra.create_memory("lg-pre", indexed_keys=["user"])
    store = SutraStore(server_url, memory="lg-pre")
    store.put(("team", "x"), "k", {"v": 1})
    assert [i.key for i in store.search(("team",))] == ["k"]
    keys = sutra.memory("lg-pre").stats().indexed_keys
    assert "user" in keys and "lg_ns0" in keys and "lg_depth" in keys
    store.close()
