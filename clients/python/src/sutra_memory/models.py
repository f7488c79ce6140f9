"""What the server answers, as typed models: one per schema of `/v1/openapi.json` (the test
`test_models.py` checks each against the document the server serves: the same fields, the
same required ones)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["semantic", "causal", "temporal", "hierarchical", "compositional"]
"""The five association kinds."""

Order = Literal["id", "updated", "content"]
"""The order of a listing of concepts: by id, the last updated first, or by content."""

Retriever = Literal["text", "vector", "graph"]
"""What found a search hit."""

MetadataValue = Union[str, int, float, bool, list[str]]
"""A metadata value: a string, a number (a whole number stays whole), a flag or a list of strings."""

Metadata = dict[str, MetadataValue]


class Answer(BaseModel):
    """An answer of the server: read as it is, never changed; fields it adds later are kept."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class Concept(Answer):
    """`ConceptAnswer`: a concept with every field."""

    id: str
    content: str
    embedding: Optional[list[float]]
    strength: float
    confidence: float
    metadata: Metadata
    created_ms: int
    updated_ms: int


class Association(Answer):
    """`AssociationAnswer`: a typed, labelled, weighted link, valid from/until a time."""

    source: str
    target: str
    kind: Kind
    label: str
    confidence: float
    weight: float
    metadata: Metadata
    valid_from_ms: Optional[int]
    valid_until_ms: Optional[int]
    created_ms: int
    updated_ms: int


class Step(Answer):
    """`StepAnswer`: one association followed (`reversed`: walked from its target)."""

    from_: str = Field(alias="from")
    to: str
    kind: Kind
    label: str
    confidence: float
    weight: float
    reversed: bool


class FoundBy(Answer):
    """`FoundBy`: a retriever that found a hit, its rank and score there, and for the graph the trail."""

    retriever: Retriever
    rank: int
    score: float
    trail: Optional[list[Step]] = None


class Hit(Answer):
    """`HitAnswer`: a search hit and what found it."""

    id: str
    content: str
    score: float
    found_by: list[FoundBy]


class PathConcept(Answer):
    """`PathConceptAnswer`: a concept on a path (`content` null when it was deleted meanwhile)."""

    id: str
    content: Optional[str]


class Path(Answer):
    """`PathAnswer`: the concepts of a path, the steps between them and its confidence."""

    concepts: list[PathConcept]
    steps: list[Step]
    confidence: float


class Paths(Answer):
    """`PathsAnswer`: the paths found and what the search did."""

    algorithm: Literal["shortest", "most_confident", "k_best"]
    paths: list[Path]
    visited: int
    depth_limited: bool
    budget_exhausted: bool
    seq: int


class Neighbour(Answer):
    """`NeighbourAnswer`: a concept of a neighbourhood, `hops` from its centre."""

    id: str
    content: Optional[str]
    strength: Optional[float]
    confidence: Optional[float]
    hops: int


class Neighbourhood(Answer):
    """`NeighbourhoodAnswer`: the concepts around a centre and the associations among them."""

    concepts: list[Neighbour]
    associations: list[Association]
    truncated: bool


class VectorCounts(Answer):
    """`VectorCounts`: vectors indexed (sealed), waiting for the index (fresh), hidden (stale)."""

    sealed: int
    fresh: int
    stale: int
    segments: int


class Stats(Answer):
    """`StatsAnswer` with the server's part (`MemoryStatsAnswer`)."""

    name: str
    concepts: int
    associations: int
    labels: int
    dimension: Optional[int]
    language: Optional[str]
    indexed_keys: list[str]
    vectors: VectorCounts
    last_seq: int
    checkpoint_seq: Optional[int]
    log_bytes: int
    poisoned: Optional[str]
    queue_depth: int
    storage_bytes: int


class Created(Answer):
    """`CreatedAnswer`: the memory made."""

    name: str
    dimension: Optional[int]
    language: Optional[str]
    indexed_keys: list[str]


class Page(Answer):
    """`PageAnswer`: concepts in id order, and where the next page starts (`None`: the last)."""

    concepts: list[Concept]
    next: Optional[str]


class Written(Answer):
    """`WriteAnswer`: the sequence number of a durable write."""

    seq: int


class Learned(Answer):
    """`ConceptWritten`: the concept's id and the write's sequence number."""

    id: str
    seq: int


class Checkpoint(Answer):
    """`CheckpointAnswer`: whether a snapshot was written, up to which write, its size, and the
    log bytes it let go."""

    written: bool
    seq: int
    snapshot_bytes: int
    log_bytes_dropped: int


class Reopened(Answer):
    """`ReopenedAnswer`: what recovery found when a memory was opened again from its files."""

    reopened: str
    last_seq: int
    records_replayed: int
    torn_bytes_dropped: int
    seconds: float


class ClusterMember(Answer):
    """`ClusterMember`: a node of the cluster, and on the leader how far behind it is."""

    id: int
    kind: str
    api: str
    raft: str
    matched: Optional[int]
    lag_entries: Optional[int]
    lag_ms: Optional[int]
    last_ack_ms: Optional[int]


class Cluster(Answer):
    """`ClusterAnswer`: the cluster as the node that answered sees it (`role` "single" and no
    members on a server that is not a cluster's node)."""

    role: str
    node: Optional[int]
    leader: Optional[int]
    term: Optional[int]
    applied: Optional[int]
    committed: Optional[int]
    last_log_index: Optional[int]
    snapshot: Optional[int]
    elections: Optional[int]
    leader_changes: Optional[int]
    members: list[ClusterMember]


class Rejection(Answer):
    """`Rejection`: a line of an import that was not taken, by its number (from 1), and why."""

    line: int
    reason: str


class ImportSummary(Answer):
    """`ImportSummary`: what an import wrote, and the first lines it rejected (with their count)."""

    concepts: int
    associations: int
    rejected_count: int
    rejected: list[Rejection]


class BatchWritten(Answer):
    """`BatchWritten`: the ids of the concepts a batch learned, and its sequence number."""

    ids: list[str]
    seq: int


# Requests: what the client sends, checked as it is built (field names and required ones are
# the document's, like the answers').


class Body(BaseModel):
    """A request's body: the fields given (the server's defaults for the others)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """The body as JSON takes it."""
        return self.model_dump(exclude_none=True, by_alias=True)


class CreateMemory(Body):
    """`CreateMemory`: a memory to make."""

    name: str
    dimension: Optional[int] = None
    language: Optional[str] = None
    indexed_keys: Optional[list[str]] = None


class ConceptBody(Body):
    """`ConceptBody`: a concept to learn."""

    content: str
    embedding: Optional[list[float]] = None
    id: Optional[str] = None
    strength: Optional[float] = None
    confidence: Optional[float] = None
    metadata: Optional[Metadata] = None


class AssociationBody(Body):
    """`AssociationBody`: an association to learn."""

    source: str
    target: str
    kind: Kind
    label: Optional[str] = None
    confidence: Optional[float] = None
    weight: Optional[float] = None
    metadata: Optional[Metadata] = None
    valid_from_ms: Optional[int] = None
    valid_until_ms: Optional[int] = None


class ExpandBody(Body):
    """`ExpandBody`: how a search's hits are followed along associations."""

    depth: Optional[int] = None
    kinds: Optional[list[Kind]] = None
    labels: Optional[list[str]] = None
    direction: Optional[Literal["forward", "both"]] = None
    per_concept: Optional[int] = None
    as_of: Optional[int] = None
    include_invalid: Optional[bool] = None


class MmrBody(Body):
    """`MmrBody`: maximal marginal relevance over the hits' embeddings."""

    lambda_: Optional[float] = Field(default=None, alias="lambda")


class SearchBody(Body):
    """`SearchBody`: a search by words, a vector or a concept's own vector, fused."""

    text: Optional[str] = None
    vector: Optional[list[float]] = None
    id: Optional[str] = None
    k: Optional[int] = None
    filter: Optional[dict[str, Any]] = None
    expand: Optional[ExpandBody] = None
    mmr: Optional[MmrBody] = None
    ef: Optional[int] = None


class PathsBody(Body):
    """`PathsBody`: paths from one concept to another."""

    from_: str = Field(alias="from")
    to: str
    algorithm: Optional[Literal["shortest", "most_confident", "k_best"]] = None
    k: Optional[int] = None
    max_depth: Optional[int] = None
    kinds: Optional[list[Kind]] = None
    direction: Optional[Literal["forward", "both"]] = None
    as_of: Optional[int] = None
    include_invalid: Optional[bool] = None
    visited_max: Optional[int] = None


class BatchBody(Body):
    """`BatchBody`: operations applied all or none (each as the API's `BatchOp` reads it)."""

    ops: list[dict[str, Any]]
