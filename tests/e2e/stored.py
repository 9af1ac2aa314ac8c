"""Objects on the real API server, and Pods the real node runs, read back as the cluster has them.

An e2e test of the operator must run the Pod the *webhook* produced, with the Secret and ConfigMap
data the *API server* holds, on a node whose kubelet mounts the volumes, starts the containers and
reports how they ended. So everything here goes through kubectl against the test cluster: objects
come back as the API's camelCase JSON, a finished Pod with the status the kubelet wrote (phase,
each container's terminated state and termination message) and the log `kubectl logs` serves.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from support.waiting import wait_for

Kubectl = Callable[
    ..., Any
]  # conftest's Cluster.kubectl: (*args, input=, check=, timeout=) -> CompletedProcess

#: How long a build Pod may take from creation to its end (scheduling, image already on the node,
#: volume setup, the build itself against servers on this machine).
POD_TIMEOUT = 180
#: How long the operator may take to write an outcome the kubelet reported onto the GoBuildConfig.
STATUS_TIMEOUT = 60


@dataclass(frozen=True)
class Finished:
    """A Pod that ran to its end on the node, as the API server and the kubelet report it."""

    pod: dict[str, Any]  # as stored after it ended (status written by the kubelet)
    logs: str  # `kubectl logs` of `container`
    container: str

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def phase(self) -> str:
        return str(self.pod["status"]["phase"])

    @property
    def terminated(self) -> dict[str, Any]:
        """The container's terminated state: exitCode, reason, message (the termination message)."""
        for status in self.pod["status"].get("containerStatuses") or []:
            if status["name"] == self.container:
                return dict(status["state"]["terminated"])
        raise AssertionError(f"Pod {self.name} reports no container {self.container}: {self.pod['status']}")

    def __str__(self) -> str:
        """What an assertion message should show: phase, exit code and the log."""
        return f"Pod {self.name}: {self.phase}, {self.terminated}\n--- logs:\n{self.logs}"


@dataclass(frozen=True)
class Namespace:
    """One test namespace on the real cluster."""

    kubectl: Kubectl
    name: str

    def _create(self, obj: Mapping[str, Any]) -> str:
        """Create `obj`; return kubectl's stderr (where admission warnings are printed)."""
        result = self.kubectl("create", "-n", self.name, "-f", "-", input=json.dumps(obj))
        return str(result.stderr)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        result = self.kubectl("get", kind, name, "-n", self.name, "-o", "json")
        return dict(json.loads(result.stdout))

    # -- what a GoBuildConfig references, and a project's sources

    def create_secret(self, name: str, data: Mapping[str, bytes], *, type: str = "Opaque") -> None:
        encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
        self._create(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type, "data": encoded}
        )

    def create_config_map(self, name: str, data: Mapping[str, str]) -> None:
        self._create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}
        )

    def secret_data(self, name: str) -> dict[str, bytes]:
        """The stored Secret's data, decoded."""
        data = self.get("secret", name).get("data") or {}
        return {key: base64.b64decode(value) for key, value in data.items()}

    # -- the operator's object

    def apply_config(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Apply GoBuildConfig `name` and wait until the operator has seen this generation (its
        webhook index is fed by the same watch), so a Pod created next is injected with it."""
        manifest = {
            "apiVersion": "gobuild.dev/v1alpha1",
            "kind": "GoBuildConfig",
            "metadata": {"name": name},
            "spec": dict(spec),
        }
        self.kubectl("apply", "-n", self.name, "-f", "-", input=json.dumps(manifest))

        def observed() -> dict[str, Any] | None:
            obj = self.get("gobuildconfig", name)
            generation = obj["metadata"]["generation"]
            return obj if obj.get("status", {}).get("observedGeneration") == generation else None

        reconciled = wait_for(observed, timeout=30, what=f"GoBuildConfig {self.name}/{name} to be reconciled")
        assert reconciled is not None
        return reconciled

    def downloads(self, config: str) -> dict[str, Any]:
        """status.downloads of GoBuildConfig `config`, as the operator last wrote it."""
        return dict(self.get("gobuildconfig", config).get("status", {}).get("downloads") or {})

    def wait_downloads(
        self, config: str, check: Callable[[dict[str, Any]], bool], *, what: str
    ) -> dict[str, Any]:
        """status.downloads of `config` once `check` holds for it (the operator writes in batches)."""

        def satisfied() -> dict[str, Any] | None:
            downloads = self.downloads(config)
            return downloads if check(downloads) else None

        downloads = wait_for(
            satisfied,
            timeout=STATUS_TIMEOUT,
            interval=0.5,
            what=f"GoBuildConfig {self.name}/{config} to report {what}",
        )
        assert downloads is not None
        return downloads

    # -- workloads

    def create_pod(self, pod: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """Create a Pod (the webhook mutates it); return it as stored, and the admission warnings."""
        warnings = self._create(pod)
        return self.get("pod", pod["metadata"]["name"]), warnings

    def create_job(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Create a Job; return the one Pod kube-controller-manager creates for it, as stored."""
        self._create(job)
        name = job["metadata"]["name"]

        def pod() -> dict[str, Any] | None:
            result = self.kubectl("get", "pods", "-n", self.name, "-l", f"job-name={name}", "-o", "json")
            items = json.loads(result.stdout)["items"]
            assert len(items) <= 1, f"Job {name} has {len(items)} Pods"
            return dict(items[0]) if items else None

        created = wait_for(pod, timeout=30, what=f"the Job controller to create a Pod for Job {name}")
        assert created is not None
        return created

    def wait_finished(self, name: str, *, container: str = "build", timeout: float = POD_TIMEOUT) -> Finished:
        """Wait until the node has run Pod `name` to its end (phase Succeeded or Failed)."""

        def ended() -> dict[str, Any] | None:
            pod = self.get("pod", name)
            return pod if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") else None

        try:
            pod = wait_for(ended, timeout=timeout, interval=0.5, what=f"Pod {self.name}/{name} to end")
        except AssertionError as timeout_error:
            raise AssertionError(f"{timeout_error}\n{self.describe('pod', name)}") from None
        assert pod is not None
        logs = self.kubectl("logs", name, "-n", self.name, "-c", container).stdout
        return Finished(pod=pod, logs=str(logs), container=container)

    def run_pod(self, pod: Mapping[str, Any], *, timeout: float = POD_TIMEOUT) -> Finished:
        """Create `pod` and wait for the node to run it to its end."""
        self._create(pod)
        return self.wait_finished(pod["metadata"]["name"], timeout=timeout)

    def describe(self, kind: str, name: str) -> str:
        """`kubectl describe` (with events), for failure messages."""
        return str(self.kubectl("describe", kind, name, "-n", self.name, check=False).stdout)


@contextmanager
def fresh_namespace(kubectl: Kubectl, prefix: str = "e2e") -> Iterator[Namespace]:
    """A namespace of its own (with its default ServiceAccount, which Pods need), deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    wait_for(
        lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    try:
        yield Namespace(kubectl, name)
    finally:
        kubectl("delete", "namespace", name, "--wait=false", check=False)
