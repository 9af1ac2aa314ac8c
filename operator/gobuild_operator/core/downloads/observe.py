"""What an injected Pod's state means for its GoBuildConfig: the stage it reached and why it failed.

Stages are counted once each (counting.py): `injected` (seen carrying the marker), then `succeeded`
or `failed`; a Pod admitted without the injection it asked for has the single stage `missed`
(missed.py). A failed Pod's reason comes from the classifier (core/diagnosis/) run on the failed
container's termination message, which the webhook makes the log tail
(FallbackToLogsOnError), compared with the Go settings that container gave its build (its GOPROXY,
GOSUMDB, GOPRIVATE, GONOPROXY values in the Pod spec, the injected ones or the workload's own, and
build arguments with values on its command line). That comparison is how an image build that never
passed them to its RUN steps shows.

Pure: the operator feeds it Pod dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from gobuild_operator import constants as c
from gobuild_operator.api.status.model import Failure
from gobuild_operator.core.diagnosis.diagnose import Diagnosis, diagnose
from gobuild_operator.core.diagnosis.routes import IMAGE_BUILD, POD, GoSettings, Workload
from gobuild_operator.core.imagebuilds.arguments import CA_PATH
from gobuild_operator.core.imagebuilds.recognition import recognise
from gobuild_operator.redact import redact_text

Stage = Literal["injected", "succeeded", "failed", "missed"]
INJECTED: Final = "injected"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
MISSED: Final = "missed"

_LEVEL: Final[Mapping[str, int]] = {INJECTED: 1, SUCCEEDED: 2, FAILED: 2, MISSED: 2}

#: Failure.route values (api/status/model.py).
ROUTES: Final = frozenset({"proxy", "sumdb", "direct", "vcs", "off"})
#: Bounds on what a failure carries from a log into the status.
MAX_NAME: Final = 1024
MAX_REMEDY: Final = 4096


def level(stage: str | None) -> int:
    """0 for nothing recorded; 1 for injected; 2 for a final stage. Unknown markers count as 0."""
    return _LEVEL.get(stage or "", 0)


@dataclass(frozen=True)
class Observation:
    """One Pod reaching `stage`. `marker` is its annotation as seen; `known` the level already counted
    for it by this process (queued or written), which may be ahead of a stale watch event."""

    uid: str
    pod: str
    stage: Stage
    marker: str | None = None
    known: int = 0
    failure: Failure | None = None

    @property
    def floor(self) -> int:
        """What is certainly counted already, from what the caller knows."""
        return max(level(self.marker), self.known)


# --- reading Pods ------------------------------------------------------------------------------


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations if isinstance(annotations, Mapping) else {}


def injected_config(pod: Mapping[str, Any]) -> str | None:
    """The GoBuildConfig a Pod was injected with (its marker annotation), or None."""
    name = _annotations(pod).get(c.ANNOTATION_INJECTED)
    return name if isinstance(name, str) and name else None


def recorded_marker(pod: Mapping[str, Any]) -> str | None:
    value = _annotations(pod).get(c.ANNOTATION_RECORDED)
    return value if isinstance(value, str) else None


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    state = status.get("state") or {}
    terminated = state.get("terminated") if isinstance(state, Mapping) else None
    return terminated if isinstance(terminated, Mapping) else None


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Init containers first: a failing init container is where the build stopped."""
    status = pod.get("status") or {}
    found: list[Mapping[str, Any]] = []
    for key in ("initContainerStatuses", "containerStatuses"):
        found.extend(s for s in status.get(key) or [] if isinstance(s, Mapping))
    return found


def pod_result(pod: Mapping[str, Any]) -> Literal["running", "succeeded", "failed"]:
    """Succeeded/Failed phase, or every container terminated where nothing will restart it."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return "succeeded"
    if phase == "Failed":
        return "failed"
    spec = pod.get("spec") or {}
    names = [ctr.get("name") for ctr in spec.get("containers") or [] if isinstance(ctr, Mapping)]
    statuses = {
        s.get("name"): s
        for s in ((pod.get("status") or {}).get("containerStatuses") or [])
        if isinstance(s, Mapping)
    }
    if not names or any(_terminated(statuses.get(name) or {}) is None for name in names):
        return "running"
    codes = [int((_terminated(statuses[name]) or {}).get("exitCode") or 0) for name in names]
    policy = spec.get("restartPolicy", "Always")
    if all(code == 0 for code in codes) and policy in ("Never", "OnFailure"):
        return "succeeded"
    if policy == "Never":
        return "failed"
    return "running"  # the kubelet restarts it


def failed_container(pod: Mapping[str, Any]) -> tuple[str, str]:
    """(container name, termination message) of the first container that exited non-zero.

    With FallbackToLogsOnError (set by the webhook) the message is the tail of the log. A Pod that
    failed without any container failing (eviction, deadline) gives ("", the Pod's own message).
    """
    for status in _container_statuses(pod):
        for state in (_terminated(status), _terminated({"state": status.get("lastState") or {}})):
            if state is not None and int(state.get("exitCode") or 0) != 0:
                return str(status.get("name") or ""), str(state.get("message") or "")
    pod_status = pod.get("status") or {}
    return "", " ".join(str(pod_status.get(k) or "") for k in ("reason", "message")).strip()


def container_settings(pod: Mapping[str, Any], container: str) -> GoSettings | None:
    """The Go settings container `container` ran go with: the plain values of its env in the Pod spec
    (valueFrom cannot be read here; the injected ones or the workload's own), and for an image
    builder overridden by build arguments with a value on its command line (`--opt
    build-arg:NAME=VALUE`, `--build-arg NAME=VALUE`: what an image build's RUN steps get). None when
    there is no GOPROXY value."""
    ctr = _container(pod, container)
    if ctr is None:
        return None
    env = {
        str(var.get("name")): str(var.get("value"))
        for var in ctr.get("env") or []
        if isinstance(var, Mapping) and isinstance(var.get("value"), str)
    }
    if recognise(ctr) is not None:
        env |= _build_arg_values(_words(ctr))
    return GoSettings.from_env(env)


def container_workload(pod: Mapping[str, Any], container: str) -> Workload:
    """Whether the container runs an image builder (go then runs in its RUN steps, with what the
    Dockerfile passes on), and the build secret id its caBundle travels under."""
    ctr = _container(pod, container)
    if ctr is None or recognise(ctr) is None:
        return POD
    words = _words(ctr)
    for index, word in enumerate(words):
        value = words[index + 1] if word == "--secret" and index + 1 < len(words) else ""
        if word.startswith("--secret="):
            value = word.removeprefix("--secret=")
        fields = dict(part.partition("=")[::2] for part in value.split(",") if "=" in part)
        if fields.get("src") == CA_PATH and fields.get("id"):
            return Workload(image_build=True, ca_secret_id=fields["id"])
    return IMAGE_BUILD


def _container(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers"):
        for ctr in spec.get(key) or []:
            if isinstance(ctr, Mapping) and ctr.get("name") == container:
                return ctr
    return None


def _words(ctr: Mapping[str, Any]) -> list[str]:
    return [w for w in [*(ctr.get("command") or []), *(ctr.get("args") or [])] if isinstance(w, str)]


def _build_arg_values(words: list[str]) -> dict[str, str]:
    """NAME -> VALUE of the build arguments with a value in a command line (valueless ones read env)."""
    found: dict[str, str] = {}
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        for flag in ("--build-arg", "--opt"):
            if word.startswith(flag + "="):
                value = word[len(flag) + 1 :]
            elif word == flag:
                value = following
            else:
                continue
            if flag == "--opt":
                if not value.startswith("build-arg:"):
                    continue
                value = value.removeprefix("build-arg:")
            name, equals, setting = value.partition("=")
            if equals:
                found[name] = setting
    return found


def classify(pod: Mapping[str, Any], *, now: str) -> Failure:
    name = str((pod.get("metadata") or {}).get("name") or "")
    container, message = failed_container(pod)
    diagnosis: Diagnosis = diagnose(
        message, settings=container_settings(pod, container), workload=container_workload(pod, container)
    )
    return Failure(
        pod=name,
        container=container,
        reason=diagnosis.reason,
        summary=diagnosis.summary,
        remedy=redact_text(diagnosis.remedy)[:MAX_REMEDY],
        module=diagnosis.module[:MAX_NAME],
        host=redact_text(diagnosis.host)[:MAX_NAME],
        route=diagnosis.route if diagnosis.route in ROUTES else "",
        time=now,
    )


def about(failure: Failure) -> str:
    """What a failure was about, for messages: " fetching MODULE from HOST (ROUTE)", or ""."""
    words = ""
    if failure.module:
        words += f" fetching {failure.module}"
    if failure.host:
        via = {"proxy": "the proxy ", "sumdb": "the checksum database ", "direct": "its origin "}
        words += f" from {via.get(failure.route, '')}{failure.host}"
    return words


def observe(pod: Mapping[str, Any], *, known: int, now: str) -> Observation | None:
    """The stage an injected Pod has reached, if it is beyond what is recorded or `known`; else None."""
    metadata = pod.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    if not uid or injected_config(pod) is None:
        return None
    marker = recorded_marker(pod)
    result = pod_result(pod)
    stage: Stage = INJECTED if result == "running" else result
    if level(stage) <= max(level(marker), known):
        return None
    failure = classify(pod, now=now) if stage == FAILED else None
    return Observation(
        uid=uid, pod=str(metadata.get("name") or ""), stage=stage, marker=marker, known=known, failure=failure
    )


def observe_missed(pod: Mapping[str, Any], *, known: int) -> Observation | None:
    metadata = pod.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    if not uid or max(level(recorded_marker(pod)), known) >= level(MISSED):
        return None
    return Observation(uid=uid, pod=str(metadata.get("name") or ""), stage=MISSED, known=known)
