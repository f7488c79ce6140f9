"""Every request of the API once, as a `Call`: its method, path, body, query and how its answer
is read. `Sutra` sends them and waits; `AsyncSutra` sends them and awaits: both clients are built
from these, so they ask the same things with the same parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Literal, Optional, Protocol, TypeVar, Union
from urllib.parse import quote

from .models import (
    Association,
    AssociationBody,
    BatchBody,
    BatchWritten,
    Checkpoint,
    Cluster,
    Concept,
    ConceptBody,
    CreateMemory,
    Created,
    ExpandBody,
    Hit,
    ImportSummary,
    Kind,
    Learned,
    Metadata,
    MetadataValue,
    MmrBody,
    Neighbourhood,
    Order,
    Page,
    Paths,
    PathsBody,
    Reopened,
    SearchBody,
    Stats,
    Written,
)

T = TypeVar("T")


class HasToList(Protocol):
    """What numpy's arrays offer: `tolist()`."""

    def tolist(self) -> Any: ...


Vector = Union[Sequence[float], HasToList]
"""An embedding: a sequence of numbers, or anything with `tolist()` (a numpy array)."""

FilterValue = Union[MetadataValue, Mapping[str, Sequence[MetadataValue]]]
"""What a filter allows for one key: a value, or `{"in": [...]}` for one of several."""

Filter = Mapping[str, FilterValue]
"""A filter on a memory's declared metadata keys: every key's condition holds."""


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request: `write` when it changes a memory (a write cut off mid-way has an unknown
    outcome, and is never sent again by the client)."""

    method: str
    path: str
    read: Callable[[Any], T]
    body: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    write: bool = False
    #: A body sent as it is (with its media type), instead of `body` as JSON.
    content: Optional[tuple[bytes, str]] = None
    #: The answer read as text, not JSON.
    text: bool = False
    #: A read of the memories' state: it takes the read options (`consistency`, `min_seq`).
    reads: bool = False


def as_vector(v: Vector) -> list[float]:
    """An embedding as the API takes it."""
    items = v.tolist() if hasattr(v, "tolist") else v
    return [float(x) for x in items]


def present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields given (`None`: left to the server's default)."""
    return {k: v for k, v in fields.items() if v is not None}


def segment(text: str) -> str:
    """A path segment, escaped."""
    return quote(text, safe="")


def flag(value: Optional[bool]) -> Optional[str]:
    """A flag as a query parameter."""
    return None if value is None else ("true" if value else "false")


def memory_path(name: str) -> str:
    """A memory's path."""
    return f"/v1/memories/{segment(name)}"


# The server and its memories.


def health() -> Call[dict[str, Any]]:
    """The server's health answer."""
    return Call("GET", "/v1/health", dict)


def memories() -> Call[list[dict[str, Any]]]:
    """Every memory of the server, in name order (`status`, counts, dimension, language)."""
    return Call("GET", "/v1/memories", lambda a: list(a["memories"]), reads=True)


def create_memory(
    name: str,
    *,
    dimension: Optional[int] = None,
    language: Optional[str] = None,
    indexed_keys: Optional[Sequence[str]] = None,
) -> Call[Created]:
    """Makes a memory: its vector dimension, stemming language and the metadata keys filters
    may name, optionally."""
    body = CreateMemory(
        name=name,
        dimension=dimension,
        language=language,
        indexed_keys=list(indexed_keys) if indexed_keys is not None else None,
    )
    return Call("POST", "/v1/memories", Created.model_validate, body=body.wire(), write=True)


def cluster() -> Call[Cluster]:
    """The cluster as the node that answers sees it: its role, term, leader and members."""
    return Call("GET", "/v1/cluster", Cluster.model_validate)


def drop_memory(name: str) -> Call[None]:
    """Drops a memory and deletes its files."""
    return Call("DELETE", memory_path(name), lambda _: None, write=True)


# One memory: each takes the memory's path first.


def stats(memory: str) -> Call[Stats]:
    """Its counts, dimension, language, keys, vectors, log and storage."""
    return Call("GET", memory, Stats.model_validate, reads=True)


def learn(
    memory: str,
    content: str,
    *,
    embedding: Optional[Vector] = None,
    id: Optional[str] = None,
    strength: Optional[float] = None,
    confidence: Optional[float] = None,
    metadata: Optional[Metadata] = None,
) -> Call[str]:
    """Learns a concept (or replaces the one with its id; without one, the id is derived from
    the content); answers its id once the write is durable."""
    body = ConceptBody(
        content=content,
        embedding=as_vector(embedding) if embedding is not None else None,
        id=id,
        strength=strength,
        confidence=confidence,
        metadata=metadata,
    )
    return Call(
        "PUT", f"{memory}/concepts", lambda a: Learned.model_validate(a).id, body=body.wire(), write=True
    )


def get(memory: str, id: str) -> Call[Concept]:
    """The concept with this id (`NotFound` if there is none)."""
    return Call("GET", f"{memory}/concepts/{segment(id)}", Concept.model_validate, reads=True)


def forget(memory: str, id: str) -> Call[int]:
    """Deletes a concept and its associations; answers the write's sequence number."""
    return Call("DELETE", f"{memory}/concepts/{segment(id)}", _seq, write=True)


def page(
    memory: str,
    *,
    after: Optional[str] = None,
    limit: Optional[int] = None,
    prefix: Optional[str] = None,
    filter: Optional[Filter] = None,
    order: Optional[Order] = None,
) -> Call[Page]:
    """One page of concepts (those whose content starts with `prefix`, or whose metadata the
    filter keeps) in id order, or `order="updated"` (the last updated first) or `"content"`;
    `next` says where the next one starts (pass it as `after` with the same order)."""
    params = {
        "order": order,
        "after": after,
        "limit": limit,
        "prefix": prefix,
        "filter": json.dumps(filter) if filter is not None else None,
    }
    return Call("GET", f"{memory}/concepts", Page.model_validate, params=params, reads=True)


def associate(
    memory: str,
    source: str,
    target: str,
    kind: Kind = "semantic",
    *,
    label: str = "",
    confidence: Optional[float] = None,
    weight: Optional[float] = None,
    metadata: Optional[Metadata] = None,
    valid_from_ms: Optional[int] = None,
    valid_until_ms: Optional[int] = None,
) -> Call[int]:
    """Learns an association (replacing the one with the same source, target, kind and label);
    answers the write's sequence number."""
    body = AssociationBody(
        source=source,
        target=target,
        kind=kind,
        label=label,
        confidence=confidence,
        weight=weight,
        metadata=metadata,
        valid_from_ms=valid_from_ms,
        valid_until_ms=valid_until_ms,
    )
    return Call("PUT", f"{memory}/associations", _seq, body=body.wire(), write=True)


def _association(memory: str, source: str, target: str, kind: Kind) -> str:
    return f"{memory}/associations/{segment(source)}/{segment(target)}/{segment(kind)}"


def dissociate(memory: str, source: str, target: str, kind: Kind, *, label: str = "") -> Call[int]:
    """Deletes an association; answers the write's sequence number."""
    path = _association(memory, source, target, kind)
    return Call("DELETE", path, _seq, params={"label": label}, write=True)


def invalidate(
    memory: str,
    source: str,
    target: str,
    kind: Kind,
    *,
    label: str = "",
    valid_until_ms: Optional[int] = None,
) -> Call[int]:
    """Marks a fact as no longer true (from now, or from `valid_until_ms`) without deleting it."""
    path = f"{_association(memory, source, target, kind)}/invalidate"
    params = {"label": label, "valid_until_ms": valid_until_ms}
    return Call("POST", path, _seq, params=params, write=True)


def associations(
    memory: str,
    id: str,
    *,
    direction: Literal["out", "in", "both"] = "both",
    kinds: Optional[Sequence[Kind]] = None,
    labels: Optional[Sequence[str]] = None,
    min_confidence: Optional[float] = None,
    limit: Optional[int] = None,
    as_of: Optional[int] = None,
    include_invalid: Optional[bool] = None,
) -> Call[list[Association]]:
    """A concept's associations (those valid now, unless `as_of` or `include_invalid`)."""
    params = {
        "direction": direction,
        "kinds": ",".join(kinds) if kinds is not None else None,
        "labels": json.dumps(list(labels)) if labels is not None else None,
        "min_confidence": min_confidence,
        "limit": limit,
        "as_of": as_of,
        "include_invalid": flag(include_invalid),
    }
    return Call(
        "GET",
        f"{memory}/concepts/{segment(id)}/associations",
        lambda a: [Association.model_validate(x) for x in a["associations"]],
        params=params,
        reads=True,
    )


def batch(memory: str, ops: Sequence[Mapping[str, Any]]) -> Call[BatchWritten]:
    """Applies operations (`{"op": "put_concept", …}`, `put_association`, `delete_concept`,
    `delete_association`, `invalidate_association`, `index_metadata`) all or none, in one
    durable write."""
    body = BatchBody(
        ops=[
            {**op, "embedding": as_vector(op["embedding"])} if op.get("embedding") is not None else dict(op)
            for op in ops
        ]
    )
    return Call("POST", f"{memory}/batch", BatchWritten.model_validate, body=body.wire(), write=True)


def index_metadata(memory: str, keys: Sequence[str]) -> Call[int]:
    """Declares the metadata keys filters may name (replacing those declared before)."""
    body = BatchBody(ops=[{"op": "index_metadata", "keys": list(keys)}])
    return Call("POST", f"{memory}/batch", _seq, body=body.wire(), write=True)


def paths(
    memory: str,
    source: str,
    target: str,
    *,
    algorithm: Literal["shortest", "most_confident", "k_best"] = "shortest",
    k: Optional[int] = None,
    max_depth: Optional[int] = None,
    kinds: Optional[Sequence[Kind]] = None,
    direction: Optional[Literal["forward", "both"]] = None,
    as_of: Optional[int] = None,
    include_invalid: Optional[bool] = None,
    visited_max: Optional[int] = None,
) -> Call[Paths]:
    """Paths from one concept to another: the explainable trail of associations."""
    body = PathsBody(
        from_=source,
        to=target,
        algorithm=algorithm,
        k=k,
        max_depth=max_depth,
        kinds=list(kinds) if kinds is not None else None,
        direction=direction,
        as_of=as_of,
        include_invalid=include_invalid,
        visited_max=visited_max,
    )
    return Call("POST", f"{memory}/paths", Paths.model_validate, body=body.wire(), reads=True)


def neighbourhood(
    memory: str,
    id: str,
    *,
    depth: Optional[int] = None,
    kinds: Optional[Sequence[Kind]] = None,
    limit: Optional[int] = None,
    as_of: Optional[int] = None,
    include_invalid: Optional[bool] = None,
) -> Call[Neighbourhood]:
    """The concepts up to `depth` hops from a concept, and the associations among them."""
    params = {
        "depth": depth,
        "kinds": ",".join(kinds) if kinds is not None else None,
        "limit": limit,
        "as_of": as_of,
        "include_invalid": flag(include_invalid),
    }
    path = f"{memory}/concepts/{segment(id)}/neighbourhood"
    return Call("GET", path, Neighbourhood.model_validate, params=params, reads=True)


def search(
    memory: str,
    text: Optional[str] = None,
    *,
    vector: Optional[Vector] = None,
    like: Optional[str] = None,
    k: Optional[int] = None,
    filter: Optional[Filter] = None,
    expand: Optional[Union[ExpandBody, Mapping[str, Any]]] = None,
    mmr: Optional[Union[MmrBody, Mapping[str, Any]]] = None,
    ef: Optional[int] = None,
) -> Call[list[Hit]]:
    """The best concepts for words, a vector or a concept's own vector (`like`), or words and
    a vector fused; inside a filter, followed along associations (`expand`), each hit saying
    what found it."""
    body = SearchBody(
        text=text,
        vector=as_vector(vector) if vector is not None else None,
        id=like,
        k=k,
        filter=dict(filter) if filter is not None else None,
        expand=ExpandBody.model_validate(expand) if isinstance(expand, Mapping) else expand,
        mmr=MmrBody.model_validate(mmr) if isinstance(mmr, Mapping) else mmr,
        ef=ef,
    )
    return Call(
        "POST",
        f"{memory}/search",
        lambda a: [Hit.model_validate(h) for h in a["hits"]],
        body=body.wire(),
        reads=True,
    )


def similar(memory: str, id: str, *, k: Optional[int] = None, ef: Optional[int] = None) -> Call[list[Hit]]:
    """The concepts whose embeddings are most like this concept's."""
    return Call(
        "GET",
        f"{memory}/concepts/{segment(id)}/similar",
        lambda a: [Hit.model_validate(h) for h in a["hits"]],
        params={"k": k, "ef": ef},
        reads=True,
    )


def checkpoint(memory: str) -> Call[Checkpoint]:
    """Writes a snapshot now and trims the log (nothing when nothing changed since the last)."""
    return Call("POST", f"{memory}/checkpoint", Checkpoint.model_validate, write=True)


def reopen(memory: str) -> Call[Reopened]:
    """Closes the memory and opens it again from its files, recovering from its log (how a
    memory that refuses writes after a storage failure takes them again once the cause is
    gone)."""
    return Call("POST", f"{memory}/reopen", Reopened.model_validate, write=True)


def import_lines(memory: str, lines: str) -> Call[ImportSummary]:
    """Imports JSON Lines (the export format; the lines numbered from 1 in the answer): what
    is valid is written, what is not is rejected by line number with the reason."""
    return Call(
        "POST",
        f"{memory}/import",
        ImportSummary.model_validate,
        content=(lines.encode("utf-8"), "application/x-ndjson"),
        write=True,
    )


def export(memory: str) -> Call[str]:
    """The memory as JSON Lines: a header, its concepts, then its associations."""
    return Call("GET", f"{memory}/export", str, text=True, reads=True)


def _seq(answer: Any) -> int:
    return Written.model_validate(answer).seq
