"""The preflight Job: a short-lived Job opted into the config, and the script its container runs.

The Job carries the `gobuild.dev/config` annotation, so the operator's webhook gives it exactly
what a build with that config gets (settings, credentials, CA, proxies, cache); preflight adds
nothing to its environment. The project's go.mod and go.sum, and the list of modules to fetch,
come in a ConfigMap the Job owns. The script runs real go and always exits 0: its findings are in
its log, so the operator counts a preflight Pod as a finished build, never as a failed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from gobuild_operator import constants as c
from gobuild_operator.core.preflight.output import MARK

#: The default Go toolchain image (the local cluster loads the same name, devtools/localcluster).
DEFAULT_IMAGE: Final = "golang:1.26"
CONTAINER: Final = "preflight"
MOUNT: Final = "/gobuild-preflight"
VOLUME: Final = "gobuild-preflight-project"  # not gobuild-*: that prefix is the webhook's
LABEL: Final = "gobuild.dev/preflight"
#: Seconds a finished Job (and with it its ConfigMap and Pod) is kept if the command could not delete it.
TTL_AFTER_FINISHED: Final = 300
#: The go env names the Job prints (the settings routes are decided from, and go's version).
ENV_NAMES: Final = (
    "GOPROXY",
    "GOSUMDB",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOINSECURE",
    "GOFLAGS",
    "GOVERSION",
    "GOTOOLCHAIN",
    "GOMODCACHE",
)


def script(mount: str = MOUNT) -> str:
    """The container's shell script (POSIX sh: go images have no bash guarantee); `mount` is where
    go.mod, go.sum and the module list are (scripts/record_preflight.py runs it on the host).

    Each repository of a module on the direct route is also asked for its HEAD with `git ls-remote`
    (what go runs first for it, through the same rewrite and credentials), output discarded: go
    shows git's error only with -v, so its own message often says less than git's."""
    names = " ".join(ENV_NAMES)
    return f"""set -u -f
W=$(mktemp -d 2>/dev/null) || W=/tmp/gobuild-preflight
mkdir -p "$W/module" "$W/outside"
cp {mount}/go.mod "$W/module/go.mod"
if [ -s {mount}/go.sum ]; then cp {mount}/go.sum "$W/module/go.sum"; fi
run() {{
  name=$1; dir=$2; shift 2
  (cd "$dir" && "$@") >"$W/out" 2>"$W/err"
  echo "{MARK} $name $?"; cat "$W/out"; echo; echo "{MARK} $name.stderr"; cat "$W/err"; echo
}}
run version "$W/outside" go version
run env "$W/outside" go env -json {names}
MODULES=$(cat {mount}/modules)
if [ -n "$MODULES" ]; then run download "$W/outside" go mod download -json $MODULES; fi
probe() {{ git ls-remote "$1" HEAD >/dev/null </dev/null; }}
if [ -s {mount}/repos ]; then
  while read -r module url; do run "git:$module" "$W/outside" probe "$url"; done < {mount}/repos
fi
run build "$W/module" go mod download -json
echo "{MARK} end"
exit 0
"""


def objects(
    *,
    name: str,
    namespace: str,
    config: str,
    image: str,
    go_mod: str,
    go_sum: str,
    modules: Sequence[str],
    timeout_seconds: int,
    repos: Sequence[tuple[str, str]] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Job, ConfigMap); the ConfigMap's ownerReference to the Job is added once the Job exists."""
    labels = {LABEL: "true", "app.kubernetes.io/managed-by": "kubectl-gobuild"}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {
            "go.mod": go_mod,
            "go.sum": go_sum,
            "modules": "\n".join(modules) + "\n",
            "repos": "".join(f"{module} {url}\n" for module, url in repos),
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {c.ANNOTATION_CONFIG: config},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_seconds,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": labels, "annotations": {c.ANNOTATION_CONFIG: config}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": image,
                            "command": ["sh", "-c", script()],
                            "volumeMounts": [{"name": VOLUME, "mountPath": MOUNT, "readOnly": True}],
                        }
                    ],
                    "volumes": [{"name": VOLUME, "configMap": {"name": name}}],
                },
            },
        },
    }
    return job, config_map


def owned_by(config_map: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap with the created Job as its owner (deleted with it)."""
    metadata = job.get("metadata") or {}
    owner = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
    }
    return {**config_map, "metadata": {**config_map["metadata"], "ownerReferences": [owner]}}
