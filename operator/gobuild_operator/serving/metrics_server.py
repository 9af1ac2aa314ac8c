"""/metrics over HTTP, optionally only for callers the cluster says may read it.

With authentication on (`--metrics-auth`, the chart's metrics.requireAuth), a request must carry a
bearer token the API server accepts (TokenReview) for a user RBAC allows to GET the non-resource
URL /metrics (SubjectAccessReview) — as Prometheus with its ServiceAccount token and a binding to
the chart's `<release>-metrics-reader` ClusterRole. Decisions are remembered for a minute (a bounded
cache), so a scrape every few seconds costs the API server two calls a minute per scraper.
Refusals are remembered too, and tokens not seen before are reviewed at most `REVIEW_BURST` at once
and `REVIEW_RATE` a second after that (429 beyond): 300 requests with random tokens once made 300
TokenReviews, so anyone who reached the port could make the operator load the API server.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gobuild_operator.k8s.authn import may_get, review_token
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.ratelimit import TokenBucket
from gobuild_operator.serving.http import PlainHTTPServer

logger = logging.getLogger(__name__)

DECISION_TTL = 60.0
MAX_DECISIONS = 256
#: Reviews of tokens not decided yet: at most this many at once, then this many a second.
REVIEW_BURST = 20
REVIEW_RATE = 5.0


class MetricsServer(PlainHTTPServer):
    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        addr: str,
        port: int,
        api: ApiClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`api`: authenticate and authorize every request with it; None serves anyone."""
        super().__init__(addr=addr, port=port)
        self._registry, self._api, self._clock = registry, api, clock
        self._decisions: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._reviews = TokenBucket(rate=REVIEW_RATE, depth=REVIEW_BURST, clock=clock)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/metrics", self._metrics)

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._api is not None:
            status = await self._authorize(request.headers.get("Authorization", ""))
            if status != 200:
                retry = {"Retry-After": "1"} if status == 429 else None
                return web.Response(status=status, text=_REASONS[status], headers=retry)
        return web.Response(
            body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _authorize(self, header: str) -> int:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 401
        key = hashlib.sha256(token.encode()).hexdigest()  # never keep the token itself
        cached = self._decisions.get(key)
        if cached is not None and self._clock() - cached[0] < DECISION_TTL:
            return cached[1]
        if not self._reviews.try_take():
            return 429
        assert self._api is not None
        try:
            user = await review_token(self._api, token=token)
            status = (
                401
                if user is None
                else (200 if await may_get(self._api, user=user, path="/metrics") else 403)
            )
        except Exception as exc:  # the API server is unreachable: refuse, do not cache
            logger.warning("metrics: cannot review a caller (%s)", type(exc).__name__)
            return 503
        self._decisions[key] = (self._clock(), status)
        self._decisions.move_to_end(key)
        while len(self._decisions) > MAX_DECISIONS:
            self._decisions.popitem(last=False)
        return status


_REASONS = {
    401: "unauthenticated: send a bearer token the API server accepts\n",
    403: "forbidden: this user may not GET /metrics (bind the <release>-metrics-reader ClusterRole)\n",
    429: "too many new callers: try again in a second\n",
    503: "cannot review the caller now\n",
}
