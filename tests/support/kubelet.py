"""Pods the real kubelet never runs: for tests of admission and of the counting of outcomes.

Integration tests that check how the operator counts and classifies outcomes need exact,
repeatable Pod statuses (a recorded go failure in the termination message, a burst of 1000
finished Pods). They create their Pods with a scheduling gate (`NOT_SCHEDULED`), so the
scheduler never binds them and the node's kubelet never sees them, and write the final status the
kubelet would (phase and the containers' terminated state, whose `message` holds the log tail under
FallbackToLogsOnError) through the status subresource. Tests that only look at what admission
stored use the gate too: running those Pods would prove nothing and cost the node work. The e2e
tests never do this: there the real kubelet runs every Pod and writes every status.
"""

from __future__ import annotations

import datetime
from typing import Any

from kubernetes import client

#: Pod spec fields that keep a Pod away from the scheduler (and so from the kubelet) for good.
NOT_SCHEDULED: dict[str, Any] = {"schedulingGates": [{"name": "gobuild.dev/test-without-kubelet"}]}


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


def expand(value: str, defined: dict[str, str]) -> str:
    """What the kubelet makes of an env `value`: a port of Kubernetes'
    third_party/forked/golang/expansion.Expand ($(NAME) of a variable defined before it is
    replaced, an undefined one is kept, `$$` becomes `$`, any other `$` stays)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(value):
        if value[cursor] == "$" and cursor + 1 < len(value):
            out.append(value[checkpoint:cursor])
            rest = value[cursor + 1 :]
            if rest[0] == "$":
                read, advance = "$", 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    read, advance = "$(", 1
                else:
                    name = rest[1:close]
                    read, advance = defined.get(name, f"$({name})"), close + 1
            else:
                read, advance = "$" + rest[0], 1
            out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + value[checkpoint:]


def container_environment(env: list[dict[str, Any]]) -> dict[str, str]:
    """A container's environment as the kubelet builds it from literal `value`s, in order."""
    defined: dict[str, str] = {}
    for var in env:
        if "value" in var:
            defined[var["name"]] = expand(str(var["value"]), defined)
    return defined
