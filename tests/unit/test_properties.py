"""Properties of mutate (and selection) over generated workloads and configs.

Each property is something a user would notice if it broke: a second admission changing the Pod
again, a variable or mount of theirs lost, the webhook crashing on an odd object, a Pod the API
server rejects for duplicate volume names or mount paths.
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.injection.mutate import Mutation, mutate
from gobuild_operator.core.injection.selection import should_inject
from gobuild_operator.core.injection.workload import POD_TEMPLATE_PATH
from gobuild_operator.core.plan import build_plan
from support.strategies import VOLUME_NAMES, specs, workloads

OURS_METADATA = {
    "annotations": (c.ANNOTATION_INJECTED, c.ANNOTATION_SKIPPED_ENV),
    "labels": (c.LABEL_CONFIG,),
}

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def apply(kind: str, obj: Any, spec: GoBuildConfigSpec) -> Mutation:
    plan = build_plan(config_name="corp", spec=spec)
    return mutate(obj, kind=kind, plan=plan, override_env=spec.override_env, containers=list(spec.containers))


def template_of(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    node = obj
    for key in POD_TEMPLATE_PATH[kind]:
        node = node[key]
    return node


def all_containers(kind: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = template_of(kind, obj)["spec"]
    return [*(spec.get("initContainers") or []), *spec["containers"]]


def without_our_metadata(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(obj)
    for holder in (stripped, template_of(kind, stripped)):
        metadata = holder.get("metadata") or {}
        for field, keys in OURS_METADATA.items():
            for key in keys:
                (metadata.get(field) or {}).pop(key, None)
    return stripped


# --- properties -----------------------------------------------------------------------------
# Drawing workloads costs far more than checking them, so each test checks several properties of
# the same generated examples.


@PROPERTY
@given(workloads(), specs)
def test_mutate_is_idempotent(workload: tuple[str, dict[str, Any]], spec: GoBuildConfigSpec) -> None:
    kind, obj = workload
    once = apply(kind, obj, spec)
    twice = apply(kind, once.obj, spec)
    assert twice.obj == once.obj
    assert not twice.changed
    # Every container-level step is idempotent too, not only thanks to the marker.
    again = apply(kind, without_our_metadata(kind, once.obj), spec)
    assert without_our_metadata(kind, again.obj) == without_our_metadata(kind, once.obj)
    assert again.skipped_env == once.skipped_env


@PROPERTY
@given(workloads(), specs)
def test_mutate_keeps_the_workload_and_yields_a_valid_pod(
    workload: tuple[str, dict[str, Any]], spec: GoBuildConfigSpec
) -> None:
    kind, obj = workload
    before = copy.deepcopy(obj)
    result = apply(kind, obj, spec)
    assert obj == before, "the input must not be modified"
    assert_nothing_lost_or_changed(kind, obj, result.obj, spec)
    assert_unique_names_and_paths(kind, result.obj)
    if "GIT_CONFIG_COUNT" not in result.skipped_env:
        assert_git_config_without_gaps(kind, obj, result.obj)


def assert_nothing_lost_or_changed(
    kind: str, obj: dict[str, Any], result: dict[str, Any], spec: GoBuildConfigSpec
) -> None:
    ours = {var.name for var in build_plan(config_name="corp", spec=spec).env}
    replaceable = ours if spec.override_env else set()
    for before, after in zip(all_containers(kind, obj), all_containers(kind, result), strict=True):
        for index, var in enumerate(before.get("env") or []):
            kept = after["env"][index]
            assert kept["name"] == var["name"]
            if var["name"] == "GIT_CONFIG_COUNT" and str(var.get("value")).isdigit():
                assert int(kept["value"]) >= int(var["value"])  # grows so our entries come after theirs
            elif var["name"] not in replaceable:
                assert kept == var
        assert (after.get("volumeMounts") or [])[: len(before.get("volumeMounts") or [])] == (
            before.get("volumeMounts") or []
        )
        assert after.get("envFrom") == before.get("envFrom")
        assert after.get("command") == before.get("command")
        if before.get("terminationMessagePolicy") == c.TERMINATION_MESSAGE_POLICY:
            assert after["terminationMessagePolicy"] == c.TERMINATION_MESSAGE_POLICY
    volumes_before = template_of(kind, obj)["spec"].get("volumes") or []
    volumes_after = template_of(kind, result)["spec"].get("volumes") or []
    assert volumes_after[: len(volumes_before)] == volumes_before
    stripped = without_our_metadata(kind, result)
    for holder_before, holder_after in (
        (obj, stripped),
        (template_of(kind, obj), template_of(kind, stripped)),
    ):
        for field in ("labels", "annotations"):
            before_map = (holder_before.get("metadata") or {}).get(field) or {}
            after_map = (holder_after.get("metadata") or {}).get(field) or {}
            assert after_map == before_map


def assert_unique_names_and_paths(kind: str, result: dict[str, Any]) -> None:
    volumes = [volume["name"] for volume in template_of(kind, result)["spec"].get("volumes") or []]
    assert len(volumes) == len(set(volumes))
    for container in all_containers(kind, result):
        paths = [posixpath.normpath(mount["mountPath"]) for mount in container.get("volumeMounts") or []]
        assert len(paths) == len(set(paths))
        names = [var["name"] for var in container.get("env") or []]
        assert len(names) == len(set(names))
        assert {mount["name"] for mount in container.get("volumeMounts") or []} <= set(volumes) | set(
            VOLUME_NAMES
        )


def assert_git_config_without_gaps(kind: str, obj: dict[str, Any], result: dict[str, Any]) -> None:
    """Where the workload's GIT_CONFIG_* entries were complete, they still are with ours added."""
    for before, after in zip(all_containers(kind, obj), all_containers(kind, result), strict=True):
        if not _git_config_complete(before):
            continue
        assert _git_config_complete(after)


def _git_config_complete(container: dict[str, Any]) -> bool:
    values = {var["name"]: var.get("value") for var in container.get("env") or []}
    count = values.get("GIT_CONFIG_COUNT", "0")
    if count is None or not count.isdigit():
        return False
    return all(
        f"GIT_CONFIG_KEY_{i}" in values and f"GIT_CONFIG_VALUE_{i}" in values for i in range(int(count))
    )


# --- arbitrary JSON never crashes the admission path -----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "metadata",
        "spec",
        "template",
        "jobTemplate",
        "containers",
        "initContainers",
        "env",
        "name",
        "volumes",
        "volumeMounts",
        "mountPath",
        "annotations",
        "labels",
        "value",
        "valueFrom",
        "terminationMessagePolicy",
    ]
)
shaped = st.recursive(
    st.none() | st.text(max_size=4) | st.integers(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=30,
)


@PROPERTY
@given(st.sampled_from(["Pod", "Job", "CronJob", "Deployment"]), json_values | shaped, specs)
def test_odd_objects_never_raise_and_are_admitted_unchanged(
    kind: str, obj: Any, spec: GoBuildConfigSpec
) -> None:
    before = copy.deepcopy(obj)
    result = apply(kind, obj, spec)
    assert obj == before
    if not result.changed:
        assert result.obj == before
    decision = should_inject(
        obj if isinstance(obj, dict) else {},
        kind=kind,
        namespace="builds",
        namespace_labels={},
        operator_namespace="gobuild-system",
        configs={"corp": spec, "broken": None},
    )
    assert decision.config in (None, "corp")
