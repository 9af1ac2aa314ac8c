"""`preview --server`: create workloads as a server-side dry run (dryRun=All) and read back what the
API server would store, with the warnings its admission webhooks gave (the Warning headers kubectl
prints). Nothing is stored; the real webhook and the API server's defaulting and validation run."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from kubernetes_asyncio.config.config_exception import ConfigException

from gobuild_operator.k8s.client import ApiClient, make_api_client, status_message
from gobuild_operator.k8s.gobuildconfigs import current_namespace

#: kind -> the API path of its objects in a namespace (the kinds the webhook mutates).
_PATHS: Final[Mapping[str, str]] = {
    "Pod": "/api/v1/namespaces/{namespace}/pods",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs",
    "CronJob": "/apis/batch/v1/namespaces/{namespace}/cronjobs",
}
KINDS: Final = tuple(_PATHS)
FIELD_MANAGER: Final = "kubectl-gobuild"

#: RFC 7234 warn-value as the API server writes it: `299 - "text"` (quotes and backslashes escaped).
_WARNING: Final = re.compile(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class DryRun:
    """What the API server answered for one object: the object it would store, or why it refused."""

    obj: dict[str, Any] | None
    warnings: tuple[str, ...] = ()
    error: str | None = None


class NoCluster(Exception):
    """No kubeconfig (or in-cluster ServiceAccount) to reach an API server with."""


def default_namespace() -> str:
    """The namespace kubectl would use: the Pod's, else the kube context's, else default."""
    return current_namespace()


def dry_run_create(objects: Sequence[tuple[str, Mapping[str, Any]]]) -> list[DryRun]:
    """Create each (namespace, object) as a dry run, in order; one DryRun per object."""
    return asyncio.run(_dry_run_all(objects))


async def _dry_run_all(objects: Sequence[tuple[str, Mapping[str, Any]]]) -> list[DryRun]:
    try:
        api = await make_api_client()
    except (ConfigException, OSError) as exc:
        raise NoCluster(f"no cluster configured ({exc})") from None
    try:
        return [await _dry_run(api, namespace, obj) for namespace, obj in objects]
    finally:
        await api.close()


async def _dry_run(api: ApiClient, namespace: str, obj: Mapping[str, Any]) -> DryRun:
    kind = str(obj.get("kind"))
    response = await api.call_api(
        _PATHS[kind].format(namespace=namespace),
        "POST",
        query_params=[("dryRun", "All"), ("fieldManager", FIELD_MANAGER)],
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=dict(obj),  # the client encodes it as JSON (a str would be sent as a JSON string)
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    async with response:
        warnings = tuple(_warning_text(value) for value in response.headers.getall("Warning", []))
        body = await response.read()
        if response.status >= 300:
            return DryRun(None, warnings, status_message(body, response.status, response.reason))
        stored: dict[str, Any] = orjson.loads(body)
        return DryRun(stored, warnings)


def _warning_text(header: str) -> str:
    match = _WARNING.match(header)
    if match is None:
        return header
    return re.sub(r"\\(.)", r"\1", match.group(1))
