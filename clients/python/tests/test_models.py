"""The models are the server's: each has exactly the fields of its schema in the OpenAPI
document the server serves, with the same ones required (a field the server may leave out has
a default here). A change of the server's answers fails this until the models follow."""

from __future__ import annotations

from typing import Any, get_args

import httpx
from pydantic import BaseModel

from sutra_memory import models

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
