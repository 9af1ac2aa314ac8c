"""The GoBuildConfig status: what the operator writes (the API server prunes whatever its schema
does not declare), as models the status writer fills and the CRD schema is generated from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gobuild_operator.api.fields.markers import Rule, Schema, map_list
from gobuild_operator.api.fields.values import Time
from gobuild_operator.api.status.reasons import NAMES as REASON_NAMES

# --- status --------------------------------------------------------------------------------------


class StatusModel(BaseModel):
    """What the operator writes; validation only catches fields the API server would prune."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    crd_rules: ClassVar[tuple[Rule, ...]] = ()
    crd_schema: ClassVar[Mapping[str, Any]] = {}


class Condition(StatusModel):
    """A metav1.Condition."""

    type: Annotated[
        str,
        Field(max_length=316, description="The condition type, e.g. Ready."),
        Schema(
            {
                "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
            }
        ),
    ]
    status: Annotated[Literal["True", "False", "Unknown"], Field(description="True, False or Unknown.")]
    observed_generation: Annotated[
        int | None, Field(ge=0, description="The metadata.generation the condition was set for.")
    ] = None
    last_transition_time: Annotated[Time, Field(description="When status last changed.")]
    reason: Annotated[
        str,
        Field(
            min_length=1,
            max_length=1024,
            description="A CamelCase reason for the last transition, e.g. ProxyUnreachable.",
        ),
        Schema({"pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"}),
    ]
    message: Annotated[
        str, Field(max_length=32768, description="What happened and how to fix it, for humans.")
    ]


class ProxyStatus(StatusModel):
    """One goproxy URL's latest probe."""

    url: Annotated[str, Field(description="The goproxy entry probed.")] = ""
    reachable: Annotated[
        bool | None, Field(description="Whether the proxy answered the probe for reporting.probeModule.")
    ] = None
    latency_ms: Annotated[int | None, Field(description="How long the probe took, in milliseconds.")] = None
    last_probe_time: Annotated[Time, Field(description="When the probe ran.")] = ""
    error: Annotated[str, Field(description="Why the probe failed; empty when reachable.")] = ""


class CacheStatus(StatusModel):
    mode: Annotated[str, Field(description="Proxy or SharedVolume (spec.cache.mode).")] = ""
    url: Annotated[
        str | None, Field(description="Proxy: where builds reach the cache (the first GOPROXY entry).")
    ] = None
    available: Annotated[
        bool | None, Field(description="Proxy: whether the cache's Pod is ready to serve.")
    ] = None
    hits: Annotated[
        int | None, Field(description="Proxy: requests the cache answered without asking its upstreams.")
    ] = None
    misses: Annotated[int | None, Field(description="Proxy: requests the cache had to fetch upstream.")] = (
        None
    )
    hit_ratio: Annotated[
        float | None, Field(description="Proxy: hits / (hits + misses) since the cache's Pod started.")
    ] = None
    claim_name: Annotated[
        str,
        Field(
            description="The PersistentVolumeClaim of the cache (the Proxy's storage, or the shared volume)."
        ),
    ] = ""
    phase: Annotated[str, Field(description="The claim's phase (Pending, Bound, Lost).")] = ""
    capacity: Annotated[str, Field(description="The claim's bound capacity, e.g. 10Gi.")] = ""
    access_modes: Annotated[list[str], Field(description="The claim's bound access modes.")] = Field(
        default_factory=list
    )


class Failure(StatusModel):
    """A failed build (the same shape in lastFailure and recentFailures)."""

    pod: Annotated[str, Field(description="The Pod's name.")] = ""
    container: Annotated[str, Field(description="The container whose build failed.")] = ""
    reason: Annotated[
        Literal[REASON_NAMES],  # type: ignore[valid-type]
        Field(description="One of the fixed failure reasons (see byReason)."),
    ] = "Unknown"
    summary: Annotated[str, Field(description="What went wrong, in one line.")] = ""
    remedy: Annotated[str, Field(description="The GoBuildConfig field or build change that fixes it.")] = ""
    module: Annotated[
        str, Field(max_length=1024, description="The module whose download failed, when the log names it.")
    ] = ""
    host: Annotated[
        str,
        Field(
            max_length=1024,
            description="The server the failed request went to (proxy, checksum database or repository).",
        ),
    ] = ""
    route: Annotated[
        Literal["", "proxy", "sumdb", "direct", "vcs", "off"],
        Field(
            description=(
                "Which way the failed request went: proxy (a goproxy entry), sumdb (the checksum "
                "database), direct (go from the module's origin), vcs (git or ssh), off (GOPROXY=off); "
                "empty when unknown."
            )
        ),
    ] = ""
    time: Annotated[Time, Field(description="When the failure was recorded.")] = ""


class PendingEntry(StatusModel):
    """One counted Pod awaiting its annotation."""

    uid: Annotated[str, Field(description="The Pod's uid.")] = ""
    pod: Annotated[str, Field(description="The Pod's name.")] = ""
    stage: Annotated[
        Literal["injected", "succeeded", "failed", "missed"],
        Field(description="What was counted for the Pod."),
    ] = "injected"
    time: Annotated[Time, Field(description="When it was counted.")] = ""


class Downloads(StatusModel):
    injected: Annotated[int, Field(description="Pods injected with this config.")] = 0
    succeeded: Annotated[int, Field(description="Injected Pods whose builds succeeded.")] = 0
    failed: Annotated[int, Field(description="Injected Pods whose builds failed.")] = 0
    missed_injections: Annotated[
        int,
        Field(
            description=(
                "Pods that asked for this config but were admitted without it (the webhook was down or "
                "timed out)."
            )
        ),
    ] = 0
    by_reason: Annotated[
        dict[str, int], Field(description="Failed builds per reason: " + ", ".join(REASON_NAMES) + ".")
    ] = Field(default_factory=dict)
    last_failure: Annotated[
        Failure | None,
        Field(description="A failed build (the same shape in lastFailure and recentFailures)."),
    ] = None
    recent_failures: Annotated[
        list[Failure], Field(max_length=10, description="The latest failed builds, newest first, at most 10.")
    ] = Field(default_factory=list)
    pending: Annotated[
        list[PendingEntry],
        Field(
            description=(
                "Bookkeeping, usually empty: Pods counted above whose gobuild.dev/recorded annotation the "
                "operator has not written yet. Counting and listing a Pod here happen in one status write, "
                "so an operator restart neither loses nor double-counts an outcome."
            )
        ),
    ] = Field(default_factory=list)
    running: Annotated[
        str,
        Field(
            description=(
                "Bookkeeping: the injected Pods still running, counted in injected, as space-separated "
                "uid/name words. A new Pod is counted without writing to it: this is its record until it "
                "finishes or is deleted, so an operator restart does not count it twice."
            )
        ),
    ] = ""


class PreflightFailure(StatusModel):
    """A module the last preflight found would not download, and why."""

    module: Annotated[
        str, Field(max_length=1024, description="The module path (or the project's, for the project check).")
    ] = ""
    reason: Annotated[
        Literal[REASON_NAMES],  # type: ignore[valid-type]
        Field(description="One of the fixed failure reasons (see downloads.byReason)."),
    ] = "Unknown"


class LastPreflight(StatusModel):
    """The latest `preflight` (or `check --preflight`) run with this config, from its Pod."""

    time: Annotated[Time, Field(description="When the preflight Pod finished.")] = ""
    pod: Annotated[str, Field(description="The preflight Pod's name.")] = ""
    outcome: Annotated[
        Literal["Passed", "Failed"],
        Field(description="Passed: every module downloads and go accepts the project; Failed: not so."),
    ] = "Failed"
    modules: Annotated[int, Field(ge=0, description="How many modules go was asked for.")] = 0
    failing: Annotated[
        list[PreflightFailure],
        Field(max_length=5, description="The modules that would not download (at most 5), with the reason."),
    ] = Field(default_factory=list)


class GoBuildConfigStatus(StatusModel):
    observed_generation: Annotated[
        int | None, Field(description="The metadata.generation of the spec this status describes.")
    ] = None
    goproxy: Annotated[
        str, Field(description='The GOPROXY value injected, e.g. "https://goproxy.cn,direct".')
    ] = ""
    gosumdb: Annotated[
        str, Field(description="The GOSUMDB value injected; empty when go's default applies.")
    ] = ""
    conditions: Annotated[
        list[Condition],
        Field(
            description=(
                "Ready (spec valid and everything it references resolved), ProxiesReachable, "
                "SecretsResolved, CacheReady and DownloadsHealthy."
            )
        ),
        map_list("type"),
    ] = Field(default_factory=list)
    proxies: Annotated[
        list[ProxyStatus], Field(description="The outcome of the latest probe of each goproxy URL.")
    ] = Field(default_factory=list)
    cache: Annotated[CacheStatus | None, Field(description="The module cache claim in use.")] = None
    downloads: Annotated[
        Downloads | None, Field(description="What happened to `go mod download` in the injected Pods.")
    ] = None
    last_preflight: Annotated[
        LastPreflight | None,
        Field(
            description="The latest preflight run with this config (`preflight --config`): when, its Pod, "
            "the outcome and the failing modules. Preflight Pods are not counted in downloads."
        ),
    ] = None
