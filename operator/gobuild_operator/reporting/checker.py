"""Per-GoBuildConfig checks: GOPROXY probes, referenced Secrets/ConfigMaps, the cache claim. They
observe; they do not write the status.

One asyncio task per GoBuildConfig (not a kopf timer or daemon: those put a finalizer on every
GoBuildConfig, so deleting a namespace would hang while the operator is down, and their interval is
fixed per decorator while ours comes from each spec). The task runs the checks at once, then every
`spec.reporting.probeIntervalSeconds`, and again immediately when:

- the spec changes (a kopf event on the GoBuildConfig),
- a referenced Secret, ConfigMap or the cache claim changes (metadata watches in the namespace,
  reporting/namespaces.py), so creating a missing Secret turns SecretsResolved True without
  touching the GoBuildConfig.

While something is wrong the checks also repeat every `settings.recheck_interval`, which covers
clusters where RBAC does not allow the metadata watches. Probes run concurrently with a short
timeout in this event loop's own tasks, so a slow proxy delays neither the other probes nor any
handler or admission request. A round's findings go to the status writer (reconciler/status.py),
which writes them with every other part of the status in one write; a missing cache claim is asked
of reconciler/cache.py again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import ssl
from typing import Any, Final

import aiohttp

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.plan import cache_claim_name, cache_service_name, cache_url
from gobuild_operator.core.status import health, reach
from gobuild_operator.core.status.compose import Findings
from gobuild_operator.k8s import applied
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.references import lookup, read_claim, read_config_map_key
from gobuild_operator.metrics import Metrics
from gobuild_operator.ratelimit import TokenBucket
from gobuild_operator.reconciler.cache import CacheObjects
from gobuild_operator.reconciler.status import StatusWriter
from gobuild_operator.redact import redact_url
from gobuild_operator.reporting.cachemetrics import cache_counters
from gobuild_operator.reporting.proxyprobe import probe, probe_session
from gobuild_operator.settings import Settings
from gobuild_operator.store import ConfigInfo, Key, Store

logger = logging.getLogger(__name__)


#: Seconds between the starts of two rounds of one config's checks.
ROUND_GAP: Final = 2.0
#: Probes per second over all configs (a token bucket that refills at this rate, as deep).
PROBES_PER_SECOND: Final = 10.0


class ConfigChecker:
    def __init__(
        self,
        *,
        api: ApiClient,
        metrics: Metrics,
        store: Store,
        settings: Settings,
        writer: StatusWriter,
        cache: CacheObjects,
    ) -> None:
        self._api = api
        self._writer = writer
        self._cache = cache
        self._metrics = metrics
        self._store = store
        self._settings = settings
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._triggers: dict[Key, asyncio.Event] = {}
        self._session: aiohttp.ClientSession | None = None
        self._bucket = TokenBucket(rate=PROBES_PER_SECOND, depth=PROBES_PER_SECOND)
        self._plain: aiohttp.ClientSession | None = None
        self._guard = reach.Guard(
            allow_link_local=settings.probe_allow_link_local,
            allow_loopback=reach.lists_loopback(settings.probe_hosts),
            own=frozenset(ipaddress.ip_address(address) for address in settings.own_addresses),
        )

    def start(self) -> None:
        # Not the API session: probes go to arbitrary URLs and must not present the operator's credentials.
        self._session = probe_session(guard=self._guard)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
        if self._plain is not None:
            await self._plain.close()

    # --- what starts a round ------------------------------------------------------------------

    def update(self, info: ConfigInfo, old: ConfigInfo | None) -> None:
        key = info.key
        if key not in self._tasks or self._tasks[key].done():
            self._triggers[key] = asyncio.Event()
            self._tasks[key] = asyncio.create_task(self._loop(key), name=f"gobuild-checks-{key[0]}/{key[1]}")
        elif old is None or old.generation != info.generation or old.uid != info.uid:
            self._triggers[key].set()

    def remove(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        self._triggers.pop(key, None)
        if task is not None:
            task.cancel()
        self._metrics.forget_config(*key)

    def poke(self, namespace: str, kind: str, name: str) -> None:
        """A Secret, ConfigMap or PersistentVolumeClaim changed: re-check the configs naming it."""
        for info in self._store.configs_in(namespace):
            if info.spec is not None and (kind, name) in _watched_objects(info.name, info.spec):
                trigger = self._triggers.get(info.key)
                if trigger is not None:
                    trigger.set()

    async def _loop(self, key: Key) -> None:
        loop = asyncio.get_running_loop()
        started = -ROUND_GAP
        while True:
            # However often the spec is rewritten, a config's rounds are ROUND_GAP apart: rewriting
            # GOPROXY must not turn the probes into a scanner of the operator's network.
            await asyncio.sleep(max(0.0, started + ROUND_GAP - loop.time()))
            started = loop.time()
            trigger = self._triggers[key]
            trigger.clear()
            info = self._store.config(key)
            if info is None:
                return
            healthy = True
            try:
                healthy = await self.check(info)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("checks of GoBuildConfig %s/%s failed", *key)
                healthy = False
            interval = self._interval(info.spec, healthy=healthy)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(trigger.wait(), timeout=interval)

    def _interval(self, spec: GoBuildConfigSpec | None, *, healthy: bool) -> float:
        interval = float(spec.reporting.probe_interval_seconds if spec is not None else 300)
        if self._settings.probe_interval_override is not None:
            interval = self._settings.probe_interval_override
        return interval if healthy else min(interval, self._settings.recheck_interval)

    # --- one round ----------------------------------------------------------------------------

    async def check(self, info: ConfigInfo) -> bool:
        """Run every check of one config and write the results; True when nothing is wrong."""
        spec = info.spec
        if spec is None:
            return True
        namespace, name = info.key
        results = await self._probe(namespace, name, spec) if spec.reporting.enabled else []
        refs = health.references(spec)
        found = await asyncio.gather(*(self._lookup(namespace, ref) for ref in refs))
        lookups: dict[tuple[str, str], health.Lookup] = {
            (r.kind, r.name): f for r, f in zip(refs, found, strict=True)
        }
        claim = await self._claim(info) if spec.cache.enabled else None
        proxy = await self._proxy_cache(info) if spec.cache.proxy else None
        findings = Findings(
            spec=spec,
            config_name=name,
            results=results,
            refs=refs,
            lookups=lookups,
            claim=claim,
            proxy=proxy,
            cache_url=cache_url(name, namespace=namespace, cluster_domain=self._settings.cluster_domain),
        )
        await self._writer.write(info.key, findings=findings)
        problems = [r for r in results if r.reachable is False]
        unresolved = any(
            f.error or not f.found or not _has_keys(r, f) for r, f in zip(refs, found, strict=True)
        )
        claim_bad = claim is not None and (not claim.found or claim.phase != "Bound")
        proxy_bad = proxy is not None and not proxy.available
        return not (problems or unresolved or claim_bad or proxy_bad)

    async def _proxy_cache(self, info: ConfigInfo) -> health.ProxyCache:
        """The Proxy cache's Deployment (applied again when it is missing) and its hit counters,
        read from its /metrics through the Service's ClusterIP (never a name: a process-mode
        operator would ask this machine's resolver)."""
        name = cache_service_name(info.name)
        deployment = await applied.read(self._api, kind="Deployment", namespace=info.namespace, name=name)
        if deployment is None:
            problem = await self._cache.ensure(info)
            return health.ProxyCache(found=False, problem=problem)
        available = int((deployment.get("status") or {}).get("availableReplicas") or 0) > 0
        if not available:
            return health.ProxyCache(found=True, problem=_pod_problem(deployment))
        service = await applied.read(self._api, kind="Service", namespace=info.namespace, name=name)
        address = str(((service or {}).get("spec") or {}).get("clusterIP") or "")
        hits = misses = None
        if address and address != "None":
            hits, misses = await cache_counters(
                self._plain_session(), f"http://{address}:{c.CACHE_PORT}/metrics"
            )
        return health.ProxyCache(found=True, available=True, hits=hits, misses=misses)

    def _plain_session(self) -> aiohttp.ClientSession:
        """For the operator's own requests to what it runs (not a probe a config chose)."""
        if self._plain is None:
            self._plain = aiohttp.ClientSession(trust_env=False, cookie_jar=aiohttp.DummyCookieJar())
        return self._plain

    async def _probe(self, namespace: str, name: str, spec: GoBuildConfigSpec) -> list[health.ProbeResult]:
        assert self._session is not None, "ConfigChecker.start() was not called"
        targets = health.probe_targets(spec)
        context = await self._ssl_context(namespace, spec)
        session = self._session

        async def probe_one(target: health.ProbeTarget) -> health.ProbeResult:
            if target.probe_url:
                await self._bucket.take()
            return await probe(
                session,
                target,
                module=spec.reporting.probe_module,
                timeout=self._settings.probe_timeout,
                ssl_context=context,
                guard=self._guard,
                allowed_hosts=self._settings.probe_hosts,
                proxy_for=functools.partial(health.corporate_proxy_for, spec),
            )

        results = await asyncio.gather(*(probe_one(target) for target in targets))
        for result in results:
            if result.reachable is None:
                continue
            labels = {"namespace": namespace, "config": name, "url": redact_url(result.url)}
            self._metrics.probe_up.labels(**labels).set(1 if result.reachable else 0)
            if result.latency_ms is not None:
                self._metrics.probe_seconds.labels(**labels).observe(result.latency_ms / 1000)
        # The URLs the spec no longer names lose their series (a config rewritten 150 times once
        # grew /metrics to megabytes).
        probed = {redact_url(r.url) for r in results if r.reachable is not None}
        self._metrics.forget_urls(namespace, name, keep=probed)
        return list(results)

    async def _ssl_context(self, namespace: str, spec: GoBuildConfigSpec) -> ssl.SSLContext | None:
        """System trust plus a caBundle ConfigMap, as builds have. A caBundle Secret is not read:
        the operator never reads Secret values, so such probes trust the system CAs only."""
        bundle = spec.ca_bundle
        if bundle is None or not bundle.config_map_name:
            return None
        pem = await read_config_map_key(
            self._api, namespace=namespace, name=bundle.config_map_name, key=bundle.key
        )
        if not pem:
            return None
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cadata=pem)
        except ssl.SSLError:
            logger.warning(
                "ConfigMap %s/%s key %s is not a PEM bundle", namespace, bundle.config_map_name, bundle.key
            )
            return None
        return context

    async def _lookup(self, namespace: str, ref: health.Reference) -> health.Lookup:
        if ref.kind == "Secret" and not self._settings.check_secrets:
            return health.UNCHECKED  # never asked: the API server would only say Forbidden
        return await lookup(self._api, namespace=namespace, kind=ref.kind, name=ref.name)

    async def _claim(self, info: ConfigInfo) -> health.Claim:
        assert info.spec is not None
        namespace, name = info.key
        claim_name = cache_claim_name(name, info.spec)
        claim = await read_claim(self._api, namespace=namespace, name=claim_name)
        if not claim.found and not claim.error and not info.spec.cache.existing_claim:
            error = await self._cache.ensure(info)
            if error:
                return health.Claim(found=False, error=error)
            claim = await read_claim(self._api, namespace=namespace, name=claim_name)
        return claim


def _pod_problem(deployment: dict[str, Any]) -> str:
    """A Deployment's own account of why it has no available Pod (ReplicaFailure, a stalled
    rollout); "" while it is simply starting."""
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        failing = condition.get("type") == "ReplicaFailure" and condition.get("status") == "True"
        stalled = (
            condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded"
        )
        if failing or stalled:
            return str(condition.get("message") or condition.get("reason") or "")
    return ""


def _has_keys(ref: health.Reference, found: health.Lookup) -> bool:
    return all(key in found.keys for key, _ in ref.keys)


def _watched_objects(name: str, spec: GoBuildConfigSpec) -> set[tuple[str, str]]:
    objects: set[tuple[str, str]] = {(r.kind, r.name) for r in health.references(spec)}
    if spec.cache.enabled:
        objects.add(("PersistentVolumeClaim", cache_claim_name(name, spec)))
    return objects
