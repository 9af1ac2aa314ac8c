"""Was a stored Pod admitted without the injection it asked for (the webhook was unavailable)?

The webhook fails open: while the operator is down or too slow, Pods are admitted unchanged. The
check asks the webhook's own question, `inject()`, about the Pod as stored: if it would inject it
now, the webhook did not run when it was admitted. Pods older than the config were admitted when
there was nothing to inject and are not missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.injection import workload
from gobuild_operator.core.injection.budget import Budget
from gobuild_operator.core.injection.inject import inject
from gobuild_operator.timeutil import parse_rfc3339


def missed_config(
    pod: Mapping[str, Any],
    *,
    namespace: str,
    namespace_labels: Mapping[str, str],
    operator_namespace: str,
    configs: Mapping[str, GoBuildConfigSpec | None],
    created: Mapping[str, str],
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN,
    budget: Budget | None = None,
) -> str | None:
    """The config a stored Pod would have been injected with had the webhook seen it, or None.

    `created` maps config names to their creationTimestamp. `budget` may raise
    core.budget.OverBudget part-way, as it does for the webhook.
    """
    annotations = workload.annotations_of(pod)
    if c.ANNOTATION_INJECTED in annotations or c.ANNOTATION_RECORDED in annotations:
        return None
    injection = inject(
        pod,
        kind="Pod",
        namespace=namespace,
        namespace_labels=namespace_labels,
        operator_namespace=operator_namespace,
        configs=configs,
        cluster_domain=cluster_domain,
        budget=budget,
    )
    if injection.outcome != "injected" or injection.config is None:
        return None
    born = parse_rfc3339(str((pod.get("metadata") or {}).get("creationTimestamp") or ""))
    if born < parse_rfc3339(created.get(injection.config, "")):
        return None
    return injection.config
