"""Every failure the server reports, as an exception class per kind of error code, carrying the
code, the message, the field it is about and the limit it passed."""

from __future__ import annotations

from typing import Optional


class SutraError(Exception):
    """A request the server refused or could not answer: `code` is the server's stable error
    code (`invalid_argument`, `memory_not_found`, …), `field` the request field it is about and
    `limit` the limit passed, when there are; `status` the HTTP status (0: no answer came)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 0,
        field: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        self.limit = limit


class InvalidRequest(SutraError):
    """The request is wrong (a bad value, a bad id, bad JSON): sending it again fails again."""


class LimitExceeded(InvalidRequest):
    """A value passed one of the server's limits (`limit` says which)."""


class NotFound(SutraError):
    """The memory, concept or association named does not exist."""


class Conflict(SutraError):
    """The request conflicts with the state (the memory exists, the dimension differs, …)."""


class Unauthorized(SutraError):
    """The token is missing or wrong, or the origin or host is not allowed."""


class Unavailable(SutraError):
    """The server cannot answer now (busy, storage failing, no leader, timed out): the client
    sends it again after the server's `Retry-After`, within its retry budget, before raising."""


class OutcomeUnknown(Unavailable):
    """A write whose outcome the server could not know (`outcome_unknown`): it may or may not
    have been applied. Never sent again by the client; send it again with the same
    idempotency key to a cluster to be sure."""


class MemoryNotFound(NotFound):
    """`memory_not_found`: no memory of that name."""


class ConceptNotFound(NotFound):
    """`concept_not_found`: no concept with that id."""


class AssociationNotFound(NotFound):
    """`association_not_found`: no association with that source, target, kind and label."""


class MemoryExists(Conflict):
    """`memory_exists`: a memory of that name exists already."""


class DimensionMismatch(Conflict):
    """`dimension_mismatch`: a vector of another dimension than the memory's."""


class IdempotencyKeyReused(Conflict):
    """`idempotency_key_reused`: the key was sent before with another request."""


class MemoryBusy(Unavailable):
    """`memory_busy`: the memory is being created, dropped or reopened."""


class NoLeader(Unavailable):
    """`no_leader`: the cluster has no leader now (nothing was written)."""


class Poisoned(SutraError):
    """`poisoned`: the memory refuses writes after a storage failure until it is reopened."""


_BY_CODE: dict[str, type[SutraError]] = {
    "limit_exceeded": LimitExceeded,
    "payload_too_large": LimitExceeded,
    "uri_too_long": LimitExceeded,
    "headers_too_large": LimitExceeded,
    "memory_not_found": MemoryNotFound,
    "concept_not_found": ConceptNotFound,
    "association_not_found": AssociationNotFound,
    "no_route": NotFound,
    "memory_exists": MemoryExists,
    "conflict": Conflict,
    "dimension_mismatch": DimensionMismatch,
    "idempotency_key_reused": IdempotencyKeyReused,
    "unauthorized": Unauthorized,
    "origin_not_allowed": Unauthorized,
    "host_not_allowed": Unauthorized,
    "outcome_unknown": OutcomeUnknown,
    "memory_busy": MemoryBusy,
    "no_leader": NoLeader,
    "poisoned": Poisoned,
}


def error_for(status: int, code: str, message: str, field: Optional[str], limit: Optional[int]) -> SutraError:
    """The exception for an error answer: by its code, else by its status."""
    kind = _BY_CODE.get(code)
    if kind is None:
        if status == 503 or status == 504:
            kind = Unavailable
        elif status == 404:
            kind = NotFound
        elif status == 409:
            kind = Conflict
        elif status in (401, 403):
            kind = Unauthorized
        elif 400 <= status < 500:
            kind = InvalidRequest
        else:
            kind = SutraError
    return kind(code, message, status=status, field=field, limit=limit)
