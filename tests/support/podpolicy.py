"""A ValidatingAdmissionPolicy on the updates of one namespace's Pods, as a cluster's own policy or
an API server refusing writes would be: how tests make the operator's Pod writes fail."""

from __future__ import annotations

import json

from support.gbc import Kubectl


def refuse_pod_updates(
    cluster: Kubectl, name: str, *, namespace: str, expression: str, message: str, reason: str = ""
) -> None:
    """Apply policy and binding `name`: an update of a Pod in `namespace` for which the CEL
    `expression` is false is refused with `message` (and `reason`, else the API server's default)."""
    validation = {"expression": expression, "message": message, **({"reason": reason} if reason else {})}
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "validations": [validation],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    items = {"apiVersion": "v1", "kind": "List", "items": [policy, binding]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(items))
