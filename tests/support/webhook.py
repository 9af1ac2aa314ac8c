"""The operator's webhook as kopf serves it, without the TLS server around it: an AdmissionReview
in, the AdmissionReview response out, through kopf's own admission entry point and the handlers
the operator registers (importing gobuild_operator.handlers.admission registers them)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

import kopf
from kopf._cogs.structs.references import Insights, Resource
from kopf._core.engines.admission import serve_admission_request
from kopf._core.engines.indexing import OperatorIndexers
from kopf._core.reactor.inventory import ResourceMemories

from gobuild_operator.handlers import admission  # noqa: F401 - registers the webhook handlers
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

RESOURCES = {
    "Pod": Resource("", "v1", "pods", kind="Pod", namespaced=True, verbs=["create"]),
    "Job": Resource("batch", "v1", "jobs", kind="Job", namespaced=True, verbs=["create"]),
    "CronJob": Resource("batch", "v1", "cronjobs", kind="CronJob", namespaced=True, verbs=["create"]),
}
WEBHOOKS = {"Pod": "inject-pods", "Job": "inject-jobs", "CronJob": "inject-cronjobs"}


def review(kind: str, obj: Any, *, namespace: str, operation: str = "CREATE") -> dict[str, Any]:
    resource = RESOURCES[kind]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": resource.group, "version": resource.version, "kind": kind},
            "resource": {"group": resource.group, "version": resource.version, "resource": resource.plural},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:builds:ci"},
            "object": obj,
            "oldObject": copy.deepcopy(obj) if operation == "UPDATE" else None,
            "dryRun": False,
        },
    }


@dataclass
class Webhook:
    store: Store
    settings: Settings = field(default_factory=lambda: Settings(operator_namespace="gobuild-system"))
    metrics: Metrics = field(default_factory=Metrics)

    async def __call__(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        memo = kopf.Memo(settings=self.settings, store=self.store)
        memo.metrics = self.metrics
        response: dict[str, Any] = await serve_admission_request(
            request,  # type: ignore[arg-type]
            webhook=WEBHOOKS[kind],  # type: ignore[arg-type]
            settings=kopf.OperatorSettings(),
            memories=ResourceMemories(),
            memobase=memo,
            registry=kopf.get_default_registry(),
            insights=Insights(webhook_resources=set(RESOURCES.values())),
            indices=OperatorIndexers().indices,
        )
        return response

    def count(self, kind: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "gobuild_admission_requests_total", {"kind": kind, "outcome": outcome}
        )
        return value or 0.0
