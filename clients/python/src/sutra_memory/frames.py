"""Answers as the tools of the trade take them: a table (`pandas`) and a graph (`networkx`).
Both are optional (`pip install "sutra-memory[pandas,networkx]"`): imported when called."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, Union

from pydantic import BaseModel

from .models import Association, Neighbourhood, Paths


def _module(name: str, extra: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ImportError(f"{name} is needed for this: pip install \"sutra-memory[{extra}]\"") from e


def to_pandas(items: Iterable[BaseModel]) -> Any:
    """A `pandas.DataFrame` of answers (concepts, hits, associations, …): a row each, a column
    per field (`from` for a step's source)."""
    pandas = _module("pandas", "pandas")
    return pandas.DataFrame([item.model_dump(by_alias=True) for item in items])


def to_networkx(graph: Union[Neighbourhood, Paths, Iterable[Association]]) -> Any:
    """A `networkx.MultiDiGraph`: concepts as nodes (with their `content` where the answer
    has it), associations or path steps as edges keyed by `kind:label`, with their fields."""
    networkx = _module("networkx", "networkx")
    g = networkx.MultiDiGraph()
    if isinstance(graph, Neighbourhood):
        for c in graph.concepts:
            g.add_node(c.id, content=c.content, hops=c.hops)
        edges: Iterable[Association] = graph.associations
    elif isinstance(graph, Paths):
        for path in graph.paths:
            for on_path in path.concepts:
                g.add_node(on_path.id, content=on_path.content)
            for step in path.steps:
                g.add_edge(
                    step.from_,
                    step.to,
                    key=f"{step.kind}:{step.label}",
                    kind=step.kind,
                    label=step.label,
                    confidence=step.confidence,
                    weight=step.weight,
                )
        return g
    else:
        edges = graph
    for a in edges:
        g.add_edge(a.source, a.target, key=f"{a.kind}:{a.label}", **a.model_dump(exclude={"source", "target"}))
    return g
