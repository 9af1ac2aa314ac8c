"""Ask one GOPROXY URL for a module's version list, the way `go` would start a download.

One short GET with a hard timeout; the error text says what a platform team can act on
(refused, no DNS, TLS not trusted, timed out) and never contains the URL (it may carry a password).
"""

from __future__ import annotations

import socket
import ssl
import time

import aiohttp

from gobuild_operator.core.health import ProbeResult, ProbeTarget, http_verdict
from gobuild_operator.timeutil import now_rfc3339

#: Bytes of the answer read before the connection is dropped (a version list is small).
_MAX_BODY = 64 * 1024


async def probe(
    session: aiohttp.ClientSession,
    target: ProbeTarget,
    *,
    module: str,
    timeout: float,  # noqa: ASYNC109 - a per-request aiohttp timeout, reported in the error
    ssl_context: ssl.SSLContext | None = None,
) -> ProbeResult:
    started = time.monotonic()
    stamp = now_rfc3339()
    if not target.probe_url:
        return ProbeResult(target.url, None, None, target.note, stamp)
    try:
        async with session.get(
            target.probe_url,
            timeout=aiohttp.ClientTimeout(total=timeout),
            ssl=ssl_context if ssl_context is not None else True,
            proxy=target.proxy or None,
            allow_redirects=True,
        ) as response:
            await response.content.read(_MAX_BODY)
            latency = round((time.monotonic() - started) * 1000)
            reachable, error = http_verdict(response.status, module=module)
            return ProbeResult(target.url, reachable, latency, error, stamp)
    except TimeoutError:
        error = f"no answer within {timeout:g}s"
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
    return ProbeResult(target.url, False, None, error, stamp)


def _describe_os_error(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"DNS lookup failed: {error.strerror or error}"
    if isinstance(error, TimeoutError):
        return "connection timed out"
    return f"cannot connect: {error.strerror or type(error).__name__}"
