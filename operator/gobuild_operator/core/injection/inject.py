"""Inject a GoBuildConfig into a Pod, Job or CronJob: select, plan, mutate, and say why.

The one path from an admitted object to the injected one. The webhook calls it on every admission
request; the missed-injection check calls it on a stored Pod to ask "would the webhook have changed
this?". Both therefore agree by construction on what injection means.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.injection.budget import Budget
from gobuild_operator.core.injection.mutate import mutate
from gobuild_operator.core.injection.selection import should_inject
from gobuild_operator.core.plan import InjectionPlan, build_plan
from gobuild_operator.redact import redact_text

Outcome = Literal["injected", "skipped", "unchanged"]


@dataclass(frozen=True)
class Injection:
    """What admission does with one object: `obj` is the injected object, None to admit it unchanged."""

    obj: dict[str, Any] | None
    config: str | None
    outcome: Outcome
    #: For the admission response (kubectl prints them); names and reasons only.
    warnings: tuple[str, ...] = ()


#: (namespace, config name, id of the parsed spec)
_Key = tuple[str, str, int]


class PlanCache:
    """Plans by config, so a busy webhook builds each config's plan once, not once per request.

    Keyed by the parsed spec object itself (the store parses a spec once per generation and hands
    out the same object until it changes), held strongly so its identity cannot be reused, and
    bounded: the least recently used plan goes first. One cache per thread (no locks).
    """

    def __init__(self, *, size: int = 256) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, str, int], tuple[GoBuildConfigSpec, InjectionPlan]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._plans)

    def plan(
        self,
        *,
        config_name: str,
        namespace: str,
        spec: GoBuildConfigSpec,
        cluster_domain: str,
        extra_no_proxy: Sequence[str],
    ) -> InjectionPlan:
        key = (namespace, config_name, id(spec))
        hit = self._plans.get(key)
        if hit is not None and hit[0] is spec:
            self._plans.move_to_end(key)
            return hit[1]
        plan = build_plan(
            config_name=config_name,
            namespace=namespace,
            spec=spec,
            cluster_domain=cluster_domain,
            extra_no_proxy=extra_no_proxy,
        )
        self._plans[key] = (spec, plan)
        while len(self._plans) > self._size:
            self._plans.popitem(last=False)
        return plan


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
    plans: PlanCache | None = None,
    budget: Budget | None = None,
) -> Injection:
    """SPEC "Opting in" decides the config; SPEC "What an injected workload carries" is applied.

    `configs` are the namespace's GoBuildConfigs by name (None: one whose spec does not parse).
    `budget` may raise core.budget.OverBudget part-way (see mutate).
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
    plan = (plans if plans is not None else PlanCache(size=1)).plan(
        config_name=decision.config,
        namespace=namespace,
        spec=spec,
        cluster_domain=cluster_domain,
        extra_no_proxy=extra_no_proxy,
    )
    result = mutate(
        obj, kind=kind, plan=plan, override_env=spec.override_env, containers=spec.containers, budget=budget
    )
    warnings.extend(result.warnings)
    if result.changed and spec.cache.shared_volume:
        warnings.append(
            f"{decision.config}: the module cache is a volume shared read-write by every build of the "
            "namespace (cache.mode SharedVolume): this build can change what later builds compile"
        )
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
