"""The webhook, AdmissionReview in and JSON Patch out (the shape of vault-k8s agent-inject's handler_test).

Each row is a whole AdmissionReview as the API server sends it and the object the API server would
store after applying the returned patch, with the warnings kubectl would print. The requests go
through kopf's own admission entry point with the operator's registered handlers, so what is tested
is what the webhook answers, minus TLS. The store holds the namespace's GoBuildConfigs as the
watches would have left them.

Also here: `admit()` (the store's view into core.inject), and `spec_status()`, the pure half of
reconcile.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import kopf
import pytest
from kopf._cogs.structs.references import Insights, Resource
from kopf._core.engines.admission import serve_admission_request
from kopf._core.engines.indexing import OperatorIndexers
from kopf._core.reactor.inventory import ResourceMemories

from gobuild_operator import api
from gobuild_operator.core import conditions as cond
from gobuild_operator.handlers import admission
from gobuild_operator.handlers.gobuildconfigs import spec_status
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

NAMESPACE = "builds"
RESOURCES = {
    "Pod": Resource("", "v1", "pods", kind="Pod", namespaced=True, verbs=["create"]),
    "Job": Resource("batch", "v1", "jobs", kind="Job", namespaced=True, verbs=["create"]),
    "CronJob": Resource("batch", "v1", "cronjobs", kind="CronJob", namespaced=True, verbs=["create"]),
}
WEBHOOKS = {"Pod": "inject-pods", "Job": "inject-jobs", "CronJob": "inject-cronjobs"}
CONFIGS: dict[str, dict[str, Any]] = {
    "china": {"goproxy": ["https://goproxy.cn", "direct"]},
    "broken": {"goproxy": ["ftp://nope"]},  # the API server would refuse it; an old CRD might not
}
INJECTED_ENV = [{"name": "GOPROXY", "value": "https://goproxy.cn,direct"}]


def store_with(*, labels: dict[str, str] | None = None) -> Store:
    store = Store()
    for index, (name, spec) in enumerate(CONFIGS.items()):
        metadata = {"namespace": NAMESPACE, "name": name, "uid": f"uid-{index}", "generation": 1}
        store.put_config({"metadata": metadata, "spec": spec})
    store.put_namespace(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE, **(labels or {})})
    return store


def pod(annotations: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "build", "namespace": NAMESPACE, "annotations": dict(annotations or {})},
        "spec": {"containers": [{"name": "go", "image": "golang:1.26", **container}]},
    }


def injected_pod(*, env: list[dict[str, str]] | None = None, skipped: str = "") -> dict[str, Any]:
    """What the API server stores for `pod({"gobuild.dev/config": "china"})` after the patch."""
    result = pod({"gobuild.dev/config": "china", "gobuild.dev/injected": "china"})
    if skipped:
        result["metadata"]["annotations"]["gobuild.dev/skipped-env"] = skipped
    result["metadata"]["labels"] = {"gobuild.dev/config": "china"}
    container = result["spec"]["containers"][0]
    container["env"] = env if env is not None else INJECTED_ENV
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    return result


def job(template_annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "build", "namespace": NAMESPACE},
        "spec": {
            "template": {
                "metadata": {"annotations": dict(template_annotations)},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "go", "image": "golang:1.26"}]},
            }
        },
    }


def injected_job() -> dict[str, Any]:
    result = job({"gobuild.dev/config": "china", "gobuild.dev/injected": "china"})
    result["metadata"]["annotations"] = {"gobuild.dev/injected": "china"}
    template = result["spec"]["template"]
    template["metadata"]["labels"] = {"gobuild.dev/config": "china"}
    template["spec"]["containers"][0].update(
        env=INJECTED_ENV, terminationMessagePolicy="FallbackToLogsOnError"
    )
    return result


def cronjob_injected() -> dict[str, Any]:
    template = injected_job()["spec"]["template"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "nightly",
            "namespace": NAMESPACE,
            "annotations": {"gobuild.dev/injected": "china"},
        },
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}},
    }


def review(kind: str, obj: Any, *, operation: str = "CREATE") -> dict[str, Any]:
    resource = RESOURCES[kind]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": resource.group, "version": resource.version, "kind": kind},
            "resource": {"group": resource.group, "version": resource.version, "resource": resource.plural},
            "namespace": NAMESPACE,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:builds:ci"},
            "object": obj,
            "oldObject": copy.deepcopy(obj) if operation == "UPDATE" else None,
            "dryRun": False,
        },
    }


@dataclass
class Webhook:
    """The operator's webhook as kopf serves it, without the TLS server around it."""

    store: Store
    metrics: Metrics = field(default_factory=Metrics)

    async def __call__(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        memo = kopf.Memo(settings=Settings(operator_namespace="gobuild-system"), store=self.store)
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


@dataclass(frozen=True)
class Case:
    kind: str
    obj: Any
    #: The object stored after the patch; None: no patch at all.
    stored: Any
    warnings: tuple[str, ...] = ()
    operation: str = "CREATE"
    labels: dict[str, str] = field(default_factory=dict)
    outcome: str = "injected"


CASES = {
    "pod-names-a-config": Case("Pod", pod({"gobuild.dev/config": "china"}), injected_pod()),
    "pod-not-opted-in": Case("Pod", pod(), None, outcome="skipped"),
    "pod-opted-out": Case(
        "Pod", pod({"gobuild.dev/config": "china", "gobuild.dev/inject": "false"}), None, outcome="skipped"
    ),
    "pod-names-a-missing-config": Case(
        "Pod",
        pod({"gobuild.dev/config": "gone"}),
        None,
        ("GoBuildConfig 'gone' not found in namespace builds",),
        outcome="skipped",
    ),
    "pod-names-an-invalid-config": Case(
        "Pod",
        pod({"gobuild.dev/config": "broken"}),
        None,
        ("is invalid (see its status)",),
        outcome="skipped",
    ),
    "namespace-disabled": Case(
        "Pod",
        pod({"gobuild.dev/config": "china"}),
        None,
        labels={"gobuild.dev/injection": "disabled"},
        outcome="skipped",
    ),
    "workload-sets-goproxy": Case(
        "Pod",
        pod({"gobuild.dev/config": "china"}, env=[{"name": "GOPROXY", "value": "off"}]),
        injected_pod(env=[{"name": "GOPROXY", "value": "off"}], skipped="GOPROXY"),
        ("kept the workload's own GOPROXY",),
    ),
    "job-template-annotation": Case("Job", job({"gobuild.dev/config": "china"}), injected_job()),
    "cronjob-update-already-injected": Case(
        "CronJob", cronjob_injected(), None, operation="UPDATE", outcome="skipped"
    ),
    "malformed-containers": Case(
        "Pod",
        {**pod({"gobuild.dev/config": "china"}), "spec": {"containers": "go"}},
        None,
        ("not injected: containers is not a non-empty list",),
        outcome="unchanged",
    ),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in CASES.items()])
async def test_admission_review(case: Case) -> None:
    webhook = Webhook(store_with(labels=case.labels))
    request = review(case.kind, case.obj, operation=case.operation)
    response = (await webhook(case.kind, request))["response"]

    assert response["uid"] == request["request"]["uid"]
    assert response["allowed"] is True, "the webhook never refuses"
    if case.stored is None:
        assert "patch" not in response
    else:
        assert response["patchType"] == "JSONPatch"
        patch = json.loads(base64.b64decode(response["patch"]))
        assert jsonpatch.apply_patch(case.obj, patch) == case.stored
    warnings = response.get("warnings", [])
    assert all(w.startswith("gobuild-operator: ") for w in warnings)
    for expected in case.warnings:
        assert any(expected in w for w in warnings), (expected, warnings)
    assert webhook.count(case.kind, case.outcome) == 1


async def test_the_core_raising_admits_unchanged_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug in the core")

    monkeypatch.setattr(admission, "inject", broken)
    webhook = Webhook(store_with())
    response = (await webhook("Pod", review("Pod", pod({"gobuild.dev/config": "china"}))))["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert response["warnings"] == [
        "gobuild-operator: not injected because of an internal error; see the operator log"
    ]
    assert webhook.count("Pod", "error") == 1
    assert webhook.count("Pod", "injected") == 0


# --- admit(): the store's view of the namespace --------------------------------------------------


def test_admit_reads_the_namespace_of_the_request_only() -> None:
    store = store_with()
    store.put_config({"metadata": {"namespace": "other", "name": "mine", "generation": 1}, "spec": {}})
    settings = Settings()
    mine = admission.admit(
        pod({"gobuild.dev/config": "mine"}), kind="Pod", namespace=NAMESPACE, settings=settings, store=store
    )
    assert (mine.obj, mine.outcome) == (None, "skipped")
    china = admission.admit(
        pod({"gobuild.dev/config": "china"}), kind="Pod", namespace=NAMESPACE, settings=settings, store=store
    )
    assert china.outcome == "injected"
    assert china.obj == injected_pod()


def test_admit_completes_no_proxy_from_the_settings() -> None:
    store = Store()
    spec = {"corporateProxy": {"httpsProxy": "http://squid:3128"}}
    store.put_config({"metadata": {"namespace": NAMESPACE, "name": "corp", "generation": 1}, "spec": spec})
    settings = Settings(cluster_domain="k8s.example", extra_no_proxy=("10.96.0.1",))
    result = admission.admit(
        pod({"gobuild.dev/config": "corp"}), kind="Pod", namespace=NAMESPACE, settings=settings, store=store
    )
    assert result.obj is not None
    env = {e["name"]: e["value"] for e in result.obj["spec"]["containers"][0]["env"]}
    assert ".svc.k8s.example" in env["NO_PROXY"].split(",")
    assert "10.96.0.1" in env["NO_PROXY"].split(",")


# --- spec_status(): what reconcile writes ---------------------------------------------------------

NOW = "2026-01-01T00:00:00Z"


def test_spec_status_of_a_valid_spec() -> None:
    spec = api.parse_spec({"goproxy": ["https://goproxy.cn", "direct"], "proxyFallback": "OnAnyError"})
    status = spec_status(spec, error="", generation=3, current={}, now=NOW)
    assert status["observedGeneration"] == 3
    assert (status["goproxy"], status["gosumdb"]) == ("https://goproxy.cn|direct", "")
    valid = cond.get_condition(status["conditions"], cond.SPEC_VALID)
    assert valid is not None
    assert (valid["status"], valid["reason"], valid["observedGeneration"]) == ("True", "Valid", 3)
    api.GoBuildConfigStatus.model_validate(status)  # nothing the API server would prune


def test_spec_status_of_an_invalid_spec_says_why_and_keeps_the_rest() -> None:
    current = {"goproxy": "https://old,direct", "downloads": {"failed": 2}}
    status = spec_status(None, error="spec.goproxy[0]: bad", generation=4, current=current, now=NOW)
    assert status["goproxy"] == "https://old,direct", "the last good value stays until a valid spec"
    assert status["downloads"] == {"failed": 2}
    ready = cond.get_condition(status["conditions"], cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.goproxy[0]: bad" in ready["message"]
    api.GoBuildConfigStatus.model_validate(status)


def test_spec_status_keeps_the_transition_time_while_nothing_changes() -> None:
    spec = api.parse_spec({})
    first = spec_status(spec, error="", generation=1, current={}, now=NOW)
    second = spec_status(spec, error="", generation=2, current=first, now="2026-02-02T00:00:00Z")
    valid = cond.get_condition(second["conditions"], cond.SPEC_VALID)
    assert valid is not None
    assert valid["lastTransitionTime"] == NOW
    assert valid["observedGeneration"] == 2
