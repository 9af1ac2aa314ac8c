"""Where the pod template sits in each kind the webhook handles, and safe reads of admission objects.

Selection and mutation must agree on where a Pod's metadata and spec live (Pod: the object itself;
Job: spec.template; CronJob: spec.jobTemplate.spec.template), so that one code path serves all three.
Admission objects are untrusted JSON: every read here tolerates missing keys and wrong types instead
of raising, because the webhook must admit what it does not understand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: Path from the admitted object to the object holding the Pod's `metadata` and `spec`.
POD_TEMPLATE_PATH: Final[Mapping[str, tuple[str, ...]]] = {
    "Pod": (),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def pod_template(obj: Any, kind: str) -> Mapping[str, Any] | None:
    """The mapping with the Pod's `metadata` and `spec` (the object itself for a Pod), or None."""
    path = POD_TEMPLATE_PATH.get(kind)
    if path is None:
        return None
    node = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, Mapping) else None


def string_map(holder: Any, field: str) -> Mapping[str, str]:
    """`holder.metadata.<field>` (labels or annotations) as str -> str, ignoring malformed entries."""
    if not isinstance(holder, Mapping):
        return {}
    metadata = holder.get("metadata")
    if not isinstance(metadata, Mapping):
        return {}
    values = metadata.get(field)
    if not isinstance(values, Mapping):
        return {}
    return {key: value for key, value in values.items() if isinstance(key, str) and isinstance(value, str)}


def annotations_of(holder: Any) -> Mapping[str, str]:
    return string_map(holder, "annotations")


def labels_of(holder: Any) -> Mapping[str, str]:
    return string_map(holder, "labels")
