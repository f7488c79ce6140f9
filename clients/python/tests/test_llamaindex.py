"""The LlamaIndex property graph store on a real server, against LlamaIndex's own in-memory
store (`SimplePropertyGraphStore`): the same writes, the same answers (compared as sets: neither
promises an order); vector queries, which LlamaIndex's own store does not answer, checked on
their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core import Document, PropertyGraphIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.graph_stores.simple_labelled import SimplePropertyGraphStore
from llama_index.core.graph_stores.types import (
    KG_NODES_KEY,
    KG_RELATIONS_KEY,
    ChunkNode,
    EntityNode,
    LabelledNode,
    PropertyGraphStore,
    Relation,
    Triplet,
)
from llama_index.core.indices.property_graph import VectorContextRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.schema import BaseNode, TransformComponent
from llama_index.core.vector_stores.types import VectorStoreQuery

from sutra_memory import Sutra
from sutra_memory.llamaindex import SutraPropertyGraphStore


def nodes(found: list[LabelledNode]) -> set[tuple[str, str, str]]:
    return {(n.id, n.label, repr(sorted(n.properties.items()))) for n in found}


def triplets(found: list[Triplet]) -> set[tuple[str, str, str, str]]:
    return {(s.id, r.label, t.id, repr(sorted(r.properties.items()))) for s, r, t in found}


def fill(store: PropertyGraphStore) -> None:
    store.upsert_nodes(
        [
            EntityNode(name="Alice", label="PERSON", properties={"born": 1990}, embedding=[1.0, 0.0, 0.0]),
            EntityNode(name="Acme", label="ORG", properties={"city": "Lisbon"}, embedding=[0.0, 1.0, 0.0]),
            EntityNode(name="Rockets", label="PRODUCT", embedding=[0.0, 0.0, 1.0]),
            ChunkNode(text="Alice founded Acme in 2015.", id_="chunk-1", properties={"doc": "d1"}, embedding=[0.7, 0.7, 0.0]),
        ]
    )
    store.upsert_relations(
        [
            Relation(label="FOUNDED", source_id="Alice", target_id="Acme", properties={"year": 2015}),
            Relation(label="WORKS_AT", source_id="Alice", target_id="Acme"),
            Relation(label="MAKES", source_id="Acme", target_id="Rockets"),
            Relation(label="MENTIONS", source_id="chunk-1", target_id="Alice"),
            # An end not stored yet: stored as an entity named by its id.
            Relation(label="RIVAL_OF", source_id="Acme", target_id="Bolt"),
        ]
    )


def test_the_store_answers_what_llamaindexs_own_store_answers(server_url: str) -> None:
    ours = SutraPropertyGraphStore(server_url, memory="li-same", dimension=3)
    theirs = SimplePropertyGraphStore()
    for store in (ours, theirs):
        fill(store)

    assert nodes(ours.get()) == nodes(theirs.get())
    assert nodes(ours.get(ids=["Alice", "chunk-1", "nobody"])) == nodes(theirs.get(ids=["Alice", "chunk-1", "nobody"]))
    assert nodes(ours.get(properties={"city": "Lisbon"})) == nodes(theirs.get(properties={"city": "Lisbon"})) != set()
    chunk = ours.get(ids=["chunk-1"])[0]
    assert isinstance(chunk, ChunkNode) and chunk.text == "Alice founded Acme in 2015."
    assert ours.get(ids=["Bolt"])[0].label == "entity"

    asks: list[dict[str, Any]] = [
        {},
        {"entity_names": ["Acme"]},
        {"relation_names": ["MAKES", "FOUNDED"]},
        {"properties": {"year": 2015}},
        {"properties": {"doc": "d1"}},
        {"ids": ["chunk-1"]},
        {"entity_names": ["Alice"], "relation_names": ["WORKS_AT"]},
    ]
    for ask in asks:
        assert triplets(ours.get_triplets(**ask)) == triplets(theirs.get_triplets(**ask)), ask
    alice = ours.get(ids=["Alice"])
    for depth in (1, 2):
        assert triplets(ours.get_rel_map(alice, depth=depth)) == triplets(theirs.get_rel_map(theirs.get(ids=["Alice"]), depth=depth)), depth
    assert triplets(ours.get_rel_map(alice, depth=2, ignore_rels=["MAKES"])) == triplets(
        theirs.get_rel_map(theirs.get(ids=["Alice"]), depth=2, ignore_rels=["MAKES"])
    )

    # Deleting relations by label: those relations go, the nodes stay (LlamaIndex's own store
    # also drops the relation's two ends: a difference by design).
    ours.delete(relation_names=["WORKS_AT"])
    assert {t[1].label for t in ours.get_triplets(entity_names=["Alice"])} == {"FOUNDED", "MENTIONS"}
    assert nodes(ours.get(ids=["Alice", "Acme"])) == nodes(theirs.get(ids=["Alice", "Acme"]))
    # Deleting a node by id takes its relations with it.
    ours.delete(ids=["chunk-1"])
    assert ours.get(ids=["chunk-1"]) == []
    assert {t[1].label for t in ours.get_triplets(entity_names=["Alice"])} == {"FOUNDED"}
    ours.close()


def test_vector_queries_find_the_nearest_nodes(server_url: str) -> None:
    store = SutraPropertyGraphStore(server_url, memory="li-vectors", dimension=3)
    fill(store)
    found, scores = store.vector_query(VectorStoreQuery(query_embedding=[0.9, 0.1, 0.0], similarity_top_k=2))
    assert [n.id for n in found] == ["Alice", "chunk-1"]
    assert scores[0] >= scores[1]
    assert store.vector_query(VectorStoreQuery(query_str="no embedding")) == ([], [])
    with pytest.raises(NotImplementedError):
        store.structured_query("MATCH (n) RETURN n")
    store.close()


def test_large_properties_are_kept_whole_and_too_large_refused(server_url: str) -> None:
    store = SutraPropertyGraphStore(server_url, memory="li-large")
    big = {"notes": "é" * 20_000, "n": 1}
    store.upsert_nodes([EntityNode(name="Big", properties=big)])
    assert store.get(ids=["Big"])[0].properties == big
    with pytest.raises(ValueError):
        store.upsert_nodes([EntityNode(name="Huge", properties={"notes": "x" * 60_000})])
    with Sutra(server_url) as sutra:
        assert sutra.memory("li-large").stats().concepts == 1
    store.close()


class Founded(TransformComponent):
    """A path extractor of LlamaIndex's kind without an LLM: "X founded Y." and "Y makes Z."
    sentences become entities and relations (what an LLM extractor would put there)."""

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        for node in nodes:
            entities: dict[str, EntityNode] = {}
            relations: list[Relation] = []
            for sentence in node.get_content().split("."):
                words = sentence.split()
                if len(words) == 3 and words[1] in ("founded", "makes"):
                    source, target = (entities.setdefault(w, EntityNode(name=w, label="THING")) for w in (words[0], words[2]))
                    relations.append(Relation(label=words[1].upper(), source_id=source.id, target_id=target.id))
            node.metadata[KG_NODES_KEY] = list(entities.values())
            node.metadata[KG_RELATIONS_KEY] = relations
        return nodes


def test_a_property_graph_index_runs_on_the_store(server_url: str) -> None:
    store = SutraPropertyGraphStore(server_url, memory="li-index", dimension=8)
    documents = [Document(text="Alice founded Acme. Acme makes rockets."), Document(text="Bob founded Bolt.")]
    index = PropertyGraphIndex.from_documents(
        documents, property_graph_store=store, kg_extractors=[Founded()], embed_model=MockEmbedding(embed_dim=8), llm=MockLLM()
    )
    assert {n.id for n in store.get() if n.label == "THING"} == {"Alice", "Acme", "rockets", "Bob", "Bolt"}
    founded = store.get_triplets(relation_names=["FOUNDED"])
    assert {(s.id, r.label, t.id) for s, r, t in founded} == {("Alice", "FOUNDED", "Acme"), ("Bob", "FOUNDED", "Bolt")}
    assert all("triplet_source_id" in r.properties for _, r, _ in founded), "the chunk each came from"
    retriever = index.as_retriever(
        sub_retrievers=[VectorContextRetriever(store, embed_model=MockEmbedding(embed_dim=8), include_text=False, similarity_top_k=10)]
    )
    found = {n.node.get_content() for n in retriever.retrieve("who founded what?")}
    assert {"Alice -> FOUNDED -> Acme", "Acme -> MAKES -> rockets", "Bob -> FOUNDED -> Bolt"} <= found, found
    store.close()
