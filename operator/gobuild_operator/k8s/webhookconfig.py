"""The MutatingWebhookConfiguration the operator registers for itself on local runs.

kopf can manage this object, but its defaults (failurePolicy Fail, a 30 s timeout, no
namespaceSelector) mean a stopped operator blocks every Pod in the cluster. Ours fails open
(Ignore), times out in a few seconds, stays off system namespaces and off namespaces labelled
`gobuild.dev/injection=disabled`, and is deleted when the operator exits.
"""

from __future__ import annotations

import base64
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import (
    LABEL_NAMESPACE_INJECTION,
    NAMESPACE_INJECTION_DISABLED,
    SYSTEM_NAMESPACES,
)
from gobuild_operator.settings import Settings

#: (webhook name suffix, kopf handler id = URL path, apiGroup, version, resource, operations)
HOOKS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("pods", "inject-pods", "", "v1", "pods", ("CREATE",)),
    ("jobs", "inject-jobs", "batch", "v1", "jobs", ("CREATE",)),
    ("cronjobs", "inject-cronjobs", "batch", "v1", "cronjobs", ("CREATE", "UPDATE")),
)


def build_configuration(settings: Settings, *, ca_bundle: bytes, url_base: str | None) -> dict[str, Any]:
    """The whole object. `url_base` (https://host:port) for local runs, else the Service."""
    hook_settings = settings.webhook
    excluded = sorted(SYSTEM_NAMESPACES | {settings.operator_namespace})
    webhooks = []
    for suffix, handler_id, group, version, resource, operations in HOOKS:
        if url_base is not None:
            client_config: dict[str, Any] = {"url": f"{url_base}/{handler_id}"}
        else:
            client_config = {
                "service": {
                    "namespace": settings.operator_namespace,
                    "name": hook_settings.service_name,
                    "path": f"/{handler_id}",
                    "port": 443,
                }
            }
        client_config["caBundle"] = base64.b64encode(ca_bundle).decode("ascii")
        webhooks.append(
            {
                "name": f"{suffix}.inject.gobuild.dev",
                "admissionReviewVersions": ["v1"],
                "clientConfig": client_config,
                "rules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": [version],
                        "resources": [resource],
                        "operations": list(operations),
                        "scope": "Namespaced",
                    }
                ],
                "failurePolicy": "Ignore",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": hook_settings.timeout_seconds,
                "reinvocationPolicy": "IfNeeded",
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded},
                        {
                            "key": LABEL_NAMESPACE_INJECTION,
                            "operator": "NotIn",
                            "values": [NAMESPACE_INJECTION_DISABLED],
                        },
                    ]
                },
            }
        )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {
            "name": hook_settings.configuration_name,
            "labels": {"app.kubernetes.io/managed-by": "gobuild-operator"},
        },
        "webhooks": webhooks,
    }


async def apply_configuration(api: client.ApiClient, *, body: dict[str, Any]) -> None:
    """Create the configuration, or replace the one a previous run left."""
    admission = client.AdmissionregistrationV1Api(api)
    name = body["metadata"]["name"]
    try:
        existing = await admission.read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        await admission.create_mutating_webhook_configuration(body)  # type: ignore[arg-type]  # dicts go as they are
        return
    body = {**body, "metadata": {**body["metadata"], "resourceVersion": existing.metadata.resource_version}}
    await admission.replace_mutating_webhook_configuration(name, body)  # type: ignore[arg-type]


async def delete_configuration(api: client.ApiClient, *, name: str) -> None:
    try:
        await client.AdmissionregistrationV1Api(api).delete_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


async def read_ca_bundles(api: client.ApiClient, *, name: str) -> list[bytes] | None:
    """The caBundle of every webhook of configuration `name`, or None when it does not exist."""
    try:
        config = await client.AdmissionregistrationV1Api(api).read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    obj: dict[str, Any] = api.sanitize_for_serialization(config)
    return [
        base64.b64decode((hook.get("clientConfig") or {}).get("caBundle") or "")
        for hook in obj.get("webhooks") or []
    ]


async def patch_ca_bundle(api: client.ApiClient, *, name: str, ca_bundle: bytes) -> bool:
    """Point every webhook of configuration `name` at `ca_bundle`; False when it does not exist.

    A JSON patch per webhook index, guarded by a test of its name, so a concurrent change to the
    list (a `helm upgrade`) makes the patch fail instead of writing to the wrong entry.
    """
    admission = client.AdmissionregistrationV1Api(api)
    try:
        config = await admission.read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    obj: dict[str, Any] = api.sanitize_for_serialization(config)
    encoded = base64.b64encode(ca_bundle).decode("ascii")
    ops: list[dict[str, Any]] = []
    for index, hook in enumerate(obj.get("webhooks") or []):
        if (hook.get("clientConfig") or {}).get("caBundle") == encoded:
            continue
        ops.append({"op": "test", "path": f"/webhooks/{index}/name", "value": hook["name"]})
        ops.append({"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": encoded})
    if ops:
        await admission.patch_mutating_webhook_configuration(  # type: ignore[call-arg]
            name, ops, _content_type="application/json-patch+json"
        )
    return True
