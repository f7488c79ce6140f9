"""The models are the server's: each has exactly the fields of its schema in the OpenAPI
document the server serves, with the same ones required (a field the server may leave out has
a default here). A change of the server's answers fails this until the models follow."""

from __future__ import annotations

from typing import Any, get_args

import httpx
from pydantic import BaseModel

from sutra_memory import calls, models

SCHEMAS: dict[type[BaseModel], str] = {
    models.Concept: "ConceptAnswer",
    models.Association: "AssociationAnswer",
    models.Step: "StepAnswer",
    models.FoundBy: "FoundBy",
    models.Hit: "HitAnswer",
    models.PathConcept: "PathConceptAnswer",
    models.Path: "PathAnswer",
    models.Paths: "PathsAnswer",
    models.Neighbour: "NeighbourAnswer",
    models.Neighbourhood: "NeighbourhoodAnswer",
    models.VectorCounts: "VectorCounts",
    models.Stats: "MemoryStatsAnswer",
    models.Created: "CreatedAnswer",
    models.Page: "PageAnswer",
    models.Written: "WriteAnswer",
    models.Learned: "ConceptWritten",
    models.BatchWritten: "BatchWritten",
    models.Rejection: "Rejection",
    models.ImportSummary: "ImportSummary",
    models.Checkpoint: "CheckpointAnswer",
    models.Reopened: "ReopenedAnswer",
    models.ClusterMember: "ClusterMember",
    models.Cluster: "ClusterAnswer",
    models.CreateMemory: "CreateMemory",
    models.ConceptBody: "ConceptBody",
    models.AssociationBody: "AssociationBody",
    models.ExpandBody: "ExpandBody",
    models.MmrBody: "MmrBody",
    models.SearchBody: "SearchBody",
    models.PathsBody: "PathsBody",
    models.BatchBody: "BatchBody",
}


def fields_of(schemas: dict[str, Any], name: str) -> tuple[set[str], set[str]]:
    """A schema's properties and required ones (an `allOf` is the union of its parts)."""
    schema = schemas[name]
    properties: set[str] = set(schema.get("properties", {}))
    required: set[str] = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            more, more_required = fields_of(schemas, part["$ref"].rsplit("/", 1)[-1])
        else:
            more, more_required = set(part.get("properties", {})), set(part.get("required", []))
        properties |= more
        required |= more_required
    return properties, required


def test_every_model_has_its_schemas_fields(server_url: str) -> None:
    document = httpx.get(f"{server_url}/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    for model, name in SCHEMAS.items():
        properties, required = fields_of(schemas, name)
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        assert set(fields) == properties, f"{model.__name__} against {name}"
        assert {n for n, f in fields.items() if f.is_required()} == required, f"{model.__name__} against {name}"


def test_the_kinds_and_retrievers_are_the_servers(server_url: str) -> None:
    schemas = httpx.get(f"{server_url}/v1/openapi.json").json()["components"]["schemas"]
    assert list(get_args(models.Kind)) == schemas["Kind"]["enum"]
    assert list(get_args(models.Retriever)) == schemas["Retriever"]["enum"]


def every_call() -> list[calls.Call[Any]]:
    """Each request the client makes, with every optional field given."""
    m = calls.memory_path("m")
    return [
        calls.health(),
        calls.memories(),
        calls.cluster(),
        calls.create_memory("m", dimension=2, language="english", indexed_keys=["user"]),
        calls.drop_memory("m"),
        calls.stats(m),
        calls.learn(m, "text", embedding=[1.0, 0.0], id="0" * 32, strength=1.0, confidence=1.0, metadata={"k": "v"}),
        calls.get(m, "0" * 32),
        calls.forget(m, "0" * 32),
        calls.page(m, after="0" * 32, limit=10, prefix="te", filter={"k": "v"}),
        calls.associate(m, "a", "b", "causal", label="l", confidence=1.0, weight=1.0, metadata={"k": 1}, valid_from_ms=1, valid_until_ms=2),
        calls.dissociate(m, "a", "b", "causal", label="l"),
        calls.invalidate(m, "a", "b", "causal", label="l", valid_until_ms=3),
        calls.associations(m, "a", direction="out", kinds=["causal"], labels=["l"], min_confidence=0.5, limit=5, as_of=1, include_invalid=True),
        calls.batch(m, [{"op": "put_concept", "content": "x"}]),
        calls.index_metadata(m, ["user"]),
        calls.paths(m, "a", "b", algorithm="k_best", k=2, max_depth=3, kinds=["causal"], direction="both", as_of=1, include_invalid=True, visited_max=100),
        calls.neighbourhood(m, "a", depth=2, kinds=["causal"], limit=10, as_of=1, include_invalid=True),
        calls.search(m, "words", vector=[1.0], like="0" * 32, k=3, filter={"k": "v"}, expand={"depth": 1}, mmr={"lambda": 0.5}, ef=64),
        calls.similar(m, "a", k=3, ef=64),
        calls.checkpoint(m),
        calls.reopen(m),
        calls.import_lines(m, "{}\n"),
        calls.export(m),
    ]


def operation(paths: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The document's operation for a concrete path (its templates matched segment by segment)."""
    wanted = path.split("/")
    for template, methods in paths.items():
        parts = template.split("/")
        if len(parts) == len(wanted) and all(p.startswith("{") or p == w for p, w in zip(parts, wanted)):
            if method.lower() in methods:
                found: dict[str, Any] = methods[method.lower()]
                return found
    raise AssertionError(f"the document has no {method} {path}")


def test_every_request_is_one_the_server_documents(server_url: str) -> None:
    document = httpx.get(f"{server_url}/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    for call in every_call():
        op = operation(document["paths"], call.method, call.path)
        documented = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        sent = set(calls.present(call.params)) | ({"consistency", "min_seq"} if call.reads else set())
        assert sent <= documented, f"{call.method} {call.path}: {sent - documented} not documented"
        body = op.get("requestBody", {}).get("content", {})
        if call.body is not None:
            ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            properties, required = fields_of(schemas, ref)
            assert set(call.body) <= properties, f"{call.method} {call.path}: {set(call.body) - properties} not in {ref}"
            assert required <= set(call.body), f"{call.method} {call.path}: {ref} requires {required - set(call.body)}"
        elif call.content is not None:
            assert call.content[1] in body, f"{call.method} {call.path} takes no {call.content[1]}"
        else:
            assert not op.get("requestBody", {}).get("required", False), f"{call.method} {call.path} needs a body"
