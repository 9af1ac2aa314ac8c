"""Liveness and readiness over plain HTTP, for the kubelet's probes (the chart's health port).

/healthz answers while the operator's event loop runs. /readyz answers 200 only when this replica
can admit correctly: its store holds every GoBuildConfig and namespace that existed when it
started, and its webhook server has a certificate to serve. A fresh replica is therefore not in
the webhook Service's endpoints until then, so it never admits an opted-in Pod unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gobuild_operator.serving.http import PlainHTTPServer

Check = Callable[[], str | None]
"""What is not ready yet (a short phrase), or None."""


class HealthServer(PlainHTTPServer):
    def __init__(self, *, addr: str, port: int, checks: list[Check]) -> None:
        super().__init__(addr=addr, port=port)
        self._checks = checks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/healthz", self._healthz)
        router.add_get("/readyz", self._readyz)

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        waiting = [reason for check in self._checks if (reason := check()) is not None]
        if waiting:
            return web.Response(status=503, text="not ready: " + "; ".join(waiting) + "\n")
        return web.Response(text="ok\n")
