"""The store tells the start-up when what existed has arrived: each change wakes the wait."""

from __future__ import annotations

import asyncio

from gobuild_operator.store import Store


async def test_the_wait_ends_with_the_change_that_completes_the_store() -> None:
    store = Store()
    waiting = asyncio.create_task(store.wait_until_holds({("builds", "go")}, {"builds"}))
    store.put_namespace("builds", {})
    await asyncio.sleep(0)
    assert not waiting.done(), "the config has not arrived yet"
    store.put_config(
        {"metadata": {"namespace": "builds", "name": "go", "uid": "u", "generation": 1}, "spec": {}}
    )
    await asyncio.wait_for(waiting, 1)


async def test_a_store_that_already_holds_everything_does_not_wait() -> None:
    store = Store()
    store.put_namespace("builds", {})
    await asyncio.wait_for(store.wait_until_holds(set(), {"builds"}), 1)
