"""The JSON Patch that turns an admitted object into the injected one: a few coarse operations.

`mutate` builds the injected object by copying only what it changes (core/injection/mutate.py); this walks
the two objects along the same few paths and says what differs, whole: a new `env` list, a new
`volumes` list, one annotation. Maps are walked key by key (so an added annotation is one small
operation), the container lists index by index (so one container's env is replaced, not the
whole Pod spec), and every other value that differs is replaced whole. Subtrees that compare
equal (a C-speed `==`) are never walked, so the cost is that of the changed parts.

The patch is exact: applying it to the admitted object gives the injected one
(tests/unit/test_patch.py checks it on generated workloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Lists walked index by index when both sides have the same length; other lists are replaced whole.
_WALKED_LISTS = frozenset({"containers", "initContainers"})


def json_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """RFC 6902 operations turning `old` into `new` (both JSON-shaped; `new` from `mutate`)."""
    ops: list[dict[str, Any]] = []
    _walk_map(old, new, "", ops)
    return ops


def _pointer(path: str, key: str) -> str:
    return f"{path}/{key.replace('~', '~0').replace('/', '~1')}"


def _walk_map(old: Mapping[str, Any], new: Mapping[str, Any], path: str, ops: list[dict[str, Any]]) -> None:
    for key, value in new.items():
        where = _pointer(path, key)
        if key not in old:
            ops.append({"op": "add", "path": where, "value": value})
            continue
        before = old[key]
        if before is value or before == value:
            continue
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            _walk_map(before, value, where, ops)
        elif (
            key in _WALKED_LISTS
            and isinstance(before, list)
            and isinstance(value, list)
            and len(before) == len(value)
        ):
            for index, (item_before, item) in enumerate(zip(before, value, strict=True)):
                if item_before == item:
                    continue
                at = f"{where}/{index}"
                if isinstance(item_before, Mapping) and isinstance(item, Mapping):
                    _walk_map(item_before, item, at, ops)
                else:
                    ops.append({"op": "replace", "path": at, "value": item})
        else:
            ops.append({"op": "replace", "path": where, "value": value})
    for key in old:
        if key not in new:
            ops.append({"op": "remove", "path": _pointer(path, key)})
