"""What a GoBuildConfig may inject without the operator's admin allowing more: an allow list.

Writing a GoBuildConfig means writing environment variables into every container it selects
(docs/security.md "Who may write a GoBuildConfig"). Many variables and GOFLAGS do more than
configure a build: they make the programs of the build run code the config names (a library to
preload, a script every shell sources, a command git or go runs, a compiler or linker, a go.mod
or a configuration file of the config's choosing: HOME and XDG_CONFIG_HOME move go's env file just
as GOENV does). A deny list of them could never keep up with go, git and the shells, so this is
the other way round: spec.env may set the Go build settings listed here, and spec.goflags the
flags listed here, each value read as go reads it; anything else is refused, by default. Such a
config is reported on its status (SpecValid False, reason NotAllowed, naming the field and the
operator flag that allows it) and injects nothing. An admin who trusts the writers of
GoBuildConfigs allows single names (`--allow-env GOTOOLCHAIN`, `--allow-goflag toolexec`) or
everything (`*`).

The lists are this module's data; docs/security.md shows them as a generated table.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.fields.values import bytes_of

#: The condition reason of a config the policy refuses.
REASON: Final = "NotAllowed"
#: Allows everything a list would refuse.
EVERYTHING: Final = "*"

_TARGET = "chooses the platform the build targets"
_RUNTIME = "tunes the Go runtime of the programs the build runs"

#: Environment variables spec.env may set -> what they do (none of them makes a program run code
#: the config chooses).
ALLOWED_ENV: Final[Mapping[str, str]] = {
    "CGO_ENABLED": "turns cgo on or off",
    **dict.fromkeys(
        (
            "GOOS",
            "GOARCH",
            "GOAMD64",
            "GOARM",
            "GOARM64",
            "GO386",
            "GOMIPS",
            "GOMIPS64",
            "GOPPC64",
            "GORISCV64",
            "GOWASM",
        ),
        _TARGET,
    ),
    "GOEXPERIMENT": "turns Go toolchain experiments on or off",
    "GOFIPS140": "chooses the Go Cryptographic Module version",
    **dict.fromkeys(("GODEBUG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GOTRACEBACK"), _RUNTIME),
    "GOVCS": "limits which version control systems go may use, per module path",
    "GO111MODULE": "turns module mode on or off",
    "GOTELEMETRY": "turns the go command's telemetry on or off",
}

_LINK_FLAG = re.compile(r"^-(s|w|X=?[A-Za-z0-9_./-]+=.*|buildid=[^\s]*|checklinkname=[01])$")
_COMPILE_FLAG = re.compile(r"^-(N|l|m|B|d=checkptr)$")
_TAG = re.compile(r"^[A-Za-z0-9_.]+$")


def _one_of(*values: str) -> Callable[[str], bool]:
    return lambda value: value in values


def _tags(value: str) -> bool:
    return all(_TAG.match(tag) for tag in value.split(",") if tag)


def _tool_flags(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """-ldflags/-gcflags values: an optional `PKGPATTERN=` then flags the pattern allows (-X takes
    its NAME=VALUE as the next word)."""

    def check(value: str) -> bool:
        _, equals, flags = value.partition("=") if not value.startswith("-") else ("", "", value)
        try:
            words = shlex.split(flags if equals else value)
        except ValueError:
            return False
        index = 0
        while index < len(words):
            word = words[index]
            if word == "-X" and index + 1 < len(words) and "=" in words[index + 1]:
                index += 2
                continue
            if not pattern.match(word):
                return False
            index += 1
        return True

    return check


#: GOFLAGS flag (without dashes) -> whether a value is allowed; a flag without "=" passes None.
ALLOWED_GOFLAGS: Final[Mapping[str, tuple[Callable[[str], bool] | None, str]]] = {
    "mod": (_one_of("mod", "readonly", "vendor"), "mod, readonly or vendor"),
    "modcacherw": (None, ""),
    "trimpath": (None, ""),
    "buildvcs": (_one_of("true", "false", "auto"), "true, false or auto"),
    "tags": (_tags, "comma-separated build tags"),
    "race": (None, ""),
    "v": (None, ""),
    "x": (None, ""),
    "p": (str.isdigit, "a number"),
    "cover": (None, ""),
    "covermode": (_one_of("set", "count", "atomic"), "set, count or atomic"),
    "buildmode": (_one_of("default", "exe", "pie"), "default, exe or pie"),
    "ldflags": (_tool_flags(_LINK_FLAG), "-s, -w, -X NAME=VALUE, -buildid=ID"),
    "gcflags": (_tool_flags(_COMPILE_FLAG), "-N, -l, -m, -B, -d=checkptr"),
}


@dataclass(frozen=True)
class Policy:
    """What the operator's admin allows beyond the lists (names; "*" allows everything), and the
    bounds of the claims the operator creates for caches (whoever writes a GoBuildConfig gets a
    claim without any right on claims themselves)."""

    allowed_env: frozenset[str] = field(default_factory=frozenset)
    allowed_goflags: frozenset[str] = field(default_factory=frozenset)
    #: The largest cache claim the operator creates (a quantity); empty: up to the CRD's bound.
    max_cache_size: str = ""
    #: The StorageClasses a config may name for its cache claim; empty: any. The cluster's default
    #: class (storageClassName empty) is always allowed.
    cache_storage_classes: frozenset[str] = field(default_factory=frozenset)

    def allows_env(self, name: str) -> bool:
        return name in ALLOWED_ENV or EVERYTHING in self.allowed_env or name in self.allowed_env

    def goflag_problem(self, flag: str) -> str:
        """Why `flag` is refused ("" when it is allowed)."""
        name, equals, value = flag.lstrip("-").partition("=")
        if EVERYTHING in self.allowed_goflags or name in self.allowed_goflags:
            return ""
        if name not in ALLOWED_GOFLAGS:
            return f"-{name} is not a build setting the operator allows by default"
        check, expected = ALLOWED_GOFLAGS[name]
        if check is None:
            return f"-{name} takes no value" if equals else ""
        if not equals or not check(value):
            return f"-{name}={value} is not one of the values the operator allows by default ({expected})"
        return ""


def problems(spec: GoBuildConfigSpec, policy: Policy) -> list[str]:
    """Why `policy` refuses `spec`, one message per field, each starting with the field path."""
    found = [
        f"spec.env[{index}].name: {entry.name} is not a Go build setting the operator allows by default "
        f"(it may make the build run code the config chooses); its admin can allow it: "
        f"--allow-env={entry.name}"
        for index, entry in enumerate(spec.env)
        if not policy.allows_env(entry.name)
    ]
    for index, flag in enumerate(spec.goflags):
        problem = policy.goflag_problem(flag)
        if problem:
            name = flag.lstrip("-").partition("=")[0]
            found.append(f"spec.goflags[{index}]: {problem}; its admin can allow it: --allow-goflag={name}")
    cache = spec.cache
    if cache.enabled and not cache.existing_claim:
        if policy.max_cache_size and bytes_of(cache.claim_size) > bytes_of(policy.max_cache_size):
            found.append(
                f"spec.cache.size: {cache.claim_size} is more than the operator creates for a cache "
                f"({policy.max_cache_size}, its admin's --cache-max-size)"
            )
        classes = policy.cache_storage_classes
        if classes and cache.storage_class_name and cache.storage_class_name not in classes:
            found.append(
                f"spec.cache.storageClassName: {cache.storage_class_name} is not a StorageClass the operator "
                f"creates caches in ({', '.join(sorted(classes))}, its admin's --cache-storage-class)"
            )
    return found
