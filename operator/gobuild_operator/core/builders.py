"""Builder-aware injection: the arguments that carry the Go settings into a Dockerfile's RUN steps.

A Dockerfile's `RUN` steps do not see the builder container's environment: only build arguments
the Dockerfile declares with `ARG` (and the predefined proxy arguments) reach them, and private-module
credentials must come through the builder's own ssh and secret mechanisms (build arguments end up in
the image history). So for a container that runs an image builder, the webhook also adds, after the
environment it injects anyway:

=========================  ======================================  ==============================
builder                    Go and proxy variables                  private modules, extra CA
=========================  ======================================  ==============================
kaniko executor            ``--build-arg NAME`` (value from env)   none: kaniko has no ssh/secrets
buildctl, buildctl-        ``--opt build-arg:NAME=VALUE``          ``--ssh ID=KEY``,
daemonless.sh              (buildctl <= 0.34 refuses a bare NAME)  ``--secret id=ID,src=FILE``
buildah bud/build          ``--build-arg NAME`` (value from env)   same as buildctl
docker build, docker       ``--build-arg NAME`` (value from env)   same as buildctl
buildx build (and aliases)
=========================  ======================================  ==============================

Recognition (one rule per builder; anything else is left exactly as it is):

* The program is ``command[0]`` when the container sets ``command``, else ``args[0]`` (an image whose
  entrypoint passes its arguments through, or has none). buildctl, buildctl-daemonless.sh, buildah,
  docker and buildx are recognised by the program's base name, whatever the image; the build must be
  the subcommand (``build``/``b``; ``bud``/``build``; ``build``, ``image build``, ``builder build``,
  ``buildx build``, ``buildx b``), found after the tool's global flags.
* kaniko's program is called ``executor``, too generic to trust alone, so the image takes part:
  ``/kaniko/executor``, or ``executor`` in an image with a path component containing ``kaniko``
  (gcr.io/kaniko-project/executor, the maintained forks). Such an image without ``command`` and with
  ``args`` starting with a flag runs its entrypoint, the executor, with those flags.
* A builder run through a shell (``sh -c "buildctl build ..."``) cannot be rewritten safely: it is
  left alone and the admission warning says what to add by hand.

Our arguments go right after the subcommand (for kaniko right after the executor), before the
workload's own: buildah and Go-flag-style parsers stop at the first positional argument, and only
positions before it are safe for every builder.

Precedence and safety:

* An argument the workload already passes for the same name or id wins: ``--build-arg NAME[=...]``,
  ``--opt build-arg:NAME=...``, ``--ssh ID...``, ``--secret ...id=ID...``. buildah's
  ``--build-arg-file`` would be overridden by any ``--build-arg``, so then no build argument is added.
* Valueless build arguments name only variables the container has in its environment after injection
  (the workload's own value when it kept one), so values never appear in arguments. For buildctl the
  value is copied from the container's env: not when it comes from ``valueFrom`` (unknown here), and
  never when it holds a URL with userinfo (credentials would be kept in the image history).
* The SSH key, known_hosts, netrc and CA are passed as files the builder client reads (the injected
  mounts, only where mounted in that container); neither their paths nor their contents become build
  arguments. kaniko runs RUN in its own filesystem, so the injected mounts are visible there: it gets
  the module cache and CA variables as build arguments, but nothing that points at a credential.
* Re-running on the result adds nothing: our own arguments count as the workload's.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gobuild_operator import constants as c
from gobuild_operator.api import GoBuildConfigSpec, ImageBuilds
from gobuild_operator.core.redact import contains_userinfo

BuilderKind = Literal["kaniko", "buildctl", "buildah", "docker"]

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


# --- recognition -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tool:
    kind: BuilderKind
    #: Accepted subcommand paths (`("buildx", "build")`).
    subcommands: tuple[tuple[str, ...], ...]
    #: Global flags that take a separate value (`--addr tcp://...`), without dashes.
    value_flags: frozenset[str]


_BUILDCTL = _Tool(
    "buildctl",
    (("build",), ("b",)),
    frozenset({"addr", "log-format", "tlsservername", "tlscacert", "tlscert", "tlskey", "tlsdir", "timeout"}),
)
_BUILDAH = _Tool(
    "buildah",
    (("bud",), ("build",), ("build-using-dockerfile",)),
    frozenset(
        {
            "registries-conf",
            "registries-conf-dir",
            "short-name-alias-conf",
            "root",
            "runroot",
            "cgroup-manager",
            "storage-driver",
            "imagestore",
            "storage-opt",
            "userns-uid-map",
            "userns-gid-map",
            "default-mounts-file",
            "log-level",
            "cpu-profile",
            "memory-profile",
        }
    ),
)
_DOCKER_VALUE_FLAGS = frozenset(
    {"config", "context", "c", "host", "H", "log-level", "l", "tlscacert", "tlscert", "tlskey", "builder"}
)
_DOCKER = _Tool(
    "docker",
    (("build",), ("image", "build"), ("builder", "build"), ("buildx", "build"), ("buildx", "b")),
    _DOCKER_VALUE_FLAGS,
)
_BUILDX = _Tool("docker", (("build",), ("b",)), _DOCKER_VALUE_FLAGS)
_TOOLS: Final[Mapping[str, _Tool]] = {
    "buildctl": _BUILDCTL,
    "buildctl-daemonless.sh": _BUILDCTL,
    "buildah": _BUILDAH,
    "docker": _DOCKER,
    "buildx": _BUILDX,
    "docker-buildx": _BUILDX,
}
_SHELLS: Final = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
KANIKO_EXECUTOR: Final = "/kaniko/executor"

#: A shell script is recognised as running a builder when one of its simple commands (split at
#: ";", "&", "|" and newlines) has the tool's name as a word and, after it, the build subcommand as
#: a word of its own. Read word by word, so the work is linear in the script: a pattern that scans
#: from each occurrence of the tool's name to the end of its command is quadratic in a script that
#: repeats the name (Python's `re` holds the GIL meanwhile, stalling the whole operator).
_SCRIPT_BUILDERS: Final[tuple[tuple[BuilderKind, re.Pattern[str], re.Pattern[str]], ...]] = (
    ("buildctl", re.compile(r"\bbuildctl(?:-daemonless\.sh)?\b"), re.compile(r"(?:build|b)\b")),
    ("buildah", re.compile(r"\bbuildah\b"), re.compile(r"(?:bud|build)\b")),
    ("docker", re.compile(r"\b(?:docker|buildx)\b"), re.compile(r"build\b")),
)
_SCRIPT_COMMANDS: Final = re.compile(r"[;&|\n]")
_SCRIPT_KANIKO: Final = re.compile(r"(?:^|[\s;&|(])(?:/kaniko/)?executor\b")
#: Scripts longer than this are recognised, but their words are split on whitespace, not parsed as
#: a shell would (shlex is Python, about a microsecond a character).
_SCRIPT_PARSED_BYTES: Final = 64 * 1024


def _script_builder(script: str, *, image: str) -> BuilderKind | None:
    """The builder a shell script runs (for the "add this by hand" warning), or None."""
    commands = _SCRIPT_COMMANDS.split(script)
    for kind, tool, subcommand in _SCRIPT_BUILDERS:
        for command in commands:
            words = command.split()
            named = next((index for index, word in enumerate(words) if tool.search(word)), None)
            if named is not None and any(subcommand.match(word) for word in words[named + 1 :]):
                return kind
    if _SCRIPT_KANIKO.search(script) and ("/kaniko/" in script or _is_kaniko_image(image)):
        return "kaniko"
    return None


@dataclass(frozen=True)
class Invocation:
    """A recognised builder command line: argv is command + args (or args alone, see `from_command`)."""

    kind: BuilderKind
    label: str
    argv: tuple[str, ...]
    #: Where our arguments go in argv.
    insert_at: int
    #: How many leading argv entries are the container's `command`; None when argv is `args` alone.
    command_len: int | None


@dataclass(frozen=True)
class ShellWrapped:
    """A builder run through `sh -c SCRIPT`: never rewritten, only warned about."""

    kind: BuilderKind
    script: str


def recognise(container: Mapping[str, Any]) -> Invocation | ShellWrapped | None:
    """The builder this container runs, by its command line (and image, for kaniko); None if none."""
    command = _strings(container.get("command"))
    args = _strings(container.get("args"))
    if command is False or args is False:
        return None  # not lists of strings: not ours to understand
    image = container.get("image") if isinstance(container.get("image"), str) else ""
    if command:
        return _recognise_argv((*command, *(args or ())), command_len=len(command), image=str(image))
    if not args:
        return None
    if _is_kaniko_image(str(image)) and args[0].startswith("-"):
        return Invocation("kaniko", "kaniko executor", tuple(args), 0, None)
    return _recognise_argv(tuple(args), command_len=None, image=str(image))


def _recognise_argv(
    argv: tuple[str, ...], *, command_len: int | None, image: str
) -> Invocation | ShellWrapped | None:
    program = posixpath.basename(argv[0])
    if program == "executor" and (argv[0] == KANIKO_EXECUTOR or _is_kaniko_image(image)):
        return Invocation("kaniko", "kaniko executor", argv, 1, command_len)
    tool = _TOOLS.get(program)
    if tool is not None:
        found = _find_subcommand(argv, tool)
        if found is None:
            return None
        path, end = found
        return Invocation(tool.kind, " ".join((program, *path)), argv, end, command_len)
    if program in _SHELLS or (program == "busybox" and len(argv) > 1 and argv[1] in _SHELLS):
        script = _shell_script(argv[2:] if program == "busybox" else argv[1:])
        kind = None if script is None else _script_builder(script, image=image)
        if script is not None and kind is not None:
            return ShellWrapped(kind, script)
    return None


def _find_subcommand(argv: Sequence[str], tool: _Tool) -> tuple[tuple[str, ...], int] | None:
    """(the subcommand path, the index after it), skipping global flags and their values."""
    words: tuple[str, ...] = ()
    index = 1
    while index < len(argv):
        word = argv[index]
        index += 1
        if word.startswith("-") and len(word) > 1:
            if "=" in word or (not word.startswith("--") and len(word) > 2):
                continue  # --flag=value, or -Hvalue
            name = word.lstrip("-")
            nxt = argv[index] if index < len(argv) else ""
            if name in tool.value_flags or (
                not nxt.startswith("-") and not _is_path_prefix((*words, nxt), tool)
            ):
                index += 1  # the flag's value (an unknown flag followed by a non-subcommand: its value)
            continue
        words = (*words, word)
        if words in tool.subcommands:
            return words, index
        if not _is_path_prefix(words, tool):
            return None
    return None


def _is_path_prefix(words: tuple[str, ...], tool: _Tool) -> bool:
    return any(path[: len(words)] == words for path in tool.subcommands)


def _shell_script(argv: Sequence[str]) -> str | None:
    """The SCRIPT of `sh [-opts]c SCRIPT`, or None."""
    for index, option in enumerate(argv):
        if not option.startswith("-") or option == "--":
            return None
        if option.startswith("--"):
            continue  # --login, --noprofile
        if "c" in option[1:]:
            return argv[index + 1] if index + 1 < len(argv) else None
    return None


def _is_kaniko_image(image: str) -> bool:
    """gcr.io/kaniko-project/executor:v1.23.2, ghcr.io/osscontainertools/kaniko, cgr.dev/chainguard/kaniko."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    parts = name.lower().split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry host
    return any("kaniko" in part for part in parts)


def _strings(value: Any) -> list[str] | Literal[False] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return False


# --- what to add -----------------------------------------------------------------------------


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
        if kind != "buildctl":
            out.tokens += ["--build-arg", name]
            continue
        value = by_name[name].get("value")
        if "valueFrom" in by_name[name] or not isinstance(value, str):
            out.warnings.append(
                f"{where}: {name} not passed: its value comes from valueFrom, which admission cannot "
                f"read; add --opt build-arg:{name}=VALUE yourself"
            )
        elif contains_userinfo(value):
            out.warnings.append(
                f"{where}: {name} not passed: its value contains credentials (user@ in a URL) that a "
                "build argument would keep in the image history; give the build credentials as a secret"
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


# --- the rewrite -----------------------------------------------------------------------------


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
        if len(found.script) <= _SCRIPT_PARSED_BYTES:
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
