"""The checks themselves: the stages walked in order, each keeping what a build would have (WORKDIR,
ENV, the stage's ARGs, where go.mod and go.sum are, whether modules are in the image or a cache
mount), and a finding wherever `go mod download` would fail.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gobuild_operator.core.dockercheck import dockerfile as df
from gobuild_operator.core.dockercheck import dockerignore
from gobuild_operator.core.dockercheck.findings import (
    DEFAULT_SETTINGS,
    REASONS,
    RULES,
    CheckSettings,
    Context,
    Finding,
)
from gobuild_operator.core.dockercheck.scripts import GoCommand, Script, is_shell_c, read_script

_CREDENTIAL_WORDS: Final = frozenset(
    {"TOKEN", "PASSWORD", "PASSWD", "PASS", "SECRET", "CREDENTIAL", "CREDENTIALS", "APIKEY", "PAT"}
)

_NOT_A_CREDENTIAL_SUFFIX: Final = frozenset(
    {"FILE", "PATH", "DIR", "ID", "SOCK", "URL", "HOST", "USER", "NAME"}
)

#: http(s)/ftp URLs with any userinfo (tokens go there), any URL with user:password.
_URL_CREDENTIALS = re.compile(r"(?i)\b(?:https?|ftp)://[^/\s@]+@|\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")

_GOLANG_TAG = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+)|(rc|beta)\d+)?")

_GO_DIRECTIVE = re.compile(r"^go[ \t]+(\d+)\.(\d+)(?:\.(\d+)|(rc|beta)\d+)?[ \t]*(?://.*)?$", re.MULTILINE)


#: An inline ignore, as hadolint's `# hadolint ignore=DL3008`: `# gobuild ignore=GB401,GB202` on the
#: lines right above an instruction, or `# gobuild global ignore=GB401` anywhere before one; codes or
#: reason names, comma-separated.
_IGNORE = re.compile(r"^gobuild(?:-check)?[ \t]+(global[ \t]+)?ignore[ \t]*=[ \t]*([\w, \t-]+)$")


def check(
    text: str, *, context: Context | None = None, settings: CheckSettings = DEFAULT_SETTINGS
) -> list[Finding]:
    """Every finding for this Dockerfile that no inline ignore silences, most severe first, then by
    file and line."""
    checker = _Checker(df.parse(text), context or Context(), settings)
    checker.run()
    return sorted(checker.findings, key=Finding.sort_key)


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
class _Stage:
    index: int
    name: str | None
    from_line: int
    root_image: str
    parent: _Stage | None = None
    #: The first stage of the FROM chain (whose image is the base).
    root: _Stage | None = None
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
        return _image_repository(self.root_image).rsplit("/", 1)[-1] == "golang"

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


class _Checker:
    def __init__(self, dockerfile: df.Dockerfile, context: Context, settings: CheckSettings) -> None:
        self.instructions = dockerfile.instructions
        self.context = context
        self.settings = settings
        self.ignore = dockerignore.parse(context.dockerignore or "")
        self.findings: list[Finding] = []
        self.global_args: dict[str, tuple[str | None, int]] = {}
        self.stages: list[_Stage] = []
        #: Stage name -> stage (FROM ... AS name); a later stage of the same name wins, as in BuildKit.
        self.named: dict[str, _Stage] = {}
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

    def once(self, stage: _Stage, reason: str) -> bool:
        if reason in stage.reported:
            return False
        stage.reported.add(reason)
        return True

    # --- instructions ----------------------------------------------------------------------

    def run(self) -> None:
        stage: _Stage | None = None
        for position, instruction in enumerate(self.instructions):
            self.current_line = instruction.line
            keyword = instruction.keyword
            if keyword == "FROM":
                stage = self.from_(instruction)
            elif keyword == "ARG":
                self.arg(instruction, stage)
            elif stage is None:
                continue
            elif keyword == "ENV":
                self.env(instruction, stage)
            elif keyword == "WORKDIR":
                self.workdir(instruction, stage)
            elif keyword in ("COPY", "ADD"):
                self.copy(instruction, stage)
            elif keyword == "RUN":
                self.run_(instruction, stage, position)

    def from_(self, instruction: df.Instruction) -> _Stage:
        words = df.words(df.expand(instruction.rest, lambda name: self.global_args.get(name, (None, 0))[0]))
        image = words[0] if words else "scratch"
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
        parent = self.stage_named(image)
        stage = _Stage(
            len(self.stages), name, instruction.line, parent.root_image if parent else image, parent
        )
        stage.root = parent.root if parent is not None and parent.root is not None else stage
        if parent is not None:
            stage.workdir = parent.workdir
            stage.env = dict(parent.env)
            stage.gomod = dict(parent.gomod)
            stage.gosum = dict(parent.gosum)
            stage.gowork = dict(parent.gowork)
            stage.modules_in_image = parent.modules_in_image
        self.stages.append(stage)
        if name is not None:
            self.named.setdefault(name, stage)
        return stage

    def stage_named(self, reference: str) -> _Stage | None:
        if reference.isdigit():
            index = int(reference)
            return self.stages[index] if index < len(self.stages) else None
        return self.named.get(reference.lower())

    def arg(self, instruction: df.Instruction, stage: _Stage | None) -> None:
        for name, default in df.key_values(instruction.rest):
            self.credential(instruction.line, "ARG", name, default)
            if stage is None:
                self.global_args[name] = (default, instruction.line)
            else:
                if default is None and name in self.global_args:
                    default = self.global_args[name][0]  # `ARG NAME` in a stage takes the global default
                elif default is not None:
                    default = df.expand(default, stage.lookup)
                stage.args[name] = (default, instruction.line)

    def env(self, instruction: df.Instruction, stage: _Stage) -> None:
        for name, raw in df.key_values(instruction.rest, legacy=True):
            value = df.expand(raw or "", stage.lookup)
            self.credential(instruction.line, "ENV", name, raw)
            injected = dict(self.settings.go_settings).get(name)
            if (
                injected is not None
                and "$" not in (raw or "")
                and not (self.settings.from_config and value == injected)
            ):
                cluster = f" ({injected})" if self.settings.from_config else ""
                self.add(
                    instruction.line,
                    "HardcodedGoEnv",
                    f"ENV {name}={value} overrides the {name} the cluster injects{cluster}: the build "
                    "uses this value whatever the GoBuildConfig says",
                    f"remove it and declare `ARG {name}` in this stage (or write ENV {name}=${name} after "
                    f"the ARG if later stages need it as ENV)",
                )
            stage.env[name] = (value, instruction.line)

    def workdir(self, instruction: df.Instruction, stage: _Stage) -> None:
        words = df.words(df.expand(instruction.rest, stage.lookup))
        if words:
            stage.workdir = posixpath.normpath(posixpath.join(stage.cwd, words[0]))

    def credential(self, line: int, keyword: str, name: str, value: str | None) -> None:
        parts = name.upper().split("_")
        named = (
            any(part in _CREDENTIAL_WORDS for part in parts) or parts[-1] == "KEY" or "APIKEY" in parts
        ) and parts[-1] not in _NOT_A_CREDENTIAL_SUFFIX
        in_url = value is not None and _URL_CREDENTIALS.search(value) is not None
        if not named and not in_url:
            return
        what = f"{keyword} {name}" + (
            " holds a URL with credentials" if in_url and not named else " passes a credential"
        )
        self.add(
            line,
            "CredentialInArgOrEnv",
            f"{what}: ARG and ENV values are kept in the image history (docker history, the image "
            "config), where anyone who can pull the image reads them",
            "remove it and give the build the credential as a secret: `RUN --mount=type=secret,id=netrc,"
            "target=/root/.netrc go mod download` with the builder's --secret, or ssh forwarding with "
            "`RUN --mount=type=ssh`; gobuild-operator passes spec.privateModules that way "
            "(docs/image-builds.md)",
        )

    # --- COPY / ADD ------------------------------------------------------------------------

    def copy(self, instruction: df.Instruction, stage: _Stage) -> None:
        items = (
            list(instruction.exec_form) if instruction.exec_form is not None else df.words(instruction.rest)
        )
        items = [df.expand(item, stage.lookup) for item in items if not item.startswith("<<")]
        if len(items) < 2 and not instruction.heredocs:
            return
        if not items:
            return
        sources, dest = items[:-1], items[-1]
        dest_path = posixpath.normpath(posixpath.join(stage.cwd, dest))
        origin = instruction.flag("from")
        if origin is not None:
            self.copy_from(instruction, stage, origin, sources, dest, dest_path)
            return
        if instruction.keyword == "ADD":
            sources = [s for s in sources if "://" not in s and not s.startswith("git@")]
        for context_path, image_path in self.module_files(sources, dest, dest_path, single=len(sources) == 1):
            if not self.included(context_path, instruction.line):
                continue
            self.place(stage, context_path, image_path, instruction.line)

    def copy_from(
        self,
        instruction: df.Instruction,
        stage: _Stage,
        origin: str,
        sources: Sequence[str],
        dest: str,
        dest_path: str,
    ) -> None:
        source_stage = self.stage_named(origin)
        if source_stage is None:
            return  # an image: nothing known about it
        for source in sources:
            if not source.startswith("/") and source_stage.cwd != "/":
                self.add(
                    instruction.line,
                    "WorkdirMismatch",
                    f"COPY --from={origin} {source} reads {posixpath.join('/', source)} in stage "
                    f"{source_stage.label}: paths in COPY --from start at the stage's root, not at its "
                    f"WORKDIR {source_stage.cwd}",
                    f"write the absolute path: COPY --from={origin} "
                    f"{posixpath.join(source_stage.cwd, source)} {dest}",
                )
            absolute = posixpath.normpath(posixpath.join("/", source))
            found = False
            for directory, (_, context_path) in list(source_stage.gomod.items()):
                if absolute == directory or directory.startswith(absolute.rstrip("/") + "/"):
                    # the module's directory or one above it: go.mod lands below the destination
                    below = directory[len(absolute.rstrip("/")) :].lstrip("/")
                    target = posixpath.normpath(posixpath.join(dest_path, below))
                    stage.gomod[target] = (instruction.line, context_path)
                    if directory in source_stage.gosum:
                        stage.gosum[target] = instruction.line
                    found = True
                elif absolute == f"{directory}/go.mod":
                    target = dest_path if posixpath.basename(dest_path) == "go.mod" else f"{dest_path}/go.mod"
                    stage.gomod[posixpath.dirname(target)] = (instruction.line, context_path)
                    found = True
            name = posixpath.basename(absolute)
            if not found and name in ("go.mod", "go.sum") and source_stage.gomod and source.startswith("/"):
                where = sorted(source_stage.gomod)[0]
                self.add(
                    instruction.line,
                    "WorkdirMismatch",
                    f"COPY --from={origin} {source} reads {absolute}, but stage {source_stage.label} has "
                    f"{name} in {where}: the COPY fails (or copies another file)",
                    f"COPY --from={origin} {posixpath.join(where, name)} {dest}",
                )

    def module_files(
        self, sources: Sequence[str], dest: str, dest_path: str, *, single: bool
    ) -> list[tuple[str, str]]:
        """(context path, image path) of every go.mod and go.sum these COPY sources bring."""
        files = self.context.files
        placed: list[tuple[str, str]] = []
        for raw in sources:
            source = posixpath.normpath(raw.lstrip("/")) if raw.strip("/") else "."
            names = ("go.mod", "go.sum", "go.work")
            if source == ".":
                placed += [(name, f"{dest_path}/{name}") for name in names if files is None or name in files]
            elif any(ch in source for ch in "*?["):
                candidates = (
                    files
                    if files is not None
                    else {posixpath.join(posixpath.dirname(source), n) for n in names}
                )
                for path in sorted(candidates):
                    same_depth = "/" not in source or source.count("/") == path.count("/")
                    if posixpath.basename(path) in names and same_depth and fnmatch.fnmatchcase(path, source):
                        placed.append((path, f"{dest_path}/{posixpath.basename(path)}"))
            elif posixpath.basename(source) in names:
                name = posixpath.basename(source)
                as_file = single and not dest.endswith("/") and posixpath.basename(dest_path) == name
                placed.append((source, dest_path if as_file else f"{dest_path}/{name}"))
            elif files is not None:
                placed += [(f"{source}/{n}", f"{dest_path}/{n}") for n in names if f"{source}/{n}" in files]
        return placed

    def included(self, context_path: str, line: int) -> bool:
        decision = dockerignore.decide(self.ignore, context_path)
        if not decision.excluded:
            return True
        if decision.pattern is not None and context_path not in self.reported_ignores:
            self.reported_ignores.add(context_path)
            self.add(
                decision.pattern.line,
                "GoModIgnored",
                f"{decision.pattern.text!r} leaves {context_path} out of the build context, so the COPY on "
                f"Dockerfile line {line} does not copy it",
                f"add `!{context_path}` after this line (or remove the pattern)",
                source="dockerignore",
            )
        return False

    def place(self, stage: _Stage, context_path: str, image_path: str, line: int) -> None:
        directory = posixpath.dirname(image_path)
        if context_path.endswith("go.work"):
            stage.gowork[directory] = line
        elif context_path.endswith("go.mod"):
            stage.gomod[directory] = (line, context_path)
        else:
            stage.gosum[directory] = line

    # --- RUN -------------------------------------------------------------------------------

    def run_(self, instruction: df.Instruction, stage: _Stage, position: int) -> None:
        form = instruction.exec_form
        text = instruction.rest if form is None else form[-1] if is_shell_c(form) else " ".join(form)
        script = read_script("\n".join([text, *(heredoc.body for heredoc in instruction.heredocs)]))
        mounts = [df.csv_fields(value) for value in instruction.flag_values("mount")]
        # bind mounts exist for this RUN only
        bound = [m for m in mounts if m.get("type", "bind") == "bind" and "from" not in m]
        saved = (dict(stage.gomod), dict(stage.gosum), dict(stage.gowork)) if bound else None
        self.bind_mounts(bound, stage, instruction.line)
        try:
            self.go_commands(instruction, stage, script, mounts, position)
        finally:
            if saved is not None:
                initialised = {
                    d: v for d, v in stage.gomod.items() if v[0] == instruction.line and v[1] is None
                }
                stage.gomod, stage.gosum, stage.gowork = {**saved[0], **initialised}, saved[1], saved[2]

    def go_commands(
        self,
        instruction: df.Instruction,
        stage: _Stage,
        script: Script,
        mounts: Sequence[Mapping[str, str]],
        position: int,
    ) -> None:
        for name, value in script.assigned.items():
            injected = dict(self.settings.go_settings).get(name)
            if (
                injected is not None
                and "$" not in value
                and not (self.settings.from_config and value == injected)
            ):
                self.add(
                    instruction.line,
                    "HardcodedGoEnv",
                    f"RUN sets {name}={value} for go, overriding the {name} the cluster injects",
                    f"remove the assignment and declare `ARG {name}` in this stage",
                )
        if not script.go:
            return
        if any(command.needs_go_mod for command in script.go):
            self.needs_go_mod(instruction, stage, script, position)
        for command in script.go:
            if command.init:
                stage.gomod.setdefault(stage.cwd, (instruction.line, None))
        if any(command.needs_go_mod or command.fetches for command in script.go):
            self.go_version(stage)
        if any(command.fetches and not self.from_vendor(command, stage, script) for command in script.go):
            self.fetches(instruction, stage, script, mounts)

    def bind_mounts(self, mounts: Sequence[Mapping[str, str]], stage: _Stage, line: int) -> None:
        """RUN --mount=type=bind from the context can provide go.mod/go.sum for that RUN only."""
        for mount in mounts:
            if mount.get("type", "bind") != "bind" or "from" in mount:
                continue
            target = mount.get("target") or mount.get("dst") or mount.get("destination")
            if not target:
                continue
            target_path = posixpath.normpath(posixpath.join(stage.cwd, target))
            source = mount.get("source") or mount.get("src") or "."
            for context_path, image_path in self.module_files([source], target, target_path, single=True):
                if self.included(context_path, line):
                    self.place(stage, context_path, image_path, line)

    def needs_go_mod(self, instruction: df.Instruction, stage: _Stage, script: Script, position: int) -> None:
        command = next(c for c in script.go if c.needs_go_mod).text
        cwd = stage.cwd
        if script.changes_directory:
            reachable = list(stage.gomod)
        else:
            reachable = [d for d in stage.gomod if d == cwd or cwd.startswith(d.rstrip("/") + "/")]
        workspace = [d for d in stage.gowork if d == cwd or cwd.startswith(d.rstrip("/") + "/")]
        if workspace and stage.gomod and not reachable:
            return  # a go.work workspace: go uses every module it lists
        if any(c.init for c in script.go) and not reachable:
            return
        if not reachable:
            in_context = self.context.files
            if stage.gomod and not script.changes_directory and in_context and "go.work" in in_context:
                if self.once(stage, "WorkdirMismatch"):
                    self.add(
                        instruction.line,
                        "WorkdirMismatch",
                        f"`{command}` runs in {cwd}, where there is no go.mod: the context is a go.work "
                        "workspace, whose root has none, and go.work was not copied",
                        "copy the workspace before the download: `COPY go.work go.work.sum ./` with the "
                        "go.mod and go.sum of every module its use lines name, before line "
                        f"{instruction.line} (a WORKDIR in one module would download only that module's "
                        "dependencies)",
                    )
                return
            if stage.gomod and not script.changes_directory:
                directory, (line, _) = sorted(stage.gomod.items(), key=lambda item: -item[1][0])[0]
                if self.once(stage, "WorkdirMismatch"):
                    self.add(
                        instruction.line,
                        "WorkdirMismatch",
                        f"`{command}` runs in {cwd}, but go.mod was copied to {directory} (line {line}): go "
                        "finds no go.mod there",
                        f"set `WORKDIR {directory}` before this RUN, or copy go.mod and go.sum into {cwd}",
                    )
                return
            ignored = any(path.endswith("go.mod") for path in self.reported_ignores)
            if not ignored and self.once(stage, "GoModNotCopied"):
                later_note = ""
                for after in self.instructions[position + 1 :]:
                    if after.keyword == "FROM":
                        break
                    if (
                        after.keyword in ("COPY", "ADD")
                        and after.flag("from") is None
                        and _mentions_go_mod(after)
                    ):
                        they = "they are" if self.has_go_sum("go.mod") else "it is"
                        later_note = f"; {they} only copied at line {after.line}"
                        break
                files = "go.mod and go.sum" if self.has_go_sum("go.mod") else "go.mod"
                self.add(
                    instruction.line,
                    "GoModNotCopied",
                    f"`{command}` runs before {files} {'are' if 'and' in files else 'is'} copied into the "
                    f"image{later_note}: go stops with 'go.mod file not found'",
                    f"add `COPY {files.replace(' and ', ' ')} ./` (after WORKDIR) before line "
                    f"{instruction.line}, then the download, then `COPY . .`",
                )
            return
        directory = max(reachable, key=len)
        if directory == stage.gopath and stage.golang and self.once(stage, "WorkdirMissing"):
            if stage.workdir is None:
                message = (
                    f"stage {stage.label} sets no WORKDIR, so go.mod went to {directory}, the golang image's "
                    "GOPATH, where go ignores it ('go: warning: ignoring go.mod in $GOPATH')"
                )
            else:
                message = f"WORKDIR {directory} is GOPATH: go ignores a go.mod there"
            self.add(
                instruction.line,
                "WorkdirMissing",
                message,
                f"add `WORKDIR /src` after the FROM on line {stage.from_line}, before the COPY of go.mod",
            )
            return
        context_path = stage.gomod[directory][1]
        missing_sum = (
            context_path is not None and directory not in stage.gosum and self.has_go_sum(context_path)
        )
        if missing_sum and self.once(stage, "GoModNotCopied"):
            self.add(
                instruction.line,
                "GoModNotCopied",
                f"`{command}` runs with go.mod but without go.sum in {directory}: go stops with "
                "'missing go.sum entry' (-mod=readonly)",
                f"copy go.sum with go.mod: `COPY go.mod go.sum ./` before line {instruction.line}",
            )

    def has_go_sum(self, go_mod: str) -> bool:
        """Whether the context has a go.sum beside this go.mod (one .dockerignore excludes is reported)."""
        files = self.context.files
        go_sum = posixpath.join(posixpath.dirname(go_mod), "go.sum")
        return (files is None or go_sum in files) and not dockerignore.decide(self.ignore, go_sum).excluded

    def from_vendor(self, command: GoCommand, stage: _Stage, script: Script) -> bool:
        """Whether this command builds from vendor/ instead of downloading (`go mod ...` always fetches)."""
        if command.words[1:2] == ("mod",):
            return False
        goflags = f"{stage.lookup('GOFLAGS') or ''} {script.assigned.get('GOFLAGS', '')}"
        flags = [*command.words, *goflags.split()]
        if "-mod=mod" in flags or "-mod=readonly" in flags:
            return False
        return self.vendored or "-mod=vendor" in flags

    def fetches(
        self, instruction: df.Instruction, stage: _Stage, script: Script, mounts: Sequence[Mapping[str, str]]
    ) -> None:
        caches = {
            posixpath.normpath(
                posixpath.join(stage.cwd, m.get("target") or m.get("dst") or m.get("destination") or "")
            )
            for m in mounts
            if m.get("type") == "cache"
        }
        modcache = stage.modcache
        mounted = {t for t in caches if t == modcache or t.endswith("/pkg/mod")}
        if stage.modules_in_image or mounted & self.cache_targets:
            return  # modules are already there: nothing fetched, nothing to check
        self.declared(instruction, stage, script)
        self.private_mounts(instruction, stage, mounts)
        if not mounted and self.once(stage, "NoModuleCacheMount"):
            earlier = sorted(self.cache_targets)
            why = (
                f"an earlier RUN put the modules in a cache mount at {earlier[0]}, which this RUN does not "
                "mount, so it downloads them all again"
                if earlier
                else "every build downloads all modules again"
            )
            self.add(
                instruction.line,
                "NoModuleCacheMount",
                f"`{next(c for c in script.go if c.fetches).text}` runs without a cache mount for the module "
                f"cache ({modcache}): {why}",
                f"`RUN --mount=type=cache,target={modcache} {next(c for c in script.go if c.fetches).text}` "
                "(and the same mount on every RUN that builds)",
            )
        if mounted:
            self.cache_targets |= mounted
        else:
            stage.modules_in_image = True

    def declared(self, instruction: df.Instruction, stage: _Stage, script: Script) -> None:
        missing = [
            name
            for name, _ in self.settings.go_settings
            if name not in stage.args and name not in stage.env and name not in script.assigned
        ]
        if not missing or not self.once(stage, "GoSettingNotDeclared"):
            return
        them = "it" if len(missing) == 1 else "them"
        as_args = "build arguments" if len(missing) > 1 else "a build argument"
        global_note = ""
        if any(name in self.global_args for name in missing):
            global_note = " (an ARG before the first FROM is only visible to FROM lines, not inside stages)"
        source = "the GoBuildConfig injects" if self.settings.from_config else "every GoBuildConfig injects"
        effects = "; ".join(dict.fromkeys(_WITHOUT[name] for name in missing if name in _WITHOUT))
        self.add(
            instruction.line,
            "GoSettingNotDeclared",
            f"{', '.join(missing)}: {source} {them} as {as_args}, but "
            f"stage {stage.label} declares no ARG for {them}{global_note}, so this RUN ignores the "
            f"cluster's value{': ' + effects if effects else ''}",
            " and ".join(f"`ARG {name}`" for name in missing)
            + f" (without a value) after the FROM on line {stage.from_line}",
        )

    def private_mounts(
        self, instruction: df.Instruction, stage: _Stage, mounts: Sequence[Mapping[str, str]]
    ) -> None:
        settings = self.settings
        private = settings.private or bool(stage.lookup("GOPRIVATE"))
        if not private:
            return
        ssh_ids = {m.get("id", "default") for m in mounts if m.get("type") == "ssh"}
        secret_ids = {
            m.get("id") or posixpath.basename(m.get("target", ""))
            for m in mounts
            if m.get("type") == "secret"
        }
        ids = settings.ids
        needed: list[str] = []
        if settings.ssh and ids.ssh_id not in ssh_ids:
            needed.append("--mount=type=ssh" + ("" if ids.ssh_id == "default" else f",id={ids.ssh_id}"))
            if ids.known_hosts_secret_id not in secret_ids:
                needed.append(
                    f"--mount=type=secret,id={ids.known_hosts_secret_id},target=/root/.ssh/known_hosts"
                )
        if settings.netrc and ids.netrc_secret_id not in secret_ids:
            needed.append(f"--mount=type=secret,id={ids.netrc_secret_id},target=/root/.netrc")
        if not settings.ssh and not settings.netrc and not ssh_ids and not secret_ids:
            needed.append("--mount=type=ssh (or --mount=type=secret,id=netrc,target=/root/.netrc)")
        if not needed or not self.once(stage, "PrivateModulesWithoutMount"):
            return
        self.add(
            instruction.line,
            "PrivateModulesWithoutMount",
            "private modules (GOPRIVATE"
            + (", ssh" if settings.ssh else "")
            + (", netrc" if settings.netrc else "")
            + ") are fetched by a RUN without the mount that carries their credentials: git fails "
            "with 'Permission denied (publickey)' or 'could not read Username'",
            f"`RUN {' '.join(needed)} go mod download`; for ssh the build also needs git's URL rewrite "
            '(`git config --global url."ssh://git@HOST/".insteadOf "https://HOST/"`)',
        )

    def go_version(self, stage: _Stage) -> None:
        root = stage.root or stage
        if root.from_line in self.reported_versions or not root.golang:
            return
        image_version = _version(_image_tag(root.root_image), _GOLANG_TAG)
        go_mods = [context_path for _, context_path in stage.gomod.values() if context_path] or ["go.mod"]
        text = self.context.go_mods.get(go_mods[0])
        if image_version is None or text is None:
            return
        match = _GO_DIRECTIVE.search(text)
        required = _version(match.group(0)[2:].strip().split("//")[0].strip(), _GOLANG_TAG) if match else None
        if required is None or not _older(image_version, required):
            return
        self.reported_versions.add(root.from_line)
        wanted = match.group(0).split()[1] if match else ""
        has = ".".join(str(part) for part in image_version if part >= 0)
        tag = _image_tag(root.root_image)
        tag_match = _GOLANG_TAG.match(tag)
        variant = tag[tag_match.end() :] if tag_match else ""  # -alpine, -bookworm
        self.add(
            root.from_line,
            "GoVersionTooOld",
            f"{go_mods[0]} requires go {wanted} but {root.root_image} has Go {has}: "
            "go stops with 'go.mod requires go >= ...' (golang images set GOTOOLCHAIN=local), or downloads "
            "a toolchain through GOPROXY where that is allowed",
            f"use `FROM golang:{wanted}{variant}` or newer (or lower the go directive if the code allows)",
        )


#: What go does in a RUN step without each setting the cluster injects (GoSettingNotDeclared).
_WITHOUT: Final = {
    "GOPROXY": "go asks its default proxy.golang.org, which clusters without egress cannot reach",
    "GOPRIVATE": "private modules are sent to the proxy, which cannot see them, instead of fetched directly",
    "GONOPROXY": "private modules are sent to the proxy, which cannot see them, instead of fetched directly",
    "GOSUMDB": "go checks modules against its default sum.golang.org",
    "GONOSUMDB": "private modules are looked up in the public checksum database",
    "GOFLAGS": "the config's go flags are not applied",
}


def _mentions_go_mod(instruction: df.Instruction) -> bool:
    items = list(instruction.exec_form or df.words(instruction.rest))[:-1]
    return any(posixpath.basename(item.rstrip("/")) in ("go.mod", ".", "") or "*" in item for item in items)


def _image_repository(image: str) -> str:
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name.lower()


def _image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    return name[name.rfind(":") + 1 :] if name.rfind(":") > name.rfind("/") else ""


def _version(text: str, pattern: re.Pattern[str]) -> tuple[int, int, int] | None:
    """(major, minor, patch): patch -1 for a pre-release (1.23rc1), -2 when not given (1.22)."""
    match = pattern.match(text)
    if not match:
        return None
    major, minor, patch, pre = match.group(1), match.group(2), match.group(3), match.group(4)
    if pre:
        return int(major), int(minor), -1
    return int(major), int(minor), int(patch) if patch is not None else -2


def _older(image: tuple[int, int, int], required: tuple[int, int, int]) -> bool:
    """Whether the image's Go is older than go.mod requires. An image tag without a patch (golang:1.22)
    is the newest 1.22.x; a go directive without one (go 1.22) means 1.22.0."""
    if image[:2] != required[:2]:
        return image[:2] < required[:2]
    if image[2] == -2:
        return False
    return image[2] < (0 if required[2] == -2 else required[2])
