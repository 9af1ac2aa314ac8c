"""Inject a GoBuildConfig into a Pod, Job or CronJob: select, plan, mutate, and say why.

The one path from an admitted object to the injected one. The webhook calls it on every admission
request; the missed-injection check calls it on a stored Pod to ask "would the webhook have changed
this?". Both therefore agree by construction on what injection means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gobuild_operator import constants as c
from gobuild_operator.api import GoBuildConfigSpec
from gobuild_operator.core.mutate import mutate
from gobuild_operator.core.plan import build_plan
from gobuild_operator.core.redact import redact_text
from gobuild_operator.core.selection import should_inject

Outcome = Literal["injected", "skipped", "unchanged"]


@dataclass(frozen=True)
class Injection:
    """What admission does with one object: `obj` is the injected object, None to admit it unchanged."""

    obj: dict[str, Any] | None
    config: str | None
    outcome: Outcome
    #: For the admission response (kubectl prints them); names and reasons only.
    warnings: tuple[str, ...] = ()


def inject(
    obj: Mapping[str, Any],
    *,
    kind: str,
    namespace: str,
    namespace_labels: Mapping[str, str],
    operator_namespace: str,
    configs: Mapping[str, GoBuildConfigSpec | None],
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN,
    extra_no_proxy: Sequence[str] = (),
) -> Injection:
    """SPEC "Opting in" decides the config; SPEC "What an injected workload carries" is applied.

    `configs` are the namespace's GoBuildConfigs by name (None: one whose spec does not parse).
    """
    decision = should_inject(
        obj,
        kind=kind,
        namespace=namespace,
        namespace_labels=namespace_labels,
        operator_namespace=operator_namespace,
        configs=configs,
    )
    warnings = list(decision.warnings)
    spec = configs.get(decision.config) if decision.config else None
    if decision.config is None or spec is None:
        return Injection(None, None, "skipped", _shown(warnings))
    plan = build_plan(
        config_name=decision.config, spec=spec, cluster_domain=cluster_domain, extra_no_proxy=extra_no_proxy
    )
    result = mutate(obj, kind=kind, plan=plan, override_env=spec.override_env, containers=spec.containers)
    warnings.extend(result.warnings)
    if result.skipped_env:
        names = ", ".join(result.skipped_env)
        warnings.append(
            f"{decision.config}: kept the workload's own {names} (overrideEnv: true would replace them)"
        )
    if not result.changed:
        warnings.append(f"{decision.config}: {result.reason}")
        return Injection(None, decision.config, "unchanged", _shown(warnings))
    return Injection(result.obj, decision.config, "injected", _shown(warnings))


def _shown(warnings: Sequence[str]) -> tuple[str, ...]:
    """Warnings as kubectl prints them: never a credential (kubectl shows them to the Pod's creator)."""
    return tuple(redact_text(warning) for warning in warnings)
