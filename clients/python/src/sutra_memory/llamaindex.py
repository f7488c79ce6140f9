"""A LlamaIndex property graph store on Sutra (`pip install "sutra-memory[llamaindex]"`), so that
a `PropertyGraphIndex` runs on a durable Sutra memory: entity and chunk nodes with labels,
properties and embeddings as concepts, relations with labels and properties as associations,
triplets, relation maps and vector queries (`supports_structured_queries = False`: there is
no query language).

How the graph is kept: a node is a concept whose id is derived from the node's id, whose
content is the entity's name or the chunk's text (so searches by words read them), whose
embedding is the node's, and whose metadata holds its kind, label, id and properties (as JSON,
in pieces of at most `PIECE_BYTES`; at most `PROPERTIES_BYTES_MAX` in all). A relation is a
semantic association labelled with the relation's label, its properties in its metadata the
same way. A relation to a node not stored yet stores that node as an entity named by its id,
as LlamaIndex's own store does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from llama_index.core.graph_stores.types import (
    ChunkNode,
    EntityNode,
    LabelledNode,
    PropertyGraphStore,
    Relation,
    Triplet,
)
from llama_index.core.vector_stores.types import VectorStoreQuery

from .client import Memory, Sutra
from .errors import NotFound
from .models import Association, Concept, Metadata

#: Bytes of properties' JSON a metadata value holds.
PIECE_BYTES = 8000
#: Most bytes of a node's or relation's properties, as JSON.
PROPERTIES_BYTES_MAX = 7 * PIECE_BYTES
#: Concepts or associations written per request.
WRITE_PIECE = 500

_KIND, _LABEL, _ID, _PROPS = "li_kind", "li_label", "li_id", "li_props"
KEYS = [_KIND, _LABEL]
"""The metadata keys the store's memory indexes."""


def concept_id(node_id: str) -> str:
    """The concept id of a node: 32 hex characters of a hash of the node's id."""
    return hashlib.blake2b(node_id.encode("utf-8"), digest_size=16).hexdigest()


def _properties_metadata(properties: dict[str, Any]) -> Metadata:
    text = json.dumps(properties, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    data = text.encode("utf-8")
    if len(data) > PROPERTIES_BYTES_MAX:
        raise ValueError(f"properties of {len(data)} bytes as JSON: at most {PROPERTIES_BYTES_MAX}")
    pieces: list[str] = []
    while text:
        # Cut on a character boundary at most PIECE_BYTES bytes in.
        cut = len(text[:PIECE_BYTES].encode("utf-8")[:PIECE_BYTES].decode("utf-8", "ignore"))
        pieces.append(text[:cut])
        text = text[cut:]
    return {f"{_PROPS}.{i}": piece for i, piece in enumerate(pieces)}


def _properties(metadata: Metadata) -> dict[str, Any]:
    pieces, i = [], 0
    while f"{_PROPS}.{i}" in metadata:
        pieces.append(str(metadata[f"{_PROPS}.{i}"]))
        i += 1
    loaded = json.loads("".join(pieces)) if pieces else {}
    return dict(loaded) if isinstance(loaded, dict) else {}


def _node(concept: Concept) -> LabelledNode:
    properties = _properties(concept.metadata)
    label = str(concept.metadata.get(_LABEL, "entity"))
    if concept.metadata.get(_KIND) == "chunk":
        return ChunkNode(
            text=concept.content,
            id_=str(concept.metadata[_ID]),
            label=label,
            properties=properties,
            embedding=concept.embedding,
        )
    return EntityNode(name=concept.content, label=label, properties=properties, embedding=concept.embedding)


def _has(properties: dict[str, Any], wanted: Optional[dict[str, Any]]) -> bool:
    """LlamaIndex's property match: any of the wanted pairs."""
    return not wanted or any(properties.get(k) == v for k, v in wanted.items())


class SutraPropertyGraphStore(PropertyGraphStore):
    """LlamaIndex's `PropertyGraphStore` on a Sutra server's memory `memory` (made on first use;
    `dimension` fixes its vector dimension, else the first embedding does)."""

    supports_structured_queries: bool = False
    supports_vector_queries: bool = True

    def __init__(self, url: str, token: Optional[str] = None, *, memory: str = "llamaindex", dimension: Optional[int] = None) -> None:
        self._client = Sutra(url, token)
        self.memory_name = memory
        self._dimension = dimension
        self._opened: Optional[Memory] = None

    @property
    def client(self) -> Sutra:
        """The Sutra client."""
        return self._client

    def close(self) -> None:
        """Closes the connections."""
        self._client.close()

    def _memory(self) -> Memory:
        if self._opened is None:
            self._opened = self._client.open_memory(self.memory_name, dimension=self._dimension, indexed_keys=KEYS)
        return self._opened

    # Reading.

    def _all_nodes(self) -> Iterator[Concept]:
        for kind in ("entity", "chunk"):
            yield from self._memory().concepts(filter={_KIND: kind})

    def _fetch(self, node_ids: Sequence[str]) -> dict[str, LabelledNode]:
        found: dict[str, LabelledNode] = {}
        memory = self._memory()
        for node_id in dict.fromkeys(node_ids):
            try:
                found[node_id] = _node(memory.get(concept_id(node_id)))
            except NotFound:
                continue
        return found

    def get(self, properties: Optional[dict[str, Any]] = None, ids: Optional[list[str]] = None) -> list[LabelledNode]:
        """The nodes with these ids (all when none are given) having any of these properties."""
        nodes = list(self._fetch(ids).values()) if ids else [_node(c) for c in self._all_nodes()]
        return [n for n in nodes if _has(n.properties, properties)]

    def _relations(self, around: Optional[list[str]], labels: Optional[list[str]]) -> Iterator[Association]:
        memory = self._memory()
        if around:
            seen: set[tuple[str, str, str]] = set()
            for node_id in dict.fromkeys(around):
                try:
                    listed = memory.associations(concept_id(node_id), labels=labels, limit=10_000)
                except NotFound:
                    continue
                for a in listed:
                    if (a.source, a.target, a.label) not in seen:
                        seen.add((a.source, a.target, a.label))
                        yield a
        else:
            for concept in self._all_nodes():
                yield from memory.associations(concept.id, direction="out", labels=labels, limit=10_000)

    def get_triplets(
        self,
        entity_names: Optional[list[str]] = None,
        relation_names: Optional[list[str]] = None,
        properties: Optional[dict[str, Any]] = None,
        ids: Optional[list[str]] = None,
    ) -> list[Triplet]:
        """The triplets touching these entities or ids, with these relation labels, or with
        any of these properties on a node or the relation (none asked: none)."""
        if not ids and not properties and not entity_names and not relation_names:
            return []
        around = [*(entity_names or []), *(ids or [])] or None
        relations = list(self._relations(around, relation_names))
        nodes: dict[str, LabelledNode] = {}
        memory = self._memory()
        for cid in {a.source for a in relations} | {a.target for a in relations}:
            nodes[cid] = _node(memory.get(cid))
        triplets: list[Triplet] = []
        for a in relations:
            source, target = nodes[a.source], nodes[a.target]
            relation = Relation(label=a.label, source_id=source.id, target_id=target.id, properties=_properties(a.metadata))
            triplets.append((source, relation, target))
        if entity_names:
            triplets = [t for t in triplets if t[0].id in entity_names or t[2].id in entity_names]
        if relation_names:
            triplets = [t for t in triplets if t[1].id in relation_names]
        if properties:
            triplets = [t for t in triplets if any(_has(x.properties, properties) for x in t)]
        if ids:
            triplets = [t for t in triplets if t[0].id in ids or t[2].id in ids]
        return triplets

    def get_rel_map(
        self,
        graph_nodes: list[LabelledNode],
        depth: int = 2,
        limit: int = 30,
        ignore_rels: Optional[list[str]] = None,
    ) -> list[Triplet]:
        """The triplets reached from these nodes, hop after hop up to `depth`, at most `limit`."""
        triplets: list[Triplet] = []
        seen: set[str] = set()
        frontier = self.get_triplets(ids=[n.id for n in graph_nodes])
        for _ in range(depth):
            if not frontier:
                break
            triplets.extend(frontier)
            frontier = [t for t in self.get_triplets(entity_names=[t[2].id for t in frontier]) if str(t) not in seen]
            seen.update(str(t) for t in frontier)
        ignored = set(ignore_rels or [])
        return [t for t in triplets if t[1].id not in ignored][:limit]

    # Writing.

    def _concept_op(self, node: LabelledNode) -> dict[str, Any]:
        kind = "chunk" if isinstance(node, ChunkNode) else "entity"
        metadata: Metadata = {_KIND: kind, _LABEL: node.label, _ID: node.id, **_properties_metadata(node.properties)}
        op: dict[str, Any] = {"op": "put_concept", "id": concept_id(node.id), "content": str(node.text if isinstance(node, ChunkNode) else getattr(node, "name", node.id)), "metadata": metadata}
        if node.embedding is not None:
            op["embedding"] = [float(x) for x in node.embedding]
        return op

    def upsert_nodes(self, nodes: Sequence[LabelledNode]) -> None:
        """Stores nodes (a node stored before is replaced whole)."""
        self._write([self._concept_op(n) for n in nodes])

    def upsert_relations(self, relations: list[Relation]) -> None:
        """Stores relations (one with the same ends and label is replaced), and an entity named
        by its id for each end not stored yet."""
        ends = {r.source_id for r in relations} | {r.target_id for r in relations}
        stored = self._fetch(sorted(ends))
        missing = [EntityNode(name=end) for end in sorted(ends) if end not in stored]
        ops: list[dict[str, Any]] = [self._concept_op(n) for n in missing]
        for r in relations:
            ops.append(
                {
                    "op": "put_association",
                    "source": concept_id(r.source_id),
                    "target": concept_id(r.target_id),
                    "kind": "semantic",
                    "label": r.label,
                    "metadata": _properties_metadata(r.properties),
                }
            )
        self._write(ops)

    def _write(self, ops: list[dict[str, Any]]) -> None:
        """Writes operations in atomic batches of `WRITE_PIECE`."""
        memory = self._memory()
        for start in range(0, len(ops), WRITE_PIECE):
            memory.batch(ops[start : start + WRITE_PIECE])

    def delete(
        self,
        entity_names: Optional[list[str]] = None,
        relation_names: Optional[list[str]] = None,
        properties: Optional[dict[str, Any]] = None,
        ids: Optional[list[str]] = None,
    ) -> None:
        """Deletes the relations of the matching triplets, and the nodes with these ids or
        names or any of these properties (with their relations)."""
        memory = self._memory()
        for source, relation, target in self.get_triplets(entity_names, relation_names, properties, ids):
            try:
                memory.dissociate(concept_id(source.id), concept_id(target.id), "semantic", label=relation.label)
            except NotFound:
                continue
        doomed = {n.id for n in self.get(properties=properties, ids=ids)} if (properties or ids) else set()
        doomed |= set(entity_names or [])
        for node_id in doomed:
            try:
                memory.forget(concept_id(node_id))
            except NotFound:
                continue

    # Queries.

    def structured_query(self, query: str, param_map: Optional[dict[str, Any]] = None) -> Any:
        """Not supported: Sutra has no query language (`supports_structured_queries` is False)."""
        raise NotImplementedError("Sutra has no structured query language: use get, get_triplets, get_rel_map or vector_query")

    def vector_query(self, query: VectorStoreQuery, **kwargs: Any) -> tuple[list[LabelledNode], list[float]]:
        """The nodes whose embeddings are nearest the query's, best first, with their scores."""
        if query.query_embedding is None:
            return [], []
        memory = self._memory()
        hits = memory.search(vector=query.query_embedding, k=query.similarity_top_k)
        nodes = [_node(memory.get(h.id)) for h in hits]
        return nodes, [h.score for h in hits]
