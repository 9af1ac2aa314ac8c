"""Fetching from upstream proxies the way go would: proxy variables, extra CA, netrc, go's fallback.

A body is streamed into a file in chunks and never held whole; its size is bounded per kind.
Redirects are followed here, hop by hop, so each hop gets the proxy and the netrc credentials of
its own host (never the previous host's) and an https URL is never redirected to plain http (go
refuses that too). Errors are sorted into classes for metrics and for the answer a build sees;
credentials are never part of a URL this module logs or reports.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from gobuild_operator.core.modcache.policy import MAX_NOT_FOUND_BODY, Answer, classify_status, falls_through
from gobuild_operator.core.proxycache.upstreams import (
    Credentials,
    ProxyRules,
    UpstreamProxy,
    credentials_for,
    join,
    redact,
)
from gobuild_operator.modcache.metrics import CacheMetrics

log = logging.getLogger(__name__)

_CHUNK = 256 << 10
_MAX_REDIRECTS = 10
_USER_AGENT = "gobuild-operator-modcache"


@dataclass(frozen=True)
class Fetched:
    size: int
    url: str


@dataclass(frozen=True)
class NotFound:
    status: int  # 404 or 410
    body: bytes
    url: str


@dataclass(frozen=True)
class Failed:
    error_class: str
    message: str
    timeout: bool = False


FetchResult = Fetched | NotFound | Failed


class _TooLarge(Exception):
    pass


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _error_class(exc: BaseException) -> tuple[str, bool]:
    """(metrics class, is a timeout) of a transport failure."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout", True
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return "proxy", False
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls", False
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", False
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", False
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return "storage", False  # writing the download failed (disk full, read-only)
    return "protocol", False


class UpstreamClient:
    """One aiohttp session for all upstreams; `start()` before use, `close()` after."""

    def __init__(
        self,
        *,
        proxies: ProxyRules,
        netrc: Mapping[str, Credentials],
        ssl_context: ssl.SSLContext,
        connect_timeout: float,
        idle_timeout: float,
        metrics: CacheMetrics,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._proxies = proxies
        self._netrc = netrc
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout or None
        self._idle_timeout = idle_timeout or None
        self._metrics = metrics
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl, limit=64, limit_per_host=32, resolver=self._resolver, ttl_dns_cache=60
        )
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, headers={"User-Agent": _USER_AGENT}, auto_decompress=True
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch_first(
        self,
        bases: Sequence[UpstreamProxy],
        path: str,
        *,
        dest: Path,
        limit: int,
        total_timeout: float | None,
    ) -> FetchResult:
        """GET `path` from each base in turn, as go's TryProxies does; the body goes to `dest`.

        The answer: the first success; else the most telling failure (an error beats a 404, as in
        go), stopping early where the separator after an entry says not to fall through.
        """
        best: NotFound | Failed = Failed("connect", "no upstream proxy configured")
        best_is_error = False
        for base in bases:
            result = await self.fetch(
                join(base.url, path), dest=dest, limit=limit, total_timeout=total_timeout
            )
            if isinstance(result, Fetched):
                return result
            answer = Answer.NOT_FOUND if isinstance(result, NotFound) else Answer.ERROR
            if answer is Answer.ERROR or not best_is_error:
                best, best_is_error = result, answer is Answer.ERROR
            if not falls_through(answer, fall_back_on_error=base.fall_back_on_error):
                break
        return best

    async def fetch(self, url: str, *, dest: Path, limit: int, total_timeout: float | None) -> FetchResult:
        """GET one URL (following redirects) into `dest`."""
        assert self._session is not None, "start() first"
        timeout = aiohttp.ClientTimeout(
            total=total_timeout or None, connect=self._connect_timeout, sock_read=self._idle_timeout
        )
        origin = _origin(url)
        try:
            async with asyncio.timeout(total_timeout or None):
                return await self._fetch(url, dest=dest, limit=limit, client_timeout=timeout)
        except _TooLarge:
            return self._failed(origin, "too_large", f"{redact(url)}: larger than {limit} bytes")
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            error_class, is_timeout = _error_class(exc)
            return self._failed(origin, error_class, f"{redact(url)}: {_describe(exc)}", timeout=is_timeout)

    async def _fetch(
        self, url: str, *, dest: Path, limit: int, client_timeout: aiohttp.ClientTimeout
    ) -> FetchResult:
        assert self._session is not None
        for _ in range(_MAX_REDIRECTS + 1):
            origin = _origin(url)
            proxy = self._proxies.select(url)
            headers: dict[str, str] = {}
            creds = credentials_for(url, self._netrc)  # this hop's host only, never the previous one's
            if creds is not None:
                headers["Authorization"] = aiohttp.encode_basic_auth(creds.login, creds.password)
            proxy_headers: dict[str, str] = {}
            if proxy is not None and proxy.login:
                proxy_headers["Proxy-Authorization"] = aiohttp.encode_basic_auth(proxy.login, proxy.password)
            async with self._session.get(
                url,
                headers=headers,
                proxy=proxy.url if proxy else None,
                proxy_headers=proxy_headers or None,
                allow_redirects=False,
                timeout=client_timeout,
            ) as resp:
                if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                    self._count(origin, "redirect")
                    nxt = urljoin(url, resp.headers["Location"])
                    if urlsplit(url).scheme == "https" and urlsplit(nxt).scheme != "https":
                        return self._failed(origin, "protocol", f"{redact(url)}: redirected to insecure URL")
                    if urlsplit(nxt).scheme not in ("http", "https"):
                        return self._failed(
                            origin, "protocol", f"{redact(url)}: redirected to a non-HTTP URL"
                        )
                    url = nxt
                    continue
                classified = classify_status(resp.status)
                if classified.answer is Answer.NOT_FOUND:
                    self._count(origin, "not_found")
                    body = await resp.content.read(MAX_NOT_FOUND_BODY)
                    return NotFound(resp.status, body, redact(url))
                if classified.answer is Answer.ERROR:
                    text = (await resp.content.read(512)).decode(errors="replace").strip()
                    return self._failed(
                        origin, classified.error_class, f"{redact(url)}: {resp.status} {resp.reason}: {text}"
                    )
                if resp.content_length is not None and resp.content_length > limit:
                    raise _TooLarge
                size = 0
                with dest.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        size += len(chunk)
                        if size > limit:
                            raise _TooLarge
                        out.write(chunk)
                self._count(origin, "ok")
                return Fetched(size, redact(url))
        return self._failed(_origin(url), "protocol", f"{redact(url)}: too many redirects")

    def _count(self, origin: str, error_class: str) -> None:
        self._metrics.upstream_requests.labels(origin, error_class).inc()

    def _failed(self, origin: str, error_class: str, message: str, *, timeout: bool = False) -> Failed:
        self._count(origin, error_class)
        self._metrics.upstream_errors.labels(origin, error_class).inc()
        log.warning("upstream %s: %s", error_class, message)
        return Failed(error_class, message, timeout)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"proxy refused: {exc.status} {exc.message}"
    text = str(exc) or type(exc).__name__
    return text[:300]
