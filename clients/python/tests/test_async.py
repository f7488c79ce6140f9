"""The asyncio client: the same calls, awaited, against the real server; many at once."""

from __future__ import annotations

import asyncio

import pytest

from sutra_memory import AsyncSutra, NotFound


@pytest.mark.asyncio
async def test_the_async_client_learns_walks_and_searches(server_url: str) -> None:
    async with AsyncSutra(server_url) as sutra:
        kg = await sutra.create_memory("async-kg", dimension=2, indexed_keys=["user"])
        # 32 writes at once: every one acknowledged and there.
        ids = await asyncio.gather(
            *(kg.learn(f"fact {i}", embedding=[1.0, i / 32], metadata={"user": "a" if i % 2 else "b"}) for i in range(32))
        )
        assert len(set(ids)) == 32
        assert (await kg.stats()).concepts == 32
        await kg.associate(ids[0], ids[1], "causal", label="leads_to", confidence=0.5)
        trail = (await kg.paths(ids[0], ids[1])).paths[0]
        assert [s.label for s in trail.steps] == ["leads_to"]
        hits = await kg.search(vector=[1.0, 0.0], k=3, filter={"user": "b"})
        assert [h.content for h in hits] == ["fact 0", "fact 2", "fact 4"]
        seen = [c.content async for c in kg.concepts(filter={"user": "a"}, page_size=5)]
        assert sorted(seen) == sorted(f"fact {i}" for i in range(1, 32, 2))
        await kg.forget(ids[5])
        with pytest.raises(NotFound):
            await kg.get(ids[5])
        await sutra.drop_memory("async-kg")
        assert "async-kg" not in [m["name"] for m in await sutra.memories()]
