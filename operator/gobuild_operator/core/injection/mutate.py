"""Apply an InjectionPlan to a Pod, Job or CronJob: one pure function, one code path for the pod spec.

The workload is the user's: nothing it sets is removed, reordered or overwritten, except a value
of a variable we also set when the config says `overrideEnv` (replaced in place) and
GIT_CONFIG_COUNT, which grows so that our git entries apply after the workload's own (git reads
only that many). envFrom is never touched. An injected volume or mount that collides with the
workload's (same volume name, same mountPath) is skipped with a warning, and so are the variables
that point into it, so a Pod never carries a setting whose files are missing.

The input is never modified; the result is a new object that shares with the input every part
mutate never changes (container images, commands, probes, ...): only the path from the object to
each container, and the lists we append to, are copied (`_copy_for_mutation`), which keeps a
large Pod as cheap as a small one. Admission objects are untrusted, so the
shape is checked first and anything not understood is admitted unchanged with a reason (the webhook
must never fail a user's Pod because of us). Applying the same plan twice gives the same object:
the marker annotation short-cuts the second call, and every container-level step is idempotent on
its own as well (a previous injection's volume, mount, variable or git entry counts as present).
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gobuild_operator import constants as c
from gobuild_operator.core.imagebuilds.arguments import ImageBuildPlan, builder_args
from gobuild_operator.core.imagebuilds.recognition import recognise
from gobuild_operator.core.injection import workload
from gobuild_operator.core.injection.budget import Budget
from gobuild_operator.core.plan import EnvVar, GitConfig, InjectionPlan, VolumeMount, kubelet_literal

_GIT_CONFIG_ENTRY = re.compile(r"^GIT_CONFIG_(KEY|VALUE)_([0-9]{1,9})$", re.ASCII)
#: ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
_GIT_CONFIG_COUNT_VALUE = re.compile(r"^[0-9]{1,9}$", re.ASCII)
_GIT_CONFIG_COUNT = "GIT_CONFIG_COUNT"


@dataclass(frozen=True)
class Mutation:
    """The new object, whether it differs from the input, and what the user should be told."""

    obj: Any
    changed: bool
    reason: str
    warnings: tuple[str, ...] = ()
    skipped_env: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    #: (container name, the arguments builder-aware injection added to its command line), in order.
    build_args: tuple[tuple[str, tuple[str, ...]], ...] = ()


#: At most this many warnings per object: a workload with 5,000 colliding containers gets a
#: readable answer (and the work of deduplicating them stays linear).
MAX_WARNINGS = 16


@dataclass
class _Report:
    warnings: list[str] = field(default_factory=list)
    skipped_env: set[str] = field(default_factory=set)
    build_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    dropped: int = 0

    def warn(self, message: str) -> None:
        if message in self.seen:
            return
        self.seen.add(message)
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        else:
            self.dropped += 1

    def all_warnings(self) -> tuple[str, ...]:
        if self.dropped:
            return (*self.warnings, f"... and {self.dropped} more warnings like these")
        return tuple(self.warnings)


def mutate(
    obj: Mapping[str, Any],
    *,
    kind: str,
    plan: InjectionPlan,
    override_env: bool,
    containers: Sequence[str],
    budget: Budget | None = None,
) -> Mutation:
    """Inject `plan` into the containers named in `containers` (empty: every container and initContainer).

    `budget` is checked once per container: raising OverBudget there is how admission stops a
    request that takes too long, whatever the object holds.
    """
    problem = _not_understood(obj, kind)
    if problem:
        return Mutation(copy.deepcopy(obj), False, f"not injected: {problem}")
    original = workload.pod_template(obj, kind)
    if c.ANNOTATION_INJECTED in {**workload.annotations_of(obj), **workload.annotations_of(original)}:
        return Mutation(copy.deepcopy(obj), False, "already injected")
    new = _copy_for_mutation(obj, kind)
    template: dict[str, Any] = _follow(new, workload.POD_TEMPLATE_PATH[kind])
    report = _Report()
    pod_spec: dict[str, Any] = template["spec"]
    targets = _targets(pod_spec, containers, report)
    if not targets:
        return Mutation(
            copy.deepcopy(obj), False, "not injected: no selected container", report.all_warnings()
        )
    skipped_volumes, added_volumes = _add_volumes(pod_spec, plan, report)
    for container in targets:
        if budget is not None:
            budget.check()
        _inject_container(
            container, plan, skipped_volumes=skipped_volumes, override_env=override_env, report=report
        )
    _drop_unmounted(pod_spec, added=added_volumes, targets=targets)
    skipped_env = tuple(sorted(report.skipped_env))
    _mark(new, template, name=plan.config_name, skipped_env=skipped_env, build_args=report.build_args)
    return Mutation(
        new,
        True,  # the marker was absent (checked above) and is now set
        f"injected GoBuildConfig {plan.config_name}",
        report.all_warnings(),
        skipped_env,
        tuple(container["name"] for container in targets),
        tuple(report.build_args.items()),
    )


def _copy_for_mutation(obj: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A copy of `obj` in which everything mutate changes is a new dict or list of its own.

    Copied: the object and its metadata (annotations, labels), each mapping on the way to the pod
    template and the template's metadata, the pod spec and its `volumes`, the container lists,
    each container and its `env` and `volumeMounts`. Shared with the input: everything else
    (images, commands, probes, resources, env entries, ...), which mutate only ever replaces,
    never changes in place. Call only on objects `_not_understood` accepts.
    """
    new = _copy_metadata(dict(obj))
    node = new
    for key in workload.POD_TEMPLATE_PATH[kind]:
        node[key] = dict(node[key])
        node = node[key]
    _copy_metadata(node)
    pod_spec = node["spec"] = dict(node["spec"])
    if pod_spec.get("volumes") is not None:
        pod_spec["volumes"] = list(pod_spec["volumes"])
    for key in ("initContainers", "containers"):
        if pod_spec.get(key) is not None:
            pod_spec[key] = [_copy_container(container) for container in pod_spec[key]]
    return new


def _copy_metadata(holder: dict[str, Any]) -> dict[str, Any]:
    metadata = holder.get("metadata")
    if isinstance(metadata, dict):
        metadata = holder["metadata"] = dict(metadata)
        for key in ("annotations", "labels"):
            if isinstance(metadata.get(key), dict):
                metadata[key] = dict(metadata[key])
    return holder


def _copy_container(container: dict[str, Any]) -> dict[str, Any]:
    new = dict(container)
    for key in ("env", "volumeMounts"):
        if new.get(key) is not None:
            new[key] = list(new[key])
    return new


# --- shape checks ----------------------------------------------------------------------------


def _not_understood(obj: Any, kind: str) -> str | None:
    """Why the object cannot be injected safely, or None."""
    path = workload.POD_TEMPLATE_PATH.get(kind)
    if path is None:
        return f"kind {kind!r} is not handled"
    if not isinstance(obj, dict):
        return "the object is not a mapping"
    where = ".".join(path) or "the Pod"
    template = workload.pod_template(obj, kind)
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return f"{where} has no pod spec"
    for holder, name in ((obj, "metadata"), (template, f"{where}.metadata")):
        problem = _metadata_problem(holder.get("metadata"), name)
        if problem:
            return problem
    return _pod_spec_problem(template["spec"])


def _metadata_problem(metadata: Any, where: str) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return f"{where} is not a mapping"
    for key in ("annotations", "labels"):
        values = metadata.get(key)
        if values is not None and not (
            isinstance(values, dict) and all(isinstance(v, str) for v in [*values, *values.values()])
        ):
            return f"{where}.{key} is not a map of strings"
    return None


def _pod_spec_problem(pod_spec: dict[str, Any]) -> str | None:
    if not _list_of_named(pod_spec.get("volumes"), optional=True):
        return "volumes is not a list of named volumes"
    containers = pod_spec.get("containers")
    if not _list_of_named(containers, optional=False) or not containers:
        return "containers is not a non-empty list of named containers"
    if not _list_of_named(pod_spec.get("initContainers"), optional=True):
        return "initContainers is not a list of named containers"
    for container in [*containers, *(pod_spec.get("initContainers") or [])]:
        problem = _container_problem(container)
        if problem:
            return f"container {container['name']!r}: {problem}"
    return None


def _container_problem(container: dict[str, Any]) -> str | None:
    if not _list_of_named(container.get("env"), optional=True):
        return "env is not a list of named variables"
    mounts = container.get("volumeMounts")
    if not _list_of_named(mounts, optional=True) or not all(
        isinstance(mount.get("mountPath"), str) for mount in mounts or []
    ):
        return "volumeMounts is not a list of mounts with name and mountPath"
    if not isinstance(container.get("terminationMessagePolicy") or "", str):
        return "terminationMessagePolicy is not a string"
    return None


def _list_of_named(value: Any, *, optional: bool) -> bool:
    if value is None:
        return optional
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in value
    )


def _follow(node: dict[str, Any], path: Iterable[str]) -> dict[str, Any]:
    for key in path:
        node = node[key]
    return node


# --- pod level -------------------------------------------------------------------------------


def _targets(pod_spec: dict[str, Any], names: Sequence[str], report: _Report) -> list[dict[str, Any]]:
    everything: list[dict[str, Any]] = [*(pod_spec.get("initContainers") or []), *pod_spec["containers"]]
    if not names:
        return everything
    present = {container["name"] for container in everything}
    for name in names:
        if name not in present:
            report.warn(f"container {name!r} named in the GoBuildConfig is not in the Pod")
    return [container for container in everything if container["name"] in names]


def _add_volumes(pod_spec: dict[str, Any], plan: InjectionPlan, report: _Report) -> tuple[set[str], set[str]]:
    """Add the plan's volumes; return (the names skipped because the workload has its own, the names
    added)."""
    volumes: list[dict[str, Any]] = pod_spec.get("volumes") or []
    existing = {volume["name"]: volume for volume in volumes}
    skipped: set[str] = set()
    added: set[str] = set()
    for volume in plan.volumes:
        ours = volume.to_k8s()
        if volume.name not in existing:
            volumes.append(ours)
            existing[volume.name] = ours
            added.add(volume.name)
        elif existing[volume.name] != ours:
            skipped.add(volume.name)
            report.warn(
                f"volume {volume.name!r} already exists in the Pod; the settings that need it were skipped"
            )
    if volumes:
        pod_spec["volumes"] = volumes
    return skipped, added


def _drop_unmounted(pod_spec: dict[str, Any], *, added: set[str], targets: list[dict[str, Any]]) -> None:
    """Take back the volumes we added that no container mounts (the module cache of a Pod that only
    runs an image builder): an unused claim would still tie the Pod to the claim's node."""
    used = {mount.get("name") for container in targets for mount in container.get("volumeMounts") or []}
    unused = added - used
    if unused:
        volumes = [volume for volume in pod_spec.get("volumes") or [] if volume.get("name") not in unused]
        if volumes:
            pod_spec["volumes"] = volumes
        else:
            pod_spec.pop("volumes", None)


def _mark(
    new: dict[str, Any],
    template: dict[str, Any],
    *,
    name: str,
    skipped_env: tuple[str, ...],
    build_args: Mapping[str, Sequence[str]],
) -> None:
    """The marker and label on the Pod (or pod template), and the marker on a Job/CronJob too."""
    holders = [template] if template is new else [template, new]
    for holder in holders:
        annotations = _string_map(holder, "annotations")
        annotations[c.ANNOTATION_INJECTED] = name
        if skipped_env:
            annotations[c.ANNOTATION_SKIPPED_ENV] = ",".join(skipped_env)
        if build_args:
            annotations[c.ANNOTATION_BUILD_ARGS] = json.dumps(
                {container: list(added) for container, added in build_args.items()}, separators=(",", ":")
            )
    _string_map(template, "labels")[c.LABEL_CONFIG] = name


def _string_map(holder: dict[str, Any], key: str) -> dict[str, str]:
    metadata = holder.get("metadata")
    if metadata is None:
        metadata = holder["metadata"] = {}
    values = metadata.get(key)
    if values is None:
        values = metadata[key] = {}
    return values


# --- container level -------------------------------------------------------------------------


def _inject_container(
    container: dict[str, Any],
    plan: InjectionPlan,
    *,
    skipped_volumes: set[str],
    override_env: bool,
    report: _Report,
) -> None:
    name = container["name"]
    builder = recognise(container) if plan.image_builds is not None else None
    mounts = plan.mounts
    if builder is not None:  # a builder's RUN steps do not see most mounts: give it none it cannot use
        mounts = tuple(m for m in mounts if m.builders is None or builder.kind in m.builders)
    left_out = {m.mount_path for m in plan.mounts} - {m.mount_path for m in mounts}
    mounted = _add_mounts(container, mounts, skipped_volumes=skipped_volumes, report=report)
    env: list[dict[str, Any]] = container.get("env") or []
    positions: dict[str, int] = {}
    for index, theirs in enumerate(env):
        positions.setdefault(theirs["name"], index)
    for var in plan.env:
        if var.needs in left_out:
            continue
        if _mounted_or_warn(var.needs, mounted, what=var.name, container=name, report=report):
            _set_env(env, positions, var, override=override_env, report=report)
    entries = [
        entry
        for entry in plan.git_config
        if _mounted_or_warn(entry.needs, mounted, what=f"git {entry.key}", container=name, report=report)
    ]
    _add_git_config(env, entries, container=name, report=report)
    if env:
        container["env"] = env
    if plan.image_builds is not None:
        _add_builder_args(container, plan.image_builds, mounted=mounted, report=report)
    if container.get("envFrom"):
        report.warn(
            f"container {name!r} uses envFrom: injected variables take precedence over "
            "variables of the same name there"
        )
    # The API server defaults the policy to "File" before admission, so "File" is
    # indistinguishable from unset. FallbackToLogsOnError keeps File's behaviour whenever the
    # build writes a termination message and only adds the log tail when it does not.
    if container.get("terminationMessagePolicy") in (None, "", "File"):
        container["terminationMessagePolicy"] = plan.termination_message_policy


def _add_builder_args(
    container: dict[str, Any], plan: ImageBuildPlan, *, mounted: set[str], report: _Report
) -> None:
    """Builder-aware injection (core/imagebuilds/), after the env it reads."""
    change = builder_args(container, plan, mounted=mounted)
    for warning in change.warnings:
        report.warn(warning)
    if change.command is not None:
        container["command"] = change.command
    if change.args is not None:
        container["args"] = change.args
    if change.added:
        report.build_args[container["name"]] = change.added


def _add_mounts(
    container: dict[str, Any], mounts: Iterable[VolumeMount], *, skipped_volumes: set[str], report: _Report
) -> set[str]:
    """Add the plan's mounts; return the mountPaths of ours that the container now has."""
    existing: list[dict[str, Any]] = container.get("volumeMounts") or []
    by_path = {posixpath.normpath(mount["mountPath"]): mount for mount in existing}
    mounted: set[str] = set()
    for mount in mounts:
        if mount.name in skipped_volumes:
            continue
        ours = mount.to_k8s()
        theirs = by_path.get(posixpath.normpath(mount.mount_path))
        if theirs is None:
            existing.append(ours)
            by_path[mount.mount_path] = ours
        elif not _same_mount(theirs, ours):
            report.warn(
                f"container {container['name']!r} already mounts {mount.mount_path}; "
                f"{mount.name} was not mounted there"
            )
            continue
        mounted.add(mount.mount_path)
    if existing:
        container["volumeMounts"] = existing
    return mounted


def _same_mount(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    return all(
        theirs.get(key, default) == ours.get(key, default)
        for key, default in (("name", None), ("subPath", ""), ("readOnly", False))
    )


def _mounted_or_warn(
    needs: str | None, mounted: set[str], *, what: str, container: str, report: _Report
) -> bool:
    if needs is None or needs in mounted:
        return True
    report.warn(f"{what} not set in container {container!r}: {needs} could not be mounted")
    return False


def _set_env(
    env: list[dict[str, Any]], positions: dict[str, int], var: EnvVar, *, override: bool, report: _Report
) -> None:
    """Set `var` unless the workload has it; `positions` maps names to their first index in `env`."""
    ours = var.to_k8s()
    index = positions.get(var.name)
    if index is None:
        positions[var.name] = len(env)
        env.append(ours)
        return
    if env[index] == ours:
        return
    if override:
        env[index] = ours
    else:
        report.skipped_env.add(var.name)


def _add_git_config(
    env: list[dict[str, Any]], entries: Sequence[GitConfig], *, container: str, report: _Report
) -> None:
    """Append our entries after the workload's GIT_CONFIG_* entries (idempotent)."""
    if not entries:
        return
    count = _git_config_count(env)
    if count is None:
        report.skipped_env.add(_GIT_CONFIG_COUNT)
        report.warn(
            f"git settings (SSH URL rewrites, credential helper) not set in container {container!r}: "
            "its GIT_CONFIG_* variables cannot be extended"
        )
        return
    # Read the workload's entries from its own list: the work is bounded by what the object holds,
    # never by a number the workload wrote.
    values = {var["name"]: var.get("value") for var in env}
    present = {
        (values.get(f"GIT_CONFIG_KEY_{index}"), values.get(f"GIT_CONFIG_VALUE_{index}"))
        for index in _git_config_indices(env)
    }
    literal = [(kubelet_literal(entry.key), kubelet_literal(entry.value)) for entry in entries]
    missing = [pair for pair in literal if pair not in present]
    for offset, (key, value) in enumerate(missing):
        env.append({"name": f"GIT_CONFIG_KEY_{count + offset}", "value": key})
        env.append({"name": f"GIT_CONFIG_VALUE_{count + offset}", "value": value})
    if missing:
        _put(env, {"name": _GIT_CONFIG_COUNT, "value": str(count + len(missing))})


def _git_config_count(env: Sequence[Mapping[str, Any]]) -> int | None:
    """How many GIT_CONFIG_* entries the container has; None when ours cannot be appended safely."""
    counts = [var for var in env if var["name"] == _GIT_CONFIG_COUNT]
    if len(counts) > 1:
        return None
    count = 0
    if counts:
        value = counts[0].get("value")
        if "valueFrom" in counts[0] or not isinstance(value, str) or not _GIT_CONFIG_COUNT_VALUE.match(value):
            return None
        count = int(value)
    # git needs a KEY_n and VALUE_n for every n below the count: a count larger than the entries
    # present already fails the workload's own git, and ours cannot be numbered after it.
    if count > len(env):
        return None
    # Entries at or beyond the count would be overwritten by ours, or leave gaps git refuses.
    if any(index >= count for index in _git_config_indices(env)):
        return None
    return count


def _git_config_indices(env: Sequence[Mapping[str, Any]]) -> set[int]:
    """The n of every GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n the container sets."""
    indices: set[int] = set()
    for var in env:
        match = _GIT_CONFIG_ENTRY.match(var["name"])
        if match:
            indices.add(int(match.group(2)))
    return indices


def _put(env: list[dict[str, Any]], var: dict[str, Any]) -> None:
    for index, existing in enumerate(env):
        if existing["name"] == var["name"]:
            env[index] = var
            return
    env.append(var)
