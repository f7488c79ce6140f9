"""The clients: `Sutra` (blocking) and `AsyncSutra` (asyncio) for the server and its memories,
`Memory` and `AsyncMemory` for one memory's concepts, associations, graph walks and searches.
Both send the same `calls`; every write is answered once the server made it durable."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from dataclasses import dataclass, field
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Callable, Concatenate, Generic, Literal, Optional, ParamSpec, TypeVar, Union

import httpx

from . import bulk, calls
from .bulk import Progress, Source
from .calls import Call, Filter
from .errors import MemoryExists, OutcomeUnknown, SutraError, Unavailable, error_for
from .models import Cluster, Concept, ImportSummary, Order

T = TypeVar("T")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "http://127.0.0.1:7878"
#: Longest a 503 answer's `Retry-After` is waited for, in seconds.
RETRY_AFTER_MAX_S = 5.0


def _client_options(token: Optional[str], url: str, timeout: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return {"base_url": url.rstrip("/"), "headers": headers, "timeout": timeout}


@dataclass
class Hints:
    """What the last answer said about the cluster (`None` from a single server): the node that
    answered, the leader it knew, and the last log entry it had applied; and the last write
    this client made."""

    node: Optional[int] = None
    leader: Optional[int] = None
    applied: Optional[int] = None
    #: The highest `seq` of the writes this client made (what `read_your_writes` waits for).
    written: Optional[int] = None


def _number(answer: httpx.Response, header: str) -> Optional[int]:
    value = answer.headers.get(header)
    return int(value) if value is not None and value.isdigit() else None


@dataclass
class _Attempts(Generic[T]):
    """One call's tries: what each request carries, and after each what to do — the result, a
    wait before the next try, or the error raised."""

    call: Call[T]
    deadline: float
    keyed: bool
    #: The read options a read of the memories' state carries.
    read_options: dict[str, Any] = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def request(self) -> dict[str, Any]:
        """The request's options for httpx: its query, its body (JSON, or bytes with their
        media type) and, for a keyed write, the same idempotency key on every try."""
        params = {**self.call.params, **(self.read_options if self.call.reads else {})}
        options: dict[str, Any] = {"params": calls.present(params)}
        headers = {"Idempotency-Key": self.key} if self.keyed else {}
        if self.call.content is not None:
            data, media_type = self.call.content
            options["content"] = data
            headers["Content-Type"] = media_type
        else:
            options["json"] = self.call.body
        options["headers"] = headers
        return options

    def after(self, got: Union[httpx.Response, httpx.HTTPError], hints: Hints) -> Union[tuple[T], float]:
        """`(result,)`, or how long to wait before trying again; raises the error otherwise."""
        if isinstance(got, httpx.Response):
            hints.node, hints.leader, hints.applied = (
                _number(got, "Sutra-Node"),
                _number(got, "Sutra-Leader"),
                _number(got, "Sutra-Applied"),
            )
            result = _answer(self.call, got, hints)
            if not isinstance(result, SutraError):
                return (result,)
            error, wait = result, _retry_after(got)
        else:
            error, wait = _failed(self.call, got), 0.2
        # Sent again: what the server could not do now (nothing happened), and a write of unknown
        # outcome only when keyed (a keyed write applies once however often it is sent).
        again = isinstance(error, Unavailable) and (self.keyed or not isinstance(error, OutcomeUnknown))
        if again and time.monotonic() + wait < self.deadline:
            return wait
        raise error


def _failed(call: Call[Any], e: httpx.HTTPError) -> SutraError:
    """What a request that got no answer means: never sent (nothing happened), or cut off after
    it was sent (a write's outcome is then unknown)."""
    if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout)):
        # No connection: nothing was sent.
        return Unavailable("unreachable", f"cannot connect: {e}")
    what = "no answer within the timeout" if isinstance(e, httpx.TimeoutException) else f"the answer was lost: {e}"
    if call.write:
        return OutcomeUnknown("outcome_unknown", f"{what}; the write may or may not have been applied")
    return Unavailable("no_answer", what)


def _answer(call: Call[T], answer: httpx.Response, hints: Hints) -> Union[T, SutraError]:
    """The call's result (a write's `seq` noted in `hints`), or the error the server answered."""
    if answer.is_success:
        try:
            raw = answer.text if call.text else answer.json()
            if call.write and isinstance(raw, dict) and isinstance(raw.get("seq"), int):
                hints.written = max(hints.written or 0, raw["seq"])
            return call.read(raw)
        except (ValueError, KeyError, TypeError) as e:
            return SutraError("bad_answer", f"the server's answer could not be read: {e}", status=answer.status_code)
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


def _retry_after(answer: httpx.Response) -> float:
    """The answer's `Retry-After` in seconds (1 when it has none), at most `RETRY_AFTER_MAX_S`."""
    try:
        return min(max(float(answer.headers.get("Retry-After", "1")), 0.0), RETRY_AFTER_MAX_S)
    except ValueError:
        return 1.0


class _Policy:
    """What both clients keep besides their connections: how they try again, what their reads
    ask for, and what the answers said."""

    def __init__(
        self,
        retry_budget: float,
        idempotent_writes: bool,
        consistency: Optional[Literal["linearizable", "stale"]],
        read_your_writes: bool,
    ) -> None:
        self.retry_budget = retry_budget
        self.idempotent_writes = idempotent_writes
        self.consistency = consistency
        self.read_your_writes = read_your_writes
        self.hints = Hints()

    def _attempts(self, call: Call[T]) -> _Attempts[T]:
        reading: dict[str, Any] = {"consistency": self.consistency}
        if self.read_your_writes and self.hints.written:
            reading["min_seq"] = self.hints.written
        return _Attempts(call, time.monotonic() + self.retry_budget, self.idempotent_writes and call.write, reading)


class Sutra(_Policy):
    """A Sutra server, blocking.

    `timeout` bounds each request (seconds); a `503` answer (busy, no leader, storage failing),
    a refused connection or a read whose answer was lost is sent again (after the answer's
    `Retry-After`) while `retry_budget` seconds last. A write whose outcome is unknown
    (`OutcomeUnknown`: its answer lost, or `503 outcome_unknown`) is never sent again by
    itself, unless `idempotent_writes`: then every write carries an `Idempotency-Key`, the same
    on each try, and a cluster applies it once however often it is sent (a single server
    refuses the header). `hints` says which node answered last, its leader and what it applied.

    Reads on a cluster: `consistency="stale"` answers from the node asked at once (the default,
    linearizable, sees every write acknowledged before it); `read_your_writes` makes every read
    wait until the node applied this client's last write (`min_seq`).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retry_budget: float = 10.0,
        idempotent_writes: bool = False,
        consistency: Optional[Literal["linearizable", "stale"]] = None,
        read_your_writes: bool = False,
    ) -> None:
        self._http = httpx.Client(**_client_options(token, url, timeout))
        super().__init__(retry_budget, idempotent_writes, consistency, read_your_writes)

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def __enter__(self) -> Sutra:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, call: Call[T]) -> T:
        """Sends a call and returns its result, or raises the `SutraError` for it."""
        tries = self._attempts(call)
        while True:
            got: Union[httpx.Response, httpx.HTTPError]
            try:
                got = self._http.request(call.method, call.path, **tries.request())
            except httpx.HTTPError as e:
                got = e
            outcome = tries.after(got, self.hints)
            if isinstance(outcome, tuple):
                return outcome[0]
            time.sleep(outcome)

    def health(self) -> dict[str, Any]:
        """The server's health answer."""
        return self.run(calls.health())

    def memories(self) -> list[dict[str, Any]]:
        """Every memory of the server, in name order (`status`, counts, dimension, language)."""
        return self.run(calls.memories())

    def cluster(self) -> Cluster:
        """The cluster as this node sees it: its role, term, leader and members."""
        return self.run(calls.cluster())

    def create_memory(
        self,
        name: str,
        *,
        dimension: Optional[int] = None,
        language: Optional[str] = None,
        indexed_keys: Optional[Sequence[str]] = None,
    ) -> Memory:
        """Makes a memory (its vector dimension, stemming language and the metadata keys
        filters may name, optionally) and returns it."""
        self.run(calls.create_memory(name, dimension=dimension, language=language, indexed_keys=indexed_keys))
        return self.memory(name)

    def open_memory(self, name: str, *, dimension: Optional[int] = None, indexed_keys: Sequence[str] = ()) -> Memory:
        """The memory `name`, made if there is none (with `dimension` and `indexed_keys`); one
        made before (by hand, or by another client at the same time) gets the keys it lacks of
        `indexed_keys`, beside its own."""
        try:
            return self.create_memory(name, dimension=dimension, indexed_keys=indexed_keys)
        except MemoryExists:
            memory = self.memory(name)
            declared = set(memory.stats().indexed_keys)
            if not set(indexed_keys) <= declared:
                memory.index_metadata(sorted(declared | set(indexed_keys)))
            return memory

    def drop_memory(self, name: str) -> None:
        """Drops a memory and deletes its files."""
        self.run(calls.drop_memory(name))

    def memory(self, name: str) -> Memory:
        """A memory of this server, by name (no request is made)."""
        return Memory(self, name)


class AsyncSutra(_Policy):
    """A Sutra server, for asyncio: the same as `Sutra`, each method awaited."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retry_budget: float = 10.0,
        idempotent_writes: bool = False,
        consistency: Optional[Literal["linearizable", "stale"]] = None,
        read_your_writes: bool = False,
    ) -> None:
        self._http = httpx.AsyncClient(**_client_options(token, url, timeout))
        super().__init__(retry_budget, idempotent_writes, consistency, read_your_writes)

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSutra:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def run(self, call: Call[T]) -> T:
        """Sends a call and returns its result, or raises the `SutraError` for it."""
        tries = self._attempts(call)
        while True:
            got: Union[httpx.Response, httpx.HTTPError]
            try:
                got = await self._http.request(call.method, call.path, **tries.request())
            except httpx.HTTPError as e:
                got = e
            outcome = tries.after(got, self.hints)
            if isinstance(outcome, tuple):
                return outcome[0]
            await asyncio.sleep(outcome)

    async def health(self) -> dict[str, Any]:
        """The server's health answer."""
        return await self.run(calls.health())

    async def memories(self) -> list[dict[str, Any]]:
        """Every memory of the server, in name order (`status`, counts, dimension, language)."""
        return await self.run(calls.memories())

    async def cluster(self) -> Cluster:
        """The cluster as this node sees it: its role, term, leader and members."""
        return await self.run(calls.cluster())

    async def create_memory(
        self,
        name: str,
        *,
        dimension: Optional[int] = None,
        language: Optional[str] = None,
        indexed_keys: Optional[Sequence[str]] = None,
    ) -> AsyncMemory:
        """Makes a memory (its vector dimension, stemming language and the metadata keys
        filters may name, optionally) and returns it."""
        await self.run(calls.create_memory(name, dimension=dimension, language=language, indexed_keys=indexed_keys))
        return self.memory(name)

    async def drop_memory(self, name: str) -> None:
        """Drops a memory and deletes its files."""
        await self.run(calls.drop_memory(name))

    def memory(self, name: str) -> AsyncMemory:
        """A memory of this server, by name (no request is made)."""
        return AsyncMemory(self, name)


def _blocking(build: Callable[Concatenate[str, P], Call[T]]) -> Callable[Concatenate[Memory, P], T]:
    """A `Memory` method that sends what `build` makes for its memory."""

    def method(self: Memory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.client.run(build(self.path, *args, **kwargs))

    return _like(method, build)


def _awaited(build: Callable[Concatenate[str, P], Call[T]]) -> Callable[Concatenate[AsyncMemory, P], Awaitable[T]]:
    """An `AsyncMemory` method that sends what `build` makes for its memory."""

    async def method(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.client.run(build(self.path, *args, **kwargs))

    return _like(method, build)


def _like(method: F, build: Callable[..., Any]) -> F:
    """`method` named, documented and signed as `build` is, with `self` for the memory (what
    `help()` and editors show)."""
    signature = inspect.signature(build)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    parameters = [this, *list(signature.parameters.values())[1:]]
    setattr(method, "__signature__", signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))
    method.__doc__ = build.__doc__
    method.__name__ = build.__name__
    method.__qualname__ = build.__name__
    return method


class Memory:
    """One memory of a `Sutra` server: its concepts, associations, graph walks and searches."""

    def __init__(self, client: Sutra, name: str) -> None:
        self.client = client
        self.name = name
        self.path = calls.memory_path(name)

    def __repr__(self) -> str:
        return f"Memory({self.name!r})"

    stats = _blocking(calls.stats)
    learn = _blocking(calls.learn)
    get = _blocking(calls.get)
    forget = _blocking(calls.forget)
    page = _blocking(calls.page)
    associate = _blocking(calls.associate)
    dissociate = _blocking(calls.dissociate)
    invalidate = _blocking(calls.invalidate)
    associations = _blocking(calls.associations)
    batch = _blocking(calls.batch)
    index_metadata = _blocking(calls.index_metadata)
    paths = _blocking(calls.paths)
    neighbourhood = _blocking(calls.neighbourhood)
    search = _blocking(calls.search)
    similar = _blocking(calls.similar)
    export = _blocking(calls.export)
    checkpoint = _blocking(calls.checkpoint)
    reopen = _blocking(calls.reopen)

    def import_jsonl(self, source: Source, *, lines_per_request: int = bulk.PIECE, progress: Progress = False) -> ImportSummary:
        """Imports JSON Lines (a file's path, or the lines) in requests of `lines_per_request`
        lines, each answered before the next is sent; answers what was written and the lines
        rejected (numbered in the whole source) with why."""
        return bulk.run(bulk.import_steps(self.path, source, lines_per_request, progress), self.client.run)

    def learn_many(
        self, concepts: Iterable[Union[str, Mapping[str, Any]]], *, batch_size: int = bulk.PIECE, progress: Progress = False
    ) -> list[str]:
        """Learns concepts (texts, or their fields as `learn` takes them) in atomic batches of
        `batch_size`, each answered before the next is sent; answers their ids in order."""
        return bulk.run(bulk.learn_steps(self.path, concepts, batch_size, progress), self.client.run)

    def concepts(
        self,
        *,
        prefix: Optional[str] = None,
        filter: Optional[Filter] = None,
        page_size: int = 500,
        order: Optional[Order] = None,
    ) -> Iterator[Concept]:
        """Every concept (or those of a prefix or filter), page after page, in id order or
        `order` (see `page`)."""
        after: Optional[str] = None
        while True:
            page = self.page(after=after, limit=page_size, prefix=prefix, filter=filter, order=order)
            yield from page.concepts
            if page.next is None:
                return
            after = page.next


class AsyncMemory:
    """One memory of an `AsyncSutra` server: the same as `Memory`, each method awaited."""

    def __init__(self, client: AsyncSutra, name: str) -> None:
        self.client = client
        self.name = name
        self.path = calls.memory_path(name)

    def __repr__(self) -> str:
        return f"AsyncMemory({self.name!r})"

    stats = _awaited(calls.stats)
    learn = _awaited(calls.learn)
    get = _awaited(calls.get)
    forget = _awaited(calls.forget)
    page = _awaited(calls.page)
    associate = _awaited(calls.associate)
    dissociate = _awaited(calls.dissociate)
    invalidate = _awaited(calls.invalidate)
    associations = _awaited(calls.associations)
    batch = _awaited(calls.batch)
    index_metadata = _awaited(calls.index_metadata)
    paths = _awaited(calls.paths)
    neighbourhood = _awaited(calls.neighbourhood)
    search = _awaited(calls.search)
    similar = _awaited(calls.similar)
    export = _awaited(calls.export)
    checkpoint = _awaited(calls.checkpoint)
    reopen = _awaited(calls.reopen)

    async def import_jsonl(self, source: Source, *, lines_per_request: int = bulk.PIECE, progress: Progress = False) -> ImportSummary:
        """Imports JSON Lines as `Memory.import_jsonl` does."""
        return await bulk.run_async(bulk.import_steps(self.path, source, lines_per_request, progress), self.client.run)

    async def learn_many(
        self, concepts: Iterable[Union[str, Mapping[str, Any]]], *, batch_size: int = bulk.PIECE, progress: Progress = False
    ) -> list[str]:
        """Learns concepts in atomic batches as `Memory.learn_many` does."""
        return await bulk.run_async(bulk.learn_steps(self.path, concepts, batch_size, progress), self.client.run)

    async def concepts(
        self,
        *,
        prefix: Optional[str] = None,
        filter: Optional[Filter] = None,
        page_size: int = 500,
        order: Optional[Order] = None,
    ) -> AsyncIterator[Concept]:
        """Every concept (or those of a prefix or filter), page after page, in id order or
        `order` (see `page`)."""
        after: Optional[str] = None
        while True:
            page = await self.page(after=after, limit=page_size, prefix=prefix, filter=filter, order=order)
            for concept in page.concepts:
                yield concept
            if page.next is None:
                return
            after = page.next
