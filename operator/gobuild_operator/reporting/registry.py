"""The GoBuildConfigs known to the reporting side, parsed once per change, in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gobuild_operator.api import GoBuildConfigSpec, SpecError, parse_spec

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class ConfigInfo:
    namespace: str
    name: str
    uid: str
    created: str
    generation: int
    spec: GoBuildConfigSpec | None  # None: the spec does not parse (the reconciler reports why)
    pending: int  # entries in status.downloads.pending

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


def info_from_body(body: Mapping[str, Any], *, previous: ConfigInfo | None = None) -> ConfigInfo:
    """`previous` lends its parsed spec when uid and generation show the spec is unchanged."""
    metadata = body.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    generation = int(metadata.get("generation") or 0)
    spec: GoBuildConfigSpec | None
    if previous is not None and previous.uid == uid and previous.generation == generation:
        spec = previous.spec
    else:
        try:
            spec = parse_spec(dict(body.get("spec") or {}))
        except SpecError:
            spec = None
    downloads = (body.get("status") or {}).get("downloads") or {}
    return ConfigInfo(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=uid,
        created=str(metadata.get("creationTimestamp") or ""),
        generation=generation,
        spec=spec,
        pending=len(downloads.get("pending") or []),
    )


class Registry:
    def __init__(self) -> None:
        self._configs: dict[Key, ConfigInfo] = {}

    def put(self, body: Mapping[str, Any]) -> tuple[ConfigInfo, ConfigInfo | None]:
        """Store the config; return (it, what was stored before). Reuses the parse when unchanged."""
        metadata = body.get("metadata") or {}
        key = (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
        old = self._configs.get(key)
        info = info_from_body(body, previous=old)
        self._configs[key] = info
        return info, old

    def remove(self, namespace: str, name: str) -> ConfigInfo | None:
        return self._configs.pop((namespace, name), None)

    def get(self, key: Key) -> ConfigInfo | None:
        return self._configs.get(key)

    def in_namespace(self, namespace: str) -> list[ConfigInfo]:
        return [info for (ns, _), info in sorted(self._configs.items()) if ns == namespace]

    def specs(self, namespace: str) -> dict[str, GoBuildConfigSpec | None]:
        return {info.name: info.spec for info in self.in_namespace(namespace)}

    def created(self, namespace: str) -> dict[str, str]:
        return {info.name: info.created for info in self.in_namespace(namespace)}

    def namespaces(self) -> set[str]:
        return {ns for ns, _ in self._configs}
