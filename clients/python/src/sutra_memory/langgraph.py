"""A LangGraph store on Sutra (`pip install "sutra-memory[langgraph]"`): LangGraph's long-term
memory (`BaseStore`: namespaced JSON documents, get, put, delete, search, list namespaces) kept
durably in one Sutra memory, with search by meaning through the store's index config, or by
words without one.

How items are kept: an item is a concept whose id is derived from its namespace and key, whose
content is the value's JSON (so a search by words reads the values), whose embedding is that of
the value's indexed fields (joined: one vector an item, where LangGraph's in-memory store keeps
one a field), and whose metadata holds its namespace, level by level, on keys the memory
indexes: a namespace prefix is a filter inside the search. Namespaces are at most
`NAMESPACE_DEPTH_MAX` deep. Searches without a query return items in id order; value filters
(`{"type": "report"}`, `{"n": {"$gt": 2}}`) are applied to the candidates the memory returns.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Optional, Union

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.base.embed import ensure_embeddings, get_text_at_path, tokenize_path

from .client import Memory, Sutra
from .errors import NotFound
from .models import Concept, Hit, Metadata

#: Deepest namespace kept (its levels are metadata keys the memory indexes).
NAMESPACE_DEPTH_MAX = 8
#: Most candidates a search by query asks the memory for.
CANDIDATES_MAX = 1000

_LEVEL = "lg_ns{}"
_DEPTH = "lg_depth"
_KEY = "lg_key"
KEYS = [_LEVEL.format(i) for i in range(NAMESPACE_DEPTH_MAX)] + [_DEPTH]
"""The metadata keys the store's memory indexes."""


def item_id(namespace: tuple[str, ...], key: str) -> str:
    """The concept id of an item: 32 hex characters of a hash of its namespace and key."""
    return hashlib.blake2b(json.dumps([list(namespace), key]).encode("utf-8"), digest_size=16).hexdigest()


def _levels(namespace: tuple[str, ...]) -> Metadata:
    if not namespace or len(namespace) > NAMESPACE_DEPTH_MAX:
        raise ValueError(f"a namespace has 1 to {NAMESPACE_DEPTH_MAX} levels, not {len(namespace)}: {namespace!r}")
    kept: Metadata = {_LEVEL.format(i): level for i, level in enumerate(namespace)}
    kept[_DEPTH] = len(namespace)
    return kept


def _prefix_filter(prefix: tuple[str, ...]) -> dict[str, Any]:
    if len(prefix) > NAMESPACE_DEPTH_MAX:
        raise ValueError(f"a namespace prefix has at most {NAMESPACE_DEPTH_MAX} levels: {prefix!r}")
    return {_LEVEL.format(i): level for i, level in enumerate(prefix)}


def _namespace(metadata: Metadata) -> tuple[str, ...]:
    depth = metadata.get(_DEPTH)
    if not isinstance(depth, int):
        raise ValueError("not an item of a LangGraph store: it has no namespace")
    return tuple(str(metadata[_LEVEL.format(i)]) for i in range(depth))


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _item(concept: Concept) -> Item:
    return Item(
        value=json.loads(concept.content),
        key=str(concept.metadata[_KEY]),
        namespace=_namespace(concept.metadata),
        created_at=_time(concept.created_ms),
        updated_at=_time(concept.updated_ms),
    )


def _matches(value: Any, wanted: Any) -> bool:
    """Whether a value holds what a filter asks (equality, nested objects, and the operators
    `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`), as LangGraph's stores read filters."""
    if isinstance(wanted, dict):
        if any(k.startswith("$") for k in wanted):
            return all(_operator(value, op, operand) for op, operand in wanted.items())
        return isinstance(value, dict) and all(_matches(value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(wanted)
            and all(_matches(v, w) for v, w in zip(value, wanted))
        )
    return bool(value == wanted)


def _operator(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        number, bound = float(value), float(operand)
        return {"$gt": number > bound, "$gte": number >= bound, "$lt": number < bound, "$lte": number <= bound}[op]
    raise ValueError(f"unsupported filter operator {op!r}: use $eq, $ne, $gt, $gte, $lt or $lte")


def _keeps(item: Item, op: SearchOp) -> bool:
    return not op.filter or all(_matches(item.value.get(k), v) for k, v in op.filter.items())


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = condition.path
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path) if condition.match_type == "prefix" else zip(reversed(namespace), reversed(path))
    return all(p == "*" or n == p for n, p in pairs)


class SutraStore(BaseStore):
    """LangGraph's `BaseStore` on a Sutra server's memory `memory` (made on first use, with the
    index's dimension when there is an index config).

    `index`: LangGraph's index config (`dims`, `embed`, `fields`): items are embedded when put
    and searches with a `query` are by meaning; without it, a `query` searches by words.
    """

    supports_ttl = False

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        memory: str = "langgraph",
        index: Optional[IndexConfig] = None,
    ) -> None:
        self.url, self.token, self.memory_name = url, token, memory
        self.index_config = index
        self.embeddings = ensure_embeddings(index.get("embed")) if index else None
        fields = (index or {}).get("fields") or ["$"]
        self._fields = [(f, tokenize_path(f)) for f in fields]
        self._client = Sutra(url, token)
        self._opened: Optional[Memory] = None

    def close(self) -> None:
        """Closes the connections."""
        self._client.close()

    # The memory.

    def _memory(self) -> Memory:
        if self._opened is None:
            dims = self.index_config.get("dims") if self.index_config else None
            self._opened = self._client.open_memory(self.memory_name, dimension=dims, indexed_keys=KEYS)
        return self._opened

    # What puts write.

    def _texts(self, op: PutOp) -> list[str]:
        if op.value is None or op.index is False or self.embeddings is None:
            return []
        paths = self._fields if op.index is None else [(f, tokenize_path(f)) for f in op.index]
        return [text for _, path in paths for text in get_text_at_path(op.value, path)]

    def _concept(self, op: PutOp, vector: Optional[Sequence[float]]) -> dict[str, Any]:
        assert op.value is not None
        metadata = _levels(op.namespace)
        metadata[_KEY] = op.key
        concept: dict[str, Any] = {
            "op": "put_concept",
            "id": item_id(op.namespace, op.key),
            "content": json.dumps(op.value, separators=(",", ":"), sort_keys=True),
            "metadata": metadata,
        }
        if vector is not None:
            concept["embedding"] = [float(x) for x in vector]
        return concept

    # BaseStore.

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Runs LangGraph's operations in order: gets, searches and namespace listings read
        what the puts before them wrote."""
        memory = self._memory()
        results: list[Result] = []
        for op in ops:
            if isinstance(op, GetOp):
                results.append(self._get(memory, op))
            elif isinstance(op, PutOp):
                self._put(memory, op)
                results.append(None)
            elif isinstance(op, SearchOp):
                results.append(self._search(memory, op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(memory, op))
            else:
                raise ValueError(f"unknown operation {op!r}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch`, on a thread of its own so that the event loop goes on meanwhile."""
        listed = list(ops)
        return await asyncio.to_thread(self.batch, listed)

    def _get(self, memory: Memory, op: GetOp) -> Optional[Item]:
        try:
            return _item(memory.get(item_id(op.namespace, op.key)))
        except NotFound:
            return None

    def _put(self, memory: Memory, op: PutOp) -> None:
        _levels(op.namespace)
        if op.value is None:
            try:
                memory.forget(item_id(op.namespace, op.key))
            except NotFound:
                pass
            return
        texts = self._texts(op)
        vector = None
        if texts and self.embeddings is not None:
            vector = self.embeddings.embed_documents(["\n".join(texts)])[0]
        memory.batch([self._concept(op, vector)])

    def _search(self, memory: Memory, op: SearchOp) -> list[SearchItem]:
        within = _prefix_filter(op.namespace_prefix)
        if op.query:
            want = min(CANDIDATES_MAX, max(1, (op.offset + op.limit) * (4 if op.filter else 1)))
            hits: list[Hit]
            if self.embeddings is not None:
                vector = self.embeddings.embed_query(op.query)
                hits = memory.search(vector=vector, k=want, filter=within or None)
            else:
                hits = memory.search(op.query, k=want, filter=within or None)
            found: list[SearchItem] = []
            for hit in hits:
                item = _item(memory.get(hit.id))
                if _keeps(item, op):
                    found.append(_scored(item, hit.score))
            return found[op.offset : op.offset + op.limit]
        kept: list[SearchItem] = []
        for concept in memory.concepts(filter=within or None):
            if _KEY not in concept.metadata:
                continue
            item = _item(concept)
            if _keeps(item, op):
                kept.append(_scored(item, None))
                if len(kept) >= op.offset + op.limit:
                    break
        return kept[op.offset : op.offset + op.limit]

    def _list_namespaces(self, memory: Memory, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = op.match_conditions or ()
        # A prefix without wildcards narrows the scan to its concepts.
        exact = next(
            (c.path for c in conditions if c.match_type == "prefix" and "*" not in c.path),
            (),
        )
        seen: set[tuple[str, ...]] = set()
        for concept in memory.concepts(filter=_prefix_filter(tuple(exact)) or None):
            if _DEPTH not in concept.metadata:
                continue
            namespace = _namespace(concept.metadata)
            if all(_namespace_matches(c, namespace) for c in conditions):
                seen.add(namespace[: op.max_depth] if op.max_depth is not None else namespace)
        return sorted(seen)[op.offset : op.offset + op.limit]


def _scored(item: Item, score: Union[float, None]) -> SearchItem:
    return SearchItem(
        namespace=item.namespace,
        key=item.key,
        value=item.value,
        created_at=item.created_at,
        updated_at=item.updated_at,
        score=score,
    )


__all__ = ["KEYS", "NAMESPACE_DEPTH_MAX", "SutraStore", "item_id"]
