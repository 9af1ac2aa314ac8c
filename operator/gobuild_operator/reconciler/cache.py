"""The objects a GoBuildConfig's cache needs, created and owned by it.

- Any cache: the claim `<name>-gomodcache` when the spec wants the operator's own (k8s/claims.py).
- The Proxy cache: its ConfigMap, Deployment, Service, PodDisruptionBudget and NetworkPolicy
  (core/proxycache/deployment.py), applied server-side, so a changed spec (another GOPROXY list, a
  netrc Secret) rolls the cache with the new settings; when the config turns the Proxy cache off
  they are deleted (the claim stays: it goes with the config). A config found without them is
  remembered, so the reconciles of configs that never ran a Proxy cache do not read five objects
  each time. With the admin's --no-cache-network-policy, a policy made before is deleted once.

Called when the spec is reconciled (handlers/gobuildconfigs.py) and when the checks find something
missing (reporting/checker.py): the checks observe, this makes it so.
"""

from __future__ import annotations

import logging

from gobuild_operator.core.plan import cache_service_name
from gobuild_operator.core.proxycache.deployment import CacheAccess, CacheImage, cache_objects
from gobuild_operator.k8s import applied
from gobuild_operator.k8s.claims import ensure_claim
from gobuild_operator.k8s.client import ApiClient, ApiException
from gobuild_operator.store import ConfigInfo

logger = logging.getLogger(__name__)


class CacheObjects:
    def __init__(
        self, *, api: ApiClient, image: CacheImage | None, access: CacheAccess | None = None
    ) -> None:
        self._api = api
        self._image = image
        #: Who may reach a cache besides its namespace's Pods; None: no NetworkPolicy is made.
        self._access = access
        #: uids of configs whose Proxy-cache objects are known to be gone (checked since we started).
        self._without_proxy: set[str] = set()
        #: uids of configs whose cache is known to have no NetworkPolicy (when none is made).
        self._without_policy: set[str] = set()

    async def ensure(self, info: ConfigInfo) -> str:
        """Create or update what the config's cache needs, remove what it no longer needs; "" or
        what went wrong (for CacheReady)."""
        spec = info.spec
        if spec is None:
            return ""
        error = await ensure_claim(
            self._api, namespace=info.namespace, config_name=info.name, config_uid=info.uid, spec=spec
        )
        if error:
            return error
        if not spec.cache.proxy:
            if info.uid not in self._without_proxy:
                await self._remove_proxy(info)
                self._without_proxy.add(info.uid)
            return ""
        self._without_proxy.discard(info.uid)
        if self._image is None:
            return "the operator was started without --cache-image, so it cannot run the Proxy cache"
        try:
            for obj in cache_objects(
                config_name=info.name,
                namespace=info.namespace,
                config_uid=info.uid,
                spec=spec,
                image=self._image,
                access=self._access,
            ):
                await applied.apply(self._api, obj)
            if self._access is None and info.uid not in self._without_policy:
                await self._remove(info, kinds=("NetworkPolicy",), why="the operator makes no cache policies")
                self._without_policy.add(info.uid)
        except ApiException as exc:
            logger.warning("could not apply the Proxy cache of %s/%s: %s", info.namespace, info.name, exc)
            return f"could not apply the cache's objects: HTTP {exc.status} {exc.reason or ''}".strip()
        return ""

    def forget(self, uid: str) -> None:
        """The config is gone: nothing is remembered for it."""
        self._without_proxy.discard(uid)
        self._without_policy.discard(uid)

    async def _remove_proxy(self, info: ConfigInfo) -> None:
        await self._remove(info, kinds=applied.KINDS, why="the config no longer runs a Proxy cache")

    async def _remove(self, info: ConfigInfo, *, kinds: tuple[str, ...], why: str) -> None:
        name = cache_service_name(info.name)
        for kind in kinds:
            current = await applied.read(self._api, kind=kind, namespace=info.namespace, name=name)
            if current is None or not _owned_by(current, info.uid):
                continue  # nothing there, or someone else's object of that name
            await applied.delete(self._api, kind=kind, namespace=info.namespace, name=name)
            logger.info("deleted %s %s/%s: %s", kind, info.namespace, name, why)


def _owned_by(obj: dict[str, object], uid: str) -> bool:
    metadata = obj.get("metadata")
    owners = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    return isinstance(owners, list) and any(isinstance(o, dict) and o.get("uid") == uid for o in owners)
