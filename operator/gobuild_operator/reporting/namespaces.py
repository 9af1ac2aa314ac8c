"""Metadata-only watches in the namespaces that have a GoBuildConfig, and only there.

Per such namespace: Pods WITHOUT the `gobuild.dev/config` label (missed injections), and the
Secrets, ConfigMaps and PersistentVolumeClaims a config may name (re-check it at once when they
change). Metadata only: no Secret value ever reaches the operator through these watches. A watch
RBAC forbids is logged once and dropped; the periodic re-check still covers it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gobuild_operator.constants import LABEL_CONFIG
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.metawatch import Forbidden, watch_metadata

logger = logging.getLogger(__name__)

PodCallback = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]  # (namespace, event type, metadata)
ObjectCallback = Callable[[str, str, str], None]  # (namespace, kind, name)

#: plural -> kind, for the objects a GoBuildConfig names.
REFERENCED = {
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "persistentvolumeclaims": "PersistentVolumeClaim",
}


class NamespaceWatches:
    def __init__(
        self, *, api: ApiClient, on_pod: PodCallback, on_object: ObjectCallback, secrets: bool = True
    ) -> None:
        self._api = api
        #: What to watch of what configs name: Secrets only where the operator may read them.
        self._referenced = {
            plural: kind for plural, kind in REFERENCED.items() if secrets or kind != "Secret"
        }
        self._on_pod = on_pod
        self._on_object = on_object
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._forbidden: set[str] = set()

    async def close(self) -> None:
        tasks = [t for ts in self._tasks.values() for t in ts]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def sync(self, namespaces: set[str]) -> None:
        """Watch exactly these namespaces."""
        for namespace in set(self._tasks) - namespaces:
            for task in self._tasks.pop(namespace):
                task.cancel()
        for namespace in namespaces - set(self._tasks):
            self._tasks[namespace] = [
                self._spawn(namespace, "pods", f"!{LABEL_CONFIG}", self._pod_callback(namespace)),
                *(
                    self._spawn(namespace, plural, "", self._object_callback(namespace, kind))
                    for plural, kind in self._referenced.items()
                ),
            ]

    def _pod_callback(self, namespace: str) -> Callable[[str, Mapping[str, Any]], Awaitable[None]]:
        async def callback(event_type: str, metadata: Mapping[str, Any]) -> None:
            try:
                await self._on_pod(namespace, event_type, metadata)
            except Exception:
                logger.exception("judging Pod %s/%s failed", namespace, metadata.get("name"))

        return callback

    def _object_callback(self, namespace: str, kind: str) -> Callable[[str, Mapping[str, Any]], None]:
        def callback(event_type: str, metadata: Mapping[str, Any]) -> None:
            if event_type != "LISTED":  # the first round of checks already saw what exists
                self._on_object(namespace, kind, str(metadata.get("name") or ""))

        return callback

    def _spawn(
        self,
        namespace: str,
        plural: str,
        selector: str,
        callback: Callable[[str, Mapping[str, Any]], Awaitable[None] | None],
    ) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await watch_metadata(
                    self._api,
                    namespace=namespace,
                    plural=plural,
                    callback=callback,
                    label_selector=selector,
                )
            except Forbidden:
                if plural not in self._forbidden:
                    self._forbidden.add(plural)
                    logger.warning("RBAC forbids watching %s; relying on periodic re-checks", plural)

        return asyncio.create_task(run(), name=f"gobuild-watch-{plural}-{namespace}")
