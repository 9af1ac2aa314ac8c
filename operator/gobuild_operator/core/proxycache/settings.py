"""The cache's configuration: one frozen object, from a JSON file the operator renders and/or flags.

The operator writes one JSON document per GoBuildConfig into a ConfigMap; the same keys are
command-line flags for running the cache by hand. Keys are strict (a typo is an error at start,
not a silently ignored setting), sizes accept Kubernetes quantities so a PVC size can be copied,
and every value that the server would otherwise parse at request time (the GOPROXY list, GOSUMDB,
proxy variables) is parsed here once, so a bad value stops the cache before it serves anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gobuild_operator.core.modcache.sumdb import SumDB, SumDBError, parse_gosumdb
from gobuild_operator.core.proxycache.upstreams import (
    ProxyRules,
    UpstreamConfigError,
    UpstreamProxy,
    parse_goproxy,
)

_SUFFIXES = {
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "Pi": 1 << 50,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A setting the cache refuses; the message names the key."""


def parse_quantity(value: str | int) -> int:
    """Bytes from an integer or a Kubernetes quantity such as `10Gi` or `500M`."""
    if isinstance(value, bool):
        raise SettingsError("a size must be a number of bytes or a quantity such as 10Gi")
    if isinstance(value, int):
        return value
    text = value.strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            number, unit = text[: -len(suffix)], _SUFFIXES[suffix]
            break
    else:
        number, unit = text, 1
    try:
        amount = float(number) if "." in number else int(number)
    except ValueError as exc:
        raise SettingsError(f"{value!r} is not a size such as 10Gi") from exc
    return int(amount * unit)


@dataclass(frozen=True)
class CacheSettings:
    """Everything the cache server needs. JSON keys are the camelCase of these names."""

    listen_address: str = "0.0.0.0"  # noqa: S104 (a Service in front of a Pod)
    port: int = 8080
    storage_dir: str = "/var/cache/gomodcache"
    max_bytes: int = 10 << 30
    mutable_ttl_seconds: float = 60.0
    negative_ttl_seconds: float = 5.0
    upstream_connect_timeout_seconds: float = 10.0
    upstream_idle_timeout_seconds: float = 60.0
    revalidate_timeout_seconds: float = 10.0
    goproxy: str = "https://proxy.golang.org"
    gosumdb: str = "sum.golang.org"
    gonosumdb: tuple[str, ...] = ()
    goprivate: tuple[str, ...] = ()
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: tuple[str, ...] = ()
    ca_file: str = ""
    netrc_file: str = ""
    log_level: str = "info"
    # Derived once from the above by __post_init__.
    upstreams: tuple[UpstreamProxy, ...] = field(default=(), init=False, compare=False, repr=False)
    sumdb: SumDB | None = field(default=None, init=False, compare=False, repr=False)
    proxies: ProxyRules | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "upstreams", parse_goproxy(self.goproxy))
            object.__setattr__(self, "sumdb", parse_gosumdb(self.gosumdb))
            object.__setattr__(
                self,
                "proxies",
                ProxyRules.parse(
                    http_proxy=self.http_proxy, https_proxy=self.https_proxy, no_proxy=self.no_proxy
                ),
            )
        except (UpstreamConfigError, SumDBError) as exc:
            raise SettingsError(str(exc)) from exc
        if not 0 <= self.port < 65536:
            raise SettingsError("port must be between 0 (any free port) and 65535")
        if self.max_bytes <= 0:
            raise SettingsError("maxBytes must be positive")
        if not 0 <= self.negative_ttl_seconds <= 300:
            raise SettingsError("negativeTTLSeconds must be between 0 and 300 (404s are remembered briefly)")
        for name in (
            "mutable_ttl_seconds",
            "upstream_connect_timeout_seconds",
            "upstream_idle_timeout_seconds",
            "revalidate_timeout_seconds",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{_camel(name)} must not be negative")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"logLevel must be one of {', '.join(LOG_LEVELS)}")
        if not self.storage_dir:
            raise SettingsError("storageDir is required")

    @property
    def nosumdb(self) -> str:
        """GONOSUMDB as go reads it: GOPRIVATE when GONOSUMDB is unset."""
        return ",".join(self.gonosumdb or self.goprivate)

    def to_mapping(self) -> dict[str, Any]:
        """The JSON document that gives these settings back (`from_mapping(s.to_mapping()) == s`)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.init:
                value = getattr(self, f.name)
                out[_camel(f.name)] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], **overrides: Any) -> CacheSettings:
        """Settings from a JSON object (unknown keys refused), then keyword `overrides` (flags)."""
        by_key = {_camel(f.name): f for f in dataclasses.fields(cls) if f.init}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            f = by_key.get(key)
            if f is None:
                raise SettingsError(f"unknown setting {key!r}; known: {', '.join(sorted(by_key))}")
            values[f.name] = _coerce(key, f.type, raw)
        by_name = {f.name: f for f in by_key.values()}
        for name, raw in overrides.items():
            values[name] = _coerce(_camel(name), by_name[name].type, raw)
        return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.upper() if part == "ttl" else part.capitalize() for part in rest)


def _coerce(key: str, kind: Any, raw: Any) -> Any:
    kind = str(kind)
    if key == "maxBytes":
        return parse_quantity(raw)
    if kind.startswith("tuple"):
        if isinstance(raw, str):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if isinstance(raw, list) and all(isinstance(p, str) for p in raw):
            return tuple(p.strip() for p in raw if p.strip())
        raise SettingsError(f"{key} must be a list of strings")
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise SettingsError(f"{key} must be an integer")
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"{key} must be an integer") from exc
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise SettingsError(f"{key} must be a number")
        try:
            return float(raw)
        except ValueError as exc:
            raise SettingsError(f"{key} must be a number") from exc
    if not isinstance(raw, str):
        raise SettingsError(f"{key} must be a string")
    return raw
