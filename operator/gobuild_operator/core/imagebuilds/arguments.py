"""What a recognised builder's command line gets: the build arguments, ssh and secret flags that carry
the Go settings and credentials into RUN steps, and the rewrite of command/args that adds them.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.blocks import ImageBuilds
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.imagebuilds.recognition import (
    SCRIPT_PARSED_BYTES,
    BuilderKind,
    Invocation,
    ShellWrapped,
    recognise,
)
from gobuild_operator.redact import contains_userinfo

#: The Go settings a build needs in RUN, in the order the plan injects them.
GO_SETTINGS: Final = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE", "GOFLAGS")

#: Proxy variables: predefined build arguments (no ARG needed), but still passed explicitly.
PROXY_VARIABLES: Final = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")

#: Go variables that name paths in the builder container; inside a RUN step they would point nowhere.
_GO_PATH_VARIABLES: Final = frozenset(
    {"GOROOT", "GOPATH", "GOMODCACHE", "GOCACHE", "GOENV", "GOBIN", "GOTMPDIR", "GOWORK"}
)

#: kaniko runs RUN in the executor's own root filesystem, so the module cache and the CA mounted into
#: the executor are there too (and kaniko keeps mounted paths out of its snapshots).
KANIKO_MOUNTED_VARIABLES: Final = (
    "GOMODCACHE",
    "GOCACHE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
)

#: Extra variables (spec.env) that are Go settings and so travel as build arguments too.
_GO_VARIABLE = re.compile(r"^(GO|CGO_)[A-Z0-9_]+$")

SSH_KEY_PATH: Final = f"{c.SSH_MOUNT_PATH}/{c.SSH_KEY_FILE}"

KNOWN_HOSTS_PATH: Final = f"{c.SSH_MOUNT_PATH}/{c.SSH_KNOWN_HOSTS_FILE}"

NETRC_PATH: Final = f"{c.NETRC_MOUNT_PATH}/{c.NETRC_FILE}"

CA_PATH: Final = f"{c.CA_MOUNT_PATH}/{c.CA_FILE}"


@dataclass(frozen=True)
class ImageBuildPlan:
    """What builder containers get besides the environment; part of the InjectionPlan."""

    #: Go and proxy variables the plan injects, passed to every builder.
    build_args: tuple[str, ...]
    #: The ssh and secret ids the builder flags use (spec.imageBuilds).
    ids: ImageBuilds
    #: Variables passed to kaniko only (files mounted into the executor are visible to its RUN steps).
    kaniko_build_args: tuple[str, ...] = ()
    ssh: bool = False
    netrc: bool = False
    ca: bool = False


def image_build_plan(spec: GoBuildConfigSpec, *, env_names: Sequence[str]) -> ImageBuildPlan | None:
    """The plan for builder containers, given the names of the variables the plan injects; None when off."""
    settings = spec.image_builds
    if not settings.enabled:
        return None
    extra = {entry.name for entry in spec.env}
    build_args = tuple(
        name
        for name in env_names
        if name in GO_SETTINGS
        or name in PROXY_VARIABLES
        or (name in extra and _GO_VARIABLE.match(name) and name not in _GO_PATH_VARIABLES)
    )
    return ImageBuildPlan(
        build_args=build_args,
        kaniko_build_args=tuple(name for name in env_names if name in KANIKO_MOUNTED_VARIABLES),
        ssh=spec.private_modules.ssh is not None,
        netrc=spec.private_modules.netrc is not None,
        ca=spec.ca_bundle is not None,
        ids=settings,
    )


@dataclass(frozen=True)
class _Present:
    """What the workload's command line already passes."""

    build_args: frozenset[str] = frozenset()
    ssh_ids: frozenset[str] = frozenset()
    secret_ids: frozenset[str] = frozenset()
    build_arg_file: bool = False


def _present(kind: BuilderKind, tokens: Sequence[str]) -> _Present:
    flags = _flag_values(tokens)
    build_args: set[str] = set()
    if kind == "buildctl":
        for value in flags.get("opt", ()):
            if value.startswith("build-arg:"):
                build_args.add(value[len("build-arg:") :].partition("=")[0])
    else:
        build_args = {value.partition("=")[0] for value in flags.get("build-arg", ())}
    secret_ids = set()
    for value in flags.get("secret", ()):
        for part in value.split(","):
            key, _, ident = part.partition("=")
            if key.strip().lower() == "id":
                secret_ids.add(ident.strip().strip('"'))
    return _Present(
        build_args=frozenset(build_args),
        ssh_ids=frozenset(value.partition("=")[0] for value in flags.get("ssh", ())),
        secret_ids=frozenset(secret_ids),
        build_arg_file=bool(flags.get("build-arg-file")),
    )


def _flag_values(tokens: Sequence[str]) -> dict[str, list[str]]:
    """Values by flag name of `--name VALUE`, `--name=VALUE` (and single-dash spellings, which some
    parsers accept), in one pass over the command line."""
    values: dict[str, list[str]] = {}
    for index, token in enumerate(tokens):
        if not token.startswith("-"):
            continue
        name, equals, value = token[2 if token.startswith("--") else 1 :].partition("=")
        if equals:
            values.setdefault(name, []).append(value)
        elif index + 1 < len(tokens):
            values.setdefault(name, []).append(tokens[index + 1])
    return values


@dataclass
class _Wanted:
    tokens: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _wanted(
    kind: BuilderKind,
    plan: ImageBuildPlan,
    *,
    env: Sequence[Mapping[str, Any]],
    mounted: Collection[str],
    present: _Present,
    where: str,
) -> _Wanted:
    """The arguments to add (flat argv tokens) and what the user must know, for one builder."""
    out = _Wanted()
    by_name = {var.get("name"): var for var in env}
    names = [*plan.build_args, *(plan.kaniko_build_args if kind == "kaniko" else ())]
    names = [name for name in dict.fromkeys(names) if name in by_name]
    if present.build_arg_file and any(name not in present.build_args for name in names):
        out.warnings.append(
            f"{where}: no build arguments added because the command line uses --build-arg-file, "
            "whose values any --build-arg would override; add "
            + " ".join(f"--build-arg {name}" for name in names)
            + " yourself where the file does not set them"
        )
        names = []
    for name in names:
        if name in present.build_args:
            continue
        var = by_name[name]
        value = var.get("value")
        secret = isinstance(var.get("valueFrom"), Mapping) and "secretKeyRef" in var["valueFrom"]
        if secret or (isinstance(value, str) and carries_credentials(name, value)):
            # Valueless or not, a build argument ends up in the image history.
            out.warnings.append(
                f"{where}: {name} not passed: its value "
                + ("comes from a Secret" if secret else "contains credentials (user@ before the host)")
                + ", which a build argument would keep in the image history; give the build its "
                "credentials as a secret"
            )
        elif kind != "buildctl":
            out.tokens += ["--build-arg", name]
        elif "valueFrom" in var or not isinstance(value, str):
            out.warnings.append(
                f"{where}: {name} not passed: its value comes from valueFrom, which admission cannot "
                f"read; add --opt build-arg:{name}=VALUE yourself"
            )
        elif "$(" in value or "$$" in value:
            out.warnings.append(
                f"{where}: {name} not passed: its value contains $( or $$, which Kubernetes expands "
                f"in arguments; add --opt build-arg:{name}=VALUE yourself"
            )
        else:
            out.tokens += ["--opt", f"build-arg:{name}={value}"]
    _credentials(kind, plan, env=by_name, mounted=mounted, present=present, where=where, out=out)
    return out


def carries_credentials(name: str, value: str) -> bool:
    """Whether an env value holds credentials: a URL with userinfo anywhere in it (GOPROXY is a
    list), or, for the proxy variables, which go and curl also read without a scheme, `user:pass@`
    before the host (`user:pass@proxy.corp:3128`)."""
    if contains_userinfo(value):
        return True
    return name in PROXY_VARIABLES and "://" not in value and "@" in value.partition("/")[0]


def _credentials(
    kind: BuilderKind,
    plan: ImageBuildPlan,
    *,
    env: Mapping[Any, Mapping[str, Any]],
    mounted: Collection[str],
    present: _Present,
    where: str,
    out: _Wanted,
) -> None:
    """--ssh and --secret for the key, known_hosts, netrc and CA the container has mounted."""
    if kind == "kaniko":
        if plan.ssh or plan.netrc:
            out.warnings.append(
                f"{where}: kaniko has no ssh forwarding or build secrets; the SSH key and netrc are "
                f"mounted below {c.MOUNT_ROOT} in the executor, where RUN steps can read them, but "
                "GIT_SSH_COMMAND and NETRC are not passed as build arguments (they would be kept in "
                "the image history): see docs/image-builds.md#kaniko"
            )
        return
    if kind == "docker" and str(env.get("DOCKER_BUILDKIT", {}).get("value", "")).strip() in ("0", "false"):
        if plan.ssh or plan.netrc or plan.ca:
            out.warnings.append(
                f"{where}: DOCKER_BUILDKIT=0 selects the legacy builder, which has no --ssh or --secret; "
                "private modules and the extra CA are not passed to the build"
            )
        return
    secrets: list[tuple[str, str]] = []
    if plan.ssh and c.SSH_MOUNT_PATH in mounted:
        if plan.ids.ssh_id not in present.ssh_ids:
            out.tokens += ["--ssh", f"{plan.ids.ssh_id}={SSH_KEY_PATH}"]
        secrets.append((plan.ids.known_hosts_secret_id, KNOWN_HOSTS_PATH))
    if plan.netrc and c.NETRC_MOUNT_PATH in mounted:
        secrets.append((plan.ids.netrc_secret_id, NETRC_PATH))
    if plan.ca and c.CA_MOUNT_PATH in mounted:
        secrets.append((plan.ids.ca_secret_id, CA_PATH))
    for ident, path in secrets:
        if ident not in present.secret_ids:
            out.tokens += ["--secret", f"id={ident},src={path}"]


@dataclass(frozen=True)
class BuilderArgs:
    """The new command/args of one container (None: unchanged), what was added and what to tell."""

    kind: BuilderKind | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    added: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def builder_args(
    container: Mapping[str, Any], plan: ImageBuildPlan, *, mounted: Collection[str]
) -> BuilderArgs:
    """What `plan` adds to this container's command line; `mounted` are the injected mountPaths it has.

    The container's `env` must already be the injected one: valueless build arguments name only
    variables it has, and buildctl's values are copied from it.
    """
    found = recognise(container)
    if found is None:
        return BuilderArgs()
    env = [var for var in container.get("env") or [] if isinstance(var, Mapping)]
    name = container.get("name")
    if isinstance(found, ShellWrapped):
        where = f"container {name!r} runs {found.kind} through a shell"
        tokens = found.script.split()
        if len(found.script) <= SCRIPT_PARSED_BYTES:
            with contextlib.suppress(ValueError):  # unbalanced quotes: the words as they stand
                tokens = shlex.split(found.script)
        wanted = _wanted(
            found.kind, plan, env=env, mounted=mounted, present=_present(found.kind, tokens), where=where
        )
        warnings = list(wanted.warnings)
        if wanted.tokens:
            warnings.append(
                f"{where}, which admission does not rewrite: add {shlex.join(wanted.tokens)} "
                f"to its {found.kind} command line"
            )
        return BuilderArgs(kind=found.kind, warnings=tuple(warnings))
    where = f"container {name!r} ({found.label})"
    present = _present(found.kind, found.argv[found.insert_at :])
    wanted = _wanted(found.kind, plan, env=env, mounted=mounted, present=present, where=where)
    if not wanted.tokens:
        return BuilderArgs(kind=found.kind, warnings=tuple(wanted.warnings))
    command, args = _insert(container, found, wanted.tokens)
    return BuilderArgs(
        kind=found.kind,
        command=command,
        args=args,
        added=tuple(wanted.tokens),
        warnings=(
            *wanted.warnings,
            f"{where}: added {summarise(wanted.tokens)} ({c.ANNOTATION_BUILD_ARGS} has them)",
        ),
    )


def summarise(tokens: Sequence[str]) -> str:
    """`--build-arg GOPROXY, GOSUMDB; --ssh default; --secret known_hosts`: names and ids, no values.

    The API server may cut admission warnings longer than 256 characters, so the warning names what
    was added and the annotation carries the arguments themselves.
    """
    groups: dict[str, list[str]] = {}
    for flag, value in zip(tokens[::2], tokens[1::2], strict=True):
        if flag == "--opt":
            flag, value = "--opt build-arg:", value.removeprefix("build-arg:").partition("=")[0]
        elif flag == "--secret":
            value = value.partition(",")[0].removeprefix("id=")
        elif flag == "--ssh":
            value = value.partition("=")[0]
        groups.setdefault(flag, []).append(value)
    return "; ".join(
        f"{flag}{'' if flag.endswith(':') else ' '}{', '.join(values)}" for flag, values in groups.items()
    )


def _insert(
    container: Mapping[str, Any], found: Invocation, tokens: Sequence[str]
) -> tuple[list[str] | None, list[str] | None]:
    """(new command or None, new args or None) with `tokens` at the invocation's insertion point."""
    command: list[str] | None = container.get("command")
    args: list[str] | None = container.get("args")
    at = found.insert_at
    if found.command_len is None:
        return None, [*(args or [])[:at], *tokens, *(args or [])[at:]]
    assert command is not None
    if at < len(command) or (at == len(command) and args is None):
        return [*command[:at], *tokens, *command[at:]], None
    at -= len(command)
    return None, [*(args or [])[:at], *tokens, *(args or [])[at:]]
