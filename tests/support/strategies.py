"""Hypothesis strategies for GoBuildConfig specs and workloads (Pods, Jobs, CronJobs).

Shared by the pure property tests (tests/unit/test_properties.py) and the API server validity
test (tests/integration/test_validity.py), so both reason about the same space of inputs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from gobuild_operator.api.configspec.model import parse_spec

CONTAINER_NAMES = ["build", "test", "fetch", "sidecar"]
ENV_NAMES = [
    "GOPROXY",
    "GOFLAGS",
    "GOPRIVATE",
    "GOMODCACHE",
    "HTTPS_PROXY",
    "GIT_SSH_COMMAND",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_KEY_0",
    "GIT_CONFIG_VALUE_0",
    "GIT_CONFIG_KEY_1",
    "GIT_CONFIG_VALUE_1",
    "CGO_ENABLED",
    "HOME",
]
MOUNT_PATHS = [
    "/go/pkg/mod",
    "/etc/gobuild/ssh",
    "/etc/gobuild/ca",
    "/src",
    "/var/cache/gobuild/gocache",
    "/tmp",
]
VOLUME_NAMES = ["gobuild-ssh", "gobuild-cache", "gobuild-netrc", "gobuild-ca", "src", "tmp"]

# --- configs --------------------------------------------------------------------------------

specs = st.fixed_dictionaries(
    {},
    optional={
        "goproxy": st.sampled_from([["direct"], ["https://goproxy.cn", "direct"], ["off"]]),
        "proxyFallback": st.sampled_from(["OnNotFound", "OnAnyError"]),
        "gosumdb": st.sampled_from(["", "off", "sum.golang.org"]),
        "goprivate": st.sampled_from([[], ["git.corp.example/*"]]),
        "goflags": st.sampled_from([[], ["-mod=mod"], ["-mod=mod", "-modcacherw"]]),
        "overrideEnv": st.booleans(),
        "containers": st.lists(st.sampled_from(CONTAINER_NAMES), unique=True, max_size=2),
        "env": st.sampled_from([[], [{"name": "CGO_ENABLED", "value": "0"}]]),
        "corporateProxy": st.sampled_from([{}, {"httpsProxy": "http://proxy:3128", "noProxy": [".corp"]}]),
        "privateModules": st.fixed_dictionaries(
            {},
            optional={
                "ssh": st.just({"secretName": "key", "hosts": ["git.corp.example", "gl.example:2222"]}),
                "netrc": st.just({"secretName": "tokens"}),
            },
        ),
        "caBundle": st.sampled_from([{"configMapName": "ca"}, {"secretName": "ca", "key": "b.pem"}]),
        "cache": st.sampled_from(
            [
                {"enabled": True},
                {"enabled": True, "mode": "SharedVolume"},
                {"enabled": True, "mode": "SharedVolume", "buildCache": True},
                {"enabled": False},
            ]
        ),
    },
).map(parse_spec)

# --- workloads ------------------------------------------------------------------------------

env_vars = st.lists(
    st.tuples(
        st.sampled_from(ENV_NAMES),
        st.one_of(
            st.sampled_from(["1", "2", "off", "direct", "https://goproxy.cn,direct", "-mod=mod", "x"]),
            st.just(None),
        ),
    ),
    unique_by=lambda pair: pair[0],
    max_size=6,
).map(
    lambda pairs: [
        {"name": name, "value": value}
        if value is not None
        else {"name": name, "valueFrom": {"configMapKeyRef": {"name": "cm", "key": name.lower()}}}
        for name, value in pairs
    ]
)

mounts = st.lists(
    st.tuples(st.sampled_from(VOLUME_NAMES), st.sampled_from(MOUNT_PATHS), st.booleans()),
    unique_by=lambda triple: triple[1],
    max_size=3,
).map(
    lambda triples: [
        {"name": n, "mountPath": p, **({"readOnly": True} if ro else {})} for n, p, ro in triples
    ]
)


@st.composite
def containers(draw: st.DrawFn, names: list[str]) -> list[dict[str, Any]]:
    result = []
    for name in names:
        container: dict[str, Any] = {"name": name, "image": "golang:1.23"}
        for key, strategy in (
            ("env", env_vars),
            ("volumeMounts", mounts),
            ("envFrom", st.just([{"configMapRef": {"name": "build-env"}}])),
            ("terminationMessagePolicy", st.sampled_from(["File", "FallbackToLogsOnError"])),
            ("command", st.just(["go", "build", "./..."])),
        ):
            if draw(st.booleans()):
                container[key] = draw(strategy)
        result.append(container)
    return result


@st.composite
def pod_templates(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(CONTAINER_NAMES), unique=True, min_size=1, max_size=4))
    split = draw(st.integers(min_value=0, max_value=len(names) - 1))
    spec: dict[str, Any] = {"containers": draw(containers(names[split:]))}
    if split:
        spec["initContainers"] = draw(containers(names[:split]))
    volumes = draw(st.lists(st.sampled_from(VOLUME_NAMES), unique=True, max_size=3))
    if volumes:
        spec["volumes"] = [{"name": name, "emptyDir": {}} for name in volumes]
    metadata: dict[str, Any] = {}
    if draw(st.booleans()):
        metadata["labels"] = {"role": "build"}
    if draw(st.booleans()):
        metadata["annotations"] = {"team": "go"}
    return {"metadata": metadata, "spec": spec}


@st.composite
def workloads(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(["Pod", "Job", "CronJob"]))
    template = draw(pod_templates())
    if kind == "Pod":
        return kind, {"apiVersion": "v1", "kind": "Pod", **template}
    job_spec = {"backoffLimit": 0, "template": template}
    if kind == "Job":
        return kind, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": job_spec}
    cron = {"schedule": "@daily", "jobTemplate": {"spec": job_spec}}
    return kind, {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": cron}
