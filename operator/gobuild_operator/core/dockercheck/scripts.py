"""The go commands a RUN script runs, read through the shell syntax Dockerfiles use.

Scripts are read through `;`, `&&`, `||`, pipes, `sh -c '...'`, `env`/`time`/`exec` prefixes, inline
`NAME=value` assignments and `export`; a `cd` (or `go -C`) before the go command makes the working
directory unknown.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gobuild_operator.core.dockercheck import dockerfile as df

_SHELLS: Final = frozenset({"sh", "bash", "ash", "dash", "zsh"})

_WRAPPERS: Final = frozenset({"env", "time", "exec", "nice", "nohup", "command"})

_NEEDS_GO_MOD: Final = frozenset({"build", "test", "vet", "list", "get", "generate", "install", "run"})

_MOD_SUBCOMMANDS: Final = frozenset({"download", "tidy", "vendor", "verify", "graph", "why"})

_WORK_SUBCOMMANDS: Final = frozenset({"sync", "vendor"})


@dataclass(frozen=True)
class GoCommand:
    words: tuple[str, ...]
    needs_go_mod: bool
    fetches: bool
    init: bool

    @property
    def text(self) -> str:
        return " ".join(self.words[:3] if self.words[1:2] in (("mod",), ("work",)) else self.words[:2])


@dataclass(frozen=True)
class Script:
    go: tuple[GoCommand, ...]
    #: Variables assigned in the script before a go command (inline NAME=value or export).
    assigned: Mapping[str, str]
    changes_directory: bool


def is_shell_c(words: Sequence[str]) -> bool:
    return (
        len(words) >= 3
        and posixpath.basename(words[0]) in _SHELLS
        and words[-2].startswith("-")
        and "c" in words[-2]
    )


def read_script(script: str) -> Script:
    go: list[GoCommand] = []
    assigned: dict[str, str] = {}
    changes_directory = False
    for simple in _simple_commands(script):
        words = df.words(simple)
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            name, _, value = words.pop(0).partition("=")
            if not go:
                assigned.setdefault(name, value)
        while words and posixpath.basename(words[0]) in _WRAPPERS:
            words.pop(0)
            while words and (words[0].startswith("-") or "=" in words[0]):
                item = words.pop(0)
                if "=" in item and not item.startswith("-"):
                    name, _, value = item.partition("=")
                    assigned.setdefault(name, value)
        if not words:
            continue
        program = posixpath.basename(words[0])
        if program == "export":
            for item in words[1:]:
                name, sep, value = item.partition("=")
                if sep:
                    assigned.setdefault(name, value)
        elif program in ("cd", "pushd") and not go:
            changes_directory = True
        elif program in _SHELLS and is_shell_c(words):
            inner = read_script(words[-1])
            go += inner.go
            for name, value in inner.assigned.items():
                assigned.setdefault(name, value)
            changes_directory = changes_directory or inner.changes_directory
        elif program == "go" and len(words) > 1:
            if words[1] == "-C":
                changes_directory = changes_directory or not go
                words = [words[0], *words[3:]]
            command = _go_command(tuple(words))
            if command is not None:
                go.append(command)
    return Script(tuple(go), assigned, changes_directory)


def _go_command(words: tuple[str, ...]) -> GoCommand | None:
    sub = words[1] if len(words) > 1 else ""
    rest = [word for word in words[2:] if not word.startswith("-")]
    versioned = any("@" in word for word in rest)
    if sub == "mod" and len(words) > 2:
        action = words[2]
        if action == "init":
            return GoCommand(words, needs_go_mod=False, fetches=False, init=True)
        if action in _MOD_SUBCOMMANDS:
            explicit = action == "download" and any("@" in word for word in rest[1:])
            return GoCommand(words, needs_go_mod=not explicit, fetches=True, init=False)
        return None
    if sub == "work" and len(words) > 2 and words[2] in _WORK_SUBCOMMANDS:
        return GoCommand(words, needs_go_mod=True, fetches=True, init=False)
    if sub in _NEEDS_GO_MOD:
        if sub in ("install", "run") and versioned:
            return GoCommand(words, needs_go_mod=False, fetches=True, init=False)
        return GoCommand(words, needs_go_mod=True, fetches=sub != "generate", init=False)
    return None


def _simple_commands(script: str) -> list[str]:
    """The script cut at ; & | newlines and parentheses outside quotes."""
    commands: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(script):
        ch = script[index]
        if quote:
            if ch == "\\" and quote == '"' and index + 1 < len(script):
                current.append(script[index : index + 2])
                index += 2
                continue
            if ch == quote:
                quote = ""
            current.append(ch)
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "\\" and index + 1 < len(script):
            current.append(" " if script[index + 1] == "\n" else script[index : index + 2])
            index += 2
            continue
        elif ch in ";&|\n()":
            commands.append("".join(current))
            current = []
        elif ch == "#" and (not current or current[-1] in " \t"):
            while index < len(script) and script[index] != "\n":
                index += 1
            continue
        else:
            current.append(ch)
        index += 1
    commands.append("".join(current))
    return [command.strip() for command in commands if command.strip()]
