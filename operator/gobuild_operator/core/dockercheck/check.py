"""The walk of `check`: the instructions in order, each updating what the build would have (build.py:
per stage WORKDIR, ENV, the stage's ARGs, where go.mod and go.sum are, whether modules are in the
image or a cache mount), and the rules (rules/) asked at each instruction where go would fail.

The walk itself reports only what following a COPY shows: a .dockerignore pattern that leaves go.mod
or go.sum out of the context (GoModIgnored), and a COPY --from of a path the other stage does not
have (WorkdirMismatch).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gobuild_operator.core.dockercheck import dockerfile as df
from gobuild_operator.core.dockercheck import dockerignore
from gobuild_operator.core.dockercheck.build import Build, Stage
from gobuild_operator.core.dockercheck.findings import DEFAULT_SETTINGS, CheckSettings, Context, Finding
from gobuild_operator.core.dockercheck.rules import fetch, gomod, values, version
from gobuild_operator.core.dockercheck.scripts import Script, is_shell_c, read_script


def check(
    text: str, *, context: Context | None = None, settings: CheckSettings = DEFAULT_SETTINGS
) -> list[Finding]:
    """Every finding for this Dockerfile that no inline ignore silences, most severe first, then by
    file and line."""
    checker = _Checker(df.parse(text), context or Context(), settings)
    checker.run()
    return sorted(checker.findings, key=Finding.sort_key)


@dataclass(frozen=True)
class GoStage:
    """Where the build runs go: the image its stage is built FROM (ARGs expanded, stage names
    followed to the first FROM), and the context's go.mod that go reads there."""

    image: str
    from_line: int
    run_line: int
    go_mod: str


class NoGoStage(Exception):
    """The Dockerfile does not say which image runs go; the message says why."""


def go_stage(text: str, *, context: Context | None = None) -> GoStage:
    """The image of the stage whose RUN runs `go mod download`, `go build` or another go command
    that reads go.mod, for `check --preflight`. Refused (NoGoStage) when no RUN does, when the
    stages that do start from different images, or when the image is not known (an ARG without a
    default, scratch)."""
    checker = _Checker(df.parse(text), context or Context(), DEFAULT_SETTINGS)
    checker.run()
    if not checker.go_runs:
        raise NoGoStage("no RUN of the Dockerfile runs go mod download, go build or another go command")
    images = {stage.root_image: stage for stage, _, _ in checker.go_runs}
    if len(images) > 1:
        named = ", ".join(f"{image} (FROM on line {stage.from_line})" for image, stage in images.items())
        raise NoGoStage(f"go runs in stages built from different images: {named}")
    root, run_line, go_mod = checker.go_runs[0]
    [written] = [i.rest for i in checker.instructions if i.keyword == "FROM" and i.line == root.from_line]
    if "$" in written.split(" ", 1)[0] and (root.root_image == "scratch" or "$" in root.root_image):
        raise NoGoStage(
            f"the FROM on line {root.from_line} names {written.split()[0]}: an ARG without a default "
            "(the image is known only when the build passes it)"
        )
    if root.root_image.lower() == "scratch":
        raise NoGoStage(f"the stage that runs go is built FROM scratch (line {root.from_line})")
    return GoStage(root.root_image, root.from_line, run_line, go_mod)


class _Checker(Build):
    """The walk: each instruction updates the stages it keeps; the rules (rules/) judge them."""

    def __init__(self, dockerfile: df.Dockerfile, context: Context, settings: CheckSettings) -> None:
        super().__init__(dockerfile, context, settings)
        #: (first stage of the FROM chain, RUN line, context path of its go.mod) of each RUN that
        #: runs a go command reading go.mod or fetching modules (`go_stage`).
        self.go_runs: list[tuple[Stage, int, str]] = []

    # --- instructions ----------------------------------------------------------------------

    def run(self) -> None:
        stage: Stage | None = None
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

    def from_(self, instruction: df.Instruction) -> Stage:
        words = df.words(df.expand(instruction.rest, lambda name: self.global_args.get(name, (None, 0))[0]))
        image = words[0] if words else "scratch"
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
        parent = self.stage_named(image)
        stage = Stage(
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

    def stage_named(self, reference: str) -> Stage | None:
        if reference.isdigit():
            index = int(reference)
            return self.stages[index] if index < len(self.stages) else None
        return self.named.get(reference.lower())

    def arg(self, instruction: df.Instruction, stage: Stage | None) -> None:
        for name, default in df.key_values(instruction.rest):
            values.credential(self, instruction.line, "ARG", name, default)
            if stage is None:
                self.global_args[name] = (default, instruction.line)
            else:
                if default is None and name in self.global_args:
                    default = self.global_args[name][0]  # `ARG NAME` in a stage takes the global default
                elif default is not None:
                    default = df.expand(default, stage.lookup)
                stage.args[name] = (default, instruction.line)

    def env(self, instruction: df.Instruction, stage: Stage) -> None:
        for name, raw in df.key_values(instruction.rest, legacy=True):
            value = df.expand(raw or "", stage.lookup)
            values.credential(self, instruction.line, "ENV", name, raw)
            values.hardcoded_env(self, instruction.line, name, raw, value)
            stage.env[name] = (value, instruction.line)

    def workdir(self, instruction: df.Instruction, stage: Stage) -> None:
        words = df.words(df.expand(instruction.rest, stage.lookup))
        if words:
            stage.workdir = posixpath.normpath(posixpath.join(stage.cwd, words[0]))

    # --- COPY / ADD ------------------------------------------------------------------------

    def copy(self, instruction: df.Instruction, stage: Stage) -> None:
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
        stage: Stage,
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

    def place(self, stage: Stage, context_path: str, image_path: str, line: int) -> None:
        directory = posixpath.dirname(image_path)
        if context_path.endswith("go.work"):
            stage.gowork[directory] = line
        elif context_path.endswith("go.mod"):
            stage.gomod[directory] = (line, context_path)
        else:
            stage.gosum[directory] = line

    # --- RUN -------------------------------------------------------------------------------

    def run_(self, instruction: df.Instruction, stage: Stage, position: int) -> None:
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
        stage: Stage,
        script: Script,
        mounts: Sequence[Mapping[str, str]],
        position: int,
    ) -> None:
        values.hardcoded_assignments(self, instruction.line, script)
        if not script.go:
            return
        if any(command.needs_go_mod for command in script.go):
            gomod.needs_go_mod(self, instruction, stage, script, position)
        for command in script.go:
            if command.init:
                stage.gomod.setdefault(stage.cwd, (instruction.line, None))
        if any(command.needs_go_mod or command.fetches for command in script.go):
            version.go_version(self, stage)
            go_mods = [path for _, path in stage.gomod.values() if path]
            self.go_runs.append((stage.root or stage, instruction.line, go_mods[0] if go_mods else "go.mod"))
        if any(
            command.fetches and not fetch.from_vendor(self, command, stage, script) for command in script.go
        ):
            fetch.fetches(self, instruction, stage, script, mounts)

    def bind_mounts(self, mounts: Sequence[Mapping[str, str]], stage: Stage, line: int) -> None:
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
