"""Find Pods that asked for injection but were admitted without it (the webhook was unavailable).

The webhook fails open (failurePolicy Ignore): while the operator is down, restarting or too slow,
Pods are admitted unchanged and their builds run without the settings. Such a Pod has no
`gobuild.dev/config` label (the webhook adds it), so kopf's Pod watch, which selects on that
label server-side, never sees it.

How they are found cheaply: a metadata-only watch of Pods WITHOUT the label, run only in namespaces
that have a GoBuildConfig (reporting/namespaces.py). Each Pod is judged once per process, from its
metadata first with the webhook's own selection function; only a Pod that selection would inject
is read in full, and the webhook's own `inject()` decides whether it would really have changed (a
Pod whose containers the config does not select was rightly admitted unchanged), within the
webhook's own time budget: a stored Pod that takes longer (a tenant can store one the webhook
timed out on) is skipped, logged and counted, never retried at every leader start. A watch of every Pod
in the cluster, or kopf handlers filtering annotations client-side, would stream every Pod
change of every namespace to the operator for the rare Pod that matters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from gobuild_operator import constants as c
from gobuild_operator.core.downloads import observe
from gobuild_operator.core.downloads.missed import missed_config
from gobuild_operator.core.injection.budget import Budget, OverBudget
from gobuild_operator.core.injection.selection import should_inject
from gobuild_operator.k8s.client import ApiClient, ApiException
from gobuild_operator.k8s.pods import read_pod
from gobuild_operator.metrics import Metrics
from gobuild_operator.reporting.downloads import DownloadReporter
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

logger = logging.getLogger(__name__)


class MissedInjections:
    def __init__(
        self,
        *,
        api: ApiClient,
        store: Store,
        reporter: DownloadReporter,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._metrics = metrics
        self._clock = clock
        self._store = store
        self._reporter = reporter
        self._settings = settings
        self._judged: set[str] = set()

    async def on_pod_metadata(self, namespace: str, event_type: str, metadata: Mapping[str, Any]) -> None:
        uid = str(metadata.get("uid") or "")
        if event_type == "DELETED":
            self._judged.discard(uid)
            return
        if not uid or uid in self._judged:
            return
        annotations = metadata.get("annotations") or {}
        if c.ANNOTATION_INJECTED in annotations or c.ANNOTATION_RECORDED in annotations:
            self._judged.add(uid)
            return
        configs = self._store.specs(namespace)
        if not configs:
            return
        labels = self._store.namespace_labels(namespace)
        # Selection on the metadata alone: only a Pod it would inject is worth reading in full.
        decision = should_inject(
            {"metadata": dict(metadata)},
            kind="Pod",
            namespace=namespace,
            namespace_labels=labels,
            operator_namespace=self._settings.operator_namespace,
            configs=configs,
        )
        self._judged.add(uid)
        if decision.config is None or configs.get(decision.config) is None:
            return
        name = str(metadata.get("name") or "")
        try:
            pod = await read_pod(self._api, namespace=namespace, name=name)
        except ApiException as exc:
            logger.warning("could not read Pod %s/%s: %s", namespace, name, exc.status)
            self._judged.discard(uid)
            return
        if pod is None:
            return
        budget = Budget(deadline=self._clock() + self._settings.webhook.admission_budget, clock=self._clock)
        try:
            config = missed_config(
                pod,
                namespace=namespace,
                namespace_labels=labels,
                operator_namespace=self._settings.operator_namespace,
                configs=configs,
                created=self._store.created(namespace),
                cluster_domain=self._settings.cluster_domain,
                budget=budget,
            )
        except OverBudget:
            logger.warning(
                "Pod %s/%s not checked for a missed injection: it takes longer than the admission budget",
                namespace,
                name,
            )
            self._metrics.missed_checks_skipped.labels(namespace=namespace).inc()
            return
        if config is None:
            return
        obs = observe.observe_missed(pod, known=self._reporter.known(uid))
        if obs is not None:
            logger.warning("Pod %s/%s was admitted without GoBuildConfig %s", namespace, obs.pod, config)
            self._reporter.add(namespace, config, obs)
