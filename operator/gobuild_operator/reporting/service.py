"""Build the reporting machinery once, feed it kopf events, and stop it cleanly."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from gobuild_operator.metrics import Metrics
from gobuild_operator.reporting.checks import ConfigChecker
from gobuild_operator.reporting.downloads import DownloadReporter
from gobuild_operator.reporting.missed import MissedInjections
from gobuild_operator.reporting.namespaces import NamespaceWatches
from gobuild_operator.reporting.registry import Registry
from gobuild_operator.settings import Settings

logger = logging.getLogger(__name__)


class Reporting:
    def __init__(self, *, api: client.ApiClient, metrics: Metrics, settings: Settings) -> None:
        # Our own threads for the sync kubernetes client: a burst of Pod marks must not queue in
        # front of kopf's (or the webhook's) work in the default executor.
        self.executor = ThreadPoolExecutor(
            max_workers=settings.api_workers, thread_name_prefix="gobuild-report"
        )
        self.registry = Registry()
        self.reporter = DownloadReporter(
            api=api, metrics=metrics, executor=self.executor, flush_interval=settings.status_flush_interval
        )
        self.checker = ConfigChecker(
            api=api, executor=self.executor, metrics=metrics, registry=self.registry, settings=settings
        )
        self.missed = MissedInjections(
            api=api, executor=self.executor, registry=self.registry, reporter=self.reporter, settings=settings
        )
        self.watches = NamespaceWatches(
            api=api, on_pod=self.missed.on_pod_metadata, on_object=self.checker.poke
        )

    def start(self) -> None:
        self.reporter.start()
        self.checker.start()
        self.watches.start()

    async def close(self) -> None:
        await self.watches.close()
        await self.checker.close()
        await self.reporter.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def on_config(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        if event_type == "DELETED":
            self.registry.remove(namespace, name)
            self.checker.remove((namespace, name))
        else:
            info, old = self.registry.put(body)
            self.checker.update(info, old)
            if old is None and info.pending:
                self.reporter.touch(info.key)
        self.watches.sync(self.registry.namespaces())
