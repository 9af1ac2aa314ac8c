"""The operator's webhook without the HTTPS server around it: an AdmissionReview in, the
AdmissionReview response out, through the entry point the server calls (handlers/admission.py
`Admission.review`, the bytes the API server sends and gets)."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from gobuild_operator.handlers import admission
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

#: kind -> (group, version, resource), as the API server names them in a review.
RESOURCES = {
    "Pod": ("", "v1", "pods"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}


def review(kind: str, obj: Any, *, namespace: str = "builds", operation: str = "CREATE") -> dict[str, Any]:
    group, version, plural = RESOURCES[kind]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": plural},
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
    metrics: Metrics = field(default_factory=Metrics)
    settings: Settings = field(default_factory=lambda: Settings(operator_namespace="gobuild-system"))

    def __post_init__(self) -> None:
        self.admission = admission.Admission(settings=self.settings, store=self.store, metrics=self.metrics)

    def __call__(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = json.loads(self.admission.review(json.dumps(request).encode(), kind=kind))
        return response

    def count(self, kind: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "gobuild_admission_requests_total", {"kind": kind, "outcome": outcome}
        )
        return value or 0.0
