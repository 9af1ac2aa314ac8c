"""The webhook's HTTPS server: aiohttp on an event loop of its own, in a thread of its own.

Why a thread with its own loop, and not kopf's webhook server, kopf's loop, or a process:

- kopf's loop also runs the watches, the status writes, the probes and the Events. Any of them
  that holds the loop for a moment (parsing a large watch event, a burst of finished Pods) is a
  moment every admission request waits, which is what gave the webhook its long tail. Here the
  admission loop does nothing but admission, and an admission request never awaits anything but
  its own socket.
- kopf's server hands each request to kopf's machinery (per-request handler invocation, a patch
  computed by diffing whole objects); this one calls handlers/admission.py directly.
- The loop is uvloop's, the JSON library orjson: both compiled, for what every request pays.
- A thread shares the operator's one store (handlers/admission.py reads it without locks; see
  store.py), so admission needs no watches of its own and answers from the same view the
  reporting uses. A process would need its own watches and API connection per replica; the cost
  a thread pays instead is the GIL, which the reporting side holds only in short bursts (it is
  I/O-bound) and which `sys.setswitchinterval` (runner.py) makes it hand over within a millisecond.

Requests over `LARGE_REVIEW_BYTES` (a Pod is a few KB; a large one is almost always a hostile or
broken object) take one lane: they are read and decided one at a time, while small ones never
wait for it. Four connections sending 7 MB reviews once pushed ordinary reviews to a p50 of 1.8 s;
with the lane, the large ones queue behind each other (their bytes wait in the kernel) and a Pod
of ordinary size is answered as before. A large review not answered within the API server's
timeout gives up its place, so a slow sender cannot hold the lane.

With a client CA (`--webhook-client-ca`), the handshake completes only for a caller presenting a
certificate that CA signed: the API server, given one by its admission configuration. Anyone else
on the Pod network then learns nothing from the webhook (docs/security.md).

The TLS certificate and key are read from files and re-read when either file changes (checked
every `certificate_reload_interval` seconds), so a rotated certificate is served to new connections
without a restart; a half-written pair is retried at the next check while the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web

from gobuild_operator.handlers.admission import KINDS, MAX_REVIEW_BYTES, Admission, Malformed

logger = logging.getLogger(__name__)

#: Bytes of an oversized body read to find its request uid.
_PREFIX_BYTES = 4096
#: Reviews larger than this (or of unknown length) go through the one large-review lane.
LARGE_REVIEW_BYTES = 256 * 1024


@dataclass(frozen=True)
class TLSFiles:
    certfile: Path
    keyfile: Path

    def fingerprint(self) -> tuple[tuple[int, int], ...]:
        """What changes when either file is rewritten (mtime and size)."""
        out = []
        for path in (self.certfile, self.keyfile):
            try:
                info = os.stat(path)
            except OSError:
                out.append((0, 0))
            else:
                out.append((info.st_mtime_ns, info.st_size))
        return tuple(out)


class WebhookServer:
    """Serves `admission` on https://addr:port/inject-{pods,jobs,cronjobs} until stopped."""

    def __init__(
        self,
        *,
        admission: Admission,
        addr: str,
        port: int,
        tls: TLSFiles,
        reload_interval: float = 10.0,
        request_timeout: float = 5.0,
        client_ca: Path | None = None,
    ) -> None:
        """`request_timeout`: the API server's (webhook.timeoutSeconds); a large review that has not
        been read and decided by then gives up its place in the lane, as the API server has given up
        on it. `client_ca`: complete the TLS handshake only with a client certificate it signed."""
        self._admission = admission
        self._request_timeout = request_timeout
        self._client_ca = client_ca
        self._addr = addr
        self._port = port
        self._tls = tls
        self._reload_interval = reload_interval
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._large_lane: asyncio.Semaphore | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.reloads = 0

    @property
    def tls_files(self) -> TLSFiles:
        return self._tls

    @property
    def serving(self) -> bool:
        """Whether it listens (its certificate loaded)."""
        return self._ready.is_set() and self._failure is None and self._thread is not None

    # --- lifecycle (called from other threads) ----------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Listen, or raise why not (port in use, unreadable certificate)."""
        self._thread = threading.Thread(target=self._run, name="gobuild-admission", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the webhook server did not start in time")
        if self._failure is not None:
            raise RuntimeError(f"the webhook server could not start: {self._failure}") from self._failure

    def stop(self, timeout: float = 10.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the admission thread -------------------------------------------------------------------

    def _run(self) -> None:
        # uvloop: its TLS transport is compiled, asyncio's is Python; TLS framing of each request
        # and response was a sixth of the admission thread's time.
        loop = uvloop.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); a crash after start is logged
            if not self._ready.is_set():
                self._failure = exc
                self._ready.set()
            else:
                logger.exception("the webhook server stopped")
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self._large_lane = asyncio.Semaphore(1)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._tls.certfile, self._tls.keyfile)
        if self._client_ca is not None:
            context.load_verify_locations(cafile=self._client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        app = web.Application(client_max_size=MAX_REVIEW_BYTES)
        for resource, kind in KINDS.items():
            app.router.add_post(f"/inject-{resource}", self._handler(kind))
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._addr, self._port, ssl_context=context, backlog=256)
            await site.start()
            logger.info("serving admission on https://%s:%d", self._addr, self._port)
            self._ready.set()
            await self._reload_until_stopped(context)
        finally:
            await runner.cleanup()

    async def _reload_until_stopped(self, context: ssl.SSLContext) -> None:
        assert self._stopping is not None
        seen = self._tls.fingerprint()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._reload_interval)
            current = self._tls.fingerprint()
            if current == seen:
                continue
            try:
                # New connections get the new pair; open ones keep theirs. Runs on this loop, so
                # no handshake can see the certificate changed and the key not yet.
                context.load_cert_chain(self._tls.certfile, self._tls.keyfile)
            except (OSError, ssl.SSLError) as exc:
                logger.warning("could not reload the webhook certificate (%s); keeping the old one", exc)
                continue
            seen = current
            self.reloads += 1
            logger.info("reloaded the webhook certificate from %s", self._tls.certfile)

    async def _readyz(self, _: web.Request) -> web.StreamResponse:
        """Ready once the store holds what existed at start-up: before, admission would answer
        "not found" for configs that exist (a readiness probe keeps the Service off this replica)."""
        if self._admission.ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="the store is not synced yet")

    def _handler(self, kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        admission = self._admission
        waiting = admission.metrics.admission_large_waiting

        async def answer(request: web.Request) -> web.StreamResponse:
            size = request.content_length
            if size is not None and size > MAX_REVIEW_BYTES:
                prefix = await request.content.read(_PREFIX_BYTES)
                answer = admission.too_large(prefix, kind=kind, size=size)
                if answer is None:
                    return web.Response(status=413, text="request too large")
                # The rest of the body is not read: close the connection rather than drain it.
                return web.Response(
                    body=answer, content_type="application/json", headers={"Connection": "close"}
                )
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:  # no Content-Length, and more than we read
                admission.too_large(b"", kind=kind, size=MAX_REVIEW_BYTES + 1)
                return web.Response(status=413, text="request too large")
            try:
                answer = admission.review(body, kind=kind)
            except Malformed as exc:
                return web.Response(status=400, text=f"not an AdmissionReview: {exc}")
            return web.Response(body=answer, content_type="application/json")

        async def handle(request: web.Request) -> web.StreamResponse:
            size = request.content_length
            if size is not None and size <= LARGE_REVIEW_BYTES:
                return await answer(request)
            lane = self._large_lane
            assert lane is not None
            try:
                async with asyncio.timeout(self._request_timeout):
                    waiting.inc()
                    try:
                        await lane.acquire()
                    finally:
                        waiting.dec()
                    try:
                        return await answer(request)
                    finally:
                        lane.release()
            except TimeoutError:  # a slow sender, or a long queue: the API server has given up
                return web.Response(status=503, text="not read in time", headers={"Connection": "close"})

        return handle


async def _healthz(_: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")
