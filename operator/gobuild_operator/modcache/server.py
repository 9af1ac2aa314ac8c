"""The cache's HTTP side: answer from disk when the rules allow, otherwise fetch once and keep.

Each request is parsed into a Target (core.modcache.paths) or refused with 404, so go falls
through to the next proxy. A fresh file is sent from disk (sendfile where the loop has it); a miss
joins the one fetch for that file; what comes back is checked (checksum database) and kept, or
passed on (404/410), or, when upstream failed, replaced by the stale copy if one may be served.
A checksum mismatch is answered with 410 so go falls through, is counted and logged, and is never
kept. Health, readiness and metrics are on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web
from aiohttp.abc import AbstractResolver, AbstractStreamWriter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gobuild_operator.core.modcache import paths
from gobuild_operator.core.modcache.paths import Kind, Refusal, Target
from gobuild_operator.core.modcache.policy import Freshness, freshness, max_size, needs_verification
from gobuild_operator.core.modcache.sumdb import SumDBError
from gobuild_operator.core.proxycache.settings import CacheSettings
from gobuild_operator.core.proxycache.upstreams import Credentials, UpstreamProxy, join, parse_netrc
from gobuild_operator.modcache.flights import Flights
from gobuild_operator.modcache.metrics import CacheMetrics
from gobuild_operator.modcache.store import Store
from gobuild_operator.modcache.upstream import Failed, Fetched, NotFound, UpstreamClient
from gobuild_operator.modcache.verify import Mismatch, Missing, Unavailable, Verifier

log = logging.getLogger(__name__)

_CONTENT_TYPES = {
    Kind.INFO: "application/json",
    Kind.QUERY: "application/json",
    Kind.LATEST: "application/json",
    Kind.MOD: "text/plain; charset=utf-8",
    Kind.LIST: "text/plain; charset=utf-8",
    Kind.ZIP: "application/zip",
    Kind.SUMDB_LATEST: "text/plain; charset=utf-8",
    Kind.SUMDB_LOOKUP: "text/plain; charset=utf-8",
    Kind.SUMDB_TILE: "application/octet-stream",
}
_MAX_NEGATIVE = 10_000
_CHUNK = 256 << 10


@dataclass(frozen=True)
class Stored:
    """A file in the store, pinned while it is being sent."""

    rel: str
    how: str = "HIT"  # HIT, MISS or STALE: the X-Cache header


@dataclass(frozen=True)
class Passed:
    """An answer passed on as is: upstream's 404/410, or the cache's own 410 for a bad checksum."""

    status: int
    body: bytes


@dataclass(frozen=True)
class Problem:
    """Upstream failed and nothing may be served instead."""

    status: int  # 502, or 504 after a timeout
    message: str
    refused: bool = False  # the checksum database's answer failed verification


@dataclass(frozen=True)
class Transient:
    """Content to serve once but not keep (the checksum database could not vouch for it)."""

    path: Path


Outcome = Stored | Passed | Problem | Transient


class ModCache:
    def __init__(
        self,
        *,
        settings: CacheSettings,
        store: Store,
        upstream: UpstreamClient,
        metrics: CacheMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._upstream = upstream
        self._metrics = metrics
        self._clock = clock
        self._flights: Flights[Outcome] = Flights(cleanup=self._release)
        self._negative: dict[str, tuple[float, Passed]] = {}
        self._sumdb_route: tuple[float, tuple[UpstreamProxy, ...]] | None = None
        self._sumdb_lock = asyncio.Lock()
        db = settings.sumdb
        self._sumdb_name = db.name if db else ""
        self._sumdb_dir = db.storage_dir if db else ""
        self._verifier = Verifier(db=db, read=self.read, forget=self._forget) if db else None
        metrics.max_bytes.set(store.max_bytes)
        self._update_gauges()

    # --- HTTP -----------------------------------------------------------------------------------

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/healthz", self._healthz)
        router.add_get("/readyz", self._readyz)
        router.add_get("/metrics", self._metrics_page)
        router.add_get("/{tail:.*}", self.handle)

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if not self._store.files.is_dir():
            return web.Response(status=503, text="storage directory missing\n")
        return web.Response(text="ok\n")

    async def _metrics_page(self, _: web.Request) -> web.Response:
        self._update_gauges()
        resp = web.Response(body=generate_latest(self._metrics.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._metrics.in_flight.inc()
        try:
            target = paths.parse(
                request.rel_url.raw_path, sumdb_name=self._sumdb_name, sumdb_dir=self._sumdb_dir
            )
            if isinstance(target, Refusal):
                self._metrics.requests.labels("invalid", "404").inc()
                return web.Response(status=404, text=f"gomodcache: {target.reason}\n")
            if target.kind is Kind.SUMDB_SUPPORTED:
                self._metrics.requests.labels(target.kind.value, "200").inc()
                return web.Response(text="")
            async with self.resolve(target) as outcome:
                return await self._respond(request, target, outcome)
        finally:
            self._metrics.in_flight.dec()

    async def _respond(self, request: web.Request, target: Target, outcome: Outcome) -> web.StreamResponse:
        kind = target.kind.value
        if isinstance(outcome, Stored | Transient):
            path = self._store.path(outcome.rel) if isinstance(outcome, Stored) else outcome.path
            how = outcome.how if isinstance(outcome, Stored) else "MISS"
            fobj = path.open("rb")
            size = os.fstat(fobj.fileno()).st_size
            resp: web.StreamResponse = _FileResponse(
                fobj, size=size, headers={"Content-Type": _CONTENT_TYPES[target.kind], "X-Cache": how}
            )
            await resp.prepare(request)  # sent while the file is pinned (or, if transient, still there)
            if request.method == "GET":
                self._metrics.served_bytes.labels(kind).inc(size)
        elif isinstance(outcome, Passed):
            resp = web.Response(status=outcome.status, body=outcome.body, content_type="text/plain")
        else:
            resp = web.Response(status=outcome.status, text=f"gomodcache: {outcome.message}\n")
        self._metrics.requests.labels(kind, str(resp.status)).inc()
        return resp

    # --- the rules ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def resolve(self, target: Target) -> AsyncIterator[Outcome]:
        """What to answer for `target`: from the store, from a (shared) fetch, or stale."""
        rel = target.storage_path
        kind = target.kind.value
        entry = self._store.get(rel)
        state = freshness(
            target.kind,
            fetched_at=entry.fetched_at if entry else None,
            now=self._clock(),
            ttl=self._settings.mutable_ttl_seconds,
        )
        if state is Freshness.FRESH and self._store.pin(rel):
            self._metrics.hits.labels(kind).inc()
            try:
                yield Stored(rel)
            finally:
                self._store.unpin(rel)
            return
        negative = self._negative.get(rel)
        if negative is not None and negative[0] > self._clock():
            self._metrics.hits.labels(kind).inc()
            yield negative[1]
            return
        self._metrics.misses.labels(kind).inc()
        async with self._flights.join(rel, lambda: self._fetch(target)) as (outcome, joined):
            if joined:
                self._metrics.joined.labels(kind).inc()
            if isinstance(outcome, Problem) and not target.immutable and self._store.pin(rel):
                self._metrics.stale.labels(kind).inc()
                log.warning("serving stale %s: %s", target.upstream_path, outcome.message)
                try:
                    yield Stored(rel, how="STALE")
                finally:
                    self._store.unpin(rel)
                return
            yield outcome

    async def read(self, target: Target) -> bytes | Missing:
        """The content of a small file (a checksum database lookup or tile), through the cache."""
        async with self.resolve(target) as outcome:
            if isinstance(outcome, Stored | Transient):
                path = self._store.path(outcome.rel) if isinstance(outcome, Stored) else outcome.path
                return await _read_small(path)
            if isinstance(outcome, Passed):
                return Missing(outcome.status, outcome.body.decode(errors="replace")[:300])
            return Missing(outcome.status, outcome.message, refused=outcome.refused)

    def _forget(self, target: Target) -> None:
        self._store.remove(target.storage_path)

    async def _fetch(self, target: Target) -> Outcome:
        self._metrics.fetches_in_flight.inc()
        temp = self._store.new_temp()
        keep_temp = False
        try:
            bases = await self._bases(target)
            if not isinstance(bases, tuple):
                return bases
            result = await self._upstream.fetch_first(
                bases,
                target.upstream_path,
                dest=temp,
                limit=max_size(target.kind),
                total_timeout=None if target.immutable else self._settings.revalidate_timeout_seconds,
            )
            if isinstance(result, NotFound):
                if not target.immutable:
                    self._store.remove(target.storage_path)
                return self._remember(target, Passed(result.status, result.body))
            if isinstance(result, Failed):
                return Problem(504 if result.timeout else 502, result.message)
            outcome = await self._check(target, temp, result)
            if outcome is not None:
                keep_temp = isinstance(outcome, Transient)
                return outcome
            for evicted in await self._store.commit(temp, target.storage_path):
                self._metrics.evictions.inc()
                self._metrics.evicted_bytes.inc(evicted.size)
                log.debug("evicted %s (%d bytes)", evicted.rel, evicted.size)
            self._store.pin(target.storage_path)  # until the last waiter has it (see _release)
            return Stored(target.storage_path, how="MISS")
        except OSError as exc:
            log.error("storing %s failed: %s", target.storage_path, exc)
            return Problem(502, f"the cache could not store {target.upstream_path}: {exc.strerror or exc}")
        except Exception:  # a bug must cost one answer, not the waiters' connections
            log.exception("fetching %s failed", target.upstream_path)
            return Problem(502, f"the cache failed on {target.upstream_path}; see its log")
        finally:
            self._metrics.fetches_in_flight.dec()
            if not keep_temp:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
            self._update_gauges()

    async def _check(self, target: Target, temp: Path, fetched: Fetched) -> Outcome | None:
        """None to keep the download; otherwise what to answer instead."""
        if self._verifier is not None and target.kind is Kind.SUMDB_LOOKUP:
            try:
                await self._verifier.check_lookup(await _read_small(temp))
            except SumDBError as exc:
                self._metrics.verification_failures.labels(target.kind.value).inc()
                log.error(
                    "checksum database lookup for %s@%s refused: %s", target.module, target.version, exc
                )
                return Problem(
                    502, f"checksum database answer for {target.module}@{target.version}: {exc}", refused=True
                )
        if self._verifier is not None and needs_verification(
            target.kind, target.module, sumdb=self._settings.sumdb, nosumdb=self._settings.nosumdb
        ):
            verdict = await self._verifier.check_file(target, temp)
            if isinstance(verdict, Mismatch):
                self._metrics.verification_failures.labels(target.kind.value).inc()
                log.error(
                    "checksum mismatch for %s@%s .%s from %s: checksum database %s, downloaded %s; refused",
                    target.module,
                    target.version,
                    target.kind.value,
                    fetched.url,
                    verdict.expected,
                    verdict.got,
                )
                body = (
                    f"gomodcache: {target.module}@{target.version}: .{target.kind.value} from upstream does "
                    f"not match the checksum database ({self._verifier.db.name} has {verdict.expected}, "
                    f"upstream served {verdict.got}); refused, not cached\n"
                )
                return self._remember(target, Passed(410, body.encode()))
            if isinstance(verdict, Unavailable):
                self._metrics.verification_unavailable.labels(verdict.reason).inc()
                log.warning(
                    "%s@%s .%s served but not kept: checksum database cannot vouch for it (%s)",
                    target.module,
                    target.version,
                    target.kind.value,
                    verdict.detail,
                )
                return Transient(temp)
        if fetched.size > self._store.max_bytes:
            return Transient(temp)
        return None

    def _remember(self, target: Target, answer: Passed) -> Passed:
        ttl = self._settings.negative_ttl_seconds
        if ttl > 0:
            if len(self._negative) >= _MAX_NEGATIVE:
                now = self._clock()
                self._negative = {k: v for k, v in self._negative.items() if v[0] > now}
                if len(self._negative) >= _MAX_NEGATIVE:
                    self._negative.clear()
            self._negative[target.storage_path] = (self._clock() + ttl, answer)
        return answer

    def _release(self, outcome: Outcome) -> None:
        """A fetch's last waiter is done: unpin what it stored, delete what it did not keep."""
        if isinstance(outcome, Stored):
            self._store.unpin(outcome.rel)
        elif isinstance(outcome, Transient):
            with contextlib.suppress(FileNotFoundError):
                outcome.path.unlink()

    async def _bases(self, target: Target) -> tuple[UpstreamProxy, ...] | Outcome:
        if target.kind not in paths.SUMDB_KINDS:
            if not self._settings.upstreams:
                return Passed(404, b"gomodcache: no upstream proxy before direct/off in GOPROXY\n")
            return self._settings.upstreams
        return await self._sumdb_bases()

    async def _sumdb_bases(self) -> tuple[UpstreamProxy, ...] | Outcome:
        """Where the checksum database is read: as go decides it (its URL, a proxy that supports
        it, else https://<name>), decided again every mutableTTLSeconds."""
        db = self._settings.sumdb
        assert db is not None
        if db.url:
            return (UpstreamProxy(db.url, False),)
        async with self._sumdb_lock:
            route = self._sumdb_route
            if route is not None and self._clock() - route[0] < self._settings.mutable_ttl_seconds:
                return route[1]
            chosen = (UpstreamProxy(db.direct_url, False),)
            for up in self._settings.upstreams:
                probe = self._store.new_temp()
                try:
                    result = await self._upstream.fetch(
                        join(up.url, f"sumdb/{db.name}/supported"),
                        dest=probe,
                        limit=1 << 10,
                        total_timeout=self._settings.revalidate_timeout_seconds,
                    )
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        probe.unlink()
                if isinstance(result, Fetched):
                    chosen = (UpstreamProxy(join(up.url, f"sumdb/{db.name}"), False),)
                    break
                if isinstance(result, Failed) and not up.fall_back_on_error:
                    return Problem(502, f"checksum database unreachable: {result.message}")
            self._sumdb_route = (self._clock(), chosen)
            return chosen

    def _update_gauges(self) -> None:
        self._metrics.stored_bytes.set(self._store.total_bytes)
        self._metrics.stored_files.set(self._store.file_count)


async def _read_small(path: Path) -> bytes:
    """A checksum database answer or tile (bounded by policy.max_size), read off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)


class _FileResponse(web.StreamResponse):
    """An open file, sent whole: with sendfile(2) where the event loop has it, else in chunks.

    (aiohttp's FileResponse opens the file itself when aiohttp sends it, after the handler has
    returned, which is after the cache stopped pinning the file; it also looks for .gz/.br
    siblings and answers Range requests, which go never sends.)
    """

    def __init__(self, fobj: BinaryIO, *, size: int, headers: dict[str, str]) -> None:
        super().__init__(status=200, headers=headers)
        self.content_length = size
        self._fobj = fobj

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:  # aiohttp calls it again after the handler returned
            return await super().prepare(request)
        try:
            writer = await super().prepare(request)
            size = self.content_length or 0
            if request.method != "HEAD" and size and writer is not None:
                await self._send(request, writer, size)
            await self.write_eof()
            return writer
        finally:
            self._fobj.close()

    async def _send(self, request: web.BaseRequest, writer: AbstractStreamWriter, size: int) -> None:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        try:
            await asyncio.get_running_loop().sendfile(transport, self._fobj, 0, size)
        except NotImplementedError:  # uvloop: read from the page cache, a bounded chunk at a time
            while chunk := self._fobj.read(_CHUNK):
                await writer.write(chunk)


# --- running it ---------------------------------------------------------------------------------


@dataclass
class Running:
    """A started cache: its port, and `stop()`."""

    port: int
    cache: ModCache
    metrics: CacheMetrics
    _runner: web.AppRunner
    _upstream: UpstreamClient

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._upstream.close()


def ssl_context(ca_file: str) -> ssl.SSLContext:
    """System trust, plus the extra CA file (a TLS-intercepting proxy's, a private mirror's)."""
    ctx = ssl.create_default_context()
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    return ctx


def read_netrc(path: str) -> dict[str, Credentials]:
    return dict(parse_netrc(Path(path).read_text())) if path else {}


async def start(
    settings: CacheSettings,
    *,
    resolver: AbstractResolver | None = None,
    clock: Callable[[], float] = time.time,
) -> Running:
    """Open the store, start the upstream client and the HTTP server; port 0 picks a free port."""
    store = Store(Path(settings.storage_dir), max_bytes=settings.max_bytes, clock=clock)
    store.open()
    metrics = CacheMetrics()
    assert settings.proxies is not None
    upstream = UpstreamClient(
        proxies=settings.proxies,
        netrc=read_netrc(settings.netrc_file),
        ssl_context=ssl_context(settings.ca_file),
        connect_timeout=settings.upstream_connect_timeout_seconds,
        idle_timeout=settings.upstream_idle_timeout_seconds,
        metrics=metrics,
        resolver=resolver,
    )
    await upstream.start()
    cache = ModCache(settings=settings, store=store, upstream=upstream, metrics=metrics, clock=clock)
    app = web.Application()
    cache.routes(app.router)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.listen_address, settings.port, reuse_address=True)
    await site.start()
    port = int(runner.addresses[0][1])
    log.info(
        "module cache on %s:%d, storage %s (max %d bytes), upstreams %s, checksum database %s",
        settings.listen_address,
        port,
        settings.storage_dir,
        settings.max_bytes,
        "".join(u.url + ("|" if u.fall_back_on_error else ",") for u in settings.upstreams)[:-1] or "none",
        settings.sumdb.name if settings.sumdb else "off",
    )
    return Running(port=port, cache=cache, metrics=metrics, _runner=runner, _upstream=upstream)
