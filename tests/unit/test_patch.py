"""core.patch: the webhook's JSON Patch is exact and coarse.

Exact: applied to the admitted object it gives what `mutate` built, for generated workloads and
configs (the same strategies as test_properties.py). Coarse: a handful of operations, whole lists
where the operator owns the change, never one operation per env entry.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from test_properties import PROPERTY, apply

from gobuild_operator.api.configspec.model import GoBuildConfigSpec, parse_spec
from gobuild_operator.core.injection.patch import json_patch
from gobuild_operator.handlers.admission import Admission
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings, WebhookSettings
from gobuild_operator.store import Store
from support.strategies import specs, workloads


@PROPERTY
@given(workloads(), specs)
def test_the_patch_turns_the_admitted_object_into_the_injected_one(
    workload: tuple[str, dict[str, Any]], spec: GoBuildConfigSpec
) -> None:
    kind, obj = workload
    before = copy.deepcopy(obj)
    result = apply(kind, obj, spec)
    if not result.changed:
        return
    patch = json_patch(obj, result.obj)
    assert obj == before, "building the patch must not touch the input"
    assert jsonpatch.apply_patch(obj, patch) == result.obj


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param({}, {}, [], id="nothing"),
        pytest.param(
            {"metadata": {"annotations": {"a": "1"}}},
            {"metadata": {"annotations": {"a": "1", "gobuild.dev/injected": "go"}}},
            [{"op": "add", "path": "/metadata/annotations/gobuild.dev~1injected", "value": "go"}],
            id="one-annotation-escaped",
        ),
        pytest.param(
            {"metadata": {}},
            {"metadata": {"labels": {"gobuild.dev/config": "go"}}},
            [{"op": "add", "path": "/metadata/labels", "value": {"gobuild.dev/config": "go"}}],
            id="a-new-map-whole",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b"}]}},
            {
                "spec": {
                    "containers": [
                        {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                        {"name": "b"},
                    ]
                }
            },
            [
                {
                    "op": "replace",
                    "path": "/spec/containers/0/env",
                    "value": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                }
            ],
            id="env-replaced-whole-other-container-untouched",
        ),
        pytest.param(
            {"spec": {"volumes": [{"name": "src"}]}},
            {"spec": {"volumes": [{"name": "src"}, {"name": "gobuild-ca"}]}},
            [{"op": "replace", "path": "/spec/volumes", "value": [{"name": "src"}, {"name": "gobuild-ca"}]}],
            id="volumes-whole",
        ),
        pytest.param(
            {"a~b": 1, "gone": 2},
            {"a~b": 2},
            [
                {"op": "replace", "path": "/a~0b", "value": 2},
                {"op": "remove", "path": "/gone"},
            ],
            id="tilde-and-removal",
        ),
    ],
)
def test_operations(old: dict[str, Any], new: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert json_patch(old, new) == expected
    assert jsonpatch.apply_patch(old, expected) == new


def test_a_realistic_injection_is_a_handful_of_operations() -> None:
    spec = parse_spec(
        {
            "goproxy": ["https://goproxy.cn", "direct"],
            "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
            "caBundle": {"configMapName": "corp-ca"},
            "cache": {"enabled": True},
        }
    )
    pod = {
        "metadata": {"name": "b", "annotations": {"gobuild.dev/config": "corp"}},
        "spec": {
            "containers": [
                {
                    "name": "build",
                    "image": "golang",
                    "env": [{"name": f"V{i}", "value": "x"} for i in range(50)],
                },
                {"name": "sidecar", "image": "busybox"},
            ]
        },
    }
    result = apply("Pod", pod, spec)
    patch = json_patch(pod, result.obj)
    assert len(patch) <= 12, [op["path"] for op in patch]
    assert all(op["path"].count("/env/") == 0 for op in patch), "env lists travel whole"


# --- the whole admission path, fuzzed ------------------------------------------------------------

#: GOBUILD_FUZZ_EXAMPLES=10000 GOBUILD_FUZZ_BUDGET=1 for the hardening issue's long run (the real
#: budget, on a quiet machine); the suite runs a few hundred with a budget no busy CI machine misses.
FUZZ_BUDGET = float(os.environ.get("GOBUILD_FUZZ_BUDGET", "10"))
FUZZ = settings(
    max_examples=int(os.environ.get("GOBUILD_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(workloads(), specs)
def test_admission_answers_every_workload_within_its_budget_with_a_valid_patch(
    workload: tuple[str, dict[str, Any]], spec: GoBuildConfigSpec
) -> None:
    kind, obj = workload
    store = Store()
    metadata = {"namespace": "builds", "name": "corp", "uid": "u", "generation": 1}
    store.put_config({"metadata": metadata, "spec": spec.model_dump(by_alias=True, exclude_none=True)})
    metrics = Metrics()
    # The budget is FUZZ_BUDGET seconds: what must never happen is a request that needs far more
    # than the real budget (a workload deciding the work), not one slowed by a busy test machine.
    settings_ = Settings(webhook=WebhookSettings(admission_budget=FUZZ_BUDGET))
    webhook = Admission(settings=settings_, store=store, metrics=metrics)
    annotated = json.loads(json.dumps(obj))
    annotated.setdefault("metadata", {}).setdefault("annotations", {})["gobuild.dev/config"] = "corp"
    request = {"request": {"uid": "u1", "namespace": "builds", "operation": "CREATE", "object": annotated}}
    response = json.loads(webhook.review(json.dumps(request).encode(), kind=kind))["response"]
    assert response["allowed"] is True
    for outcome in ("error", "over_budget"):
        assert not metrics.registry.get_sample_value(
            "gobuild_admission_requests_total", {"kind": kind, "outcome": outcome}
        )
    if "patch" in response:
        patched = jsonpatch.apply_patch(annotated, json.loads(base64.b64decode(response["patch"])))
        marker = patched["metadata"]["annotations"]["gobuild.dev/injected"]
        assert marker == "corp"
