"""/metrics holds series for the configs and GOPROXY URLs that exist, however often they change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web
from prometheus_client import generate_latest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.metrics import Metrics
from gobuild_operator.reporting.checker import ConfigChecker
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store


@pytest.fixture
async def proxy_port() -> Iterator[int]:
    async def version_list(_: web.Request) -> web.Response:
        return web.Response(text="v0.1.0\n")

    app = web.Application()
    app.router.add_get("/{tail:.*}", version_list)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()


async def test_probe_series_follow_the_spec_and_go_with_the_config(proxy_port: int) -> None:
    metrics = Metrics()
    checker = ConfigChecker(
        api=None,  # type: ignore[arg-type]
        metrics=metrics,
        store=Store(),
        settings=Settings(probe_hosts=("127.0.0.0/8",)),
        writer=None,  # type: ignore[arg-type]
        cache=None,  # type: ignore[arg-type]
    )
    checker.start()
    try:
        for revision in range(20):  # a config rewritten over and over with a new URL each time
            spec = parse_spec({"goproxy": [f"http://127.0.0.1:{proxy_port}/r{revision}", "direct"]})
            await checker._probe("builds", "corp", spec)
        metrics.injections.labels(namespace="builds", config="corp").inc()
        exposed = generate_latest(metrics.registry).decode()
        assert exposed.count("gobuild_proxy_reachable{") == 1, "one series: the URL the spec names now"
        assert "/r19" in exposed
        assert "/r18" not in exposed

        checker.remove(("builds", "corp"))
        exposed = generate_latest(metrics.registry).decode()
        assert 'config="corp"' not in exposed, "a deleted config leaves no series behind"
    finally:
        await checker.close()
