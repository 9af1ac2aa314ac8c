"""What a build has at each point of the Dockerfile, and the findings so far.

The checks walk the stages in order (check.py) and keep, per stage, what a build would have: its
WORKDIR, ENV and ARGs, where go.mod, go.sum and go.work are in the image (and which context file
they came from), whether modules are already in the image. A stage built FROM another stage starts
from that stage's state (ARGs excepted: they end with their stage, as in BuildKit). `Build` holds
the stages and the findings, and silences a finding an inline ignore names (`# gobuild ignore=...`,
as hadolint's); the rules (rules/) read it and add to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gobuild_operator.core.dockercheck import dockerfile as df
from gobuild_operator.core.dockercheck import dockerignore
from gobuild_operator.core.dockercheck.findings import REASONS, RULES, CheckSettings, Context, Finding

#: An inline ignore, as hadolint's `# hadolint ignore=DL3008`: `# gobuild ignore=GB401,GB202` on the
#: lines right above an instruction, or `# gobuild global ignore=GB401` anywhere before one; codes or
#: reason names, comma-separated.
_IGNORE = re.compile(r"^gobuild(?:-check)?[ \t]+(global[ \t]+)?ignore[ \t]*=[ \t]*([\w, \t-]+)$")


def _ignores(comments: Sequence[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(codes ignored for this instruction, codes ignored everywhere) from its comment lines."""
    here: set[str] = set()
    everywhere: set[str] = set()
    for comment in comments:
        m = _IGNORE.match(comment)
        if m is None:
            continue
        names = {name.strip() for name in m.group(2).split(",") if name.strip()}
        (everywhere if m.group(1) else here).update(names)
    return frozenset(here), frozenset(everywhere)


@dataclass
class Stage:
    index: int
    name: str | None
    from_line: int
    root_image: str
    parent: Stage | None = None
    #: The first stage of the FROM chain (whose image is the base).
    root: Stage | None = None
    workdir: str | None = None
    env: dict[str, tuple[str, int]] = field(default_factory=dict)
    args: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    #: image directory -> (line of the COPY, context path of the go.mod or None)
    gomod: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    gosum: dict[str, int] = field(default_factory=dict)
    #: image directory -> line of the COPY that put a go.work there
    gowork: dict[str, int] = field(default_factory=dict)
    modules_in_image: bool = False
    reported: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return repr(self.name) if self.name else f"#{self.index} (line {self.from_line})"

    @property
    def golang(self) -> bool:
        return image_repository(self.root_image).rsplit("/", 1)[-1] == "golang"

    @property
    def default_workdir(self) -> str:
        return "/go" if self.golang else "/"

    @property
    def cwd(self) -> str:
        return self.workdir or self.default_workdir

    @property
    def gopath(self) -> str:
        value = self.env.get("GOPATH", ("", 0))[0]
        return value.split(":")[0] if value.startswith("/") else ("/go" if self.golang else "/root/go")

    @property
    def modcache(self) -> str:
        value = self.env.get("GOMODCACHE", ("", 0))[0]
        return value if value.startswith("/") else f"{self.gopath}/pkg/mod"

    def lookup(self, name: str) -> str | None:
        if name in self.env:
            return self.env[name][0]
        if name in self.args:
            return self.args[name][0]
        return None


class Build:
    """The stages walked so far, the findings, and what has been reported once."""

    def __init__(self, dockerfile: df.Dockerfile, context: Context, settings: CheckSettings) -> None:
        self.instructions = dockerfile.instructions
        self.context = context
        self.settings = settings
        self.ignore = dockerignore.parse(context.dockerignore or "")
        self.findings: list[Finding] = []
        self.global_args: dict[str, tuple[str | None, int]] = {}
        self.stages: list[Stage] = []
        #: Stage name -> stage (FROM ... AS name); a later stage of the same name wins, as in BuildKit.
        self.named: dict[str, Stage] = {}
        ignores = [_ignores(instruction.comments) for instruction in self.instructions]
        self.ignored_at = {i.line: here for i, (here, _) in zip(self.instructions, ignores, strict=True)}
        self.ignored_everywhere = frozenset().union(*(everywhere for _, everywhere in ignores))
        self.current_line = 0
        self.cache_targets: set[str] = set()
        #: Context paths of go.mod/go.sum that .dockerignore excludes and that a COPY wanted (reported).
        self.reported_ignores: set[str] = set()
        self.reported_versions: set[int] = set()
        #: A vendor directory in the context: go builds from it (go >= 1.14 defaults to -mod=vendor).
        self.vendored = context.files is not None and any(
            path.endswith("vendor/modules.txt") and not dockerignore.decide(self.ignore, path).excluded
            for path in context.files
        )

    def add(self, line: int, reason: str, message: str, fix: str, *, source: str = "dockerfile") -> None:
        assert reason in REASONS
        names = {reason, RULES[reason].code}
        silenced = self.ignored_everywhere | self.ignored_at.get(self.current_line, frozenset())
        if source == "dockerfile":
            silenced |= self.ignored_at.get(line, frozenset())
        if names & silenced:
            return
        self.findings.append(
            Finding("dockerignore" if source == "dockerignore" else "dockerfile", line, reason, message, fix)
        )

    def once(self, stage: Stage, reason: str) -> bool:
        if reason in stage.reported:
            return False
        stage.reported.add(reason)
        return True


def image_repository(image: str) -> str:
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name.lower()


def image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    return name[name.rfind(":") + 1 :] if name.rfind(":") > name.rfind("/") else ""
