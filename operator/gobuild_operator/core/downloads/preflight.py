"""A finished preflight Pod (`preflight`'s Job, labelled gobuild.dev/preflight) read as the
config's status.lastPreflight, and never as a build: it is not counted in status.downloads.

The Job's script writes a summary of its run as the container's termination message
(core/preflight/job.py `summary`): `gobuild-preflight/v1 modules=N download=S build=S`, at most a
few failing modules with go's (or git's) error line or a go.sum verdict, or the project's first
error line, then `end`. The errors are classified here by the one classifier (core/diagnosis/) with
the Go settings the container was given, as a failed build's are, so the reasons are the ones
`preflight` itself printed. Only module paths and reason names reach the status.

Pure: the operator feeds it Pod dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gobuild_operator import constants as c
from gobuild_operator.api.status.model import LastPreflight, PreflightFailure
from gobuild_operator.api.status.reasons import NAMES as REASON_NAMES
from gobuild_operator.api.status.reasons import UNKNOWN
from gobuild_operator.core.diagnosis.diagnose import diagnose
from gobuild_operator.core.diagnosis.routes import POD
from gobuild_operator.core.downloads.observe import container_settings, pod_result
from gobuild_operator.redact import redact_text

#: status.lastPreflight.failing keeps at most this many modules.
MAX_FAILING: Final = 5
MAX_MODULE: Final = 1024
_SUMS: Final = {"missing": "MissingGoSum", "mismatch": "ChecksumMismatch"}


def is_preflight(pod: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, Mapping) and labels.get(c.LABEL_PREFLIGHT) == "true"


def _summary(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    """(container, its termination message, when it finished) of the container that wrote a summary."""
    status = pod.get("status") or {}
    for ctr in status.get("containerStatuses") or []:
        if not isinstance(ctr, Mapping):
            continue
        terminated = (ctr.get("state") or {}).get("terminated") or {}
        message = terminated.get("message") if isinstance(terminated, Mapping) else None
        if isinstance(message, str) and message.startswith(c.PREFLIGHT_SUMMARY + " "):
            return str(ctr.get("name") or ""), message, str(terminated.get("finishedAt") or "")
    return "", "", ""


def _reason(text: str, pod: Mapping[str, Any], container: str) -> str:
    found = diagnose(text, settings=container_settings(pod, container), workload=POD).reason
    return found if found in REASON_NAMES else UNKNOWN


def read_preflight(pod: Mapping[str, Any], *, now: str) -> LastPreflight | None:
    """The finished preflight Pod's record (None while it runs). A Pod without a summary (the
    deadline, an image without go, a container that never started) is Failed with no module named."""
    if pod_result(pod) == "running":
        return None
    name = str((pod.get("metadata") or {}).get("name") or "")
    container, message, finished = _summary(pod)
    lines = message.splitlines()
    if not lines or "end" not in lines[1:]:
        return LastPreflight(time=finished or now, pod=name, outcome="Failed", modules=0, failing=[])
    fields = dict(word.partition("=")[::2] for word in lines[0].split()[1:])
    modules = int(fields["modules"]) if fields.get("modules", "").isdigit() else 0
    git = {}
    for line in lines[1:]:
        kind, _, rest = line.partition(" ")
        if kind == "git":
            target, _, text = rest.partition(" ")
            git[target.rpartition("@")[0] or target] = text
    failing: list[PreflightFailure] = []
    for line in lines[1:]:
        kind, _, rest = line.partition(" ")
        target, _, text = rest.partition(" ")
        module = target.rpartition("@")[0] or target
        if kind == "err":
            reason = _reason(f"{git.get(module, '')}\n{text}", pod, container)
        elif kind == "sum":
            reason = _SUMS.get(text.strip(), UNKNOWN)
        elif kind == "git":
            continue  # read with its module's err line
        elif kind == "project":
            reason = _reason(text, pod, container)
        else:
            continue
        if len(failing) < MAX_FAILING:
            failing.append(PreflightFailure(module=redact_text(module)[:MAX_MODULE], reason=reason))
    passed = not failing and fields.get("download") == "0" and fields.get("build") == "0"
    return LastPreflight(
        time=finished or now,
        pod=name,
        outcome="Passed" if passed else "Failed",
        modules=modules,
        failing=failing,
    )
