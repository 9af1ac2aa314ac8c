"""The webhook, AdmissionReview in and JSON Patch out (the shape of vault-k8s agent-inject's handler_test).

Each row is a whole AdmissionReview as the API server sends it and the object the API server would
store after applying the returned patch, with the warnings kubectl would print. The requests go
through the webhook's own entry point (`Admission.review`, bytes in and bytes out), so what is
tested is what the webhook answers, minus HTTP and TLS (tests/unit/test_webhook_server.py). The
store holds the namespace's GoBuildConfigs as the watches would have left them.

Also here: `admit()`, the store's view into core.injection.inject.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import pytest

from gobuild_operator.handlers import admission
from gobuild_operator.settings import Settings, WebhookSettings
from gobuild_operator.store import Store
from support.webhook import Webhook, review

NAMESPACE = "builds"
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
def test_admission_review(case: Case) -> None:
    webhook = Webhook(store_with(labels=case.labels))
    request = review(case.kind, case.obj, operation=case.operation)
    response = webhook(case.kind, request)["response"]

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


def test_the_core_raising_admits_unchanged_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug in the core")

    monkeypatch.setattr(admission, "inject", broken)
    webhook = Webhook(store_with())
    response = webhook("Pod", review("Pod", pod({"gobuild.dev/config": "china"})))["response"]
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


# --- the admission time budget and large objects (hardening issue) ------------------------------


class SteppingClock:
    """A clock that moves `step` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_admission_time_budget_admits_a_slow_request_unchanged_and_counts_it() -> None:
    webhook = Webhook(store_with())
    many = {**pod({"gobuild.dev/config": "china"})}
    many["spec"] = {"containers": [{"name": f"c{i}", "image": "golang"} for i in range(50)]}
    webhook.admission = admission.Admission(
        settings=webhook.settings, store=webhook.store, metrics=webhook.metrics, clock=SteppingClock(0.1)
    )
    response = json.loads(webhook.admission.review(json.dumps(review("Pod", many)).encode(), kind="Pod"))
    answer = response["response"]
    assert answer["allowed"] is True
    assert "patch" not in answer, "over budget: admitted unchanged"
    assert any("longer than its budget" in w for w in answer["warnings"])
    assert webhook.count("Pod", "over_budget") == 1
    assert webhook.count("Pod", "injected") == 0


def test_workload_controlled_size_does_not_decide_the_work() -> None:
    """5,000 containers that all collide with our mounts: every one is injected, the answer stays
    readable (warnings capped), and the work is linear (no per-pair comparison of warnings or
    variables; a timing assertion would be flaky, the cap and the budget are what is checked)."""
    store = store_with()
    metadata = {"namespace": NAMESPACE, "name": "ca", "uid": "uid-ca", "generation": 1}
    store.put_config({"metadata": metadata, "spec": {"caBundle": {"configMapName": "corp-ca"}}})
    webhook = Webhook(store, settings=Settings(webhook=WebhookSettings(admission_budget=60.0)))
    mounts = [{"name": "own", "mountPath": "/etc/gobuild/ca"}]
    big = pod({"gobuild.dev/config": "ca"})
    big["spec"] = {
        "containers": [
            {
                "name": f"c{i}",
                "image": "golang",
                "volumeMounts": mounts,
                "env": [{"name": "GOPROXY", "value": "off"}],
            }
            for i in range(5000)
        ],
        "volumes": [{"name": "own", "emptyDir": {}}],
    }
    answer = webhook("Pod", review("Pod", big))["response"]
    assert "patch" in answer
    assert len(answer["warnings"]) <= 18
    assert any("more warnings like these" in w for w in answer["warnings"])


def test_a_review_over_a_mebibyte_is_injected() -> None:
    """The API server stores objects up to 1.5 MiB; kopf's server refused reviews over 1 MiB."""
    webhook = Webhook(store_with())
    big = pod({"gobuild.dev/config": "china"}, env=[{"name": "BLOB", "value": "x" * (1200 * 1024)}])
    body = json.dumps(review("Pod", big)).encode()
    assert len(body) > 1024 * 1024
    answer = json.loads(webhook.admission.review(body, kind="Pod"))["response"]
    assert answer["patchType"] == "JSONPatch"
    assert webhook.count("Pod", "injected") == 1


def test_an_object_the_injection_would_push_past_what_the_api_server_stores_is_admitted_as_it_was() -> None:
    """Such a Pod was injected and then refused by the API server ("request is too large"), while
    the same Pod not opted in was created."""
    webhook = Webhook(store_with())
    big = pod({"gobuild.dev/config": "china"}, env=[{"name": "BLOB", "value": ""}])
    big["spec"]["containers"][0]["env"][0]["value"] = "x" * (
        admission.MAX_STORED_OBJECT_BYTES - len(json.dumps(big))
    )
    answer = webhook("Pod", review("Pod", big))["response"]
    assert "patch" not in answer
    assert any("more than the API server stores" in w for w in answer["warnings"])
    assert webhook.count("Pod", "too_large") == 1


def test_a_review_we_will_not_read_is_answered_counted_and_warned() -> None:
    webhook = Webhook(store_with())
    request = review("Pod", pod({"gobuild.dev/config": "china"}))
    head = json.dumps(request).encode()[:4096]
    answer = webhook.admission.too_large(head, kind="Pod", size=admission.MAX_REVIEW_BYTES + 1)
    assert answer is not None
    response = json.loads(answer)["response"]
    assert response["uid"] == request["request"]["uid"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert "more than the webhook reads" in response["warnings"][0]
    assert webhook.count("Pod", "too_large") == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"request": {}}', id="no-uid"),
        pytest.param(b'{"request": {"uid": 7}}', id="uid-not-a-string"),
    ],
)
def test_what_is_not_an_admission_review_is_refused_and_counted(body: bytes) -> None:
    webhook = Webhook(store_with())
    with pytest.raises(admission.Malformed):
        webhook.admission.review(body, kind="Pod")
    assert webhook.count("Pod", "malformed") == 1


def test_a_review_without_an_object_is_admitted_unchanged() -> None:
    webhook = Webhook(store_with())
    request = review("Pod", None)
    answer = json.loads(webhook.admission.review(json.dumps(request).encode(), kind="Pod"))["response"]
    assert answer == {"uid": request["request"]["uid"], "allowed": True}


def test_each_config_is_planned_once_while_its_spec_stays() -> None:
    webhook = Webhook(store_with())
    for _ in range(3):
        webhook("Pod", review("Pod", pod({"gobuild.dev/config": "china"})))
    assert len(webhook.admission.plans) == 1
    spec = webhook.store.specs(NAMESPACE)["china"]
    webhook.store.put_config(  # a status write: same generation, same parsed spec, same plan
        {"metadata": {"namespace": NAMESPACE, "name": "china", "uid": "uid-0", "generation": 1}, "spec": {}}
    )
    assert webhook.store.specs(NAMESPACE)["china"] is spec
