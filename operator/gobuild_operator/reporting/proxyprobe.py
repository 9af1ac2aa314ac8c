"""Ask one GOPROXY URL for a module's version list, the way `go` would start a download.

One short GET with a hard timeout; the error text says what a platform team can act on, by class
(could not connect, no DNS, TLS not trusted, the HTTP status) and never contains the URL (it may
carry a password).

What the probe may reach is decided in core/status/reach.py and enforced here before every connection:
the URL of each hop and of the corporate proxy, redirects followed by hand the way go follows them,
and every address the resolver returns (`GuardedResolver`, so a name that resolves to a metadata
address is refused too, DNS rebinding included: aiohttp connects only to what the resolver returned).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gobuild_operator.core.status import reach
from gobuild_operator.core.status.health import ProbeResult, ProbeTarget, http_verdict
from gobuild_operator.timeutil import now_rfc3339

#: What a failed connection reads on the status, whether the port was closed, filtered or the host
#: gone: a GoBuildConfig's author needs no more to fix a proxy URL, and telling them apart would let
#: the author map ports from the operator's network position.
COULD_NOT_CONNECT: Final = "could not connect (refused, unreachable or no answer in time)"
#: Bytes of the answer read before the connection is dropped (a version list is small).
_MAX_BODY = 64 * 1024


class RefusedAddress(OSError):
    """The resolver found only addresses a probe must not reach (core.reach)."""


class GuardedResolver(AbstractResolver):
    """Resolves like `inner` and drops the addresses a probe must not reach."""

    def __init__(self, *, guard: reach.Guard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        refusal = reach.host_refusal(host, guard=self._guard)
        if refusal is not None:  # a metadata name is not even looked up
            raise RefusedAddress(refusal)
        found = await self._inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        for record in found:
            try:
                address = ipaddress.ip_address(str(record["host"]).split("%", 1)[0])
            except ValueError:
                refusal = "refused before connecting: the name resolved to an unparsable address"
                continue
            refusal = reach.address_refusal(address, guard=self._guard)
            if refusal is None:
                allowed.append(record)
        if not allowed:
            raise RefusedAddress(refusal or f"DNS lookup of {host} found no address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def probe_session(*, guard: reach.Guard, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The session probes share: not the API session (probes must not present the operator's
    credentials), no cookies carried from one host to the next, no proxy from the environment, and
    the guarded resolver."""
    guarded = GuardedResolver(guard=guard, inner=resolver)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=guarded),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


async def probe(
    session: aiohttp.ClientSession,
    target: ProbeTarget,
    *,
    module: str,
    timeout: float,  # noqa: ASYNC109 - a per-probe deadline, reported in the error
    ssl_context: ssl.SSLContext | None = None,
    guard: reach.Guard = reach.GUARDED,
    allowed_hosts: Sequence[str] = (),
    proxy_for: Callable[[str], str] | None = None,
) -> ProbeResult:
    """GET `target.probe_url` (redirects as go follows them) and say whether the proxy answered.

    `proxy_for(url)` is the corporate proxy for a redirect target (go picks it per request);
    target.proxy serves the first request.
    """
    started = time.monotonic()
    stamp = now_rfc3339()

    def failed(error: str) -> ProbeResult:
        return ProbeResult(target.url, False, None, error, stamp)

    if not target.probe_url:
        return ProbeResult(target.url, None, None, target.note, stamp)
    chain = [target.probe_url]
    proxy = target.proxy
    try:
        async with asyncio.timeout(timeout):
            while True:
                url = chain[-1]
                refusal = reach.url_refusal(url, guard=guard)
                if refusal is None and proxy:
                    refusal = reach.proxy_refusal(proxy, guard=guard)
                if refusal is not None:
                    return failed(refusal if len(chain) == 1 else f"redirect {refusal}")
                for where in (url, proxy):
                    note = reach.unlisted_note(where, allowed_hosts) if where else None
                    if note is not None:  # nothing resolved, nothing sent
                        return ProbeResult(target.url, None, None, note, stamp)
                async with session.get(
                    url,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    ssl=ssl_context if ssl_context is not None else True,
                    proxy=proxy or None,
                    allow_redirects=False,
                ) as response:
                    location = response.headers.get("Location")
                    if response.status in reach.REDIRECT_STATUSES and location:
                        try:
                            following = str(response.url.join(URL(location)))
                        except ValueError:
                            return failed("refused: redirected to an invalid URL")
                        refusal = reach.redirect_refusal(chain, following)
                        if refusal is not None:
                            return failed(refusal)
                        chain.append(following)
                        proxy = proxy_for(following) if proxy_for is not None else ""
                        continue
                    await response.content.read(_MAX_BODY)
                    latency = round((time.monotonic() - started) * 1000)
                    reachable, error = http_verdict(response.status, module=module)
                    return ProbeResult(target.url, reachable, latency, error, stamp)
    except TimeoutError:
        error = COULD_NOT_CONNECT
    # aiohttp's connection errors are subclasses of ClientConnectorError: the specific ones first.
    except aiohttp.ClientProxyConnectionError as exc:
        error = f"corporate proxy unreachable: {_describe_os_error(exc.os_error)} (spec.corporateProxy)"
    except aiohttp.ClientConnectorCertificateError as exc:
        error = f"TLS certificate not trusted: {exc.certificate_error} (spec.caBundle adds a CA)"
    except aiohttp.ClientSSLError as exc:
        error = f"TLS error: {type(exc).__name__}"
    except aiohttp.ClientConnectorError as exc:
        error = _describe_os_error(exc.os_error)
    except aiohttp.ClientHttpProxyError as exc:
        error = (
            f"corporate proxy refused the connection: HTTP {exc.status} {exc.message} (spec.corporateProxy)"
        )
    except aiohttp.ClientResponseError as exc:
        error = f"bad HTTP answer: {exc.status} {exc.message}"
    except aiohttp.ClientError as exc:
        error = f"request failed: {type(exc).__name__}"
    return failed(error if len(chain) == 1 else f"after a redirect: {error}")


def _describe_os_error(error: OSError) -> str:
    if isinstance(error, RefusedAddress):
        return str(error)
    if isinstance(error, socket.gaierror):
        return "DNS lookup failed"
    return COULD_NOT_CONNECT
