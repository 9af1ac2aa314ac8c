"""The remedy of one diagnosis: from the reason, the Go settings, the workload and the evidence.

The registry (reasons/) holds each reason's general remedy, which is what the docs table shows and
what is said when nothing more is known. Where the log and the settings tell more, the remedy says
exactly what to change: which proxy lacks which module and why falling back would not help, which
ARG lines a Dockerfile must declare, that an image build's RUN step needs the CA as a build secret.
The operator (core/downloads/observe.py) and `diagnose` call the same function, so they say the same.

Pure: strings in, a string out.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from gobuild_operator.api.status.reasons import ReasonName
from gobuild_operator.core.diagnosis.reasons import registry
from gobuild_operator.core.diagnosis.routes import Facts, GoSettings, Workload

#: Public module proxies: a private module must never be sent to them.
PUBLIC_PROXIES: Final = frozenset(
    {"proxy.golang.org", "goproxy.cn", "goproxy.io", "mirrors.aliyun.com", "proxy.golang.com.cn"}
)
#: Reasons of a request that never got an answer from the server.
_UNREACHED: Final = frozenset(
    {
        ReasonName.ProxyUnreachable,
        ReasonName.DNSResolutionFailed,
        ReasonName.TLSHandshakeTimeout,
        ReasonName.ProxyServerError,
    }
)
#: What the log line showed, in words, when the route turned it into ModuleNotFound.
_SHOWN: Final = {
    ReasonName.LookupDisabled: "module lookup disabled",
    ReasonName.DNSResolutionFailed: "a host name that does not resolve",
    ReasonName.ProxyUnreachable: "a refused or timed-out connection",
    ReasonName.TLSHandshakeTimeout: "a TLS handshake timeout",
    ReasonName.CertificateUntrusted: "an untrusted certificate",
    ReasonName.HTTPProxyError: "the corporate HTTP proxy's refusal",
    ReasonName.AuthenticationFailed: "missing credentials",
    ReasonName.HostKeyVerificationFailed: "an unknown host key",
    ReasonName.VCSCommandMissing: "no git in the image",
}


def remedy_for(reason: str, facts: Facts, *, settings: GoSettings | None, workload: Workload) -> str:
    """What fixes this failure, as exactly as the facts allow (the registry's remedy otherwise)."""
    general = registry.reason(reason).remedy
    specific = _specific(reason, facts, settings=settings, workload=workload)
    return specific or general


def _specific(reason: str, facts: Facts, *, settings: GoSettings | None, workload: Workload) -> str:
    module = facts.module or "the module"
    host = facts.host
    if reason == ReasonName.BuildSettingsNotPassed and settings is not None and workload.image_build:
        names = " ".join(settings.declared) or "GOPROXY"
        return (
            f"Build change: declare the settings the config injects without values in every Dockerfile "
            f"stage that runs go, `ARG {names}`, and remove any hard-coded `ENV GOPROXY=...` (or GOSUMDB, "
            "GOPRIVATE) that overrides them; a builder started through a shell needs the build arguments "
            "the admission warning lists; `python -m gobuild_operator check Dockerfile --config NAME` "
            "names the lines."
        )
    if reason == ReasonName.ModuleNotFound and facts.proxies and facts.shown:
        proxies = " and ".join(facts.proxies)
        they = "it does" if len(facts.proxies) == 1 else "they do"
        shown = _SHOWN.get(ReasonName(facts.shown), facts.shown)
        after = (
            f"go reached `{facts.reached}` only because {proxies} answered 404/410 (spec.proxyFallback "
            f"OnNotFound), and `{facts.reached}` failed with {shown}, so the proxies' answer is not in "
            "the log"
        )
        no_egress = (
            "; spec.proxyFallback: OnAnyError changes nothing here, and `direct` only works where builds "
            "reach the module's origin themselves"
            if facts.reached == "direct"
            else ""
        )
        return (
            f"{proxies}: {they} not have {module} ({after}). Add {module} to that mirror (or let it fetch "
            f"it from its upstream), or list a proxy that has it in spec.goproxy before "
            f'"{facts.reached}"{no_egress}. A private module belongs in spec.goprivate, with '
            "spec.privateModules credentials."
        )
    if reason == ReasonName.ModuleNotFound and facts.route == "proxy" and host:
        return (
            f"The proxy {host} does not have {module} (it answered 404/410). Check the module path in "
            f"go.mod and the imports; if another proxy has it, list it in spec.goproxy after {host} "
            "(spec.proxyFallback: OnNotFound moves on after a 404/410); a private module belongs in "
            "spec.goprivate (or its host in spec.privateModules.ssh.hosts), so go fetches it directly."
        )
    if reason == ReasonName.AuthenticationFailed and facts.route == "proxy" and host:
        public = host in PUBLIC_PROXIES
        own = (
            ""
            if public
            else f"; if {host} is your own proxy and should serve it, give {host} credentials for the origin"
        )
        return (
            f"The proxy {host} could not read {module} from its origin without credentials: a private "
            f"module must not go through a proxy that cannot see it. List it in spec.goprivate (e.g. "
            f'"{_first_element(facts.module)}") so builds fetch it directly with spec.privateModules '
            f"credentials{own}."
        )
    if reason == ReasonName.SumDBModuleNotFound and facts.module:
        return (
            f'Add "{_first_element(facts.module)}" to spec.goprivate (or spec.gonosumdb when the module '
            f"still comes through the proxy), so go does not look {module} up in the checksum database"
            f"{' ' + host if host else ''}, which cannot fetch it; a public module must exist at the "
            "version go.mod asks for."
        )
    if reason == ReasonName.CertificateUntrusted and workload.image_build:
        return (
            f"Add the CA that signs {host or 'the server'}'s certificate with spec.caBundle, and in the "
            "Dockerfile give the RUN step that downloads it as the build secret the webhook passes: "
            f"`RUN --mount=type=secret,id={workload.ca_secret_id},target=/etc/ssl/certs/gobuild-ca.pem "
            "go mod download` (RUN steps trust only the image's CAs, not the builder container's)."
        )
    if reason in _UNREACHED and facts.route == "proxy" and host:
        return _unreachable_proxy(reason, facts, settings)
    if reason in _UNREACHED and facts.route in ("direct", "vcs") and host:
        private = settings is not None and bool(facts.module) and settings.private(facts.module)
        how = "GOPRIVATE covers it" if private else "`direct` in spec.goproxy"
        tried = (
            f" after {' and '.join(facts.proxies)} failed (spec.proxyFallback OnAnyError moves on after any "
            "error; status.proxies shows the operator's probe of each)"
            if facts.proxies
            else ""
        )
        fix = (
            "allow the builds egress to it (NetworkPolicy, firewall) or set spec.corporateProxy.httpsProxy"
            if private
            else "serve the module from a proxy in spec.goproxy that builds reach, or allow the builds "
            "egress to it (NetworkPolicy, firewall, spec.corporateProxy.httpsProxy)"
        )
        return (
            f"go fetched {module} from its origin {host} itself ({how}){tried}, and could not reach it: "
            f"{fix}."
        )
    return ""


def _unreachable_proxy(reason: str, facts: Facts, settings: GoSettings | None) -> str:
    host = facts.host
    what = {
        ReasonName.ProxyServerError: "failed the request",
        ReasonName.DNSResolutionFailed: "has a name that does not resolve",
        ReasonName.TLSHandshakeTimeout: "did not complete the TLS handshake",
    }.get(ReasonName(reason), "could not be reached")
    lead = f"The proxy {host} {what}."
    if reason == ReasonName.DNSResolutionFailed:
        lead += " Check its name in spec.goproxy and the cluster DNS."
    if settings is None:
        return lead + " " + registry.reason(reason).remedy
    entries = settings.entries()
    index = next((i for i, (entry, _) in enumerate(entries) if _host(entry) == host), None)
    if index is None:
        return lead + " " + registry.reason(reason).remedy
    after = entries[index + 1 :]
    if not after:
        return (
            f"{lead} It is the last entry of spec.goproxy: fix it (status.proxies shows the operator's "
            "probe of it), or list a reachable mirror in spec.goproxy with spec.proxyFallback: OnAnyError."
        )
    if after[0][1] == "|":
        return (
            f"{lead} go moved on to the next entries of spec.goproxy and they failed too: fix {host} or "
            "them (status.proxies shows the operator's probe of each)."
        )
    mirrors = [entry for entry, _ in after if entry not in ("direct", "off")]
    if mirrors:
        return (
            f"{lead} With spec.proxyFallback OnNotFound go does not move past it to {_host(mirrors[0])}: "
            "set spec.proxyFallback: OnAnyError, or fix or remove it from spec.goproxy (status.proxies "
            "shows the operator's probe of it)."
        )
    return (
        f"{lead} Fix it or its route from the builds (status.proxies shows the operator's probe of it; "
        "a NetworkPolicy may let the operator through but not the builds). spec.proxyFallback: OnAnyError "
        f'would only send go to "{after[0][0]}", which works only where builds reach the module origins '
        "themselves."
    )


def _host(entry: str) -> str:
    if entry in ("direct", "off"):
        return entry
    parts = urlsplit(entry if "://" in entry else "https://" + entry)
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if parts.scheme == scheme and host.endswith(port):
            host = host[: -len(port)]
    return host


def _first_element(module: str) -> str:
    return module.split("/", 1)[0] if module else "HOST"
