"""What the client does when the server is busy or an answer is lost, through a proxy that
injects the fault in front of the real server."""

from __future__ import annotations

import pytest

from sutra_memory import InvalidRequest, OutcomeUnknown, Sutra, Unavailable

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


def test_a_read_whose_answer_is_lost_is_asked_again(sutra: Sutra, server_url: str) -> None:
    sutra.create_memory("read-again")
    with faulty_proxy(server_url, "lose_answer", times=1) as (url, seen):
        with Sutra(url) as through:
            assert through.memory("read-again").stats().concepts == 0
    assert seen == ["GET /v1/memories/read-again"] * 2, "lost, then answered"
    with faulty_proxy(server_url, "lose_answer", times=1) as (url, _):
        with Sutra(url, retry_budget=0) as through:
            with pytest.raises(Unavailable) as lost:
                through.memory("read-again").stats()
    assert not isinstance(lost.value, OutcomeUnknown) and lost.value.code == "no_answer"


def test_a_keyed_write_whose_answer_is_lost_applies_once_on_a_cluster(cluster_url: str) -> None:
    with Sutra(cluster_url, idempotent_writes=True) as sutra:
        memory = sutra.create_memory("keyed")
        assert (sutra.hints.node, sutra.hints.leader) == (1, 1)
        with faulty_proxy(cluster_url, "lose_answer", times=1) as (url, seen):
            with Sutra(url, idempotent_writes=True) as through:
                id = through.memory("keyed").learn("once", metadata={"n": 1})
        assert seen == ["PUT /v1/memories/keyed/concepts"] * 2, "lost, then sent again with its key"
        # Applied once: sent again, the key answered what the first try did and changed
        # nothing (a second application would have updated the concept later than it was made).
        [once] = list(memory.concepts())
        assert once.id == id and once.updated_ms == once.created_ms
        assert sutra.hints.applied is not None and sutra.hints.applied >= memory.stats().last_seq
        # Unkeyed, the same loss is an unknown outcome the client leaves to its caller.
        with faulty_proxy(cluster_url, "lose_answer", times=1) as (url, seen):
            with Sutra(url) as through:
                with pytest.raises(OutcomeUnknown):
                    through.memory("keyed").learn("unknown")
        assert len(seen) == 1


def test_a_single_server_refuses_keyed_writes_by_name(server_url: str) -> None:
    with Sutra(server_url, idempotent_writes=True) as keyed:
        with pytest.raises(InvalidRequest) as refused:
            keyed.create_memory("never-keyed")
    assert refused.value.status == 422
    assert "idempotency keys" in refused.value.message


def test_reads_carry_the_read_options_and_wait_for_this_clients_writes(cluster_url: str) -> None:
    with Sutra(cluster_url) as sutra:
        sutra.create_memory("read-options")
    with faulty_proxy(cluster_url, "busy", times=0) as (url, seen):
        with Sutra(url, consistency="stale", read_your_writes=True) as reader:
            memory = reader.memory("read-options")
            id = memory.learn("written, then read at once")
            written = reader.hints.written
            assert written is not None and written > 0
            assert memory.get(id).content == "written, then read at once"
            assert [h.id for h in memory.search("written")] == [id]
    assert seen[-2] == f"GET /v1/memories/read-options/concepts/{id}?consistency=stale&min_seq={written}"
    assert seen[-1] == f"POST /v1/memories/read-options/search?consistency=stale&min_seq={written}"
    assert seen[0] == "PUT /v1/memories/read-options/concepts", "writes carry no read options"
