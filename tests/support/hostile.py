"""What a hostile tenant or a careless admin writes into a GoBuildConfig (hardening issue 11).

One table per defect, shared by the unit tests (the operator's own parse), the integration tests
(the API server's CRD refuses the same input, naming the same field) and the fuzzer, so the three
agree on what "refused" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Refused:
    """A spec both the API server and the operator refuse, naming `field`."""

    spec: dict[str, Any]
    field: str
    #: Words of the API server's message (its CEL rule or schema message).
    says: str


def _ssh(*hosts: str) -> dict[str, Any]:
    return {"privateModules": {"ssh": {"secretName": "git-ssh", "hosts": list(hosts)}}}


#: Defect 9: values the CRD accepted but no build can use.
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

#: Defect 6: credentials written into URLs. The token must appear nowhere: not in the refusal the
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

#: Defect 3: GOPROXY entries and probe modules that would move the probe off <url>/<module>/@v/list.
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
