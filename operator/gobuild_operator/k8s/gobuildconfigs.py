"""Read one GoBuildConfig's spec for `check --config NAME` (a CLI run by a person, not the operator)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

from gobuild_operator import constants as c
from gobuild_operator.k8s.client import ApiException, make_api_client

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def read_spec(name: str, namespace: str | None) -> Mapping[str, Any]:
    """The spec of GoBuildConfig `name` in `namespace` (default: the kube context's); LookupError if not."""
    return asyncio.run(_read_spec(name, namespace))


async def _read_spec(name: str, namespace: str | None) -> Mapping[str, Any]:
    try:
        api = await make_api_client()
    except (ConfigException, OSError) as exc:
        raise LookupError(f"cannot read GoBuildConfig {name}: no cluster configured ({exc})") from None
    namespace = namespace or current_namespace()
    try:
        obj = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            c.GROUP, c.VERSION, namespace, c.PLURAL, name
        )
    except ApiException as exc:
        what = "not found" if exc.status == 404 else f"{exc.status} {exc.reason}"
        raise LookupError(f"GoBuildConfig {namespace}/{name}: {what}") from None
    finally:
        await api.close()
    spec = obj.get("spec") if isinstance(obj, dict) else None
    return spec if isinstance(spec, dict) else {}


def current_namespace() -> str:
    """The namespace kubectl would use: the Pod's (in a cluster), else the kube context's, else default."""
    if _SERVICE_ACCOUNT_NAMESPACE.is_file():
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    try:
        _, active = config.list_kube_config_contexts()
    except (ConfigException, OSError):
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")
