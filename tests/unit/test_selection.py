"""SPEC "Opting in": which workloads get which GoBuildConfig, in the documented order."""

from __future__ import annotations

from typing import Any

import pytest

from gobuild_operator.api.configspec.blocks import LabelSelector
from gobuild_operator.api.configspec.model import GoBuildConfigSpec, parse_spec
from gobuild_operator.core.injection.selection import Decision, selector_matches, should_inject

NS = "builds"
OPERATOR_NS = "gobuild-system"

PLAIN = parse_spec({})
DEFAULT = parse_spec({"default": True})
BUILD_PODS = parse_spec({"podSelector": {"matchLabels": {"role": "build"}}})
CI_PODS = parse_spec({"podSelector": {"matchExpressions": [{"key": "ci", "operator": "Exists"}]}})


def pod(annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": annotations or {}, "labels": labels or {}},
        "spec": {"containers": [{"name": "build", "image": "golang"}]},
    }


def job(
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    template_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "annotations": annotations or {}},
        "spec": {
            "template": {
                "metadata": {"annotations": template_annotations or {}, "labels": template_labels or {}},
                "spec": {"containers": [{"name": "build", "image": "golang"}]},
            }
        },
    }


def cronjob(
    template_annotations: dict[str, str] | None = None, template_labels: dict[str, str] | None = None
) -> Any:
    inner = job(template_annotations=template_annotations, template_labels=template_labels)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": inner},
    }


def decide(
    obj: Any,
    *,
    kind: str = "Pod",
    namespace: str = NS,
    namespace_labels: dict[str, str] | None = None,
    configs: dict[str, GoBuildConfigSpec | None] | None = None,
) -> Decision:
    return should_inject(
        obj,
        kind=kind,
        namespace=namespace,
        namespace_labels=namespace_labels or {},
        operator_namespace=OPERATOR_NS,
        configs={"plain": PLAIN, "dflt": DEFAULT, "build": BUILD_PODS} if configs is None else configs,
    )


CONFIG = "gobuild.dev/config"
INJECT = "gobuild.dev/inject"

# (id, object, kind, keyword overrides, expected config, text in reason, text in a warning or None)
CASES: list[tuple[str, Any, str, dict[str, Any], str | None, str, str | None]] = [
    ("system-namespace", pod({CONFIG: "plain"}), "Pod", {"namespace": "kube-system"}, None, "system", None),
    (
        "operator-namespace",
        pod({CONFIG: "plain"}),
        "Pod",
        {"namespace": OPERATOR_NS},
        None,
        "operator's own",
        None,
    ),
    (
        "namespace-disabled",
        pod({CONFIG: "plain"}),
        "Pod",
        {"namespace_labels": {"gobuild.dev/injection": "disabled"}},
        None,
        "labelled",
        None,
    ),
    (
        "mirror-pod",
        pod({CONFIG: "plain", "kubernetes.io/config.mirror": "x"}),
        "Pod",
        {},
        None,
        "mirror",
        None,
    ),
    (
        "already-injected",
        pod({CONFIG: "plain", "gobuild.dev/injected": "plain"}),
        "Pod",
        {},
        None,
        "already",
        None,
    ),
    (
        "cronjob-switched-config-after-injection",
        cronjob({CONFIG: "build", "gobuild.dev/injected": "plain"}),
        "CronJob",
        {},
        None,
        "already injected with GoBuildConfig plain",
        "recreate the CronJob to switch configs",
    ),
    (
        "pod-from-injected-template",
        pod({"gobuild.dev/injected": "build"}, labels={"gobuild.dev/config": "build", "role": "build"}),
        "Pod",
        {},
        None,
        "already injected with GoBuildConfig build",
        None,
    ),
    (
        "inject-false-beats-config",
        pod({INJECT: "false", CONFIG: "plain"}),
        "Pod",
        {},
        None,
        "inject=false",
        None,
    ),
    (
        "inject-false-beats-selector",
        pod({INJECT: "false"}, {"role": "build"}),
        "Pod",
        {},
        None,
        "false",
        None,
    ),
    ("named-config", pod({CONFIG: "plain"}), "Pod", {}, "plain", "gobuild.dev/config=plain", None),
    ("named-beats-default", pod({CONFIG: "plain", INJECT: "true"}), "Pod", {}, "plain", "config=plain", None),
    (
        "named-beats-selector",
        pod({CONFIG: "plain"}, {"role": "build"}),
        "Pod",
        {},
        "plain",
        "config=plain",
        None,
    ),
    (
        "named-missing",
        pod({CONFIG: "nope"}),
        "Pod",
        {},
        None,
        "not found",
        "'nope' not found in namespace builds",
    ),
    (
        "named-missing-does-not-fall-through",
        pod({CONFIG: "nope"}, {"role": "build"}),
        "Pod",
        {},
        None,
        "not found",
        "admitted without Go build settings",
    ),
    (
        "named-invalid",
        pod({CONFIG: "broken"}),
        "Pod",
        {"configs": {"broken": None}},
        None,
        "invalid",
        "is invalid (see its status)",
    ),
    ("inject-true-default", pod({INJECT: "true"}), "Pod", {}, "dflt", "default", None),
    ("inject-true-case", pod({INJECT: " True "}), "Pod", {}, "dflt", "default", None),
    (
        "inject-true-no-default",
        pod({INJECT: "true"}),
        "Pod",
        {"configs": {"plain": PLAIN}},
        None,
        "no default",
        "has no GoBuildConfig with default: true",
    ),
    (
        "several-defaults",
        pod({INJECT: "true"}),
        "Pod",
        {"configs": {"b": DEFAULT, "a": DEFAULT}},
        "a",
        "default",
        "several GoBuildConfigs are default: true",
    ),
    ("inject-yes-ignored", pod({INJECT: "yes"}), "Pod", {}, None, "not opted in", '"true" or "false"'),
    (
        "selector",
        pod(labels={"role": "build"}),
        "Pod",
        {},
        "build",
        "podSelector of GoBuildConfig build",
        None,
    ),
    (
        "several-selectors",
        pod(labels={"role": "build", "ci": ""}),
        "Pod",
        {"configs": {"z-ci": CI_PODS, "build": BUILD_PODS}},
        "build",
        "podSelector",
        "several GoBuildConfigs match (build, z-ci)",
    ),
    (
        "empty-selector-selects-nothing",
        pod(labels={"role": "build"}),
        "Pod",
        {"configs": {"x": PLAIN}},
        None,
        "not",
        None,
    ),
    ("nothing", pod(), "Pod", {}, None, "not opted in", None),
    ("job-annotation", job({CONFIG: "plain"}), "Job", {}, "plain", "config=plain", None),
    (
        "job-template-annotation",
        job(template_annotations={CONFIG: "plain"}),
        "Job",
        {},
        "plain",
        "config",
        None,
    ),
    (
        "job-own-annotation-wins",
        job({CONFIG: "plain"}, template_annotations={CONFIG: "build"}),
        "Job",
        {},
        "plain",
        "config=plain",
        "'plain' on the Job and 'build' on its pod template",
    ),
    (
        "job-template-false",
        job({CONFIG: "plain"}, template_annotations={INJECT: "false"}),
        "Job",
        {},
        None,
        "false",
        None,
    ),
    ("job-template-labels", job(template_labels={"role": "build"}), "Job", {}, "build", "podSelector", None),
    ("job-own-labels-ignored", job({}), "Job", {}, None, "not opted in", None),
    ("job-injected", job({"gobuild.dev/injected": "plain"}), "Job", {}, None, "already", None),
    ("cronjob-template-annotation", cronjob({INJECT: "true"}), "CronJob", {}, "dflt", "default", None),
    (
        "cronjob-template-labels",
        cronjob(template_labels={"role": "build"}),
        "CronJob",
        {},
        "build",
        "podSelector",
        None,
    ),
    (
        "cronjob-injected-template",
        cronjob({"gobuild.dev/injected": "x"}),
        "CronJob",
        {},
        None,
        "already",
        None,
    ),
    ("other-kind", pod({CONFIG: "plain"}), "Deployment", {}, None, "not handled", None),
    ("not-a-mapping-metadata", {"metadata": "x", "spec": {}}, "Pod", {}, None, "not opted in", None),
    (
        "annotations-not-strings",
        {"metadata": {"annotations": {CONFIG: 3}}},
        "Pod",
        {},
        None,
        "not opted in",
        None,
    ),
    ("cronjob-without-template", {"spec": {"jobTemplate": None}}, "CronJob", {}, None, "not opted in", None),
    (
        "config-name-longer-than-any-object-name",
        pod({CONFIG: "a-" * 100_000}),
        "Pod",
        {},
        None,
        "not a name",
        "gobuild.dev/config has 200000 characters",
    ),
]


@pytest.mark.parametrize(
    ("obj", "kind", "overrides", "config", "reason", "warning"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_should_inject(
    obj: Any, kind: str, overrides: dict[str, Any], config: str | None, reason: str, warning: str | None
) -> None:
    decision = decide(obj, kind=kind, **overrides)
    assert decision.config == config
    assert decision.inject is (config is not None)
    assert reason in decision.reason
    if warning is None:
        assert decision.warnings == ()
    else:
        assert any(warning in text for text in decision.warnings), decision.warnings


def _selector(raw: dict[str, Any]) -> LabelSelector:
    selector = parse_spec({"podSelector": raw}).pod_selector
    assert selector is not None
    return selector


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param({}, {"a": "1"}, False, id="empty-matches-nothing"),
        pytest.param({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True, id="labels-subset"),
        pytest.param({"matchLabels": {"a": "1"}}, {"a": "2"}, False, id="labels-value"),
        pytest.param({"matchLabels": {"a": "1"}}, {}, False, id="labels-missing"),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
            id="in",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False, id="in-absent"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {},
            True,
            id="notin-absent",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
            id="notin",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True, id="exists"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False, id="exists-absent"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True, id="doesnotexist"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            {"a": "x"},
            False,
            id="doesnotexist-present",
        ),
        pytest.param(
            {
                "matchLabels": {"role": "build"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}],
            },
            {"role": "build", "tier": "ci"},
            True,
            id="all-must-hold",
        ),
        pytest.param(
            {
                "matchLabels": {"role": "build"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}],
            },
            {"role": "build", "tier": "prod"},
            False,
            id="one-fails",
        ),
    ],
)
def test_selector_semantics(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(_selector(selector), labels) is matches


def test_absent_selector_matches_nothing() -> None:
    assert selector_matches(None, {"a": "1"}) is False


def test_a_tenants_long_annotation_is_never_quoted_whole() -> None:
    """A 200 KB annotation once went whole into the warning (and through a quadratic redaction)."""
    long = "a-" * 100_000
    for obj in (
        pod({CONFIG: long}),
        pod({"gobuild.dev/inject": long}),
        pod({"gobuild.dev/injected": long, CONFIG: "plain"}),
        job({CONFIG: "plain"}, template_annotations={CONFIG: long}),
    ):
        kind = "Job" if obj.get("kind") == "Job" else "Pod"
        decision = decide(obj, kind=kind)
        assert all(len(text) < 400 for text in (*decision.warnings, decision.reason)), decision
