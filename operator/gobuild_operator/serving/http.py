"""A plain-HTTP server on the operator's event loop: what the health and metrics servers share.

(The webhook is served differently: over TLS, on an event loop of its own; handlers/webhook.py.)
"""

from __future__ import annotations

from aiohttp import web


class PlainHTTPServer:
    """Serves the routes a subclass adds (`add_routes`) on addr:port between start() and stop()."""

    def __init__(self, *, addr: str, port: int) -> None:
        self._addr, self._port = addr, port
        self._runner: web.AppRunner | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._addr, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
