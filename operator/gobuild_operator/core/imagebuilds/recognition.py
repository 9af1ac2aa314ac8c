"""Which image builder a container runs, read from its command line (and image, for kaniko).

One rule per builder (the package docstring has them); anything else is left exactly as it is. A
builder run through a shell is recognised so that the admission warning can say what to add by hand.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

BuilderKind = Literal["kaniko", "buildctl", "buildah", "docker"]


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
SCRIPT_PARSED_BYTES: Final = 64 * 1024


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
