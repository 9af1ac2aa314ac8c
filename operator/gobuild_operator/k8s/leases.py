"""The leader Lease (coordination.k8s.io/v1), read and written with optimistic concurrency.

A write that lost a race (409) or found the Lease gone (404) returns False: the caller simply
decides again on the next round from what it reads then.
"""

from __future__ import annotations

import datetime
from typing import Any

from kubernetes_asyncio import client

from gobuild_operator.core.leadership import Record
from gobuild_operator.k8s.client import ApiClient, ApiException


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def read_lease(api: ApiClient, *, namespace: str, name: str) -> tuple[Record | None, dict[str, Any]]:
    """The Lease's record and the raw object (for its resourceVersion); (None, {}) when absent."""
    try:
        lease = await client.CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None, {}
        raise
    obj: dict[str, Any] = api.sanitize_for_serialization(lease)
    spec = obj.get("spec") or {}
    return Record(spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseDurationSeconds")), obj


async def write_lease(
    api: ApiClient, *, namespace: str, name: str, holder: str, duration: int, current: dict[str, Any]
) -> bool:
    """Create the Lease (current == {}) or replace it as of `current`; whether we now hold it."""
    leases = client.CoordinationV1Api(api)
    now = _now()
    spec = dict(current.get("spec") or {})
    taking = spec.get("holderIdentity") != holder
    spec.update(holderIdentity=holder, leaseDurationSeconds=duration, renewTime=now)
    if taking:
        spec["acquireTime"] = now
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
    body: dict[str, Any] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    try:
        if not current:
            await leases.create_namespaced_lease(namespace, body)  # type: ignore[arg-type]
        else:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await leases.replace_namespaced_lease(name, namespace, body)  # type: ignore[arg-type]
    except ApiException as exc:
        if exc.status in (404, 409):
            return False
        raise
    return True


async def release_lease(api: ApiClient, *, namespace: str, name: str, holder: str) -> None:
    """Give the Lease up (holder emptied) so a standby takes over at once, if we still hold it."""
    record, current = await read_lease(api, namespace=namespace, name=name)
    if record is None or record.holder != holder:
        return
    spec = {**current["spec"], "holderIdentity": "", "renewTime": _now()}
    body = {**current, "spec": spec}
    try:
        await client.CoordinationV1Api(api).replace_namespaced_lease(name, namespace, body)  # type: ignore[arg-type]
    except ApiException as exc:
        if exc.status not in (404, 409):
            raise


async def ensure_namespace(api: ApiClient, *, name: str) -> None:
    """Create the namespace if it does not exist (local runs: the operator's own, for its Lease)."""
    core = client.CoreV1Api(api)
    try:
        await core.read_namespace(name)
        return
    except ApiException as exc:
        if exc.status != 404:
            raise
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    try:
        await core.create_namespace(body)  # type: ignore[arg-type]
    except ApiException as exc:
        if exc.status != 409:
            raise
