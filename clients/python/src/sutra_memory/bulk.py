"""Many writes from a stream: JSON Lines imported and concepts learned in pieces, each piece one
request answered before the next is sent (so one piece bounds the work in flight and progress
can be shown), never the whole stream held in memory. The clients run these loops."""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Generator, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Callable, Optional, TypeVar, Union

from . import calls
from .calls import Call
from .models import ImportSummary, Rejection

T = TypeVar("T")

Steps = Generator[Call[Any], Any, T]
"""A piece-by-piece job: it yields each request and is sent its result; it returns the job's."""

#: Lines per import request, and concepts per batch, unless told otherwise.
PIECE = 500
#: Rejected lines an import's summary keeps (the count goes on).
REJECTED_KEPT = 100

ProgressFn = Callable[[int, Optional[int]], None]
"""Told the items sent so far and the total (`None` when not known), before and after each piece."""

Progress = Union[bool, ProgressFn]
"""`True`: a tqdm bar when tqdm is installed (nothing otherwise); or a function of its own."""

Source = Union[str, "os.PathLike[str]", Iterable[str]]
"""JSON Lines: a file's path, or the lines themselves."""


def check_piece(size: int) -> None:
    if size < 1:
        raise ValueError(f"a piece holds at least one item, not {size}")


def lines(source: Source) -> tuple[Iterator[str], Optional[int]]:
    """The lines of `source` (read as they are needed; blank ones kept, so that the server's
    line numbers are the file's) and how many there are, when known (a file is counted first,
    in one pass that keeps nothing)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, encoding="utf-8") as file:
            total = sum(1 for _ in file)

        def read() -> Iterator[str]:
            with open(path, encoding="utf-8") as file:
                yield from file

        return _bare(read()), total
    known = len(source) if isinstance(source, (list, tuple)) else None
    return _bare(iter(source)), known


def _bare(lines: Iterator[str]) -> Iterator[str]:
    return (line.rstrip("\r\n") for line in lines)


def pieces(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`."""
    while piece := list(islice(items, size)):
        yield piece


def added(total: ImportSummary, part: ImportSummary, first_line: int) -> ImportSummary:
    """`total` and one piece's summary (its lines numbered from `first_line`)."""
    room = max(0, REJECTED_KEPT - len(total.rejected))
    moved = [Rejection(line=r.line + first_line - 1, reason=r.reason) for r in part.rejected[:room]]
    return ImportSummary(
        concepts=total.concepts + part.concepts,
        associations=total.associations + part.associations,
        rejected_count=total.rejected_count + part.rejected_count,
        rejected=[*total.rejected, *moved],
    )


EMPTY = ImportSummary(concepts=0, associations=0, rejected_count=0, rejected=[])


def put_concept(item: Union[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A concept to learn (its text, or its fields as `learn` takes them) as a batch operation."""
    if isinstance(item, str):
        return {"op": "put_concept", "content": item}
    return {"op": "put_concept", **{k: v for k, v in item.items() if v is not None}}


class Reporter:
    """Progress told to the caller's function, or shown by tqdm."""

    def __init__(self, progress: Progress, total: Optional[int], unit: str) -> None:
        self._bar: Any = None
        self._fn: Optional[ProgressFn] = None
        self._total = total
        self._done = 0
        if callable(progress):
            self._fn = progress
        elif progress:
            try:
                tqdm: Any = importlib.import_module("tqdm")
                self._bar = tqdm.tqdm(total=total, unit=unit)
            except ImportError:
                self._bar = None
        self.tell(0)

    def tell(self, done: int) -> None:
        if self._fn is not None:
            self._fn(done, self._total)
        if self._bar is not None:
            self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def import_steps(memory: str, source: Source, size: int, progress: Progress) -> Steps[ImportSummary]:
    """An import of JSON Lines, `size` lines a request (rejected lines numbered in the whole)."""
    check_piece(size)
    stream, total = lines(source)
    report = Reporter(progress, total, "lines")
    summary, done = EMPTY, 0
    try:
        for piece in pieces(stream, size):
            part: ImportSummary = yield calls.import_lines(memory, "\n".join(piece) + "\n")
            summary = added(summary, part, done + 1)
            done += len(piece)
            report.tell(done)
    finally:
        report.close()
    return summary


def learn_steps(
    memory: str, concepts: Iterable[Union[str, Mapping[str, Any]]], size: int, progress: Progress
) -> Steps[list[str]]:
    """Concepts learned in atomic batches of `size`: their ids in order."""
    check_piece(size)
    total = len(concepts) if isinstance(concepts, (list, tuple)) else None
    report = Reporter(progress, total, "concepts")
    ids: list[str] = []
    try:
        for piece in pieces(iter(concepts), size):
            written = yield calls.batch(memory, [put_concept(c) for c in piece])
            ids += written.ids
            report.tell(len(ids))
    finally:
        report.close()
    return ids


def run(steps: Steps[T], send: Callable[[Call[Any]], Any]) -> T:
    """Runs a job, each request sent and waited for."""
    try:
        call = next(steps)
        while True:
            call = steps.send(send(call))
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()


async def run_async(steps: Steps[T], send: Callable[[Call[Any]], Awaitable[Any]]) -> T:
    """Runs a job, each request sent and awaited."""
    try:
        call = next(steps)
        while True:
            call = steps.send(await send(call))
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()
