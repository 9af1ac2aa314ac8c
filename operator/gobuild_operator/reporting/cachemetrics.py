"""A Proxy cache's own counters, read from its /metrics: what the GoBuildConfig's status shows as
hits, misses and hit ratio (the cache counts them since its Pod started)."""

from __future__ import annotations

import logging

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

logger = logging.getLogger(__name__)

#: The most of a /metrics page read: the cache's is a few KB.
_MAX_PAGE = 1024 * 1024


async def cache_counters(session: aiohttp.ClientSession, url: str) -> tuple[int | None, int | None]:
    """(hits, misses) summed over the request kinds, or (None, None) when the page cannot be read."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            if response.status != 200:
                return None, None
            text = (await response.content.read(_MAX_PAGE)).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.debug("reading %s: %s", url, exc)
        return None, None
    totals = {"gomodcache_hits": 0.0, "gomodcache_misses": 0.0}
    try:
        for family in text_string_to_metric_families(text):
            if family.name in totals:
                totals[family.name] += sum(s.value for s in family.samples if s.name.endswith("_total"))
    except ValueError:
        return None, None
    return int(totals["gomodcache_hits"]), int(totals["gomodcache_misses"])
