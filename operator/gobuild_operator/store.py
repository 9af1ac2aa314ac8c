"""The operator's one in-memory view of GoBuildConfigs and namespace labels.

kopf's watches feed it (handlers/gobuildconfigs.py, handlers/namespaces.py); the webhook, the
reconciler, the per-config checks, the download reporter and the missed-injection check read it.
Each GoBuildConfig's spec is parsed once per change of its generation, here and nowhere else, so
admission never parses and never calls the API. The operator's policy (api/configspec/policy.py: env names
and GOFLAGS that run code, refused unless the admin allows them) is applied in the same place, so
a refused config is "invalid" for selection, injection and the status alike.

Plain data and dicts, no I/O and no locks. kopf's event loop writes; the admission thread
(handlers/webhook.py) only reads, through `specs()`, `namespace_labels()` and `probe_health()`,
which hand out mappings that are never changed after they are published: a write builds a new one
and swaps it in with one dict assignment (atomic under the GIL), so a reader sees the old view or
the new one, never half of a change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from gobuild_operator.api.configspec import policy as policies
from gobuild_operator.api.configspec.model import GoBuildConfigSpec, parse_spec
from gobuild_operator.api.configspec.policy import Policy
from gobuild_operator.api.fields.values import MAX_NAME_LENGTH, NAME_TOO_LONG, SpecError
from gobuild_operator.api.status.reasons import ReasonName

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class ConfigInfo:
    namespace: str
    name: str
    uid: str
    created: str
    generation: int
    spec: GoBuildConfigSpec | None  # None: the spec does not parse or is not allowed; `error` says why
    error: str
    pending: int  # Pods in status.downloads.pending and .running: a previous run's to settle
    #: The SpecValid reason when `spec` is None: InvalidSpec, or NotAllowed by the operator's policy.
    reason: str = ""

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


def _info(body: Mapping[str, Any], previous: ConfigInfo | None, policy: Policy) -> ConfigInfo:
    """`previous` lends its parse when uid and generation show the spec is unchanged."""
    metadata = body.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    generation = int(metadata.get("generation") or 0)
    if previous is not None and previous.uid == uid and previous.generation == generation:
        spec, error, reason = previous.spec, previous.error, previous.reason
    else:
        spec, error, reason = _parse(body.get("spec") or {}, policy)
        if len(str(metadata.get("name") or "")) > MAX_NAME_LENGTH:  # stored under an older CRD
            spec, error, reason = None, NAME_TOO_LONG, "InvalidSpec"
    downloads = (body.get("status") or {}).get("downloads") or {}
    return ConfigInfo(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=uid,
        created=str(metadata.get("creationTimestamp") or ""),
        generation=generation,
        spec=spec,
        error=error,
        pending=len(downloads.get("pending") or []) + len(str(downloads.get("running") or "").split()),
        reason=reason,
    )


def _parse(spec: Mapping[str, Any], policy: Policy) -> tuple[GoBuildConfigSpec | None, str, str]:
    """(spec, error, reason): the parsed spec, or None with the error and the SpecValid reason."""
    try:
        parsed = parse_spec(dict(spec))
    except SpecError as exc:
        return None, str(exc), "InvalidSpec"
    refused = policies.problems(parsed, policy)
    if refused:
        return None, "; ".join(refused), policies.REASON
    return parsed, "", ""


def _key(body: Mapping[str, Any]) -> Key:
    metadata = body.get("metadata") or {}
    return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


_NOTHING: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class ProbeHealth:
    """What the latest probe round of a config found failing, as its status says (status.proxies and
    ProxiesReachable, written by the leader): every replica's webhook reads it from its own watch, to
    warn whoever creates a build that will fail at go mod download."""

    #: (url, error) of each goproxy URL whose probe failed.
    failing: tuple[tuple[str, str], ...]
    #: Whether builds cannot get past them (go stops at an unreachable proxy without OnAnyError).
    blocking: bool
    #: When the round ran (RFC 3339).
    time: str


#: ProxiesReachable's reason when builds cannot get past a failing proxy (core/status/health.py).
_BLOCKING: Final = ReasonName.ProxyUnreachable.value


def _probe_health(body: Mapping[str, Any]) -> ProbeHealth | None:
    """The failed probes in a config's status, if its ProxiesReachable is of the current spec."""
    status = body.get("status") or {}
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    reachable = next(
        (
            c
            for c in status.get("conditions") or []
            if isinstance(c, Mapping) and c.get("type") == "ProxiesReachable"
        ),
        None,
    )
    if reachable is None or reachable.get("status") != "False":
        return None
    if reachable.get("observedGeneration") not in (None, generation):
        return None  # probes of an older spec
    failing = [
        p for p in status.get("proxies") or [] if isinstance(p, Mapping) and p.get("reachable") is False
    ]
    if not failing:
        return None
    return ProbeHealth(
        failing=tuple((str(p.get("url") or ""), str(p.get("error") or "")) for p in failing),
        blocking=reachable.get("reason") == _BLOCKING,
        time=str(failing[0].get("lastProbeTime") or ""),
    )


class Store:
    def __init__(self, *, policy: Policy | None = None) -> None:
        self._policy = policy if policy is not None else Policy()
        self._configs: dict[Key, ConfigInfo] = {}
        self._labels: dict[str, Mapping[str, str]] = {}
        #: namespace -> name -> parsed spec, by name; rebuilt (never changed) on every config change.
        self._specs: dict[str, Mapping[str, GoBuildConfigSpec | None]] = {}
        #: Set once the store holds what existed when the operator started (startup.py); until
        #: then admission would answer "not found" for configs that exist.
        self.synced = False
        #: Set by every change, for `wait_until_holds` (on the event loop that feeds the store).
        self._changed = asyncio.Event()
        #: (namespace, name) -> the failing probes its status shows; replaced (never changed) on a change.
        self._probes: Mapping[Key, ProbeHealth] = MappingProxyType({})

    def holds(self, configs: set[Key], namespaces: set[str]) -> bool:
        """Whether these configs and namespaces have all arrived from the watches."""
        return configs <= self._configs.keys() and namespaces <= self._labels.keys()

    async def wait_until_holds(self, configs: set[Key], namespaces: set[str]) -> None:
        """Return once the watches have delivered these configs and namespaces: each change of the
        store wakes the wait (callers bound it with asyncio.timeout)."""
        while True:
            self._changed.clear()
            if self.holds(configs, namespaces):
                return
            await self._changed.wait()

    def _touch(self) -> None:
        self._changed.set()

    def _publish(self, namespace: str) -> None:
        specs = {info.name: info.spec for info in self.configs_in(namespace)}
        if specs:
            self._specs[namespace] = MappingProxyType(specs)
        else:
            self._specs.pop(namespace, None)

    # --- GoBuildConfigs -------------------------------------------------------------------------

    def put_config(self, body: Mapping[str, Any]) -> tuple[ConfigInfo, ConfigInfo | None]:
        """Store a GoBuildConfig from its watch event; return (it, what was stored before)."""
        old = self._configs.get(_key(body))
        info = _info(body, old, self._policy)
        self._configs[info.key] = info
        if old is None or old.spec is not info.spec:
            self._publish(info.namespace)
        self._set_probe_health(info.key, _probe_health(body))
        self._touch()
        return info, old

    def view(self, body: Mapping[str, Any]) -> ConfigInfo:
        """A GoBuildConfig read some other way (a status write's read), parsed through the store's
        cache but not stored: the store follows the watch, whose events drive the checks."""
        return _info(body, self._configs.get(_key(body)), self._policy)

    def remove_config(self, namespace: str, name: str) -> ConfigInfo | None:
        self._set_probe_health((namespace, name), None)
        removed = self._configs.pop((namespace, name), None)
        self._publish(namespace)
        self._touch()
        return removed

    def all_configs(self) -> list[ConfigInfo]:
        return [info for _, info in sorted(self._configs.items())]

    def config(self, key: Key) -> ConfigInfo | None:
        return self._configs.get(key)

    def configs_in(self, namespace: str) -> list[ConfigInfo]:
        """The namespace's configs, by name."""
        return [info for (ns, _), info in sorted(self._configs.items()) if ns == namespace]

    def specs(self, namespace: str) -> Mapping[str, GoBuildConfigSpec | None]:
        """name -> parsed spec (None when it does not parse): what selection and injection read.

        A read-only view that never changes (safe to read from another thread)."""
        return self._specs.get(namespace, _NOTHING)

    def created(self, namespace: str) -> dict[str, str]:
        return {info.name: info.created for info in self.configs_in(namespace)}

    def namespaces_with_configs(self) -> set[str]:
        return {ns for ns, _ in self._configs}

    # --- probe health ---------------------------------------------------------------------------

    def _set_probe_health(self, key: Key, health: ProbeHealth | None) -> None:
        if self._probes.get(key) == health:
            return
        probes = {k: v for k, v in self._probes.items() if k != key}
        if health is not None:
            probes[key] = health
        self._probes = MappingProxyType(probes)

    def probe_health(self, namespace: str, name: str) -> ProbeHealth | None:
        """The failing probes of a config's latest round, or None (safe to read from another thread)."""
        return self._probes.get((namespace, name))

    # --- namespace labels -----------------------------------------------------------------------

    def put_namespace(self, name: str, labels: Mapping[str, str]) -> None:
        self._labels[name] = MappingProxyType({str(k): str(v) for k, v in labels.items()})
        self._touch()

    def remove_namespace(self, name: str) -> None:
        self._labels.pop(name, None)
        self._touch()

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        return self._labels.get(name, _NOTHING)

    def labelled_namespaces(self, key: str) -> dict[str, str]:
        """namespace -> value of label `key`, for the namespaces that carry it."""
        return {ns: labels[key] for ns, labels in self._labels.items() if key in labels}
