"""Turn a GoBuildConfig spec into what every selected container gets: an InjectionPlan.

The plan is data (env in order, git config entries, volumes, mounts); core/injection/mutate.py
applies it to a pod spec. Keeping the two apart lets the webhook, the status (effective
GOPROXY/GOSUMDB), the Proxy cache's objects (its names and URL), `check` and the tests share one
description of "what an injected workload carries" (SPEC): so the plan sits below all of them.

Choices that are not obvious from the SPEC, each checked with real tools (git 2.39 with GnuTLS,
OpenSSL-based curl 7.88, OpenSSH 9.2 against a real sshd, go 1.26) in bubblewrap sandboxes, as
root, as uid 1000 and as a uid without a passwd entry:

* Secret data never enters the Pod spec: keys, tokens and certificates come from Secret/ConfigMap
  *volumes*; env values only name the files. Every mounted file is 0444 so any uid can read it.
* SSH must work for any uid. OpenSSH refuses a private key that others can read, and a non-root
  user cannot read a 0400 file owned by root, so no mode on the mounted key serves both. Instead
  GIT_SSH_COMMAND is a POSIX-sh function that copies the key into a private mktemp file (owned by
  whoever runs it), runs ssh with host keys pinned to the mounted known_hosts, removes the copy and
  returns ssh's status. git runs the command as `sh -c '<value> "$@"'`, hence the trailing function
  name. OpenSSH also exits at once for a uid without a passwd entry ("No user exists for uid N", the
  usual runAsUser case); the function then runs ssh under `unshare -r` (root of its own user
  namespace, which has an entry) where user namespaces are allowed, and plain ssh otherwise, so the
  real cause is reported. The user comes from the URL rewrite (`ssh://USER@HOST/`), not `-l`, which
  would override users written in workloads' own ssh URLs.
* git reads ~/.netrc only, so git over HTTPS gets a credential helper (a shell function with awk)
  that reads the mounted netrc for the requested host; go reads it through NETRC.
* git config travels in GIT_CONFIG_COUNT/KEY_n/VALUE_n (git >= 2.31): `mutate` appends our entries
  after the workload's own so both apply.
* CA trust is *added*: go gets SSL_CERT_DIR (go loads its default bundle file and then every file of
  each listed directory, so the system directories are listed first). For git, GIT_SSL_CAPATH alone
  would not do: OpenSSL-based libcurl only finds hash-named files in a CA directory. git therefore
  gets GIT_SSL_CAINFO=<our bundle> plus GIT_SSL_CAPATH=/etc/ssl/certs, the system's hashed directory
  (GnuTLS reads every file there, OpenSSL the hashed links Debian, Ubuntu and Alpine ship). Images
  whose OpenSSL-based git has no hashed /etc/ssl/certs (RHEL/UBI) lose the system CAs for git only.
* Generated values contain neither `$(` nor `$$`: Kubernetes expands `$(VAR)` and folds `$$` in env
  values, so the shell snippets use backticks and plain `$name` expansions only. Values from the
  spec may contain either; they are injected through `kubelet_literal`, so the kubelet expands
  nothing and a config cannot pull a workload's own (secret-backed) variable into a URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.blocks import CABundle, CorporateProxy, NetrcAuth, SSHAuth
from gobuild_operator.api.configspec.cache import Cache
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.imagebuilds.arguments import ImageBuildPlan, image_build_plan

#: Directories Go reads CA certificates from by default on Linux; SSL_CERT_DIR replaces them.
SYSTEM_CA_DIRS: tuple[str, ...] = ("/etc/ssl/certs", "/etc/pki/tls/certs")


@dataclass(frozen=True)
class EnvVar:
    """One variable; `needs` is the mountPath it points into (dropped when that mount is skipped)."""

    name: str
    value: str
    needs: str | None = None

    def to_k8s(self) -> dict[str, Any]:
        return {"name": self.name, "value": kubelet_literal(self.value)}


def kubelet_literal(value: str) -> str:
    """The env `value` from which the kubelet produces exactly `value`.

    The kubelet expands `$(NAME)` in env values with the variables defined before it (the workload's
    own included) and folds `$$` into `$`; a `$` before anything else stays. So where `$(` or `$$`
    occurs every `$` is doubled, and any other value is left as written.
    """
    if "$(" in value or "$$" in value:
        return value.replace("$", "$$")
    return value


@dataclass(frozen=True)
class GitConfig:
    """One git config entry passed as GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n."""

    key: str
    value: str
    needs: str | None = None


@dataclass(frozen=True)
class KeyToPath:
    key: str
    path: str


@dataclass(frozen=True)
class SecretSource:
    secret_name: str
    items: tuple[KeyToPath, ...]

    def to_k8s(self) -> dict[str, Any]:
        items = [{"key": item.key, "path": item.path} for item in self.items]
        return {
            "secret": {"secretName": self.secret_name, "items": items, "defaultMode": c.MOUNTED_FILE_MODE}
        }


@dataclass(frozen=True)
class ConfigMapSource:
    name: str
    items: tuple[KeyToPath, ...]

    def to_k8s(self) -> dict[str, Any]:
        items = [{"key": item.key, "path": item.path} for item in self.items]
        return {"configMap": {"name": self.name, "items": items, "defaultMode": c.MOUNTED_FILE_MODE}}


@dataclass(frozen=True)
class ClaimSource:
    claim_name: str

    def to_k8s(self) -> dict[str, Any]:
        return {"persistentVolumeClaim": {"claimName": self.claim_name}}


@dataclass(frozen=True)
class EmptyDirSource:
    def to_k8s(self) -> dict[str, Any]:
        return {"emptyDir": {}}


@dataclass(frozen=True)
class Volume:
    name: str
    source: SecretSource | ConfigMapSource | ClaimSource | EmptyDirSource

    def to_k8s(self) -> dict[str, Any]:
        return {"name": self.name, **self.source.to_k8s()}


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = True
    sub_path: str = ""
    #: The image builders whose container gets the mount (None: every container): a builder's RUN
    #: steps do not see its mounts (kaniko's excepted), so a module cache is no use to it.
    builders: frozenset[str] | None = None

    def to_k8s(self) -> dict[str, Any]:
        mount: dict[str, Any] = {"name": self.name, "mountPath": self.mount_path}
        if self.read_only:
            mount["readOnly"] = True
        if self.sub_path:
            mount["subPath"] = self.sub_path
        return mount


@dataclass(frozen=True)
class InjectionPlan:
    """What every selected container of a workload gets from GoBuildConfig `config_name`."""

    config_name: str
    env: tuple[EnvVar, ...] = ()
    git_config: tuple[GitConfig, ...] = ()
    volumes: tuple[Volume, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    termination_message_policy: str = c.TERMINATION_MESSAGE_POLICY
    #: Arguments for image builder containers (core/imagebuilds/); None when spec.imageBuilds is off.
    image_builds: ImageBuildPlan | None = None


@dataclass(frozen=True)
class _Piece:
    env: tuple[EnvVar, ...] = ()
    git_config: tuple[GitConfig, ...] = ()
    volumes: tuple[Volume, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()


# --- effective values (also reported on the status) ------------------------------------------


def effective_goproxy(
    spec: GoBuildConfigSpec,
    *,
    config_name: str = "",
    namespace: str = "",
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN,
) -> str:
    """GOPROXY: "," lets go fall through on 404/410 only, "|" on any error (SPEC proxyFallback).

    With the Proxy cache the config's cache comes first, followed by "|": go moves on to the
    config's own list on any failure of the cache, so the cache is never a single point of failure.
    """
    separator = "," if spec.proxy_fallback == "OnNotFound" else "|"
    listed = separator.join(spec.goproxy)
    if spec.cache.proxy and config_name:
        return f"{cache_url(config_name, namespace=namespace, cluster_domain=cluster_domain)}|{listed}"
    return listed


def cache_service_name(config_name: str) -> str:
    """The Proxy cache's Deployment, Service and ConfigMap (and the claim the operator creates)."""
    return f"{config_name}{c.CACHE_CLAIM_SUFFIX}"


def cache_url(config_name: str, *, namespace: str, cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN) -> str:
    """The Proxy cache as builds reach it: its Service's full name (also from image builds, whose RUN
    steps may not search the namespace), or the bare name where the namespace is not known."""
    host = cache_service_name(config_name)
    if namespace:
        host = f"{host}.{namespace}.svc.{cluster_domain}"
    return f"http://{host}:{c.CACHE_PORT}"


def effective_gosumdb(spec: GoBuildConfigSpec) -> str:
    """GOSUMDB as injected; empty means go's default and is not injected."""
    return spec.gosumdb


def cache_claim_name(config_name: str, spec: GoBuildConfigSpec) -> str:
    """The PersistentVolumeClaim of the cache: existingClaim, or the one the operator creates."""
    return spec.cache.existing_claim or cache_service_name(config_name)


def cluster_no_proxy(cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN) -> tuple[str, ...]:
    """Names that must never go through a corporate proxy: Services and the API server."""
    return (
        ".svc",
        f".svc.{cluster_domain}",
        f".{cluster_domain}",
        "kubernetes.default.svc",
        "localhost",
        "127.0.0.1",
    )


# --- the plan --------------------------------------------------------------------------------


def build_plan(
    *,
    config_name: str,
    spec: GoBuildConfigSpec,
    namespace: str = "",
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN,
    extra_no_proxy: Sequence[str] = (),
) -> InjectionPlan:
    """Everything SPEC "What an injected workload carries" lists, for GoBuildConfig `config_name` of
    `namespace` (empty where it is not known, offline: the Proxy cache is then named without it).

    `extra_no_proxy` lets the caller add what only the cluster knows (the API server's ClusterIP,
    the Service CIDR) to NO_PROXY.
    """
    ssh = spec.private_modules.ssh
    netrc = spec.private_modules.netrc
    pieces = [
        _piece_go(
            spec,
            goproxy=effective_goproxy(
                spec, config_name=config_name, namespace=namespace, cluster_domain=cluster_domain
            ),
        ),
        _piece_cache(spec.cache, claim_name=cache_claim_name(config_name, spec)),
        _piece_proxy(spec.corporate_proxy, no_proxy=(*cluster_no_proxy(cluster_domain), *extra_no_proxy)),
        _piece_netrc(netrc),
        _piece_ssh(ssh),
        _piece_ca(spec.ca_bundle),
    ]
    if ssh is not None or netrc is not None:
        pieces.append(_Piece(env=(EnvVar("GIT_TERMINAL_PROMPT", "0"),)))
    extra = tuple(EnvVar(entry.name, entry.value) for entry in spec.env)
    explicit = {entry.name for entry in extra}
    generated = [var for piece in pieces for var in piece.env if var.name not in explicit]
    env = (*generated, *extra)
    return InjectionPlan(
        config_name=config_name,
        env=env,
        git_config=tuple(entry for piece in pieces for entry in piece.git_config),
        volumes=tuple(volume for piece in pieces for volume in piece.volumes),
        mounts=tuple(mount for piece in pieces for mount in piece.mounts),
        image_builds=image_build_plan(spec, env_names=[var.name for var in env]),
    )


def _piece_go(spec: GoBuildConfigSpec, *, goproxy: str) -> _Piece:
    ssh_hosts = _host_names(spec.private_modules.ssh)
    lists = {
        # SSH hosts are private: fetched directly and never looked up in the checksum database. go
        # derives GONOPROXY/GONOSUMDB from GOPRIVATE only while they are unset, so explicit lists get
        # the hosts as well.
        "GOPRIVATE": _dedupe((*spec.goprivate, *ssh_hosts)),
        "GONOPROXY": _dedupe((*spec.gonoproxy, *ssh_hosts)) if spec.gonoproxy else (),
        "GONOSUMDB": _dedupe((*spec.gonosumdb, *ssh_hosts)) if spec.gonosumdb else (),
        "GOINSECURE": spec.goinsecure,
    }
    env = [EnvVar("GOPROXY", goproxy)]
    if effective_gosumdb(spec):
        env.append(EnvVar("GOSUMDB", effective_gosumdb(spec)))
    env.extend(EnvVar(name, ",".join(values)) for name, values in lists.items() if values)
    if spec.goflags:
        env.append(EnvVar("GOFLAGS", " ".join(spec.goflags)))
    return _Piece(env=tuple(env))


def _piece_cache(cache: Cache, *, claim_name: str) -> _Piece:
    """Proxy: GOMODCACHE on the build's own emptyDir (GOPROXY names the cache, _piece_go). A
    SharedVolume: the claim, read-write. Image builders other than kaniko get neither: their RUN
    steps do not see the container's mounts."""
    if not cache.enabled:
        return _Piece()
    env = [EnvVar("GOMODCACHE", cache.mount_path, needs=cache.mount_path)]
    if cache.proxy:
        volume = Volume(c.VOLUME_CACHE, EmptyDirSource())
        mount = VolumeMount(c.VOLUME_CACHE, cache.mount_path, read_only=False, builders=frozenset())
        return _Piece(env=tuple(env), volumes=(volume,), mounts=(mount,))
    kaniko = frozenset({"kaniko"})
    volume = Volume(c.VOLUME_CACHE, ClaimSource(claim_name))
    mounts = [
        VolumeMount(
            c.VOLUME_CACHE,
            cache.mount_path,
            read_only=False,
            sub_path=c.CACHE_SUBPATH_MODCACHE,
            builders=kaniko,
        )
    ]
    if cache.build_cache:
        mounts.append(
            VolumeMount(
                c.VOLUME_CACHE,
                c.GOCACHE_MOUNT_PATH,
                read_only=False,
                sub_path=c.CACHE_SUBPATH_GOCACHE,
                builders=kaniko,
            )
        )
        env.append(EnvVar("GOCACHE", c.GOCACHE_MOUNT_PATH, needs=c.GOCACHE_MOUNT_PATH))
    return _Piece(env=tuple(env), volumes=(volume,), mounts=tuple(mounts))


def _piece_proxy(proxy: CorporateProxy, *, no_proxy: Sequence[str]) -> _Piece:
    if not proxy.enabled:
        return _Piece()
    env: list[EnvVar] = []
    for name, value in (
        ("HTTP_PROXY", proxy.http_proxy),
        ("HTTPS_PROXY", proxy.https_proxy),
        ("NO_PROXY", ",".join(_dedupe((*proxy.no_proxy, *no_proxy)))),
    ):
        if value:
            env += [EnvVar(name, value), EnvVar(name.lower(), value)]
    return _Piece(env=tuple(env))


def _piece_netrc(netrc: NetrcAuth | None) -> _Piece:
    if netrc is None:
        return _Piece()
    path = f"{c.NETRC_MOUNT_PATH}/{c.NETRC_FILE}"
    volume = Volume(
        c.VOLUME_NETRC, SecretSource(netrc.secret_name, (KeyToPath(c.SECRET_KEY_NETRC, c.NETRC_FILE),))
    )
    return _Piece(
        env=(EnvVar("NETRC", path, needs=c.NETRC_MOUNT_PATH),),
        git_config=(GitConfig("credential.helper", netrc_credential_helper(path), needs=c.NETRC_MOUNT_PATH),),
        volumes=(volume,),
        mounts=(VolumeMount(c.VOLUME_NETRC, c.NETRC_MOUNT_PATH),),
    )


def _piece_ssh(ssh: SSHAuth | None) -> _Piece:
    if ssh is None:
        return _Piece()
    items = (
        KeyToPath(c.SECRET_KEY_SSH_PRIVATE, c.SSH_KEY_FILE),
        KeyToPath(ssh.known_hosts_key, c.SSH_KNOWN_HOSTS_FILE),
    )
    rewrites = tuple(
        GitConfig(
            f"url.ssh://{ssh.user}@{host}/.insteadOf",
            f"https://{host.partition(':')[0]}/",
            needs=c.SSH_MOUNT_PATH,
        )
        for host in ssh.hosts
    )
    return _Piece(
        env=(EnvVar("GIT_SSH_COMMAND", git_ssh_command(), needs=c.SSH_MOUNT_PATH),),
        git_config=rewrites,
        volumes=(Volume(c.VOLUME_SSH, SecretSource(ssh.secret_name, items)),),
        mounts=(VolumeMount(c.VOLUME_SSH, c.SSH_MOUNT_PATH),),
    )


def _piece_ca(bundle: CABundle | None) -> _Piece:
    if bundle is None:
        return _Piece()
    items = (KeyToPath(bundle.key, c.CA_FILE),)
    source: SecretSource | ConfigMapSource = (
        SecretSource(bundle.secret_name, items)
        if bundle.secret_name
        else ConfigMapSource(bundle.config_map_name, items)
    )
    env = (
        EnvVar("SSL_CERT_DIR", ":".join((*SYSTEM_CA_DIRS, c.CA_MOUNT_PATH)), needs=c.CA_MOUNT_PATH),
        EnvVar("GIT_SSL_CAINFO", f"{c.CA_MOUNT_PATH}/{c.CA_FILE}", needs=c.CA_MOUNT_PATH),
        EnvVar("GIT_SSL_CAPATH", SYSTEM_CA_DIRS[0], needs=c.CA_MOUNT_PATH),
    )
    return _Piece(
        env=env, volumes=(Volume(c.VOLUME_CA, source),), mounts=(VolumeMount(c.VOLUME_CA, c.CA_MOUNT_PATH),)
    )


# --- shell snippets --------------------------------------------------------------------------


def git_ssh_command(*, directory: str = c.SSH_MOUNT_PATH) -> str:
    """GIT_SSH_COMMAND running ssh with a private copy of the key mounted in `directory`, for any uid."""
    key = f"{directory}/{c.SSH_KEY_FILE}"
    known_hosts = f"{directory}/{c.SSH_KNOWN_HOSTS_FILE}"
    options = " ".join(
        f"-o {option}"
        for option in (
            "IdentitiesOnly=yes",
            f"UserKnownHostsFile={known_hosts}",
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "CheckHostIP=no",
            "UpdateHostKeys=no",
            "ControlMaster=no",
        )
    )
    # No `-l USER`: ssh lets it override the user of the URL (ssh://alice@host/), and the URL rewrites
    # already carry the configured user.
    # `echo` restores a final newline that Secrets created from a trimmed string lack and OpenSSH needs.
    # A uid without a passwd entry (runAsUser on most images) makes ssh exit at once ("No user exists
    # for uid N"); where user namespaces are allowed, `unshare -r` runs it as root of its own user
    # namespace, which has one. Where they are not, plain ssh runs and reports the real cause.
    return (
        "gobuild_ssh() { k=`mktemp 2>/dev/null || mktemp -p /dev/shm` || return 255; "
        f'{{ cat {key} && echo; }} >"$k" && chmod 600 "$k" || {{ rm -f "$k"; return 255; }}; '
        "s=ssh; id -u >/dev/null 2>&1 && ! id -un >/dev/null 2>&1 && unshare -r true >/dev/null 2>&1 "
        '&& s="unshare -r ssh"; '
        f'$s -i "$k" {options} "$@"; r=$?; rm -f "$k"; return $r; }}; gobuild_ssh'
    )


#: netrc lookup for one host (`h`, or `hp` with the port): the first matching `machine`, else `default`.
_NETRC_AWK = (
    "{ for (i = 1; i <= NF; i++) t[n++] = $i } "
    "END { for (i = 0; i < n; i++) { w = t[i]; "
    'if (w == "machine" || w == "default") { if (got) break; '
    'm = w == "default" || t[i + 1] == h || t[i + 1] == hp; if (w == "machine") i++; continue } '
    'if (w == "login" || w == "password" || w == "account") { i++; if (!m) continue; '
    'if (w == "login") u = t[i]; if (w == "password") p = t[i]; got = 1 } } '
    'if (p != "") { if (u != "") print "username=" u; print "password=" p } }'
)


def netrc_credential_helper(netrc_path: str) -> str:
    """A git credential helper (`!` shell form) answering `get` from the netrc file."""
    return (
        '!gobuild_netrc() { test "$1" = get || return 0; hp=; '
        'while IFS== read -r k v; do test -n "$k" || break; test "$k" = host && hp=$v; done; '
        'h=${hp%%:*}; test -n "$h" || return 0; '
        f'awk -v h="$h" -v hp="$hp" \'{_NETRC_AWK}\' {netrc_path}; }}; gobuild_netrc'
    )


# --- helpers ---------------------------------------------------------------------------------


def _host_names(ssh: SSHAuth | None) -> tuple[str, ...]:
    return () if ssh is None else _dedupe(host.partition(":")[0] for host in ssh.hosts)


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
