"""Sutra's Python client: a durable knowledge-graph and vector memory, over its HTTP API.

    from sutra_memory import Sutra

    with Sutra("http://127.0.0.1:7878") as sutra:
        notes = sutra.create_memory("notes", dimension=3)
        rain = notes.learn("rain", embedding=[1, 0, 0])
"""

from .client import DEFAULT_URL, AsyncMemory, AsyncSutra, Memory, Sutra
from .frames import to_networkx, to_pandas
from .errors import (
    AssociationNotFound,
    ConceptNotFound,
    Conflict,
    DimensionMismatch,
    IdempotencyKeyReused,
    InvalidRequest,
    LimitExceeded,
    MemoryBusy,
    MemoryExists,
    MemoryNotFound,
    NoLeader,
    NotFound,
    OutcomeUnknown,
    Poisoned,
    SutraError,
    Unauthorized,
    Unavailable,
)
from .models import (
    Association,
    BatchWritten,
    Concept,
    FoundBy,
    Hit,
    ImportSummary,
    Neighbour,
    Neighbourhood,
    Page,
    Path,
    PathConcept,
    Paths,
    Stats,
    Step,
)

__all__ = [
    "DEFAULT_URL",
    "AsyncMemory",
    "AsyncSutra",
    "Association",
    "AssociationNotFound",
    "ConceptNotFound",
    "DimensionMismatch",
    "IdempotencyKeyReused",
    "MemoryBusy",
    "MemoryExists",
    "MemoryNotFound",
    "NoLeader",
    "Poisoned",
    "BatchWritten",
    "Concept",
    "Conflict",
    "FoundBy",
    "Hit",
    "ImportSummary",
    "InvalidRequest",
    "LimitExceeded",
    "Memory",
    "Neighbour",
    "Neighbourhood",
    "NotFound",
    "OutcomeUnknown",
    "Page",
    "Path",
    "PathConcept",
    "Paths",
    "Stats",
    "Step",
    "Sutra",
    "SutraError",
    "Unauthorized",
    "Unavailable",
    "to_networkx",
    "to_pandas",
]
