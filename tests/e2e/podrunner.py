"""Run a container of a Pod, as the API server stored it, on this machine the way a kubelet would.

There is no kubelet and no container runtime here. The end-to-end proof of the operator is that a
Pod it mutated really downloads modules, so this module plays kubelet + containerd for the parts a
Go build depends on, with the host's own go/git/ssh standing in for the image:

* Environment: the image's ENV (``Image.env``), then HOSTNAME, then the container's ``envFrom`` and
  ``env`` resolved like the kubelet (``valueFrom`` secretKeyRef/configMapKeyRef/fieldRef/
  resourceFieldRef, ``$(VAR)`` expansion in values, command and args). HOME comes from the image's
  /etc/passwd entry for the uid, or is ``/`` when there is none, exactly as containerd sets it; the
  homes that the image's passwd names are fresh writable folders owned by their user. Service link
  variables (KUBERNETES_SERVICE_HOST...) are not set.
* Identity: runAsUser/runAsGroup from the container's securityContext, else the pod's, else the
  image's USER; a uid without runAsGroup takes its group from the image's passwd, else 0 (containerd).
  Extra groups: the image's /etc/group memberships, supplementalGroups, fsGroup. runAsNonRoot is
  enforced. Root gets the container runtime's default capabilities (securityContext.capabilities
  add/drop honoured, privileged gets all); the kernel checks real host uids, so a root-owned 0400
  file is unreadable by uid 1000 inside, as on a node.
* Volumes, materialised like the kubelet's volume plugins and mounted at their mountPath:
  secret/configMap/projected/downwardAPI through the atomic-writer layout (``..data`` symlinks),
  ``items`` (key -> path, per-item mode), ``defaultMode`` (0644), root ownership and, with fsGroup,
  group ownership + group-read (kubelet's SetVolumeOwnership), always read-only; emptyDir as a fresh
  folder shared by the containers of one PodSandbox; persistentVolumeClaim bound to the host folder
  given in ``claims`` (shared between runs; ``claim_fs_group`` says whether the storage applies
  fsGroup, which RWX file shares usually do not); subPath/subPathExpr; readOnly mounts read-only.
  serviceAccountToken projections hold a placeholder token. Other volume types are refused.
* The rest of the filesystem: the host's /usr, /bin, /lib*, /etc read-only (/etc with the image's
  passwd/group and kubelet's hosts/hostname/resolv.conf; hostAliases honoured), the host's GOROOT at
  /usr/local/go, and the image's writable folders (/go 1777, /root, /tmp, /var/tmp) fresh per
  container run; readOnlyRootFilesystem makes all of that read-only. Unlike a real overlay rootfs,
  the host's files cannot be changed even by root.
* Isolation: bubblewrap, run as root, makes private mount/pid/ipc/uts namespaces; the network is the
  host's so loopback servers are reachable. ``setpriv`` inside the sandbox switches to the real
  uid/gid/groups and sets the capability bounding set before exec'ing the command. (bwrap's own
  --uid needs a user namespace, which would map host root to the container user and make
  root-owned files look like the user's.)
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Final

from .bwrap import BWRAP, system_view

__all__ = [
    "GOLANG_IMAGE",
    "GroupEntry",
    "Image",
    "InitContainerFailed",
    "PasswdEntry",
    "PodRunnerError",
    "PodSandbox",
    "expand",
    "golang_image",
    "run_container",
]

_NO_SECRETS: Final[Mapping[str, Mapping[str, bytes]]] = MappingProxyType({})
_NO_CONFIG_MAPS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType({})
_NO_PATHS: Final[Mapping[str, Path]] = MappingProxyType({})
_NO_IMAGES: Final[Mapping[str, Image]] = MappingProxyType({})

#: Kubernetes' defaultMode for secret, configMap, projected and downwardAPI volumes.
DEFAULT_MODE: Final = 0o644
#: Written where a projected serviceAccountToken would be; nothing here checks it.
PLACEHOLDER_TOKEN: Final = b"e2e-placeholder-service-account-token"
#: containerd's default capability set for containers (what root inside gets).
DEFAULT_CAPABILITIES: Final = (
    "chown",
    "dac_override",
    "fsetid",
    "fowner",
    "mknod",
    "net_raw",
    "setgid",
    "setuid",
    "setfcap",
    "setpcap",
    "net_bind_service",
    "sys_chroot",
    "kill",
    "audit_write",
)
#: The ConfigMap kube-controller-manager publishes in every namespace; API-server-stored Pods project it.
KUBE_ROOT_CA: Final = "kube-root-ca.crt"
PLACEHOLDER_CA: Final = "# e2e placeholder for the cluster CA\n"
SETPRIV: Final = "/usr/bin/setpriv"
IMAGE_GOROOT: Final = "/usr/local/go"


class PodRunnerError(RuntimeError):
    """What a kubelet would report instead of starting the container.

    E.g. CreateContainerConfigError (a missing Secret key in env, runAsNonRoot with uid 0), a volume
    that cannot be set up (missing Secret or claim), or a feature this runner does not model.
    """


class InitContainerFailed(PodRunnerError):
    """An init container exited non-zero, so the kubelet would not start the next container."""

    def __init__(self, container: str, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"init container {container!r} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
        self.container = container
        self.result = result


# --------------------------------------------------------------------------- the image stand-in


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str
    shell: str = "/usr/sbin/nologin"

    def line(self) -> str:
        return f"{self.name}:x:{self.uid}:{self.gid}:{self.name}:{self.home}:{self.shell}\n"


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...] = ()

    def line(self) -> str:
        return f"{self.name}:x:{self.gid}:{','.join(self.members)}\n"


@dataclass(frozen=True)
class ImageDir:
    """A writable folder the image has (created fresh for each container run)."""

    path: str
    uid: int = 0
    gid: int = 0
    mode: int = 0o755


@dataclass(frozen=True)
class Image:
    """What the container image would contribute, since there is none: USER, ENV, WORKDIR, the
    image's /etc/passwd and /etc/group, and its writable folders. Binaries are the host's."""

    user: tuple[int, int] = (0, 0)
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    passwd: tuple[PasswdEntry, ...] = ()
    groups: tuple[GroupEntry, ...] = ()
    dirs: tuple[ImageDir, ...] = ()

    def user_entry(self, uid: int) -> PasswdEntry | None:
        return next((e for e in self.passwd if e.uid == uid), None)


_DEBIAN_PASSWD: Final = (
    PasswdEntry("root", 0, 0, "/root", "/bin/bash"),
    PasswdEntry("daemon", 1, 1, "/usr/sbin"),
    PasswdEntry("bin", 2, 2, "/bin"),
    PasswdEntry("sys", 3, 3, "/dev"),
    PasswdEntry("_apt", 42, 65534, "/nonexistent"),
    PasswdEntry("nobody", 65534, 65534, "/nonexistent"),
)
_DEBIAN_GROUPS: Final = (
    GroupEntry("root", 0),
    GroupEntry("daemon", 1),
    GroupEntry("bin", 2),
    GroupEntry("sys", 3),
    GroupEntry("adm", 4),
    GroupEntry("tty", 5),
    GroupEntry("staff", 50),
    GroupEntry("users", 100),
    GroupEntry("nogroup", 65534),
)


def _host_go_version() -> str:
    version_file = Path(IMAGE_GOROOT, "VERSION")
    if version_file.exists():
        return version_file.read_text().splitlines()[0].removeprefix("go")
    return "unknown"


def golang_image(*, user: tuple[int, int] = (0, 0), username: str | None = "gopher") -> Image:
    """The official golang:<host version>-bookworm image, optionally with a non-root USER.

    For a non-root `user`, `username` adds the passwd/group entries and home folder a Dockerfile's
    `useradd` would; ``username=None`` models a bare ``USER 1000`` that no passwd entry names (then
    HOME is ``/`` and OpenSSH refuses to run: "No user exists for uid 1000").
    """
    uid, gid = user
    passwd: tuple[PasswdEntry, ...] = _DEBIAN_PASSWD
    groups: tuple[GroupEntry, ...] = _DEBIAN_GROUPS
    dirs: tuple[ImageDir, ...] = (
        ImageDir("/go", mode=0o1777),
        ImageDir("/go/bin", mode=0o1777),
        ImageDir("/root", mode=0o700),
    )
    if uid != 0 and username is not None:
        passwd += (PasswdEntry(username, uid, gid, f"/home/{username}", "/bin/sh"),)
        if all(g.gid != gid for g in groups):
            groups += (GroupEntry(username, gid),)
        dirs += (ImageDir(f"/home/{username}", uid, gid, 0o755),)
    return Image(
        user=user,
        env={
            "PATH": "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "GOLANG_VERSION": _host_go_version(),
            "GOTOOLCHAIN": "local",
            "GOPATH": "/go",
        },
        workdir="/go",
        passwd=passwd,
        groups=groups,
        dirs=dirs,
    )


GOLANG_IMAGE: Final = golang_image()

# --------------------------------------------------------------------------- kubelet expansion


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, undefined references stay as
    written, ``$$`` is a literal ``$`` (a port of k8s.io/kubernetes third_party expansion)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                closer = rest.find(")")
                if closer == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = rest[1:closer]
                    out.append(env.get(name, f"$({name})"))
                    advance = closer + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)
_SUFFIXES: Final[Mapping[str, Fraction]] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    **{s: Fraction(2 ** (10 * (i + 1))) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def parse_quantity(text: str) -> Fraction:
    """A Kubernetes resource.Quantity ("500m", "2Gi", "129e6") as an exact number."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise PodRunnerError(f"not a Kubernetes quantity: {text!r}")
    value = Fraction(match["num"])
    if match["exp"]:
        value *= Fraction(10) ** int(match["exp"][1:])
    if match["suffix"]:
        value *= _SUFFIXES[match["suffix"]]
    return value


def _node_allocatable(resource: str) -> Fraction:
    if resource == "cpu":
        return Fraction(os.cpu_count() or 1)
    if resource == "memory":
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return Fraction(int(line.split()[1]) * 1024)
    if resource == "ephemeral-storage":
        return Fraction(shutil.disk_usage("/").total)
    raise PodRunnerError(f"resourceFieldRef resource {resource!r} is not modelled")


# --------------------------------------------------------------------------- the pod sandbox


@dataclass(frozen=True)
class _Mount:
    dest: str
    source: Path
    read_only: bool
    remount_read_only: bool = False


@dataclass(frozen=True)
class _Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    capabilities: tuple[str, ...] | None  # None: all (privileged)


class PodSandbox:
    """The volumes of one Pod start, shared by the containers run in it.

    Init containers and the main container of one pod see the same emptyDirs; each container run
    gets its own fresh image folders (/tmp, /go, homes). Use ``run_container`` for the usual case.
    """

    def __init__(
        self,
        pod: Mapping[str, Any],
        *,
        secrets: Mapping[str, Mapping[str, bytes]] = _NO_SECRETS,
        config_maps: Mapping[str, Mapping[str, str]] = _NO_CONFIG_MAPS,
        claims: Mapping[str, Path] = _NO_PATHS,
        claim_fs_group: bool = False,
        image: Image = GOLANG_IMAGE,
        images: Mapping[str, Image] = _NO_IMAGES,
        base_dir: Path | None = None,
    ) -> None:
        self.pod = pod
        self.spec: Mapping[str, Any] = pod.get("spec") or {}
        self.secrets = secrets
        self.config_maps = {KUBE_ROOT_CA: {"ca.crt": PLACEHOLDER_CA}, **config_maps}
        self.claims = claims
        self.claim_fs_group = claim_fs_group
        self.image = image
        self.images = images
        self.root = Path(tempfile.mkdtemp(prefix="podrunner-", dir=base_dir))
        self._runs = 0
        self._volumes: dict[str, tuple[Path, bool]] = {}
        try:
            self._materialise_volumes()
        except BaseException:
            self.close()
            raise

    # -- lifecycle

    def __enter__(self) -> PodSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # -- public

    def container(self, name: str) -> Mapping[str, Any]:
        for kind in ("initContainers", "containers"):
            for container in self.spec.get(kind) or []:
                if container.get("name") == name:
                    return dict(container)
        raise PodRunnerError(f"pod has no container named {name!r}")

    def init_containers_before(self, name: str) -> list[str]:
        """The init containers a kubelet runs, in order, before starting `name`."""
        names = []
        for container in self.spec.get("initContainers") or []:
            if container.get("name") == name:
                break
            if container.get("restartPolicy") != "Always":  # sidecars keep running; not modelled
                names.append(container["name"])
        return names

    def environment(self, name: str) -> dict[str, str]:
        """The environment the container's process starts with."""
        container = self.container(name)
        image = self._image_for(name)
        identity = self._identity(container, image)
        return self._environment(container, image, identity)

    def run(
        self,
        name: str,
        *,
        command: Sequence[str] | None = None,
        workdir: Path | None = None,
        extra_binds: Mapping[str, Path] = _NO_PATHS,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run container `name` once (no init containers) and wait for it; see ``run_container``."""
        container = self.container(name)
        image = self._image_for(name)
        identity = self._identity(container, image)
        env = self._environment(container, image, identity)
        if command is None:
            argv = [
                expand(a, env) for a in [*(container.get("command") or []), *(container.get("args") or [])]
            ]
            if not argv:
                raise PodRunnerError(
                    f"container {name!r} has no command and the image stand-in no entrypoint"
                )
        else:
            argv = list(command)
        self._runs += 1
        run_dir = self.root / "runs" / f"{self._runs:02d}-{name}"
        run_dir.mkdir(parents=True)
        cwd = container.get("workingDir") or image.workdir
        read_only_root = bool((container.get("securityContext") or {}).get("readOnlyRootFilesystem"))
        mounts = self._image_mounts(run_dir, image, read_only=read_only_root)
        mounts += self._kubelet_files(run_dir)
        if _host_goroot() != IMAGE_GOROOT:
            mounts.append(_Mount(IMAGE_GOROOT, Path(_host_goroot()), read_only=True))
        if workdir is not None:
            mounts.append(_Mount(cwd, workdir, read_only=False))
        mounts += [_Mount(dest, src, read_only=False) for dest, src in extra_binds.items()]
        mounts += self._volume_mounts(container, env)
        args = self._bwrap_args(mounts, cwd=cwd, identity=identity, argv=argv, read_only_root=read_only_root)
        return _run_bounded(args, env=env, argv=argv, timeout=timeout)

    # -- identity

    def _image_for(self, name: str) -> Image:
        return self.images.get(name, self.image)

    def _identity(self, container: Mapping[str, Any], image: Image) -> _Identity:
        csc: Mapping[str, Any] = container.get("securityContext") or {}
        psc: Mapping[str, Any] = self.spec.get("securityContext") or {}

        def pick(key: str) -> Any:
            return csc.get(key, psc.get(key))

        run_as_user, run_as_group = pick("runAsUser"), pick("runAsGroup")
        if run_as_user is None:
            uid, gid = image.user
        else:
            uid = int(run_as_user)
            entry = image.user_entry(uid)
            gid = entry.gid if entry else 0
        if run_as_group is not None:
            gid = int(run_as_group)
        if pick("runAsNonRoot") and uid == 0:
            raise PodRunnerError("container has runAsNonRoot and image will run as root")
        groups = [gid]
        entry = image.user_entry(uid)
        if entry is not None and psc.get("supplementalGroupsPolicy") != "Strict":
            groups += [g.gid for g in image.groups if entry.name in g.members]
        groups += [int(g) for g in psc.get("supplementalGroups") or []]
        if psc.get("fsGroup") is not None:
            groups.append(int(psc["fsGroup"]))
        capabilities: tuple[str, ...] | None
        if csc.get("privileged"):
            capabilities = None
        else:
            requested = csc.get("capabilities") or {}
            drop = {_cap_name(c) for c in requested.get("drop") or []}
            add = {_cap_name(c) for c in requested.get("add") or []}
            caps = [] if "all" in drop else [c for c in DEFAULT_CAPABILITIES if c not in drop]
            capabilities = None if "all" in add else (*caps, *sorted(add - set(caps)))
        return _Identity(uid, gid, tuple(dict.fromkeys(groups)), capabilities)

    # -- environment

    def _environment(self, container: Mapping[str, Any], image: Image, identity: _Identity) -> dict[str, str]:
        declared: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                data = self._config_map(ref["name"], optional=bool(ref.get("optional")))
                values = dict(data or {})
            elif "secretRef" in source:
                ref = source["secretRef"]
                sdata = self._secret(ref["name"], optional=bool(ref.get("optional")))
                values = {k: _decode(v) for k, v in (sdata or {}).items()}
            else:
                raise PodRunnerError(f"unsupported envFrom source {sorted(source)}")
            for key, value in values.items():
                name = prefix + key
                if _valid_env_name(name):  # the kubelet skips (and reports) invalid names
                    declared[name] = value
        for var in container.get("env") or []:
            name = var["name"]
            if var.get("value"):
                declared[name] = expand(var["value"], declared)
            elif var.get("valueFrom"):
                resolved = self._value_from(var["valueFrom"], container)
                if resolved is not None:
                    declared[name] = resolved
            else:
                declared[name] = ""
        env = {"HOSTNAME": self._hostname(), **image.env, **declared}
        if "HOME" not in env:
            entry = image.user_entry(identity.uid)
            env["HOME"] = entry.home if entry else "/"
        return env

    def _value_from(self, source: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            optional = bool(ref.get("optional"))
            secret = self._secret(ref["name"], optional=optional)
            if secret is None or ref["key"] not in secret:
                if optional:
                    return None
                raise PodRunnerError(f"couldn't find key {ref['key']} in Secret {ref['name']}")
            return _decode(secret[ref["key"]])
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            optional = bool(ref.get("optional"))
            config_map = self._config_map(ref["name"], optional=optional)
            if config_map is None or ref["key"] not in config_map:
                if optional:
                    return None
                raise PodRunnerError(f"couldn't find key {ref['key']} in ConfigMap {ref['name']}")
            return config_map[ref["key"]]
        if "fieldRef" in source:
            return self._field(source["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in source:
            return self._resource(source["resourceFieldRef"], container)
        raise PodRunnerError(f"unsupported valueFrom {sorted(source)}")

    def _field(self, path: str) -> str:
        meta: Mapping[str, Any] = self.pod.get("metadata") or {}
        status: Mapping[str, Any] = self.pod.get("status") or {}
        simple = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": meta.get("namespace", "default"),
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": self.spec.get("nodeName") or "localhost",
            "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
            "status.hostIP": status.get("hostIP", "127.0.0.1"),
            "status.hostIPs": status.get("hostIP", "127.0.0.1"),
            "status.podIP": status.get("podIP", "127.0.0.1"),
            "status.podIPs": status.get("podIP", "127.0.0.1"),
        }
        if path in simple:
            return str(simple[path])
        match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if match:
            return str((meta.get(match[1]) or {}).get(match[2], ""))
        if path in ("metadata.labels", "metadata.annotations"):
            items = sorted((meta.get(path.split(".")[1]) or {}).items())
            return "\n".join(f'{k}="{v}"' for k, v in items)
        raise PodRunnerError(f"fieldRef {path!r} is not modelled")

    def _resource(self, ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
        if ref.get("containerName"):
            container = self.container(ref["containerName"])
        kind, _, resource = ref["resource"].partition(".")
        quantity = ((container.get("resources") or {}).get(kind) or {}).get(resource)
        if quantity is not None:
            value = parse_quantity(quantity)
        elif kind == "limits":  # no limit: the node's allocatable, as the kubelet substitutes
            value = _node_allocatable(resource)
        else:  # the API server already copied limits into unset requests
            value = Fraction(0)
        divisor = parse_quantity(ref.get("divisor", "1"))
        return str(math.ceil(value / divisor))

    def _hostname(self) -> str:
        name = self.spec.get("hostname") or (self.pod.get("metadata") or {}).get("name") or "pod"
        return str(name)[:63]

    def _secret(self, name: str, *, optional: bool) -> Mapping[str, bytes] | None:
        if name in self.secrets:
            return self.secrets[name]
        if optional:
            return None
        raise PodRunnerError(f'secret "{name}" not found')

    def _config_map(self, name: str, *, optional: bool) -> Mapping[str, str] | None:
        if name in self.config_maps:
            return self.config_maps[name]
        if optional:
            return None
        raise PodRunnerError(f'configmap "{name}" not found')

    # -- volumes

    def _materialise_volumes(self) -> None:
        fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")
        fs_group = None if fs_group is None else int(fs_group)
        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            path = self.root / "volumes" / name
            if "secret" in volume:
                src = volume["secret"]
                payload = self._key_payload(
                    "Secret",
                    self._secret(src["secretName"], optional=bool(src.get("optional"))),
                    src,
                    src.get("defaultMode", DEFAULT_MODE),
                )
                _atomic_write(path, payload, dir_mode=0o1777, fs_group=fs_group)
                self._volumes[name] = (path, True)
            elif "configMap" in volume:
                src = volume["configMap"]
                data = self._config_map(src["name"], optional=bool(src.get("optional")))
                payload = self._key_payload(
                    "ConfigMap", _encode_map(data), src, src.get("defaultMode", DEFAULT_MODE)
                )
                _atomic_write(path, payload, dir_mode=0o777, fs_group=fs_group)
                self._volumes[name] = (path, True)
            elif "projected" in volume:
                _atomic_write(path, self._projected(volume["projected"]), dir_mode=0o1777, fs_group=fs_group)
                self._volumes[name] = (path, True)
            elif "downwardAPI" in volume:
                src = volume["downwardAPI"]
                payload = self._downward(src.get("items") or [], src.get("defaultMode", DEFAULT_MODE))
                _atomic_write(path, payload, dir_mode=0o777, fs_group=fs_group)
                self._volumes[name] = (path, True)
            elif "emptyDir" in volume:
                memory = (volume["emptyDir"] or {}).get("medium") == "Memory"
                path.mkdir(parents=True)
                path.chmod(0o1777 if memory else 0o777)
                if fs_group is not None:
                    _set_volume_ownership(path, fs_group, read_only=False)
                self._volumes[name] = (path, False)
            elif "persistentVolumeClaim" in volume:
                src = volume["persistentVolumeClaim"]
                claim = src["claimName"]
                if claim not in self.claims:
                    raise PodRunnerError(f'persistentvolumeclaim "{claim}" not found (pass it in claims=)')
                host = Path(self.claims[claim])
                host.mkdir(parents=True, exist_ok=True)
                if fs_group is not None and self.claim_fs_group:
                    policy = (self.spec.get("securityContext") or {}).get("fsGroupChangePolicy", "Always")
                    if policy != "OnRootMismatch" or not _root_matches(host, fs_group):
                        _set_volume_ownership(host, fs_group, read_only=False)
                self._volumes[name] = (host, bool(src.get("readOnly")))
            else:
                kinds = sorted(set(volume) - {"name"})
                raise PodRunnerError(f"volume {name!r}: type {kinds} is not modelled by the pod runner")

    def _key_payload(
        self,
        kind: str,
        data: Mapping[str, bytes] | None,
        source: Mapping[str, Any],
        default_mode: int,
    ) -> dict[str, tuple[bytes, int]]:
        if data is None:  # optional and absent
            return {}
        items = source.get("items")
        if not items:
            return {key: (value, default_mode) for key, value in data.items()}
        payload = {}
        for item in items:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise PodRunnerError(f"{kind} volume references non-existent key {item['key']!r}")
            payload[_relative(item["path"])] = (data[item["key"]], item.get("mode", default_mode))
        return payload

    def _projected(self, projected: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
        default_mode = projected.get("defaultMode", DEFAULT_MODE)
        payload: dict[str, tuple[bytes, int]] = {}
        for source in projected.get("sources") or []:
            if "secret" in source:
                src = source["secret"]
                secret = self._secret(src["name"], optional=bool(src.get("optional")))
                payload |= self._key_payload("Secret", secret, src, default_mode)
            elif "configMap" in source:
                src = source["configMap"]
                data = self._config_map(src["name"], optional=bool(src.get("optional")))
                payload |= self._key_payload("ConfigMap", _encode_map(data), src, default_mode)
            elif "downwardAPI" in source:
                payload |= self._downward(source["downwardAPI"].get("items") or [], default_mode)
            elif "serviceAccountToken" in source:
                payload[_relative(source["serviceAccountToken"]["path"])] = (PLACEHOLDER_TOKEN, default_mode)
            else:
                raise PodRunnerError(f"projected source {sorted(source)} is not modelled")
        return payload

    def _downward(
        self, items: Sequence[Mapping[str, Any]], default_mode: int
    ) -> dict[str, tuple[bytes, int]]:
        payload = {}
        for item in items:
            if "fieldRef" in item:
                value = self._field(item["fieldRef"]["fieldPath"])
            else:
                ref = item["resourceFieldRef"]
                value = self._resource(ref, self.container(ref["containerName"]))
            payload[_relative(item["path"])] = (value.encode(), item.get("mode", default_mode))
        return payload

    def _volume_mounts(self, container: Mapping[str, Any], env: Mapping[str, str]) -> list[_Mount]:
        mounts = []
        for mount in container.get("volumeMounts") or []:
            name = mount["name"]
            if name not in self._volumes:
                raise PodRunnerError(f"volumeMount {name!r} names no volume of the pod")
            source, volume_read_only = self._volumes[name]
            sub_path = mount.get("subPath") or (
                expand(mount["subPathExpr"], env) if mount.get("subPathExpr") else ""
            )
            if sub_path:
                target = source / _relative(sub_path)
                if not target.exists() and not target.is_symlink():
                    # the kubelet creates a missing subPath as a folder with the volume root's mode
                    target.mkdir(parents=True)
                    target.chmod(source.stat().st_mode & 0o7777)
                source = target
            read_only = volume_read_only or bool(mount.get("readOnly"))
            mounts.append(_Mount(mount["mountPath"], source, read_only))
        return mounts

    # -- the rest of the filesystem

    def _image_mounts(self, run_dir: Path, image: Image, *, read_only: bool) -> list[_Mount]:
        """The image's writable folders, fresh for this run; nested ones travel with their parent.
        With readOnlyRootFilesystem they are part of the read-only root, /tmp included."""
        mounts: list[_Mount] = []
        dirs = [*image.dirs, ImageDir("/tmp", mode=0o1777), ImageDir("/var/tmp", mode=0o1777)]
        for spec in sorted(dirs, key=lambda d: len(PurePosixPath(d.path).parts)):
            host = run_dir / "image" / spec.path.lstrip("/")
            host.mkdir(parents=True, exist_ok=True)
            os.chown(host, spec.uid, spec.gid)
            host.chmod(spec.mode)
            if not any(PurePosixPath(m.dest) in PurePosixPath(spec.path).parents for m in mounts):
                # bound writable so mountpoints can be made below it, remounted read-only at the end
                mounts.append(_Mount(spec.path, host, read_only=False, remount_read_only=read_only))
        etc = run_dir / "etc"
        etc.mkdir()
        (etc / "passwd").write_text("".join(e.line() for e in image.passwd))
        (etc / "group").write_text("".join(g.line() for g in image.groups))
        mounts += [
            _Mount("/etc/passwd", etc / "passwd", read_only=True),
            _Mount("/etc/group", etc / "group", read_only=True),
        ]
        return mounts

    def _kubelet_files(self, run_dir: Path) -> list[_Mount]:
        etc = run_dir / "etc"
        hostname = self._hostname()
        if self.spec.get("hostNetwork"):
            hosts = Path("/etc/hosts").read_text()
        else:
            pod_ip = (self.pod.get("status") or {}).get("podIP", "127.0.0.1")
            hosts = (
                "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
                f"{pod_ip}\t{hostname}\n"
            )
        aliases = self.spec.get("hostAliases") or []
        if aliases:
            hosts += "\n# Entries added by HostAliases.\n"
            hosts += "".join(f"{a['ip']}\t" + "\t".join(a.get("hostnames") or []) + "\n" for a in aliases)
        (etc / "hosts").write_text(hosts)
        (etc / "hostname").write_text(hostname + "\n")
        resolv = Path("/etc/resolv.conf")
        (etc / "resolv.conf").write_text(resolv.read_text() if resolv.exists() else "")
        return [_Mount(f"/etc/{n}", etc / n, read_only=False) for n in ("hosts", "hostname", "resolv.conf")]

    def _bwrap_args(
        self, mounts: list[_Mount], *, cwd: str, identity: _Identity, argv: list[str], read_only_root: bool
    ) -> list[str]:
        # containerd sorts mounts parent-first; a later mount at the same path wins
        by_dest: dict[str, _Mount] = {}
        for mount in mounts:
            by_dest[os.path.normpath(mount.dest)] = mount
        ordered = sorted(by_dest.items(), key=lambda kv: len(PurePosixPath(kv[0]).parts))
        cwd_covered = any(
            PurePosixPath(d) == PurePosixPath(cwd) or PurePosixPath(d) in PurePosixPath(cwd).parents
            for d in by_dest
        )
        targets = [*by_dest, *([] if cwd_covered else [cwd])]
        args = [
            BWRAP,
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            self._hostname(),
            "--new-session",
            "--cap-add",
            "ALL",
            *system_view(targets),
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        for dest, mount in ordered:
            # runc creates missing mountpoint parents 0755 (bwrap alone would make them 0700)
            for parent in reversed(PurePosixPath(dest).parents[:-1]):
                args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), dest]
        for parent in reversed([PurePosixPath(cwd), *PurePosixPath(cwd).parents[:-1]]):
            args += ["--perms", "0755", "--dir", str(parent)]
        for dest, mount in ordered:
            if mount.remount_read_only:
                args += ["--remount-ro", dest]
        if read_only_root:
            args += ["--remount-ro", "/"]
        args += ["--chdir", cwd, "--", *_setpriv(identity), "--", *argv]
        return args


def run_container(
    pod: Mapping[str, Any],
    *,
    container: str,
    command: Sequence[str] | None = None,
    secrets: Mapping[str, Mapping[str, bytes]] = _NO_SECRETS,
    config_maps: Mapping[str, Mapping[str, str]] = _NO_CONFIG_MAPS,
    claims: Mapping[str, Path] = _NO_PATHS,
    claim_fs_group: bool = False,
    image: Image = GOLANG_IMAGE,
    images: Mapping[str, Image] = _NO_IMAGES,
    workdir: Path | None = None,
    extra_binds: Mapping[str, Path] = _NO_PATHS,
    run_init_containers: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Start the pod's volumes, run its init containers, then run `container` and return its result.

    pod: the Pod as the API server stored it, with the API's camelCase keys (``kubectl get pod -o
        json``, or ``ApiClient().sanitize_for_serialization(pod)``; not the client's ``to_dict()``).
    command: run this argv in the container's environment instead of its command+args (like
        ``kubectl exec``; no ``$(VAR)`` expansion), e.g. ``["go", "mod", "download"]``.
    secrets / config_maps: the objects the API server would serve, name -> data. The
        ``kube-root-ca.crt`` ConfigMap that every namespace has (and the kube-api-access volume
        projects) holds a placeholder unless given.
    claims: PersistentVolumeClaim name -> host folder standing in for its volume (created if missing;
        reuse the same folder across calls to share a module cache between "pods").
    claim_fs_group: whether the claims' storage applies fsGroup like a block/RWO volume (default
        False: RWX file shares usually do not).
    image / images: the image stand-in for every container / per container name. The default is the
        golang image running as root; ``golang_image(user=(1000, 1000))`` has a non-root USER.
    workdir: a host folder bound read-write at the container's workingDir (else the image's
        WORKDIR, /go): the source tree the image would carry (a go.mod to download for).
    extra_binds: container path -> host folder bound read-write (more stand-in image content).
    run_init_containers: run the pod's init containers first (sidecars excepted), sharing emptyDirs;
        a failing one raises InitContainerFailed.
    timeout: seconds for each container; on expiry the sandbox is killed and
        ``subprocess.TimeoutExpired`` raised.

    Raises PodRunnerError where a kubelet would refuse to start the container.
    """
    with PodSandbox(
        pod,
        secrets=secrets,
        config_maps=config_maps,
        claims=claims,
        claim_fs_group=claim_fs_group,
        image=image,
        images=images,
    ) as sandbox:
        sandbox.container(container)  # fail fast on a wrong name
        if run_init_containers:
            for init in sandbox.init_containers_before(container):
                result = sandbox.run(init, timeout=timeout)
                if result.returncode != 0:
                    raise InitContainerFailed(init, result)
        return sandbox.run(
            container, command=command, workdir=workdir, extra_binds=extra_binds, timeout=timeout
        )


# --------------------------------------------------------------------------- helpers


def _host_goroot() -> str:
    go = shutil.which("go")
    if go is None:
        return IMAGE_GOROOT
    return str(Path(go).resolve().parent.parent)


def _cap_name(name: str) -> str:
    return name.lower().removeprefix("cap_")


def _setpriv(identity: _Identity) -> list[str]:
    args = [
        SETPRIV,
        f"--reuid={identity.uid}",
        f"--regid={identity.gid}",
        f"--groups={','.join(str(g) for g in identity.groups)}",
        "--inh-caps=-all",
    ]
    if identity.capabilities is not None:
        args.append("--bounding-set=" + ",".join(["-all", *(f"+{c}" for c in identity.capabilities)]))
    return args


def _decode(value: bytes) -> str:
    return value.decode("utf-8", errors="surrogateescape")


def _encode_map(data: Mapping[str, str] | None) -> dict[str, bytes] | None:
    return None if data is None else {k: v.encode() for k, v in data.items()}


def _valid_env_name(name: str) -> bool:
    return bool(name) and "=" not in name and all(" " <= ch <= "~" for ch in name)


def _relative(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise PodRunnerError(f"path {path!r} must be relative and must not contain '..'")
    return str(pure)


def _atomic_write(
    target: Path, payload: Mapping[str, tuple[bytes, int]], *, dir_mode: int, fs_group: int | None
) -> None:
    """The kubelet's AtomicWriter layout: files in a timestamped folder, ``..data`` pointing at it,
    and one visible symlink per top-level name; then SetVolumeOwnership for fsGroup."""
    target.mkdir(parents=True)
    target.chmod(dir_mode)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    data_dir = target / stamp
    data_dir.mkdir()
    data_dir.chmod(0o755)
    for rel, (content, mode) in payload.items():
        file = data_dir / rel
        for parent in reversed(file.relative_to(data_dir).parents[:-1]):
            (data_dir / parent).mkdir(exist_ok=True)
            (data_dir / parent).chmod(0o755)
        file.write_bytes(content)
        file.chmod(mode & 0o7777)
    (target / "..data").symlink_to(stamp)
    for top in sorted({PurePosixPath(rel).parts[0] for rel in payload}):
        (target / top).symlink_to(f"..data/{top}")
    for path in _walk(target):
        os.lchown(path, 0, 0)
    if fs_group is not None:
        _set_volume_ownership(target, fs_group, read_only=True)


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            yield Path(dirpath, name)


def _set_volume_ownership(root: Path, fs_group: int, *, read_only: bool) -> None:
    """kubelet's SetVolumeOwnership: group fsGroup everywhere, group rw (ro: r) on files, setgid and
    group x on folders; symlinks get the group but no chmod."""
    mask = 0o440 if read_only else 0o660
    for path in _walk(root):
        os.lchown(path, -1, fs_group)
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        extra = mask | (0o2000 | 0o110 if path.is_dir() else 0)
        path.chmod((mode & 0o7777) | extra)


def _root_matches(root: Path, fs_group: int) -> bool:
    st = root.stat()
    return st.st_gid == fs_group and st.st_mode & 0o2660 == 0o2660


def _run_bounded(
    args: list[str], *, env: Mapping[str, str], argv: list[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    with subprocess.Popen(
        args,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=10)
            raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr) from None
    if proc.returncode == 1 and stderr.startswith("bwrap: "):
        raise PodRunnerError(f"the sandbox could not be set up: {stderr.strip()}")
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
