"""One GoBuildConfig status from its parts: what the spec says, what the checks found, what the
builds did.

The parts come from different places at different times (a spec change, a probe round every few
minutes, a batch of finished Pods every half second), but the status is written by one writer
(reconciler/status.py), which applies every part it knows to the latest status in one write. So a
write caused by a finished Pod also carries the latest spec and check results, and Ready is always
derived from all of them.

Pure: each function takes the current status model and returns a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.status.model import GoBuildConfigStatus, LastPreflight
from gobuild_operator.core.plan import effective_goproxy, effective_gosumdb
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status import health
from gobuild_operator.redact import redact_text
from gobuild_operator.timeutil import parse_rfc3339


@dataclass(frozen=True)
class SpecView:
    """The spec as the operator parsed it (None: it does not parse, or the policy refuses it)."""

    spec: GoBuildConfigSpec | None
    generation: int
    error: str = ""
    #: The SpecValid reason when `spec` is None: InvalidSpec, or NotAllowed by the policy.
    reason: str = ""
    #: Where the config lives (the Proxy cache's name in GOPROXY depends on it).
    config_name: str = ""
    namespace: str = ""
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN


@dataclass(frozen=True)
class Findings:
    """One round of checks: probes, referenced objects, the cache claim (None: no cache)."""

    spec: GoBuildConfigSpec
    config_name: str
    results: Sequence[health.ProbeResult]
    refs: Sequence[health.Reference]
    lookups: Mapping[tuple[str, str], health.Lookup]
    claim: health.Claim | None
    #: The Proxy cache's Deployment and counters (None: not looked at), and its URL.
    proxy: health.ProxyCache | None = None
    cache_url: str = ""


def with_spec(status: GoBuildConfigStatus, view: SpecView, *, now: str) -> GoBuildConfigStatus:
    """observedGeneration, the effective GOPROXY/GOSUMDB (as `kubectl get gbc` shows them: never a
    credential, even from a spec stored under an older CRD) and SpecValid."""
    generation = view.generation
    update: dict[str, object] = {"observed_generation": generation}
    set_spec_valid = cond.setter(status.conditions, cond.SPEC_VALID, generation=generation, now=now)
    if view.spec is None:
        conditions = set_spec_valid("False", view.reason or "InvalidSpec", view.error)
    else:
        update["goproxy"] = redact_text(
            effective_goproxy(
                view.spec,
                config_name=view.config_name,
                namespace=view.namespace,
                cluster_domain=view.cluster_domain,
            )
        )
        update["gosumdb"] = redact_text(effective_gosumdb(view.spec))
        conditions = set_spec_valid("True", "Valid", "the spec is valid")
    update["conditions"] = cond.with_ready(conditions, generation=generation, now=now)
    return status.model_copy(update=update)


def with_findings(
    status: GoBuildConfigStatus, findings: Findings, *, generation: int | None, now: str
) -> GoBuildConfigStatus:
    """status.proxies and status.cache, and the conditions the checks decide."""
    spec = findings.spec
    conditions = health.proxies_condition(
        status.conditions, findings.results, spec=spec, generation=generation, now=now
    )
    conditions = health.secrets_condition(
        conditions, findings.refs, findings.lookups, generation=generation, now=now
    )
    cache, conditions = health.cache_check(
        conditions,
        spec,
        config_name=findings.config_name,
        claim=findings.claim,
        proxy=findings.proxy,
        url=findings.cache_url,
        generation=generation,
        now=now,
    )
    conditions = health.initial_downloads_condition(
        conditions, enabled=spec.reporting.enabled, generation=generation, now=now
    )
    proxies = [result.to_status() for result in findings.results]
    last_failure = status.downloads.last_failure if status.downloads is not None else None
    conditions = health.consistent_proxies(conditions, proxies, last_failure, generation=generation, now=now)
    return status.model_copy(
        update={
            "proxies": proxies,
            "cache": cache,
            "conditions": cond.with_ready(conditions, generation=generation, now=now),
        }
    )


def with_preflight(status: GoBuildConfigStatus, record: LastPreflight) -> GoBuildConfigStatus:
    """status.lastPreflight, unless it already holds a later run (a stale watch event, an old Pod
    seen again after a restart) or this very one."""
    last = status.last_preflight
    if last is not None and (last.pod == record.pod or parse_rfc3339(last.time) > parse_rfc3339(record.time)):
        return status
    return status.model_copy(update={"last_preflight": record})
