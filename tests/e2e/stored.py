"""Objects on the real API server, read back exactly as it stored them, for the pod runner.

An e2e test of the operator must run the Pod the *webhook* produced, with the Secret and ConfigMap
data the *API server* holds, not the test's own idea of either. So everything here goes through
kubectl against the test cluster and comes back as the API's camelCase JSON (what a kubelet reads),
with Secret data base64-decoded the way the kubelet writes it into a volume.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from support.waiting import wait_for

Kubectl = Callable[
    ..., Any
]  # conftest's Cluster.kubectl: (*args, input=, check=, timeout=) -> CompletedProcess


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

    # -- what a GoBuildConfig references

    def create_secret(self, name: str, data: Mapping[str, bytes], *, type: str = "Opaque") -> None:
        encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
        self._create(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type, "data": encoded}
        )

    def create_config_map(self, name: str, data: Mapping[str, str]) -> None:
        self._create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}
        )

    def secret_data(self, *names: str) -> dict[str, dict[str, bytes]]:
        """name -> data of the stored Secrets (decoded), for ``run_container(secrets=...)``."""
        return {
            name: {k: base64.b64decode(v) for k, v in (self.get("secret", name).get("data") or {}).items()}
            for name in names
        }

    def config_map_data(self, *names: str) -> dict[str, dict[str, str]]:
        """name -> data of the stored ConfigMaps, for ``run_container(config_maps=...)``."""
        return {name: dict(self.get("configmap", name).get("data") or {}) for name in names}

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
