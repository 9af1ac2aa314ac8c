"""Build the reporting machinery once, feed it events, and stop it cleanly.

kopf feeds it GoBuildConfig and Namespace events. Injected Pods come from a watch of our own
(k8s/metawatch.watch_objects, selected server-side on the `gobuild.dev/config` label): kopf
processes every event of a resource it handles through its per-object machinery (change
detection with a deep copy of the object, progress bookkeeping, a log line per handler), which
under a burst of Pod creations cost more CPU than admission itself; the counting needs only the
decoded event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from gobuild_operator.constants import LABEL_CONFIG
from gobuild_operator.core.proxycache.deployment import CacheAccess, CacheImage
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.metawatch import watch_objects
from gobuild_operator.metrics import Metrics
from gobuild_operator.reconciler.cache import CacheObjects
from gobuild_operator.reconciler.status import StatusWriter
from gobuild_operator.reporting.checker import ConfigChecker
from gobuild_operator.reporting.downloads import DownloadReporter
from gobuild_operator.reporting.missed import MissedInjections
from gobuild_operator.reporting.namespacelabels import NamespaceLabels
from gobuild_operator.reporting.namespaces import NamespaceWatches
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

logger = logging.getLogger(__name__)


class Reporting:
    def __init__(
        self,
        *,
        api: ApiClient,
        metrics: Metrics,
        settings: Settings,
        store: Store,
        namespaces: Sequence[str] = (),
    ) -> None:
        self._api = api
        self._namespaces = tuple(namespaces)
        self._pod_watches: list[asyncio.Task[None]] = []
        self.store = store
        #: The one writer of GoBuildConfig status: the checks, the counting and the spec reconcile feed it.
        self.writer = StatusWriter(api=api)
        #: The objects a config's cache needs (the claim, the Proxy cache).
        image = settings.cache_image
        self.cache = CacheObjects(
            api=api,
            image=CacheImage(image, settings.cache_image_pull_policy) if image else None,
            access=(
                CacheAccess(settings.operator_namespace, settings.cache_ingress_namespaces)
                if settings.cache_network_policy
                else None
            ),
        )
        self.reporter = DownloadReporter(
            api=api,
            metrics=metrics,
            writer=self.writer,
            flush_interval=settings.status_flush_interval,
            settle_interval=settings.settle_interval,
        )
        self.checker = ConfigChecker(
            api=api,
            metrics=metrics,
            store=store,
            settings=settings,
            writer=self.writer,
            cache=self.cache,
        )
        self.missed = MissedInjections(
            api=api, store=store, reporter=self.reporter, settings=settings, metrics=metrics
        )
        self.watches = NamespaceWatches(
            api=api,
            on_pod=self.missed.on_pod_metadata,
            on_object=self.checker.poke,
            secrets=settings.check_secrets,
        )
        self.labels = NamespaceLabels(api=api, store=store, settings=settings, namespaces=namespaces)
        #: Whether this replica leads (started): until then events only update the store.
        self.leading = False

    def start(self) -> None:
        """Become the replica that reports: every config already in the store is taken up."""
        self.leading = True
        self.reporter.start()
        self.checker.start()
        self.labels.start()
        for info in self.store.all_configs():
            self.checker.update(info, None)
            if info.pending:
                self.reporter.touch(info.key)
        self.watches.sync(self.store.namespaces_with_configs())
        self.labels.poke()
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in self._namespaces] or ["/api/v1/pods"]
        self._pod_watches = [
            asyncio.create_task(self._watch_pods(path), name=f"gobuild-watch-injected-pods-{path}")
            for path in paths
        ]

    async def _watch_pods(self, path: str) -> None:
        def on_pod(event_type: str, pod: Mapping[str, Any]) -> None:
            try:
                self.reporter.on_pod(event_type, pod)
            except Exception:
                logger.exception("an injected Pod's event could not be read")

        await watch_objects(
            self._api, path=path, callback=on_pod, label_selector=LABEL_CONFIG, metadata_only=False
        )

    async def close(self) -> None:
        for task in self._pod_watches:
            task.cancel()
        await asyncio.gather(*self._pod_watches, return_exceptions=True)
        await self.labels.close()
        await self.watches.close()
        await self.checker.close()
        await self.reporter.close()

    def on_config(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A GoBuildConfig watch event: the store first, then what follows from it."""
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        if event_type == "DELETED":
            self.store.remove_config(namespace, name)
            if self.leading:
                self.checker.remove((namespace, name))
                self.writer.forget((namespace, name))
                self.cache.forget(str(metadata.get("uid") or ""))
        else:
            info, old = self.store.put_config(body)
            if self.leading:
                self.checker.update(info, old)
                if old is None and info.pending:
                    self.reporter.touch(info.key)
        if self.leading:
            self.watches.sync(self.store.namespaces_with_configs())
            self.labels.poke()

    def on_namespace(self, event_type: str | None, name: str, labels: Mapping[str, str]) -> None:
        """A Namespace watch event: its labels into the store (the webhook reads the opt-out label)."""
        if event_type == "DELETED":
            self.store.remove_namespace(name)
        else:
            self.store.put_namespace(name, labels)
            if self.leading:
                self.labels.poke()  # a label removed by hand comes back
