"""What `check` reports and what it is given: findings with their fixed reasons, the settings of the
GoBuildConfig a build runs with, and the build context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gobuild_operator.api.configspec.blocks import ImageBuilds
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.imagebuilds.arguments import PROXY_VARIABLES
from gobuild_operator.core.plan import build_plan

#: Every reason `check` reports, with what it means (docs/image-builds.md has the table).
REASONS: Final[Mapping[str, str]] = {
    "GoModNotCopied": "A go command that needs go.mod (and go.sum) runs before they are copied into the "
    "image.",
    "GoModIgnored": ".dockerignore leaves go.mod or go.sum out of the build context, so COPY cannot copy it.",
    "WorkdirMissing": "No WORKDIR: go.mod lands in the image's default directory, GOPATH (/go) in golang "
    "images, where go ignores it.",
    "WorkdirMismatch": "The go command runs in another directory than the one go.mod was copied to, or "
    "COPY --from reads a relative path, which starts at the source stage's root, not its WORKDIR.",
    "GoSettingNotDeclared": "A Go setting the GoBuildConfig injects is not declared with ARG in the stage, "
    "so RUN never sees the value the builder passes.",
    "HardcodedGoEnv": "ENV (or an inline assignment) hard-codes a Go setting the cluster injects, "
    "overriding it.",
    "CredentialInArgOrEnv": "A credential passed through ARG or ENV: its value stays in the image "
    "history and config.",
    "PrivateModulesWithoutMount": "Private modules are fetched by a RUN without the ssh or secret mount "
    "that carries their credentials.",
    "NoModuleCacheMount": "Modules are downloaded without a cache mount for the module cache, on "
    "every build (or again after an earlier RUN cached them).",
    "GoVersionTooOld": "go.mod requires a newer Go than the base image has; golang images set "
    "GOTOOLCHAIN=local, so go refuses.",
}


Severity = Literal["error", "warning", "info"]
#: Severities, most severe first (findings are sorted so; --fail-on takes one of them).
SEVERITIES: Final[tuple[Severity, ...]] = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    """A reason's stable code (what inline ignores and CI tools name) and its severity."""

    code: str
    severity: Severity


#: Each reason's code and severity. A code, once released, is never reused for another reason.
#: error: the download fails or leaks a credential; warning: the build ignores the cluster's
#: settings, or may fail; info: advice (it works, but costs every build).
RULES: Final[Mapping[str, Rule]] = {
    "GoModNotCopied": Rule("GB101", "error"),
    "GoModIgnored": Rule("GB102", "error"),
    "WorkdirMissing": Rule("GB103", "error"),
    "WorkdirMismatch": Rule("GB104", "error"),
    "GoVersionTooOld": Rule("GB105", "error"),
    "GoSettingNotDeclared": Rule("GB201", "error"),
    "HardcodedGoEnv": Rule("GB202", "warning"),
    "CredentialInArgOrEnv": Rule("GB301", "error"),
    "PrivateModulesWithoutMount": Rule("GB302", "error"),
    "NoModuleCacheMount": Rule("GB401", "info"),
}


@dataclass(frozen=True)
class Finding:
    """One problem: where (the Dockerfile or the .dockerignore), which reason, what and how to fix."""

    source: Literal["dockerfile", "dockerignore"]
    line: int
    reason: str
    message: str
    fix: str

    @property
    def code(self) -> str:
        return RULES[self.reason].code

    @property
    def severity(self) -> Severity:
        return RULES[self.reason].severity

    def sort_key(self) -> tuple[int, int, int, str]:
        """Most severe first, then the Dockerfile before .dockerignore, then by line."""
        return (SEVERITIES.index(self.severity), self.source != "dockerfile", self.line, self.code)

    def to_dict(self, *, file: str) -> dict[str, Any]:
        return {
            "file": file,
            "line": self.line,
            "code": self.code,
            "severity": self.severity,
            "reason": self.reason,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class CheckSettings:
    """What the build is meant to receive: from a GoBuildConfig, or the default config's."""

    #: (name, injected value) of the Go settings passed as build arguments (proxy variables excluded:
    #: they are predefined build arguments and need no ARG).
    go_settings: tuple[tuple[str, str], ...]
    #: The ssh and secret ids the Dockerfile's mounts must use (spec.imageBuilds).
    ids: ImageBuilds
    goprivate: bool = False
    ssh: bool = False
    netrc: bool = False
    #: Whether a config was given (values are compared only then).
    from_config: bool = False

    @property
    def private(self) -> bool:
        return self.goprivate or self.ssh or self.netrc


def settings_from_spec(spec: GoBuildConfigSpec, *, from_config: bool = True) -> CheckSettings:
    plan = build_plan(config_name="check", spec=spec)
    values = {var.name: var.value for var in plan.env}
    names = plan.image_builds.build_args if plan.image_builds is not None else ("GOPROXY",)
    return CheckSettings(
        go_settings=tuple((name, values[name]) for name in names if name not in PROXY_VARIABLES),
        goprivate=bool(spec.goprivate),
        ssh=spec.private_modules.ssh is not None,
        netrc=spec.private_modules.netrc is not None,
        ids=spec.image_builds,
        from_config=from_config,
    )


#: Without --config: what every GoBuildConfig injects (GOPROXY), nothing private.
DEFAULT_SETTINGS: Final = settings_from_spec(GoBuildConfigSpec(), from_config=False)


@dataclass(frozen=True)
class Context:
    """The build context as far as the check needs it."""

    #: Every file in the context (relative, "/"-separated), before .dockerignore; None when unknown.
    files: frozenset[str] | None = None
    dockerignore: str | None = None
    #: The text of go.mod files, by context path.
    go_mods: Mapping[str, str] = field(default_factory=dict)
