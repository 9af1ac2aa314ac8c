"""Read-modify-write of a GoBuildConfig's status with optimistic concurrency.

Several parts of the operator own parts of the status (the reconciler, the checks, the download
reporter) and all of them touch `conditions`, a list that a merge patch replaces whole. Each
write therefore reads the latest object, applies its change with a pure function, and writes it
back with the resourceVersion it read; a 409 Conflict means someone wrote in between, so it
reads and applies again. Nobody's condition is lost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import GROUP, PLURAL, VERSION

StatusFn = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]
"""(object, current status) -> the new status, or None when nothing needs writing."""


async def update_status(
    api: client.ApiClient, *, namespace: str, name: str, fn: StatusFn, attempts: int = 8
) -> None:
    """Apply `fn` to the latest status until it sticks. A deleted object is not an error."""
    custom = client.CustomObjectsApi(api)
    for _ in range(attempts):
        try:
            obj: dict[str, Any] = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        current = copy.deepcopy(obj.get("status") or {})
        new = fn(obj, copy.deepcopy(current))
        if new is None or new == current:
            return
        body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": new}
        try:
            # A dict body would be sent as a JSON Patch, the first type custom objects accept.
            await custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
                GROUP, VERSION, namespace, PLURAL, name, body, _content_type="application/merge-patch+json"
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            if exc.status != 409:
                raise
            continue
        return
    raise RuntimeError(f"status of {namespace}/{name} kept conflicting after {attempts} attempts")
