"""The MutatingWebhookConfiguration the operator registers for itself on local runs (the chart owns
it in a cluster install, with the same webhooks; a test compares the two).

It fails open (Ignore), times out in a few seconds, stays off system namespaces and off namespaces
labelled `gobuild.dev/injection=disabled`. It stays when the operator exits: another replica may
serve it, and while none does the API server meets a closed port and admits objects at once.

The API server calls the webhook only where it can change something or has something to say
(a call costs every Pod creation a round trip, even when the answer is "nothing to do").
Two webhooks per resource, told apart by the namespace label `gobuild.dev/configs` that the
operator keeps on namespaces holding a GoBuildConfig (reporting/namespacelabels.py):

- `<resource>.inject.gobuild.dev`, in every namespace but those labelled `selected`: only objects
  that opt in by annotation (`gobuild.dev/config` or `gobuild.dev/inject`). Where no config has a
  podSelector nothing else can be injected; an object naming a config that does not exist is
  still sent, so the user gets the SPEC's warning.
- `<resource>-selected.inject.gobuild.dev`, in namespaces labelled `selected` (a config there has
  a podSelector): every object, since any labels may match.
- Both, through matchConditions (CEL, evaluated by the API server): never objects already injected
  (a Job's Pods carry the marker of their injected template) unless they name another config (the
  CronJob re-pointed after injection gets its warning), objects opted out with
  `gobuild.dev/inject: "false"`, or mirror Pods.

The race this leaves, by design: between the creation of a namespace's first podSelector config
and the operator's label, the API server does not send unannotated objects there, and Pods that
only a podSelector opts in are admitted without injection; the missed-injection check counts them
(`missedInjections`, an InjectionMissed Event saying to recreate them). Opting in by annotation has
no such window. The operator labels the namespace as soon as its watch sees the config, and
reports the config reconciled (`observedGeneration`) only after that, so waiting for
observedGeneration closes the window; while the operator is down no label changes (and no Pod is
injected anyway).
"""

from __future__ import annotations

import base64
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import (
    ANNOTATION_CONFIG,
    ANNOTATION_INJECT,
    ANNOTATION_INJECTED,
    ANNOTATION_MIRROR_POD,
    LABEL_NAMESPACE_CONFIGS,
    LABEL_NAMESPACE_INJECTION,
    NAMESPACE_CONFIGS_SELECTED,
    NAMESPACE_INJECTION_DISABLED,
    SYSTEM_NAMESPACES,
)
from gobuild_operator.settings import Settings

#: (webhook name suffix, URL path, apiGroup, version, resource, operations, kind)
HOOKS: tuple[tuple[str, str, str, str, str, tuple[str, ...], str], ...] = (
    ("pods", "inject-pods", "", "v1", "pods", ("CREATE",), "Pod"),
    ("jobs", "inject-jobs", "batch", "v1", "jobs", ("CREATE",), "Job"),
    ("cronjobs", "inject-cronjobs", "batch", "v1", "cronjobs", ("CREATE", "UPDATE"), "CronJob"),
)

#: CEL for the annotations of the object itself and of its pod template, absent maps as {}.
_OWN = "object.?metadata.?annotations.orValue({})"
_TEMPLATE = {
    "Pod": _OWN,
    "Job": "object.?spec.?template.?metadata.?annotations.orValue({})",
    "CronJob": "object.?spec.?jobTemplate.?spec.?template.?metadata.?annotations.orValue({})",
}


def _either(kind: str, key: str) -> str:
    """CEL: the annotation `key` on the object or its template (the object's wins), or ''."""
    return f"{_OWN}[?'{key}'].orValue({_TEMPLATE[kind]}[?'{key}'].orValue(''))"


def match_conditions(kind: str, *, annotated_only: bool) -> list[dict[str, str]]:
    """The conditions under which the API server calls the webhook for an object of `kind`."""
    own, template = _OWN, _TEMPLATE[kind]
    marker, wanted = _either(kind, ANNOTATION_INJECTED), _either(kind, ANNOTATION_CONFIG)
    conditions = [
        {
            "name": "not-already-injected",
            "expression": f"{marker} == '' || ({wanted} != '' && {wanted} != {marker})",
        },
        {
            "name": "not-opted-out",
            "expression": (
                f"{own}[?'{ANNOTATION_INJECT}'].orValue('') != 'false' && "
                f"{template}[?'{ANNOTATION_INJECT}'].orValue('') != 'false'"
            ),
        },
    ]
    if kind == "Pod":
        conditions.append(
            {"name": "not-a-mirror-pod", "expression": f"!('{ANNOTATION_MIRROR_POD}' in {own})"}
        )
    if annotated_only:
        keys = (ANNOTATION_CONFIG, ANNOTATION_INJECT)
        expression = " || ".join(
            f"'{key}' in {where}" for key in keys for where in dict.fromkeys((own, template))
        )
        conditions.append({"name": "opted-in-by-annotation", "expression": expression})
    return conditions


def build_configuration(settings: Settings, *, ca_bundle: bytes, url_base: str | None) -> dict[str, Any]:
    """The whole object. `url_base` (https://host:port) for local runs, else the Service."""
    hook_settings = settings.webhook
    excluded = sorted(SYSTEM_NAMESPACES | {settings.operator_namespace})
    webhooks = []
    for suffix, path, group, version, resource, operations, kind in HOOKS:
        if url_base is not None:
            client_config: dict[str, Any] = {"url": f"{url_base}/{path}"}
        else:
            client_config = {
                "service": {
                    "namespace": settings.operator_namespace,
                    "name": hook_settings.service_name,
                    "path": f"/{path}",
                    "port": 443,
                }
            }
        client_config["caBundle"] = base64.b64encode(ca_bundle).decode("ascii")
        for name, operator, annotated_only in (
            (suffix, "NotIn", True),
            (f"{suffix}-selected", "In", False),
        ):
            webhooks.append(
                {
                    "name": f"{name}.inject.gobuild.dev",
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
                            {
                                "key": LABEL_NAMESPACE_CONFIGS,
                                "operator": operator,
                                "values": [NAMESPACE_CONFIGS_SELECTED],
                            },
                        ]
                    },
                    "matchConditions": match_conditions(kind, annotated_only=annotated_only),
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


async def ensure_configuration(api: client.ApiClient, *, body: dict[str, Any]) -> bool:
    """Create the configuration, or make it `body` again if it differs; True when it wrote."""
    admission = client.AdmissionregistrationV1Api(api)
    name = body["metadata"]["name"]
    try:
        existing = await admission.read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        await admission.create_mutating_webhook_configuration(body)  # type: ignore[arg-type]  # dicts go as they are
        return True
    current: dict[str, Any] = api.sanitize_for_serialization(existing)
    if _comparable(current) == _comparable(body):
        return False
    body = {**body, "metadata": {**body["metadata"], "resourceVersion": existing.metadata.resource_version}}
    await admission.replace_mutating_webhook_configuration(name, body)  # type: ignore[arg-type]
    return True


def _comparable(config: dict[str, Any]) -> Any:
    """The webhooks as we write them (the API server adds defaults we do not set: compare ours only)."""
    out = []
    for hook in config.get("webhooks") or []:
        out.append({key: hook.get(key) for key in ("name", "clientConfig", "rules", "matchConditions")})
    return out


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
