"""The client: `Sutra` for the server and its memories, `Memory` for one memory's concepts,
associations, graph walks and searches. Every call is one HTTP request (over `httpx`) answered
once the server made the write durable."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Optional, Protocol, TypeVar, Union
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .errors import OutcomeUnknown, SutraError, Unavailable, error_for
from .models import (
    Association,
    BatchWritten,
    Concept,
    Created,
    Hit,
    Kind,
    Learned,
    Metadata,
    MetadataValue,
    Neighbourhood,
    Page,
    Paths,
    Stats,
    Written,
)

T = TypeVar("T", bound=BaseModel)


class _HasToList(Protocol):
    def tolist(self) -> Any: ...


Vector = Union[Sequence[float], _HasToList]
"""An embedding: a sequence of numbers, or anything with `tolist()` (a numpy array)."""

FilterValue = Union[MetadataValue, Mapping[str, Sequence[MetadataValue]]]
"""What a filter allows for one key: a value, or `{"in": [...]}` for one of several."""

DEFAULT_URL = "http://127.0.0.1:7878"
#: Longest a 503 answer's `Retry-After` is waited for, in seconds.
RETRY_AFTER_MAX_S = 5.0


def _vector(v: Vector) -> list[float]:
    items = v.tolist() if hasattr(v, "tolist") else v
    return [float(x) for x in items]


def _drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _segment(text: str) -> str:
    return quote(text, safe="")


class Sutra:
    """A Sutra server.

    `timeout` bounds each request (seconds); a `503` answer (busy, no leader, storage failing)
    is sent again after its `Retry-After`, while `retry_budget` seconds last, except a write
    whose outcome is unknown (`OutcomeUnknown`), which is never sent again by itself.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retry_budget: float = 10.0,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.retry_budget = retry_budget

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def __enter__(self) -> Sutra:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[Any] = None,
        params: Optional[Mapping[str, Any]] = None,
    ) -> Any:
        """Sends one request and returns its JSON answer, or raises the `SutraError` for it."""
        deadline = time.monotonic() + self.retry_budget
        query = _drop_none(params or {})
        while True:
            try:
                answer = self._http.request(method, path, json=body, params=query)
            except httpx.TimeoutException as e:
                raise Unavailable("timeout", f"no answer within the timeout: {e}") from e
            except httpx.TransportError as e:
                raise SutraError("unreachable", f"cannot reach {self._http.base_url}: {e}") from e
            if answer.is_success:
                return answer.json()
            error = self._error(answer)
            if isinstance(error, Unavailable) and not isinstance(error, OutcomeUnknown):
                wait = self._retry_after(answer)
                if time.monotonic() + wait < deadline:
                    time.sleep(wait)
                    continue
            raise error

    @staticmethod
    def _retry_after(answer: httpx.Response) -> float:
        try:
            return min(max(float(answer.headers.get("Retry-After", "1")), 0.0), RETRY_AFTER_MAX_S)
        except ValueError:
            return 1.0

    @staticmethod
    def _error(answer: httpx.Response) -> SutraError:
        try:
            detail = answer.json()["error"]
            return error_for(
                answer.status_code,
                str(detail["code"]),
                str(detail["message"]),
                detail.get("field"),
                detail.get("limit"),
            )
        except (ValueError, KeyError, TypeError):
            return error_for(answer.status_code, "http_error", answer.text[:500], None, None)

    def _get(self, model: type[T], path: str, **params: Any) -> T:
        return model.model_validate(self.request("GET", path, params=params))

    def health(self) -> dict[str, Any]:
        """The server's health answer."""
        answer: dict[str, Any] = self.request("GET", "/v1/health")
        return answer

    def memories(self) -> list[dict[str, Any]]:
        """Every memory of the server, in name order (`status`, counts, dimension, language)."""
        answer = self.request("GET", "/v1/memories")
        memories: list[dict[str, Any]] = answer["memories"]
        return memories

    def create_memory(
        self,
        name: str,
        *,
        dimension: Optional[int] = None,
        language: Optional[str] = None,
        indexed_keys: Optional[Sequence[str]] = None,
    ) -> Memory:
        """Makes a memory (its vector dimension, stemming language and the metadata keys filters
        may name, optionally) and returns it."""
        body = _drop_none(
            {
                "name": name,
                "dimension": dimension,
                "language": language,
                "indexed_keys": list(indexed_keys) if indexed_keys is not None else None,
            }
        )
        Created.model_validate(self.request("POST", "/v1/memories", body=body))
        return self.memory(name)

    def drop_memory(self, name: str) -> None:
        """Drops a memory and deletes its files."""
        self.request("DELETE", f"/v1/memories/{_segment(name)}")

    def memory(self, name: str) -> Memory:
        """A memory of this server, by name (no request is made)."""
        return Memory(self, name)


class Memory:
    """One memory: its concepts, associations, graph walks and searches."""

    def __init__(self, client: Sutra, name: str) -> None:
        self.client = client
        self.name = name
        self._path = f"/v1/memories/{_segment(name)}"

    def __repr__(self) -> str:
        return f"Memory({self.name!r})"

    def stats(self) -> Stats:
        """Its counts, dimension, language, keys, vectors, log and storage."""
        return self.client._get(Stats, self._path)

    # Concepts.

    def learn(
        self,
        content: str,
        *,
        embedding: Optional[Vector] = None,
        id: Optional[str] = None,
        strength: Optional[float] = None,
        confidence: Optional[float] = None,
        metadata: Optional[Metadata] = None,
    ) -> str:
        """Learns a concept (or replaces the one with its id; without one, the id is derived
        from the content) and returns its id once the write is durable."""
        body = _drop_none(
            {
                "content": content,
                "embedding": _vector(embedding) if embedding is not None else None,
                "id": id,
                "strength": strength,
                "confidence": confidence,
                "metadata": metadata,
            }
        )
        return Learned.model_validate(
            self.client.request("PUT", f"{self._path}/concepts", body=body)
        ).id

    def get(self, id: str) -> Concept:
        """The concept with this id (`NotFound` if there is none)."""
        return self.client._get(Concept, f"{self._path}/concepts/{_segment(id)}")

    def forget(self, id: str) -> int:
        """Deletes a concept and its associations; returns the write's sequence number."""
        return Written.model_validate(
            self.client.request("DELETE", f"{self._path}/concepts/{_segment(id)}")
        ).seq

    def page(
        self,
        *,
        after: Optional[str] = None,
        limit: Optional[int] = None,
        prefix: Optional[str] = None,
        filter: Optional[Mapping[str, FilterValue]] = None,
    ) -> Page:
        """One page of concepts in id order (those whose content starts with `prefix`, or whose
        metadata the filter keeps)."""
        return self.client._get(
            Page,
            f"{self._path}/concepts",
            after=after,
            limit=limit,
            prefix=prefix,
            filter=json.dumps(filter) if filter is not None else None,
        )

    def concepts(
        self,
        *,
        prefix: Optional[str] = None,
        filter: Optional[Mapping[str, FilterValue]] = None,
        page_size: int = 500,
    ) -> Iterator[Concept]:
        """Every concept (or those of a prefix or filter), page after page, in id order."""
        after: Optional[str] = None
        while True:
            page = self.page(after=after, limit=page_size, prefix=prefix, filter=filter)
            yield from page.concepts
            if page.next is None:
                return
            after = page.next

    # Associations.

    def associate(
        self,
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
    ) -> int:
        """Learns an association (replacing the one with the same source, target, kind and
        label); returns the write's sequence number."""
        body = _drop_none(
            {
                "source": source,
                "target": target,
                "kind": kind,
                "label": label,
                "confidence": confidence,
                "weight": weight,
                "metadata": metadata,
                "valid_from_ms": valid_from_ms,
                "valid_until_ms": valid_until_ms,
            }
        )
        return Written.model_validate(
            self.client.request("PUT", f"{self._path}/associations", body=body)
        ).seq

    def _association_path(self, source: str, target: str, kind: Kind) -> str:
        return f"{self._path}/associations/{_segment(source)}/{_segment(target)}/{kind}"

    def dissociate(self, source: str, target: str, kind: Kind, *, label: str = "") -> int:
        """Deletes an association; returns the write's sequence number."""
        return Written.model_validate(
            self.client.request(
                "DELETE", self._association_path(source, target, kind), params={"label": label}
            )
        ).seq

    def invalidate(
        self,
        source: str,
        target: str,
        kind: Kind,
        *,
        label: str = "",
        valid_until_ms: Optional[int] = None,
    ) -> int:
        """Marks a fact as no longer true (from now, or `valid_until_ms`) without deleting it."""
        return Written.model_validate(
            self.client.request(
                "POST",
                f"{self._association_path(source, target, kind)}/invalidate",
                params={"label": label, "valid_until_ms": valid_until_ms},
            )
        ).seq

    def associations(
        self,
        id: str,
        *,
        direction: Literal["out", "in", "both"] = "both",
        kinds: Optional[Sequence[Kind]] = None,
        labels: Optional[Sequence[str]] = None,
        min_confidence: Optional[float] = None,
        limit: Optional[int] = None,
        as_of: Optional[int] = None,
        include_invalid: Optional[bool] = None,
    ) -> list[Association]:
        """A concept's associations (those valid now, unless `as_of` or `include_invalid`)."""
        answer = self.client.request(
            "GET",
            f"{self._path}/concepts/{_segment(id)}/associations",
            params={
                "direction": direction,
                "kinds": ",".join(kinds) if kinds is not None else None,
                "labels": json.dumps(list(labels)) if labels is not None else None,
                "min_confidence": min_confidence,
                "limit": limit,
                "as_of": as_of,
                "include_invalid": _flag(include_invalid),
            },
        )
        return [Association.model_validate(a) for a in answer["associations"]]

    # Many writes at once.

    def batch(self, ops: Sequence[Mapping[str, Any]]) -> BatchWritten:
        """Applies operations (`{"op": "put_concept", …}`, `put_association`,
        `delete_concept`, `delete_association`, `invalidate_association`, `index_metadata`)
        all or none, in one durable write."""
        body = {
            "ops": [
                {**op, "embedding": _vector(op["embedding"])}
                if op.get("embedding") is not None
                else dict(op)
                for op in ops
            ]
        }
        return BatchWritten.model_validate(
            self.client.request("POST", f"{self._path}/batch", body=body)
        )

    def index_metadata(self, keys: Sequence[str]) -> int:
        """Declares the metadata keys filters may name (replacing those declared before)."""
        return self.batch([{"op": "index_metadata", "keys": list(keys)}]).seq

    # Reading the graph and searching.

    def paths(
        self,
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
    ) -> Paths:
        """Paths from one concept to another: the explainable trail of associations."""
        body = _drop_none(
            {
                "from": source,
                "to": target,
                "algorithm": algorithm,
                "k": k,
                "max_depth": max_depth,
                "kinds": list(kinds) if kinds is not None else None,
                "direction": direction,
                "as_of": as_of,
                "include_invalid": include_invalid,
            }
        )
        return Paths.model_validate(self.client.request("POST", f"{self._path}/paths", body=body))

    def neighbourhood(
        self,
        id: str,
        *,
        depth: Optional[int] = None,
        kinds: Optional[Sequence[Kind]] = None,
        limit: Optional[int] = None,
        as_of: Optional[int] = None,
        include_invalid: Optional[bool] = None,
    ) -> Neighbourhood:
        """The concepts up to `depth` hops from a concept, and the associations among them."""
        return self.client._get(
            Neighbourhood,
            f"{self._path}/concepts/{_segment(id)}/neighbourhood",
            depth=depth,
            kinds=",".join(kinds) if kinds is not None else None,
            limit=limit,
            as_of=as_of,
            include_invalid=_flag(include_invalid),
        )

    def search(
        self,
        text: Optional[str] = None,
        *,
        vector: Optional[Vector] = None,
        like: Optional[str] = None,
        k: Optional[int] = None,
        filter: Optional[Mapping[str, FilterValue]] = None,
        expand: Optional[Mapping[str, Any]] = None,
        mmr: Optional[Mapping[str, Any]] = None,
        ef: Optional[int] = None,
    ) -> list[Hit]:
        """The best concepts for words, a vector or a concept's own vector (`like`), or words
        and a vector fused; inside a filter, followed along associations (`expand`), each hit
        saying what found it."""
        body = _drop_none(
            {
                "text": text,
                "vector": _vector(vector) if vector is not None else None,
                "id": like,
                "k": k,
                "filter": filter,
                "expand": expand,
                "mmr": mmr,
                "ef": ef,
            }
        )
        answer = self.client.request("POST", f"{self._path}/search", body=body)
        return [Hit.model_validate(h) for h in answer["hits"]]


def _flag(value: Optional[bool]) -> Optional[str]:
    return None if value is None else ("true" if value else "false")
