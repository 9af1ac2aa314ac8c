"""Would the API server (and the kubelet) take what the webhook made of an object?

The parts of Kubernetes' Pod validation that an injection can break, checked without a cluster so
the admission fuzzer can run tens of thousands of cases: names and label values, unique volumes,
env names and mount paths (beyond duplicates the workload had itself), mounts of volumes that
exist, and the shapes of what was added. tests/integration/test_validity.py asks the real API
server the same question for a smaller sample.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from gobuild_operator.core.injection.workload import POD_TEMPLATE_PATH

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED_NAME = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_POLICIES = ("File", "FallbackToLogsOnError")


def template(kind: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = obj
    for key in POD_TEMPLATE_PATH[kind]:
        node = node[key]
    return node


def containers(pod_spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from pod_spec.get("initContainers") or []
    yield from pod_spec.get("containers") or []


def problems(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What in `after` (the mutated object) the API server would refuse and `before` did not have."""
    found: list[str] = []
    old_spec, new_spec = template(kind, before)["spec"], template(kind, after)["spec"]
    for holder in {id(after): after, id(template(kind, after)): template(kind, after)}.values():
        metadata = holder.get("metadata") or {}
        for key, value in (metadata.get("labels") or {}).items():
            if not (isinstance(value, str) and len(value) <= 63 and _LABEL_VALUE.fullmatch(value)):
                found.append(f"label {key}: {value!r} is not a label value")
        for key in [*(metadata.get("labels") or {}), *(metadata.get("annotations") or {})]:
            if key.startswith("gobuild.dev/") and not _QUALIFIED_NAME.fullmatch(key):
                found.append(f"{key!r} is not a qualified name")
        size = sum(len(k) + len(str(v)) for k, v in (metadata.get("annotations") or {}).items())
        if size > 256 * 1024:
            found.append("annotations exceed 256 KiB")
    volumes = [v.get("name") for v in new_spec.get("volumes") or []]
    found += _new_duplicates("volume", [v.get("name") for v in old_spec.get("volumes") or []], volumes)
    for name in set(volumes) - {v.get("name") for v in old_spec.get("volumes") or []}:
        if not (isinstance(name, str) and len(name) <= 63 and _DNS_LABEL.fullmatch(name)):
            found.append(f"volume name {name!r}")
    old_containers = {c["name"]: c for c in containers(old_spec)}
    for container in containers(new_spec):
        old = old_containers.get(container["name"], {})
        where = f"container {container['name']!r}"
        env = container.get("env") or []
        found += _new_duplicates(
            f"{where} env", [e.get("name") for e in old.get("env") or []], [e.get("name") for e in env]
        )
        for var in env:
            if var in (old.get("env") or []):
                continue
            if not (isinstance(var.get("name"), str) and _ENV_NAME.fullmatch(var["name"])):
                found.append(f"{where}: env name {var.get('name')!r}")
            if not isinstance(var.get("value"), str) or set(var) != {"name", "value"}:
                found.append(f"{where}: env {var.get('name')!r} is not a name with a string value")
        mounts = container.get("volumeMounts") or []
        found += _new_duplicates(
            f"{where} mountPath",
            [posixpath.normpath(m["mountPath"]) for m in old.get("volumeMounts") or []],
            [posixpath.normpath(m["mountPath"]) for m in mounts],
        )
        for mount in mounts:
            if mount in (old.get("volumeMounts") or []):
                continue
            path = mount.get("mountPath")
            if not (isinstance(path, str) and path.startswith("/") and ":" not in path):
                found.append(f"{where}: mountPath {path!r}")
            if mount.get("name") not in volumes:
                found.append(f"{where}: mount of a missing volume {mount.get('name')!r}")
        if container.get("terminationMessagePolicy", "File") not in _POLICIES:
            found.append(f"{where}: terminationMessagePolicy {container.get('terminationMessagePolicy')!r}")
    return found


def _new_duplicates(what: str, before: list[Any], after: list[Any]) -> list[str]:
    had, has = Counter(before), Counter(after)
    return [f"{what} {name!r} is duplicated" for name, count in has.items() if count > max(1, had[name])]
