"""What a GoBuildConfig may not inject unless the operator's admin allows it (hardening #10).

Writing a GoBuildConfig means writing environment variables into every container it selects
(docs/security.md "Who may write a GoBuildConfig"). Some variables and GOFLAGS do more than
configure a build: they make the programs of the build run code the config names (a shared library
to preload, a script every shell sources, a command git or go runs, a compiler or linker to use).
The operator refuses configs that set them, by default: such a config is reported on its status
(SpecValid False, reason NotAllowed, naming the field and the operator flag that lifts it) and
injects nothing. An admin who trusts the writers of GoBuildConfigs lifts single names
(`--allow-env LD_PRELOAD`, `--allow-goflag toolexec`) or everything (`*`).

The lists are this module's data; docs/security.md shows them as a generated table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gobuild_operator.api.spec import GoBuildConfigSpec

#: The condition reason of a config the policy refuses.
REASON: Final = "NotAllowed"
#: Lifts every entry of a list.
EVERYTHING: Final = "*"

_LOADER = "makes the dynamic loader load a library (or code modules) into every process"
_SHELL = "makes every shell (sh -c of git, go and the build scripts) run commands it names"
_INTERPRETER = "makes an interpreter the build runs load code from where it points"
_GIT_COMMAND = "names a command git runs"
_GIT_CONFIG = "gives git configuration, which can name commands git runs (core.sshCommand, aliases, hooks)"
_GO_COMMAND = "names a program the go command runs"
_CGO = "passes flags to the C compiler or linker cgo runs (-fplugin= and friends load code)"

#: Environment variable -> why the operator refuses it by default.
DENIED_ENV: Final[Mapping[str, str]] = {
    **dict.fromkeys(("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH"), _LOADER),
    **dict.fromkeys(("BASH_ENV", "ENV", "PROMPT_COMMAND", "PS4", "SHELLOPTS", "BASHOPTS"), _SHELL),
    "PATH": "chooses which program runs for every command name",
    **dict.fromkeys(
        (
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "PERL5OPT",
            "PERL5LIB",
            "PERLLIB",
            "RUBYOPT",
            "RUBYLIB",
            "NODE_OPTIONS",
            "JAVA_TOOL_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "_JAVA_OPTIONS",
        ),
        _INTERPRETER,
    ),
    **dict.fromkeys(
        ("GIT_CONFIG_PARAMETERS", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG", "GIT_DIR"),
        _GIT_CONFIG,
    ),
    "GIT_TEMPLATE_DIR": "gives new repositories hooks, which git runs",
    **dict.fromkeys(
        (
            "GIT_EXEC_PATH",
            "GIT_SSH",
            "GIT_SSH_COMMAND",
            "GIT_PROXY_COMMAND",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "GIT_EDITOR",
            "GIT_SEQUENCE_EDITOR",
            "GIT_PAGER",
            "GIT_EXTERNAL_DIFF",
            "EDITOR",
            "VISUAL",
            "PAGER",
        ),
        _GIT_COMMAND,
    ),
    "GOENV": "points go at a configuration file, which can set GOFLAGS=-toolexec",
    "GOROOT": "chooses the Go toolchain that runs",
    "GOCACHEPROG": "names a program go runs as its build cache",
    "GOAUTH": "names commands go runs for credentials",
    **dict.fromkeys(("CC", "CXX", "FC", "GCCGO", "PKG_CONFIG"), _GO_COMMAND),
    **dict.fromkeys(("CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_FFLAGS", "CGO_LDFLAGS"), _CGO),
}

#: GOFLAGS flag name (without dashes) -> why the operator refuses it by default.
DENIED_GOFLAGS: Final[Mapping[str, str]] = {
    "toolexec": "runs a program in front of every compiler, assembler and linker invocation",
    "exec": "runs `go run` and `go test` binaries through a program it names",
    "overlay": "replaces source files with files from elsewhere",
    "gccgoflags": "passes flags to gccgo (-fplugin= loads code)",
    "ldflags": "with -extld or -extldflags, names the external linker the go command runs",
}


@dataclass(frozen=True)
class Policy:
    """What the operator's admin lifted from the deny lists (names; "*" lifts a whole list)."""

    allowed_env: frozenset[str] = field(default_factory=frozenset)
    allowed_goflags: frozenset[str] = field(default_factory=frozenset)

    def allows_env(self, name: str) -> bool:
        return name not in DENIED_ENV or EVERYTHING in self.allowed_env or name in self.allowed_env

    def allows_goflag(self, flag: str) -> bool:
        name, _, value = flag.lstrip("-").partition("=")
        if name not in DENIED_GOFLAGS or EVERYTHING in self.allowed_goflags or name in self.allowed_goflags:
            return True
        return name == "ldflags" and "-extld" not in value


def problems(spec: GoBuildConfigSpec, policy: Policy) -> list[str]:
    """Why `policy` refuses `spec`, one message per field, each starting with the field path."""
    found = [
        f"spec.env[{index}].name: {entry.name} {DENIED_ENV[entry.name]}, so the operator refuses it "
        f"(its admin can allow it: --allow-env={entry.name})"
        for index, entry in enumerate(spec.env)
        if not policy.allows_env(entry.name)
    ]
    for index, flag in enumerate(spec.goflags):
        if not policy.allows_goflag(flag):
            name = flag.lstrip("-").partition("=")[0]
            found.append(
                f"spec.goflags[{index}]: -{name} {DENIED_GOFLAGS[name]}, so the operator refuses it "
                f"(its admin can allow it: --allow-goflag={name})"
            )
    return found
