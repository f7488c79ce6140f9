"""What the client does when the server is busy or an answer is lost, through a proxy that
injects the fault in front of the real server."""

from __future__ import annotations

import pytest

from sutra_memory import OutcomeUnknown, Sutra, Unavailable

from .faults import faulty_proxy


def test_a_busy_server_is_asked_again_after_its_retry_after(sutra: Sutra, server_url: str) -> None:
    sutra.create_memory("busy-then-fine")
    with faulty_proxy(server_url, "busy", times=2) as (url, seen):
        with Sutra(url, retry_budget=5) as through:
            id = through.memory("busy-then-fine").learn("kept once")
    assert seen == ["PUT /v1/memories/busy-then-fine/concepts"] * 3, "two 503s, then the server"
    assert sutra.memory("busy-then-fine").get(id).content == "kept once"
    assert sutra.memory("busy-then-fine").stats().concepts == 1


def test_retries_stop_when_the_budget_is_spent(server_url: str) -> None:
    with faulty_proxy(server_url, "busy", times=1000) as (url, seen):
        with Sutra(url, retry_budget=0) as through:
            with pytest.raises(Unavailable) as busy:
                through.memories()
    assert (busy.value.code, busy.value.status) == ("busy", 503)
    assert len(seen) == 1, "no budget: asked once"


def test_a_write_whose_answer_is_lost_is_not_sent_again(sutra: Sutra, server_url: str) -> None:
    sutra.create_memory("lost-answer")
    with faulty_proxy(server_url, "lose_answer", times=1) as (url, seen):
        with Sutra(url, retry_budget=5) as through:
            with pytest.raises(OutcomeUnknown) as unknown:
                through.memory("lost-answer").learn("applied, unanswered")
    assert unknown.value.code == "outcome_unknown"
    assert seen == ["PUT /v1/memories/lost-answer/concepts"], "sent once"
    # It was applied: the outcome was unknown to the client, not to the server.
    assert [c.content for c in sutra.memory("lost-answer").concepts()] == ["applied, unanswered"]


def test_a_read_whose_answer_is_lost_is_unavailable(sutra: Sutra, server_url: str) -> None:
    with faulty_proxy(server_url, "lose_answer", times=1) as (url, _):
        with Sutra(url) as through:
            with pytest.raises(Unavailable) as lost:
                through.memories()
            assert not isinstance(lost.value, OutcomeUnknown)
            assert isinstance(through.memories(), list), "the next one is answered"
