"""Whether go finds go.mod and go.sum where a RUN runs it: not copied yet (GoModNotCopied), copied
elsewhere than the WORKDIR (WorkdirMismatch), or into the golang image's GOPATH, where go ignores
it (WorkdirMissing)."""

from __future__ import annotations

import posixpath

from gobuild_operator.core.dockercheck import dockerfile as df
from gobuild_operator.core.dockercheck import dockerignore
from gobuild_operator.core.dockercheck.build import Build, Stage
from gobuild_operator.core.dockercheck.scripts import Script


def needs_go_mod(
    build: Build, instruction: df.Instruction, stage: Stage, script: Script, position: int
) -> None:
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
        in_context = build.context.files
        if stage.gomod and not script.changes_directory and in_context and "go.work" in in_context:
            if build.once(stage, "WorkdirMismatch"):
                build.add(
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
            if build.once(stage, "WorkdirMismatch"):
                build.add(
                    instruction.line,
                    "WorkdirMismatch",
                    f"`{command}` runs in {cwd}, but go.mod was copied to {directory} (line {line}): go "
                    "finds no go.mod there",
                    f"set `WORKDIR {directory}` before this RUN, or copy go.mod and go.sum into {cwd}",
                )
            return
        ignored = any(path.endswith("go.mod") for path in build.reported_ignores)
        if not ignored and build.once(stage, "GoModNotCopied"):
            later_note = ""
            for after in build.instructions[position + 1 :]:
                if after.keyword == "FROM":
                    break
                if (
                    after.keyword in ("COPY", "ADD")
                    and after.flag("from") is None
                    and _mentions_go_mod(after)
                ):
                    they = "they are" if has_go_sum(build, "go.mod") else "it is"
                    later_note = f"; {they} only copied at line {after.line}"
                    break
            files = "go.mod and go.sum" if has_go_sum(build, "go.mod") else "go.mod"
            build.add(
                instruction.line,
                "GoModNotCopied",
                f"`{command}` runs before {files} {'are' if 'and' in files else 'is'} copied into the "
                f"image{later_note}: go stops with 'go.mod file not found'",
                f"add `COPY {files.replace(' and ', ' ')} ./` (after WORKDIR) before line "
                f"{instruction.line}, then the download, then `COPY . .`",
            )
        return
    directory = max(reachable, key=len)
    if directory == stage.gopath and stage.golang and build.once(stage, "WorkdirMissing"):
        if stage.workdir is None:
            message = (
                f"stage {stage.label} sets no WORKDIR, so go.mod went to {directory}, the golang image's "
                "GOPATH, where go ignores it ('go: warning: ignoring go.mod in $GOPATH')"
            )
        else:
            message = f"WORKDIR {directory} is GOPATH: go ignores a go.mod there"
        build.add(
            instruction.line,
            "WorkdirMissing",
            message,
            f"add `WORKDIR /src` after the FROM on line {stage.from_line}, before the COPY of go.mod",
        )
        return
    context_path = stage.gomod[directory][1]
    missing_sum = (
        context_path is not None and directory not in stage.gosum and has_go_sum(build, context_path)
    )
    if missing_sum and build.once(stage, "GoModNotCopied"):
        build.add(
            instruction.line,
            "GoModNotCopied",
            f"`{command}` runs with go.mod but without go.sum in {directory}: go stops with "
            "'missing go.sum entry' (-mod=readonly)",
            f"copy go.sum with go.mod: `COPY go.mod go.sum ./` before line {instruction.line}",
        )


def has_go_sum(build: Build, go_mod: str) -> bool:
    """Whether the context has a go.sum beside this go.mod (one .dockerignore excludes is reported)."""
    files = build.context.files
    go_sum = posixpath.join(posixpath.dirname(go_mod), "go.sum")
    return (files is None or go_sum in files) and not dockerignore.decide(build.ignore, go_sum).excluded


def _mentions_go_mod(instruction: df.Instruction) -> bool:
    items = list(instruction.exec_form or df.words(instruction.rest))[:-1]
    return any(posixpath.basename(item.rstrip("/")) in ("go.mod", ".", "") or "*" in item for item in items)
