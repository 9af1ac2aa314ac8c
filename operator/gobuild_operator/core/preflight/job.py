"""The preflight Job: a short-lived Job opted into the config, and the script its container runs.

The Job carries the `gobuild.dev/config` annotation, so the operator's webhook gives it exactly
what a build with that config gets (settings, credentials, CA, proxies, cache); preflight adds
nothing to its environment. The project's go.mod and go.sum, and the list of modules to fetch,
come in a ConfigMap the Job owns. The script runs real go and always exits 0: its findings are in
its log, which the command reads, and in a short summary it writes as the container's termination
message, which the operator reads for the config's status.lastPreflight (the Pod's label
`gobuild.dev/preflight` tells the operator it is not a build to count).
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
LABEL: Final = c.LABEL_PREFLIGHT
#: What the summary (the container's termination message) holds at most: the kubelet keeps 4 KiB.
SUMMARY_BYTES: Final = 4000
SUMMARY_FAILURES: Final = 5
SUMMARY_TEXT: Final = 400
#: The container's terminationMessagePath (the Kubernetes default, which the Job leaves as it is).
TERMINATION_LOG: Final = "/dev/termination-log"
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


def script(mount: str = MOUNT, summary_path: str = TERMINATION_LOG) -> str:
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
  st=$?
  echo "{MARK} $name $st"; cat "$W/out"; echo; echo "{MARK} $name.stderr"; cat "$W/err"; echo
}}
run version "$W/outside" go version
run env "$W/outside" go env -json {names}
MODULES=$(cat {mount}/modules)
: >"$W/download.out"; : >"$W/git.err"; DL=0
if [ -n "$MODULES" ]; then
  run download "$W/outside" go mod download -json $MODULES; DL=$st; cp "$W/out" "$W/download.out"
fi
probe() {{ git ls-remote "$1" HEAD >/dev/null </dev/null; }}
if [ -s {mount}/repos ]; then
  while read -r module url; do
    run "git:$module" "$W/outside" probe "$url"
    if [ "$st" != 0 ]; then printf '%s %s\\n' "$module" "$(grep . "$W/err" | head -n 1)" >>"$W/git.err"; fi
  done < {mount}/repos
fi
run build "$W/module" go mod download -json
BS=$st
echo "{MARK} end"
{summary(mount, summary_path)}exit 0
"""


def summary(mount: str = MOUNT, path: str = TERMINATION_LOG) -> str:
    """The lines that write the run's summary to `path`, the container's termination message, where
    the operator reads it (core/downloads/preflight.py) without reading the log: the first line
    `gobuild-preflight/v1 modules=N download=STATUS build=STATUS`, then at most SUMMARY_FAILURES
    failing modules (`err MODULE@VERSION go's error`, `sum MODULE@VERSION missing|mismatch` against
    go.sum, `git MODULE git's error`), or, when none did and go mod download failed in the
    project, `project MODULE go's last error line` (else the first line it printed); then `end`.
    Each line is cut to SUMMARY_TEXT characters, URL userinfo is removed, the whole is at most
    SUMMARY_BYTES bytes."""
    return f"""{{ awk -v dl="$DL" -v bs="$BS" -v most={SUMMARY_FAILURES} -v cut={SUMMARY_TEXT} \\
  -v sums={mount}/go.sum -v gomod={mount}/go.mod -v downloads="$W/download.out" -v git="$W/git.err" \\
  -v builderr="$W/err" -v buildout="$W/out" '
function value(line) {{ sub(/^[ \t]*"[A-Za-z]+": "/, "", line); sub(/",?[ \t]*$/, "", line); return line }}
function emit(line) {{ if (shown < most) {{ out = out substr(line, 1, cut) "\\n"; shown++ }} }}
FILENAME == sums {{ if (NF >= 3) sum[$1 " " $2] = $3; next }}
FILENAME == gomod {{ if ($1 == "module") project = $2; next }}
FILENAME == downloads {{
  if ($0 ~ /^[ \t]*"Path": /) path = value($0)
  else if ($0 ~ /^[ \t]*"Version": /) version = value($0)
  else if ($0 ~ /^[ \t]*"Error": /) error = value($0)
  else if ($0 ~ /^[ \t]*"Sum": /) zip = value($0)
  else if ($0 ~ /^[ \t]*"GoModSum": /) mod = value($0)
  else if ($0 ~ /^}}/) {{
    modules++
    key = path " " version
    gm = key "/go.mod"
    if (error != "") emit("err " path "@" version " " error)
    else if ((zip != "" && key in sum && sum[key] != zip) || (mod != "" && gm in sum && sum[gm] != mod))
      emit("sum " path "@" version " mismatch")
    else if ((zip != "" && !(key in sum)) || (mod != "" && !(gm in sum)))
      emit("sum " path "@" version " missing")
    path = ""; version = ""; error = ""; zip = ""; mod = ""
  }}
  next
}}
FILENAME == git {{ emit("git " $0); next }}
FILENAME == builderr {{
  if ($0 ~ /^go: /) last = $0
  else if (first == "" && $0 ~ /[^ \t]/) first = $0
  next
}}
FILENAME == buildout {{ if (first == "" && $0 ~ /^[ \t]*"Error": /) first = value($0); next }}
END {{
  if (bs != 0 && shown == 0) emit("project " project " " (last != "" ? last : first))
  printf "gobuild-preflight/v1 modules=%d download=%s build=%s\\n%send\\n", modules, dl, bs, out
}}' {mount}/go.sum {mount}/go.mod "$W/download.out" "$W/git.err" "$W/err" "$W/out" \\
  | sed 's#://[^/@ ]*@#://#g' | head -c {SUMMARY_BYTES} >{path}; }} 2>/dev/null
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
