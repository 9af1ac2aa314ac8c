"""`preflight`: run the preflight Job in the cluster, wait for its Pod, read its log, delete it.

The Job (core/preflight/job.py) is created first, then its ConfigMap owned by it, so deleting the
Job (explicitly at the end, or by its ttlSecondsAfterFinished when this process is killed) takes
the ConfigMap and the Pod with it. Only the Pod's log is read back: what go printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from kubernetes_asyncio.config.config_exception import ConfigException

from gobuild_operator.constants import ANNOTATION_INJECTED
from gobuild_operator.core.preflight import job as jobs
from gobuild_operator.core.preflight.output import MAX_LOG
from gobuild_operator.k8s.client import ApiClient, make_api_client, status_message
from gobuild_operator.k8s.gobuildconfigs import current_namespace

FIELD_MANAGER: Final = "kubectl-gobuild"
POLL_SECONDS: Final = 1.0
#: After this long, a Pod that is not running is looked at: an image that cannot be pulled, or a
#: volume whose Secret or ConfigMap does not exist, will not start by waiting for the deadline.
STUCK_SECONDS: Final = 10.0
NEVER_STARTS: Final = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "ErrImageNeverPull",
    }
)


class NoCluster(Exception):
    """No kubeconfig (or in-cluster ServiceAccount) to reach an API server with."""


class RunError(Exception):
    """The API server refused an object, or the Pod never ran; the message says which."""


@dataclass(frozen=True)
class Ran:
    """What the Job's Pod left: its log, how it ended, and what the webhook gave it."""

    log: str
    phase: str
    injected: str  # the config the webhook injected (gobuild.dev/injected), "" when none
    pod: str
    message: str = ""  # why the Pod never started (its log is then empty)


def default_namespace() -> str:
    return current_namespace()


def run(job: Mapping[str, Any], config_map: Mapping[str, Any], *, timeout: float, keep: bool = False) -> Ran:
    return asyncio.run(_run(job, config_map, timeout=timeout, keep=keep))


async def _run(job: Mapping[str, Any], config_map: Mapping[str, Any], *, timeout: float, keep: bool) -> Ran:  # noqa: ASYNC109 - a deadline for polling, not one call
    try:
        api = await make_api_client()
    except (ConfigException, OSError) as exc:
        raise NoCluster(f"no cluster configured ({exc})") from None
    namespace = str(job["metadata"]["namespace"])
    name = str(job["metadata"]["name"])
    created = False
    try:
        stored = await _request(api, "POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", body=job)
        created = True
        await _request(
            api,
            "POST",
            f"/api/v1/namespaces/{namespace}/configmaps",
            body=jobs.owned_by(dict(config_map), stored),
        )
        return await _wait(api, namespace, name, timeout=timeout)
    finally:
        if created and not keep:
            await _delete(api, f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
            # the ConfigMap goes with the Job (its owner); delete it now rather than at collection
            await _delete(api, f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        await api.close()


async def _wait(api: ApiClient, namespace: str, name: str, *, timeout: float) -> Ran:  # noqa: ASYNC109 - a deadline for polling, not one call
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    pod: Mapping[str, Any] | None = None
    while True:
        listed = await _request(
            api,
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            query=[("labelSelector", f"job-name={name}")],
        )
        items = listed.get("items") or []
        pod = items[0] if items else None
        if pod is not None and (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            break
        if pod is not None and time.monotonic() - started >= STUCK_SECONDS:
            stuck = _never_starts(pod) or await _failed_mount(api, namespace, str(pod["metadata"]["name"]))
            if stuck:
                return _ran(pod, log="", message=stuck)
        if time.monotonic() > deadline:
            why = _waiting(pod) if pod is not None else "the Job created no Pod"
            raise RunError(f"the preflight Pod did not finish within {timeout:g} s: {why}")
        await asyncio.sleep(POLL_SECONDS)
    pod_name = str(pod["metadata"]["name"])
    log = await _text(
        api,
        f"/api/v1/namespaces/{namespace}/pods/{pod_name}/log",
        query=[("container", jobs.CONTAINER), ("limitBytes", str(MAX_LOG))],
    )
    return _ran(pod, log=log, message="")


def _ran(pod: Mapping[str, Any], *, log: str, message: str) -> Ran:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return Ran(
        log=log,
        phase=str((pod.get("status") or {}).get("phase", "")),
        injected=str(annotations.get(ANNOTATION_INJECTED, "")),
        pod=str(pod["metadata"]["name"]),
        message=message,
    )


def _never_starts(pod: Mapping[str, Any]) -> str:
    """Why the Pod's container will not start by waiting longer ("" when it may)."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in NEVER_STARTS:
            return f"{waiting['reason']}: {str(waiting.get('message', ''))[:500]}".rstrip(": ")
    return ""


async def _failed_mount(api: ApiClient, namespace: str, pod: str) -> str:
    """The kubelet's FailedMount warning of a volume whose Secret or ConfigMap does not exist."""
    listed = await _request(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/events",
        query=[("fieldSelector", f"involvedObject.name={pod},reason=FailedMount")],
    )
    for event in listed.get("items") or []:
        message = str(event.get("message", ""))
        if "not found" in message:
            return message[:500]
    return ""


def _waiting(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for key in ("waiting", "terminated"):
            detail = state.get(key) or {}
            if detail.get("reason"):
                return f"{key} {detail['reason']}: {str(detail.get('message', ''))[:300]}".rstrip(": ")
    return str(status.get("message") or status.get("reason") or f"phase {status.get('phase', '?')}")


async def _request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | None = None,
    query: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    params = list(query or [])
    if method == "POST":
        params.append(("fieldManager", FIELD_MANAGER))
    response = await api.call_api(
        path,
        method,
        query_params=params,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=dict(body) if body is not None else None,
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    async with response:
        data = await response.read()
        if response.status >= 300:
            raise RunError(f"{method} {path}: {status_message(data, response.status)}")
        answer: dict[str, Any] = orjson.loads(data)
        return answer


async def _text(api: ApiClient, path: str, *, query: list[tuple[str, str]]) -> str:
    response = await api.call_api(
        path,
        "GET",
        query_params=query,
        header_params={"Accept": "*/*"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    async with response:
        data = await response.read()
        if response.status >= 300:
            raise RunError(f"reading the preflight Pod's log: {status_message(data, response.status)}")
        return bytes(data).decode("utf-8", errors="replace")


async def _delete(api: ApiClient, path: str) -> None:
    response = await api.call_api(
        path,
        "DELETE",
        query_params=[("propagationPolicy", "Background")],
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    async with response:
        await response.read()  # 404: already gone (the Job's ttl, or its owner took it)
