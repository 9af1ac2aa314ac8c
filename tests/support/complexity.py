"""How the time of each entry point that reads a tenant's text grows with the text's size.

A tenant controls annotations, command lines, env values, build logs and Dockerfiles. The operator
reads them on the admission path (a second thread that shares the GIL with leader election and the
health endpoints) and in its watches, so work that grows with the square of such a text stalls the
whole process, however short the API server's timeout. Each entry here is one way in, fed the
shape that used to hurt it (a long word, a repeated keyword, many items), at growing sizes.

`growth()` compares two sizes: the time ratio divided by the size ratio, about 1 for linear work
and about the size ratio for quadratic work. Tests assert a bound on it (tests/unit/test_complexity.py);
`make bench` prints it from 1 KB to 1 MB (bench/complexity.py). Neither asserts a time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gobuild_operator.core.diagnosis.diagnose import diagnose
from gobuild_operator.core.diagnosis.routes import GoSettings
from gobuild_operator.core.dockercheck.check import check
from gobuild_operator.core.dockercheck.findings import Context
from gobuild_operator.core.downloads.missed import missed_config
from gobuild_operator.handlers.admission import Admission
from gobuild_operator.metrics import Metrics
from gobuild_operator.redact import redact_text
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store
from support.webhook import review

NAMESPACE = "builds"
OTHER_NAMESPACE = "elsewhere"


def _store() -> Store:
    store = Store()
    metadata = {"namespace": NAMESPACE, "name": "go", "uid": "uid-go", "generation": 1}
    metadata["creationTimestamp"] = "2026-01-01T00:00:00Z"
    store.put_config({"metadata": metadata, "spec": {"goproxy": ["https://goproxy.corp", "direct"]}})
    store.put_namespace(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE})
    store.put_namespace(OTHER_NAMESPACE, {"kubernetes.io/metadata.name": OTHER_NAMESPACE})
    return store


def _pod(*, annotations: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "build",
            "namespace": NAMESPACE,
            "creationTimestamp": "2026-02-01T00:00:00Z",
            "annotations": {"gobuild.dev/config": "go", **(annotations or {})},
        },
        "spec": {"containers": [{"name": "build", "image": "moby/buildkit", **container}]},
    }


def _repeat(word: str, size: int) -> str:
    return (word * (size // len(word) + 1))[:size]


def _admission(
    make_pod: Callable[[int], dict[str, Any]], *, namespace: str = NAMESPACE
) -> Callable[[int], Callable[[], object]]:
    """The webhook's entry point (bytes in, bytes out) on a Pod of about `size` hostile bytes."""

    def prepare(size: int) -> Callable[[], object]:
        webhook = Admission(
            settings=Settings(operator_namespace="gobuild-system"), store=_store(), metrics=Metrics()
        )
        body = json.dumps(review("Pod", make_pod(size), namespace=namespace)).encode()
        return lambda: webhook.review(body, kind="Pod")

    return prepare


def _missed(make_pod: Callable[[int], dict[str, Any]]) -> Callable[[int], Callable[[], object]]:
    """The missed-injection check on a stored Pod of about `size` hostile bytes."""

    def prepare(size: int) -> Callable[[], object]:
        store, pod = _store(), make_pod(size)
        return lambda: missed_config(
            pod,
            namespace=NAMESPACE,
            namespace_labels=store.namespace_labels(NAMESPACE),
            operator_namespace="gobuild-system",
            configs=store.specs(NAMESPACE),
            created=store.created(NAMESPACE),
        )

    return prepare


def _text(function: Callable[[str], object], word: str) -> Callable[[int], Callable[[], object]]:
    def prepare(size: int) -> Callable[[], object]:
        text = _repeat(word, size)
        return lambda: function(text)

    return prepare


def _config_name(word: str) -> Callable[[int], dict[str, Any]]:
    return lambda size: _pod(annotations={"gobuild.dev/config": _repeat(word, size)})


def _script(word: str) -> Callable[[int], dict[str, Any]]:
    return lambda size: _pod(command=["sh", "-c", _repeat(word, size)])


def _buildctl_env(value: str) -> Callable[[int], dict[str, Any]]:
    """buildctl copies env values into --opt build-arg: each is checked for URL credentials."""
    return lambda size: _pod(
        command=["buildctl", "build"], env=[{"name": "GOPROXY", "value": _repeat(value, size)}]
    )


def _many_env(size: int) -> dict[str, Any]:
    return _pod(
        command=["buildctl", "build"], env=[{"name": f"V{i}", "value": "x"} for i in range(size // 24)]
    )


def _many_args(size: int) -> dict[str, Any]:
    return _pod(command=["buildctl", "build", *(["--opt", "build-arg:A=b"] * (size // 24))])


def _many_containers(size: int) -> dict[str, Any]:
    pod = _pod()
    pod["spec"]["containers"] = [{"name": f"c{i}", "image": "golang"} for i in range(size // 40)]
    return pod


def _dockerfile(make: Callable[[int], str]) -> Callable[[int], Callable[[], object]]:
    """`check` on a Dockerfile of about `size` bytes (its context: go.mod and go.sum)."""

    def prepare(size: int) -> Callable[[], object]:
        text = make(size)
        context = Context(files=frozenset({"go.mod", "go.sum", "main.go"}), go_mods={"go.mod": "go 1.22\n"})
        return lambda: check(text, context=context)

    return prepare


def _one_word(size: int) -> str:
    return "FROM golang:1.26\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN echo " + _repeat("a", size) + "\n"


def _many_runs(size: int) -> str:
    return "FROM golang:1.26\nWORKDIR /src\nCOPY go.mod go.sum ./\n" + "RUN go mod download\n" * (size // 20)


def _many_stages(size: int) -> str:
    stage = "FROM golang:1.26 AS s{i}\nCOPY --from=s{j} /src /src\nRUN go build ./...\n"
    return "FROM golang:1.26 AS s0\nWORKDIR /src\nCOPY go.mod go.sum ./\n" + "".join(
        stage.format(i=i, j=i - 1) for i in range(1, size // 60)
    )


def _many_flags(size: int) -> str:
    return (
        "FROM golang:1.26\nRUN "
        + "--mount=type=cache,target=/go/pkg/mod " * (size // 40)
        + "go mod download\n"
    )


def _routed_diagnosis(word: str) -> Callable[[int], Callable[[], object]]:
    """diagnose with the Go settings known (routes read, requests compared)."""
    settings = GoSettings(goproxy="https://goproxy.corp,direct", goprivate="git.corp/*")

    def prepare(size: int) -> Callable[[], object]:
        text = _repeat(word, size)
        return lambda: diagnose(text, settings=settings)

    return prepare


@dataclass(frozen=True)
class EntryPoint:
    name: str
    #: Given a size in bytes, prepares the input (untimed) and returns what to time.
    prepare: Callable[[int], Callable[[], object]]


ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint("admission: config annotation, a long name (not found)", _admission(_config_name("a"))),
    EntryPoint(
        "admission: config annotation, words, namespace without configs",
        _admission(_config_name("a-"), namespace=OTHER_NAMESPACE),
    ),
    EntryPoint("admission: config annotation, words", _admission(_config_name("a-"))),
    EntryPoint("admission: config annotation, URLs", _admission(_config_name("a://b"))),
    EntryPoint("admission: sh -c, one long word", _admission(_script("a"))),
    EntryPoint("admission: sh -c, buildctl repeated", _admission(_script("buildctl "))),
    EntryPoint("admission: sh -c, buildah repeated", _admission(_script("buildah "))),
    EntryPoint("admission: sh -c, docker repeated", _admission(_script("docker "))),
    EntryPoint("admission: sh -c, executor repeated", _admission(_script("(executor "))),
    EntryPoint("admission: buildctl env value, one long word", _admission(_buildctl_env("a"))),
    EntryPoint("admission: buildctl env value, schemes repeated", _admission(_buildctl_env("a://"))),
    EntryPoint("admission: many env variables", _admission(_many_env)),
    EntryPoint("admission: many builder arguments", _admission(_many_args)),
    EntryPoint("admission: many containers", _admission(_many_containers)),
    EntryPoint("missed-injection check: sh -c, buildctl repeated", _missed(_script("buildctl "))),
    EntryPoint("missed-injection check: config annotation, a long name", _missed(_config_name("a-"))),
    EntryPoint("redaction: one long word", _text(redact_text, "a")),
    EntryPoint("redaction: words", _text(redact_text, "a-")),
    EntryPoint("redaction: a://b@ repeated", _text(redact_text, "a://b@")),
    EntryPoint("redaction: @ repeated", _text(redact_text, "a@")),
    EntryPoint("diagnosis: one long line", _text(diagnose, "a")),
    EntryPoint("diagnosis: empty lines", _text(diagnose, "\n")),
    EntryPoint("diagnosis: go: lines", _text(diagnose, "go: a\n")),
    EntryPoint(
        "diagnosis: request lines with routes", _routed_diagnosis("go: a@v1: Get https://x/a/@v/v1.mod\n")
    ),
    EntryPoint(
        "diagnosis: server response lines", _text(diagnose, "\tserver response: not found\n\t\tfatal: x\n")
    ),
    EntryPoint("diagnosis: one long line of anchors", _text(diagnose, "dial tcp ")),
    EntryPoint("check: one long word", _dockerfile(_one_word)),
    EntryPoint("check: many RUNs", _dockerfile(_many_runs)),
    EntryPoint("check: many stages", _dockerfile(_many_stages)),
    EntryPoint("check: many RUN flags", _dockerfile(_many_flags)),
)


def seconds(run: Callable[[], object], *, repeat: int = 3) -> float:
    """The fastest of `repeat` runs: the least disturbed by whatever else the machine does."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def growth(entry: EntryPoint, small: int, large: int, *, repeat: int = 3) -> float:
    """(time at `large` / time at `small`) / (large / small): ~1 linear, ~large/small quadratic."""
    low = seconds(entry.prepare(small), repeat=repeat)
    high = seconds(entry.prepare(large), repeat=repeat)
    return (high / max(low, 1e-9)) / (large / small)
