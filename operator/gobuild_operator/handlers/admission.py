"""The mutating admission webhook: decide with core.selection, change with core.mutate.

Everything the decision needs comes from kopf indices (GoBuildConfigs and namespace labels kept
in memory by watches), so admission makes no API calls. The webhook fails open: whatever goes
wrong, the object is admitted unchanged with a warning that says why, never blocked.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from gobuild_operator.api import GoBuildConfigSpec
from gobuild_operator.constants import ANNOTATION_INJECTED
from gobuild_operator.core.mutate import mutate
from gobuild_operator.core.plan import build_plan
from gobuild_operator.core.selection import should_inject
from gobuild_operator.k8s.webhookconfig import HOOKS
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings

ConfigIndex = Mapping[str, Iterable[tuple[str, GoBuildConfigSpec | None]]]
LabelIndex = Mapping[str, Iterable[dict[str, str]]]


def admit(
    obj: Mapping[str, Any],
    *,
    kind: str,
    namespace: str,
    settings: Settings,
    configs_index: ConfigIndex,
    labels_index: LabelIndex,
) -> tuple[dict[str, Any] | None, list[str], str]:
    """(the mutated object or None, admission warnings, outcome) for one admission request."""
    configs = dict(configs_index.get(namespace, ()))
    namespace_labels = next(iter(labels_index.get(namespace, ())), {})
    decision = should_inject(
        obj,
        kind=kind,
        namespace=namespace,
        namespace_labels=namespace_labels,
        operator_namespace=settings.operator_namespace,
        configs=configs,
    )
    warnings = list(decision.warnings)
    spec = configs.get(decision.config) if decision.config else None
    if decision.config is None or spec is None:
        return None, warnings, "skipped"
    plan = build_plan(
        config_name=decision.config,
        spec=spec,
        cluster_domain=settings.cluster_domain,
        extra_no_proxy=settings.extra_no_proxy,
    )
    result = mutate(
        obj,
        kind=kind,
        plan=plan,
        override_env=spec.override_env,
        containers=list(spec.containers),
    )
    warnings.extend(result.warnings)
    if result.skipped_env:
        names = ", ".join(result.skipped_env)
        warnings.append(
            f"{decision.config}: kept the workload's own {names} (overrideEnv: true would replace them)"
        )
    if not result.changed:
        warnings.append(f"{decision.config}: {result.reason}")
        return None, warnings, "unchanged"
    return result.obj, warnings, "injected"


async def handle(
    *,
    kind: str,
    body: kopf.Body,
    namespace: str | None,
    memo: kopf.Memo,
    patch: kopf.Patch,
    warnings: list[str],
    logger: kopf.Logger,
    gobuildconfigs: ConfigIndex,
    namespace_labels: LabelIndex,
    **_: Any,
) -> None:
    """One admission request (async: it never awaits, so it runs inline without a thread hop)."""
    settings: Settings = memo.settings
    metrics: Metrics = memo.metrics
    started = time.perf_counter()
    outcome = "error"
    ns = namespace or ""
    try:
        new, notes, outcome = admit(
            dict(body),  # kopf's Body is a read-only view; the core works on plain dicts
            kind=kind,
            namespace=ns,
            settings=settings,
            configs_index=gobuildconfigs,
            labels_index=namespace_labels,
        )
        warnings.extend(f"gobuild-operator: {note}" for note in notes)
        if new is not None:
            replacement = new

            def replace(target: kopf.RawBody) -> None:
                raw = cast(dict[str, Any], target)  # kopf hands a plain dict typed as a TypedDict
                raw.clear()
                raw.update(copy.deepcopy(replacement))

            patch.fns.append(replace)
            config = new.get("metadata", {}).get("annotations", {}).get(ANNOTATION_INJECTED, "")
            metrics.injections.labels(namespace=ns, config=config).inc()
            logger.info(
                "injected %s %s/%s with config %s", kind, ns, body.get("metadata", {}).get("name"), config
            )
    except Exception:  # never block or corrupt what we do not understand: admit unchanged
        logger.exception("admitted %s in %s unchanged after an internal error", kind, ns)
        warnings.append("gobuild-operator: not injected because of an internal error; see the operator log")
        outcome = "error"
    finally:
        metrics.admission_requests.labels(kind=kind, outcome=outcome).inc()
        metrics.admission_seconds.labels(kind=kind).observe(time.perf_counter() - started)


#: The object kind each webhook path handles; paths and rules come from the one HOOKS table.
KINDS = {"pods": "Pod", "jobs": "Job", "cronjobs": "CronJob"}

for _suffix, _handler_id, _group, _version, _resource, _operations in HOOKS:
    kopf.on.mutate(
        _group,
        _version,
        _resource,
        id=_handler_id,
        operations=[cast(kopf.Operation, op) for op in _operations],
        ignore_failures=True,
        side_effects=False,
    )(functools.partial(handle, kind=KINDS[_resource]))
