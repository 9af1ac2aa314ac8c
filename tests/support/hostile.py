"""What a hostile tenant or a careless admin writes into a GoBuildConfig.

One table per defect, shared by the unit tests (the operator's own parse), the integration tests
(the API server's CRD refuses the same input, naming the same field) and the fuzzer, so the three
agree on what "refused" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from support.strategies import specs, workloads


@dataclass(frozen=True)
class Refused:
    """A spec both the API server and the operator refuse, naming `field`."""

    spec: dict[str, Any]
    field: str
    #: Words of the API server's message (its CEL rule or schema message).
    says: str


def _ssh(*hosts: str) -> dict[str, Any]:
    return {"privateModules": {"ssh": {"secretName": "git-ssh", "hosts": list(hosts)}}}


#: values the CRD accepted but no build can use.
UNUSABLE: dict[str, Refused] = {
    "mountpath-proc": Refused({"cache": {"mountPath": "/proc"}}, "spec.cache.mountPath", "system directory"),
    "mountpath-bin": Refused({"cache": {"mountPath": "/bin"}}, "spec.cache.mountPath", "system directory"),
    "mountpath-usr-bin": Refused(
        {"cache": {"mountPath": "/usr/bin"}}, "spec.cache.mountPath", "system directory"
    ),
    "mountpath-usr-local-go": Refused(
        {"cache": {"mountPath": "/usr/local/go"}}, "spec.cache.mountPath", "system directory"
    ),
    "mountpath-etc-ssl": Refused(
        {"cache": {"mountPath": "/etc/ssl/certs"}}, "spec.cache.mountPath", "system directory"
    ),
    "mountpath-dev-shm": Refused(
        {"cache": {"mountPath": "/dev/shm"}}, "spec.cache.mountPath", "system directory"
    ),
    "mountpath-tmp": Refused({"cache": {"mountPath": "/tmp"}}, "spec.cache.mountPath", "must not be exactly"),
    "mountpath-gopath": Refused(
        {"cache": {"mountPath": "/go"}}, "spec.cache.mountPath", "must not be exactly"
    ),
    "mountpath-newline": Refused(
        {"cache": {"mountPath": "/go/pkg/mod\n"}}, "spec.cache.mountPath", "path elements"
    ),
    "mountpath-space": Refused(
        {"cache": {"mountPath": "/go/pkg mod"}}, "spec.cache.mountPath", "path elements"
    ),
    "mountpath-kubelet-expansion": Refused(
        {"cache": {"mountPath": "/cache/$(HOME)"}}, "spec.cache.mountPath", "path elements"
    ),
    "file-url-with-host": Refused(
        {"goproxy": ["file://etc/passwd"]}, "spec.goproxy[0]", "file:///ABSOLUTE/PATH"
    ),
    "goproxy-port-99999": Refused(
        {"goproxy": ["https://goproxy.corp:99999"]}, "spec.goproxy[0]", "1 to 65535"
    ),
    "goproxy-port-0": Refused({"goproxy": ["http://goproxy.corp:0/"]}, "spec.goproxy[0]", "1 to 65535"),
    "corporate-proxy-port-99999": Refused(
        {"corporateProxy": {"httpsProxy": "http://proxy.corp:99999"}},
        "spec.corporateProxy.httpsProxy",
        "1 to 65535",
    ),
    "ssh-port-99999": Refused(
        _ssh("git.corp.example:99999"), "spec.privateModules.ssh.hosts[0]", "1 to 65535"
    ),
    "ssh-port-0": Refused(_ssh("git.corp.example:0"), "spec.privateModules.ssh.hosts[0]", "1 to 65535"),
    "size-999999999999Ei": Refused(
        {"cache": {"size": "999999999999Ei"}}, "spec.cache.size", "from 1Mi to 1Pi"
    ),
    "size-one-byte": Refused({"cache": {"size": "1"}}, "spec.cache.size", "from 1Mi to 1Pi"),
    "gosumdb-name-without-key": Refused({"gosumdb": "sum.corp.example"}, "spec.gosumdb", "NAME+HASH+KEY"),
    "gosumdb-url-port-99999": Refused(
        {"gosumdb": "sum.golang.org https://sum.corp:99999"}, "spec.gosumdb", "NAME+HASH+KEY"
    ),
    "gosumdb-alias-with-url": Refused(
        {"gosumdb": "sum.golang.google.cn https://sum.golang.google.cn"}, "spec.gosumdb", "NAME+HASH+KEY"
    ),
    "goflag-triple-dash": Refused({"goflags": ["---mod=mod"]}, "spec.goflags[0]", "as go reads GOFLAGS"),
    "goflag-dash-equals": Refused({"goflags": ["-=mod"]}, "spec.goflags[0]", "as go reads GOFLAGS"),
    # Python's `$` also matches before a final newline: the operator used to accept what CEL refused.
    "container-name-newline": Refused({"containers": ["build\n"]}, "spec.containers[0]", "container name"),
    "env-name-newline": Refused(
        {"env": [{"name": "CGO_ENABLED\n", "value": "0"}]}, "spec.env[0].name", "environment variable name"
    ),
    # The selector's keys and values were checked only by the CRD: the operator selected with them.
    "selector-key-kubelet-expansion": Refused(
        {"podSelector": {"matchLabels": {"$(CI_TOKEN)": "build"}}},
        "spec.podSelector.matchLabels",
        "label key",
    ),
    "selector-value-kubelet-expansion": Refused(
        {"podSelector": {"matchLabels": {"role": "$(CI_TOKEN)"}}},
        "spec.podSelector.matchLabels.role",
        "should match",
    ),
    "goprivate-listed-twice": Refused(
        {"goprivate": ["git.corp.example/*", "git.corp.example/*"]}, "spec.goprivate[1]", "Duplicate value"
    ),
    "selector-65-labels": Refused(
        {"podSelector": {"matchLabels": {f"l{i}": "x" for i in range(65)}}},
        "spec.podSelector.matchLabels",
        "must have at most 64 items",
    ),
    "selector-expression-key-space": Refused(
        {"podSelector": {"matchExpressions": [{"key": "build role", "operator": "Exists"}]}},
        "spec.podSelector.matchExpressions[0].key",
        "label key",
    ),
}

#: The edges of the same fields that builds can use: accepted by both.
USABLE: dict[str, dict[str, Any]] = {
    "mountpath-below-home": {"cache": {"mountPath": "/home/builder/go/pkg/mod"}},
    "mountpath-below-tmp": {"cache": {"mountPath": "/tmp/gomodcache"}},
    "mountpath-own-dir": {"cache": {"mountPath": "/cache/go-mod"}},
    "size-bounds": {"cache": {"size": "1Mi"}},
    "size-upper-bound": {"cache": {"size": "1Pi"}},
    "file-urls": {"goproxy": ["file:///srv/goproxy", "file://localhost/srv/mirror"]},
    "ports-at-the-edges": {"goproxy": ["https://goproxy.corp:65535", "http://goproxy.corp:1/"]},
    "ssh-port-65535": _ssh("git.corp.example:65535"),
    "gosumdb-alias": {"gosumdb": "sum.golang.google.cn"},
    "gosumdb-key-and-url": {
        "gosumdb": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 https://sum.corp:8443/x"
    },
    "gosumdb-mirror": {"gosumdb": "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org"},
    "goflags": {"goflags": ["-mod=mod", "--modcacherw", "-tags=netgo,osusergo"]},
}

#: credentials written into URLs. The token must appear nowhere: not in the refusal the
#: operator writes on the status, not in anything it shows.
TOKEN = "s3cr3t-7f3a"
CREDENTIALS: dict[str, Refused] = {
    "goproxy-token-as-user": Refused(
        {"goproxy": [f"https://{TOKEN}@goproxy.corp", "direct"]},
        "spec.goproxy[0]",
        "spec.privateModules.netrc",
    ),
    "goproxy-user-and-password": Refused(
        {"goproxy": ["direct", f"https://ci:{TOKEN}@goproxy.corp/mirror"]},
        "spec.goproxy[1]",
        "spec.privateModules.netrc",
    ),
    "goproxy-empty-user": Refused(
        {"goproxy": [f"https://:{TOKEN}@goproxy.corp"]}, "spec.goproxy[0]", "spec.privateModules.netrc"
    ),
    "http-proxy": Refused(
        {"corporateProxy": {"httpProxy": f"http://ci:{TOKEN}@proxy.corp:3128"}},
        "spec.corporateProxy.httpProxy",
        "spec.privateModules.netrc",
    ),
    "https-proxy": Refused(
        {"corporateProxy": {"httpsProxy": f"http://{TOKEN}@proxy.corp:3128"}},
        "spec.corporateProxy.httpsProxy",
        "spec.privateModules.netrc",
    ),
    "gosumdb-url": Refused(
        {"gosumdb": f"sum.golang.org https://ci:{TOKEN}@sum.corp"},
        "spec.gosumdb",
        "spec.privateModules.netrc",
    ),
}

#: GOPROXY entries and probe modules that would move the probe off <url>/<module>/@v/list.
PROBE_TRICKS: dict[str, Refused] = {
    "fragment-drops-the-module-path": Refused(
        {"goproxy": ["http://10.0.0.7:8080/admin#", "direct"]},
        "spec.goproxy[0]",
        'must not contain "?" or "#"',
    ),
    "query-swallows-the-module-path": Refused(
        {"goproxy": ["http://10.0.0.7:8080/admin?x="]}, "spec.goproxy[0]", 'must not contain "?" or "#"'
    ),
    "module-dot-dot": Refused(
        {"reporting": {"probeModule": "golang.org/x/../../admin"}},
        "spec.reporting.probeModule",
        "module path",
    ),
    "module-dot-element": Refused(
        {"reporting": {"probeModule": "golang.org/x/."}}, "spec.reporting.probeModule", "module path"
    ),
}


# --- hypothesis: hostile configs and workloads for the admission fuzzer ---------------------------

#: Text a hostile tenant types into any field.
HOSTILE_TEXT = [
    "$(CI_TOKEN)",
    "$$(CI_TOKEN)",
    "a$$b",
    "$",
    "a,b",
    "x|y",
    "line\nbreak",
    "nul\x00byte",
    "tab\there",
    "é",
    "😀",
    "../..",
    "/proc",
    "/",
    "",
    " ",
    "a" * 300,
    "-toolexec=/x",
    "LD_PRELOAD",
    f"https://{TOKEN}@goproxy.corp",
    "http://169.254.169.254/latest",
    "file://etc/passwd",
    "99999999999999999999",
    "²",
    "-1",
    "0",
    "'; rm -rf / #",
    "`id`",
]
text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=24))
urls = st.one_of(
    st.sampled_from(
        [
            "https://goproxy.cn",
            "https://goproxy.corp/$(CI_TOKEN)",
            "http://10.0.0.7:3000/",
            "file:///srv/goproxy",
            "direct",
            "off",
            "https://goproxy.corp:65535/base",
        ]
    ),
    text,
)
env_names = st.one_of(
    st.sampled_from(
        [
            "CGO_ENABLED",
            "GOTOOLCHAIN",
            "HOME",
            "LD_PRELOAD",
            "BASH_ENV",
            "PATH",
            "GIT_CONFIG_PARAMETERS",
            "GOFLAGS",
        ]
    ),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
    text,
)
_anything_specs = st.fixed_dictionaries(
    {},
    optional={
        "goproxy": st.lists(urls, min_size=1, max_size=4),
        "proxyFallback": st.sampled_from(["OnNotFound", "OnAnyError", "Sometimes"]),
        "gosumdb": st.one_of(st.sampled_from(["", "off", "sum.golang.org", "sum.golang.google.cn"]), text),
        "goprivate": st.lists(st.one_of(st.just("git.corp.example/*"), text), max_size=3),
        "goinsecure": st.lists(text, max_size=2),
        "goflags": st.lists(
            st.one_of(st.sampled_from(["-mod=mod", "-modcacherw", "-toolexec=/x"]), text), max_size=3
        ),
        "env": st.lists(st.fixed_dictionaries({"name": env_names}, optional={"value": text}), max_size=4),
        "overrideEnv": st.booleans(),
        "containers": st.lists(st.one_of(st.sampled_from(["build", "test", "fetch"]), text), max_size=2),
        "corporateProxy": st.fixed_dictionaries(
            {}, optional={"httpsProxy": urls, "httpProxy": urls, "noProxy": st.lists(text, max_size=3)}
        ),
        "privateModules": st.fixed_dictionaries(
            {},
            optional={
                "ssh": st.fixed_dictionaries(
                    {
                        "secretName": st.one_of(st.just("git-ssh"), text),
                        "hosts": st.lists(st.one_of(st.just("git.corp.example:2222"), text), max_size=3),
                    },
                    optional={"user": st.one_of(st.just("git"), text), "knownHostsKey": text},
                ),
                "netrc": st.fixed_dictionaries({"secretName": st.one_of(st.just("tokens"), text)}),
            },
        ),
        "caBundle": st.one_of(
            st.just({"configMapName": "ca"}),
            st.fixed_dictionaries({}, optional={"secretName": text, "configMapName": text, "key": text}),
        ),
        "cache": st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.booleans(),
                "mode": st.sampled_from(["Proxy", "SharedVolume", "Mirror"]),
                "buildCache": st.booleans(),
                "accessModes": st.sampled_from([[], ["ReadWriteOnce"], ["ReadWriteMany"]]),
                "mountPath": st.one_of(
                    st.sampled_from(["/go/pkg/mod", "/cache", "/proc", "/etc/gobuild/x"]), text
                ),
                "size": st.one_of(st.sampled_from(["10Gi", "999999999999Ei", "1"]), text),
                "existingClaim": st.one_of(st.just("shared"), text),
            },
        ),
        "podSelector": st.one_of(
            st.just({"matchLabels": {"role": "build"}}),
            st.just({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}),
            st.dictionaries(text, text, max_size=2).map(lambda labels: {"matchLabels": labels}),
        ),
        "default": st.booleans(),
        "reporting": st.fixed_dictionaries({}, optional={"probeModule": text, "enabled": st.booleans()}),
    },
)
#: Valid specs whose values a hostile writer chose: $(VAR) and friends in every free-text field.
_valid_hostile_specs = st.fixed_dictionaries(
    {
        "goproxy": st.sampled_from(
            [["https://goproxy.corp/$(CI_TOKEN)", "direct"], ["http://10.0.0.7:3000/$$x"], ["direct"]]
        ),
        "env": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["CGO_ENABLED", "GOOS", "GOEXPERIMENT", "GODEBUG", "GOVCS"])},
                optional={"value": text},
            ),
            max_size=3,
            unique_by=lambda e: e["name"],
        ),
    },
    optional={
        "corporateProxy": st.just(
            {"httpsProxy": "http://proxy.corp:3128/$(X)", "noProxy": ["$(NO)", ".corp"]}
        ),
        "goprivate": st.just(["$(PRIVATE)/*"]),
        "cache": st.sampled_from(
            [{"enabled": True}, {"enabled": True, "mode": "SharedVolume", "buildCache": True}]
        ),
        "overrideEnv": st.booleans(),
        "podSelector": st.just({"matchLabels": {"role": "build"}}),
    },
)
#: Any spec: valid ones (the property tests' space), valid ones with hostile values, and anything.
hostile_specs = st.one_of(
    specs.map(lambda spec: spec.model_dump(by_alias=True, exclude_none=True, mode="json")),
    _valid_hostile_specs,
    _anything_specs,
)
#: GoBuildConfig names: short, at the label-value limit, and as long as an object name may be.
config_names = st.sampled_from(["corp", "b" * 63, "c" * 64, "d" * 253, "e.f"])

#: A workload's hostile env entries, appended to a drawn container.
hostile_env = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(
                    [
                        "GIT_CONFIG_COUNT",
                        "GIT_CONFIG_KEY_0",
                        "GIT_CONFIG_VALUE_0",
                        "GOPROXY",
                        "CI_TOKEN",
                        "HOME",
                    ]
                ),
                "value": text,
            }
        ),
        st.just({"name": "CI_TOKEN", "valueFrom": {"secretKeyRef": {"name": "ci", "key": "token"}}}),
    ),
    max_size=4,
)


@st.composite
def hostile_workloads(draw: st.DrawFn, names: list[str]) -> tuple[str, dict[str, Any]]:
    """A drawn Pod, Job or CronJob with hostile env and opt-in annotations for one of `names`."""
    kind, obj = draw(workloads())
    template = obj
    for key in {
        "Pod": (),
        "Job": ("spec", "template"),
        "CronJob": ("spec", "jobTemplate", "spec", "template"),
    }[kind]:
        template = template[key]
    for container in template["spec"]["containers"]:
        extra = draw(hostile_env)
        if extra:
            container["env"] = [*container.get("env", []), *extra]
    how = draw(st.sampled_from(["config", "inject", "labels", "missing", "opt-out", "not-understood"]))
    holder = template if draw(st.booleans()) or kind == "Pod" else obj
    metadata = holder.setdefault("metadata", {})
    annotations = metadata.setdefault("annotations", {})
    if how == "config":
        annotations["gobuild.dev/config"] = draw(st.sampled_from(names))
    elif how == "inject":
        annotations["gobuild.dev/inject"] = "true"
    elif how == "labels":
        template.setdefault("metadata", {}).setdefault("labels", {})["role"] = "build"
    elif how == "missing":
        annotations["gobuild.dev/config"] = "gone"
    elif how == "not-understood":  # opted in, but a container the webhook cannot read: unchanged
        annotations["gobuild.dev/config"] = draw(st.sampled_from(names))
        template["spec"]["containers"][0]["env"] = "not a list"
    else:
        annotations.update(
            {"gobuild.dev/config": draw(st.sampled_from(names)), "gobuild.dev/inject": "false"}
        )
    return kind, obj
