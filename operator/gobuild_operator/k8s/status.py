"""Read-modify-write of a GoBuildConfig's status with optimistic concurrency.

Several parts of the operator own parts of the status (the reconciler, the probes, the download
reporter) and all of them touch `conditions`, a list that a merge patch replaces whole. Each
write therefore reads the latest status, applies its change with a pure function, and writes it
back with the resourceVersion it read; a 409 Conflict means someone wrote in between, so it
reads and applies again. Nobody's condition is lost.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gobuild_operator.constants import GROUP, PLURAL, VERSION

StatusFn = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]
"""(object, current status) -> the new status, or None when nothing needs writing."""


def _update_once(api: client.ApiClient, namespace: str, name: str, fn: StatusFn) -> bool:
    custom = client.CustomObjectsApi(api)
    obj = cast(dict[str, Any], custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
    current = copy.deepcopy(obj.get("status") or {})
    new = fn(obj, copy.deepcopy(current))
    if new is None or new == current:
        return True
    body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": new}
    try:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, body, _content_type="application/merge-patch+json"
        )
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True


def update_status_sync(
    api: client.ApiClient, namespace: str, name: str, fn: StatusFn, *, attempts: int = 8
) -> None:
    """Apply `fn` to the latest status until it sticks. A deleted object is not an error."""
    for _ in range(attempts):
        try:
            if _update_once(api, namespace, name, fn):
                return
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
    raise RuntimeError(f"status of {namespace}/{name} kept conflicting after {attempts} attempts")


async def update_status(api: client.ApiClient, namespace: str, name: str, fn: StatusFn) -> None:
    await asyncio.to_thread(update_status_sync, api, namespace, name, fn)
