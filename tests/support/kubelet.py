"""Play the kubelet's part for Pods on a control plane without nodes: write their final status.

The operator learns a build's outcome only from the Pod status the kubelet writes (phase and the
containers' terminated state, whose `message` holds the log tail under FallbackToLogsOnError), so
tests write exactly that, through the status subresource, as a kubelet would.
"""

from __future__ import annotations

import datetime
from typing import Any

from kubernetes import client


def finish_pod(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    exit_code: int,
    message: str = "",
    container: str = "build",
) -> None:
    """Mark the Pod Succeeded (exit 0) or Failed, with `container` terminated as the kubelet reports it."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": now,
        "finishedAt": now,
    }
    if message:
        terminated["message"] = message
    body = {
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": container,
                    "image": "golang:1.26",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"terminated": terminated},
                }
            ],
        }
    }
    client.CoreV1Api(api).patch_namespaced_pod_status(name, namespace, body)
