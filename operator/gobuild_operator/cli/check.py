"""`python -m gobuild_operator check [Dockerfile] [--context DIR] [--config FILE|NAME] [--output json|text]
[--preflight]`.

Reads a Dockerfile the way an image build will and reports, like a compiler, what will make
`go mod download` fail in it (core/dockercheck/ has the reasons). Offline by default: the
context is a directory, the config a GoBuildConfig YAML file. A NAME that is not a file is read from
the cluster of the current kube context (or the Pod's ServiceAccount), in --namespace or the
context's namespace: the only network call, and only when asked for.

Findings have a severity (error: the download fails or a credential leaks; warning: the build
ignores the cluster's settings; info: advice), a stable code (GB101...) and can be silenced inline,
as hadolint does: `# gobuild ignore=GB401` on the lines right above an instruction, `# gobuild global
ignore=GB401` for the whole file. Output for people (text), scripts (json), code scanning (sarif,
SARIF 2.1.0) and GitLab (codequality).

With --preflight (and --config NAME of a GoBuildConfig in the cluster), the check is followed by
`preflight` (cli/preflight.py) run with the image of the Dockerfile's go stage (the FROM of the
stage whose RUN runs go mod download or go build, through ARGs and stage names) and the go.mod and
go.sum that stage copies from the context: a go directive newer than that image's Go, a module the
config's proxies do not have, an incomplete go.sum are found before the image is built. When the
Dockerfile does not say which image runs go, the option is refused.

Exit status: 0 nothing at or above --fail-on (default: error) and, with --preflight, every module
downloads; 1 findings at or above it, or the preflight would fail; 2 a usage, file, config or
cluster error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec, parse_spec
from gobuild_operator.api.fields.values import SpecError
from gobuild_operator.cli.options import add_config_options
from gobuild_operator.core.dockercheck.check import GoStage, NoGoStage, check, go_stage
from gobuild_operator.core.dockercheck.findings import (
    DEFAULT_SETTINGS,
    REASONS,
    RULES,
    SEVERITIES,
    CheckSettings,
    Context,
    Finding,
    settings_from_spec,
)
from gobuild_operator.core.preflight.report import Report

PROG: Final = "python -m gobuild_operator check"
EXIT_CLEAN: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_USAGE: Final = 2
#: Bounds on what is read from the context (a build context is usually far smaller).
MAX_CONTEXT_FILES: Final = 200_000
MAX_GO_MODS: Final = 200
#: A go.mod larger than this is not read (the go directive is near its top).
MAX_GO_MOD_BYTES: Final = 1 << 20
TOOL: Final = "gobuild-operator check"
_SKIPPED_DIRS: Final = frozenset({".git", ".hg", ".svn"})

#: (name, namespace or None) -> the GoBuildConfig's spec; tests pass their own.
ConfigReader = Callable[[str, "str | None"], Mapping[str, Any]]
#: Runs preflight's Job and its ConfigMap for at most the seconds given: (the Pod's log, the config
#: the webhook injected, the Pod's name, why the Pod never started or ""). The default is
#: k8s/commands/preflight.py's; tests pass their own. `preflight` and `check --preflight` share it.
JobRunner = Callable[[dict[str, Any], dict[str, Any], float], tuple[str, str, str, str]]


class UsageError(Exception):
    """Something the user must fix before the check can run (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Report what will make `go mod download` fail in an image build of this Dockerfile.",
        epilog="exit status: 0 nothing found, 1 problems found (or, with --preflight, the build would "
        "fail), 2 usage, file, config or cluster error",
    )
    parser.add_argument(
        "dockerfile", nargs="?", default="Dockerfile", metavar="Dockerfile", help="default: ./Dockerfile"
    )
    parser.add_argument(
        "--context",
        metavar="DIR",
        default=None,
        help="the build context (default: the Dockerfile's directory)",
    )
    add_config_options(
        parser,
        config_help="the GoBuildConfig the build gets: a YAML file (a path: ./cfg.yaml), or the NAME of one "
        "in the cluster (default: what every GoBuildConfig injects, GOPROXY)",
        json_help="json for CI: {dockerfile, context, config, findings: "
        "[{file, line, code, severity, reason, message, fix}]}",
        more_outputs=(
            ("sarif", "(SARIF 2.1.0, for code scanning)"),
            ("codequality", "(GitLab code quality report)"),
        ),
    )
    parser.add_argument(
        "--fail-on",
        choices=(*SEVERITIES, "none"),
        default="error",
        help="exit 1 when a finding of this severity or a worse one is found (default: error; "
        "none: always 0)",
    )
    parser.add_argument(
        "--preflight",
        action="store_true",
        help="then run preflight in the cluster with --config NAME, the image of the Dockerfile's go "
        "stage and the go.mod and go.sum it copies (output text or json)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=300,
        metavar="S",
        help="with --preflight: seconds its Job may run (default: %(default)s)",
    )
    return parser


def main(
    argv: list[str] | None = None,
    *,
    read_cluster_config: ConfigReader | None = None,
    run_job: JobRunner | None = None,
) -> int:
    """`run_job` runs the preflight Job (cli/preflight.py's JobRunner; tests give their own)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        dockerfile = Path(args.dockerfile)
        text = _read_text(dockerfile, what="Dockerfile")
        context_dir = Path(args.context) if args.context is not None else dockerfile.parent
        if not context_dir.is_dir():
            raise UsageError(f"the context {context_dir} is not a directory")
        ignore_file = _ignore_file(dockerfile, context_dir)
        context = read_context(context_dir, ignore_file)
        stage = _preflight_stage(args, text, context, context_dir) if args.preflight else None
        config_name, settings = _settings(args.config, args.namespace, read_cluster_config)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    findings = check(text, context=context, settings=settings)
    files = {
        "dockerfile": str(dockerfile),
        "dockerignore": str(ignore_file) if ignore_file else ".dockerignore",
    }
    code = EXIT_FINDINGS if failing(findings, args.fail_on) else EXIT_CLEAN
    if args.output == "json":
        report: dict[str, Any] = {
            "dockerfile": str(dockerfile),
            "context": str(context_dir),
            "config": config_name,
            "findings": [finding.to_dict(file=files[finding.source]) for finding in findings],
        }
        if stage is not None:
            try:
                ran = _preflight(args, stage, context_dir, read_cluster_config, run_job)
            except UsageError as exc:
                print(f"{PROG}: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            report["preflight"] = {"image": stage.image, "goMod": stage.go_mod, **ran.to_dict()}
            code = max(code, EXIT_FINDINGS if ran.failed else EXIT_CLEAN)
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return code
    if args.output == "sarif":
        sys.stdout.write(json.dumps(sarif(findings, files), indent=2, ensure_ascii=False) + "\n")
    elif args.output == "codequality":
        sys.stdout.write(json.dumps(codequality(findings, files), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write("".join(render_text(finding, files[finding.source]) for finding in findings))
    if stage is None:
        return code
    sys.stdout.write(
        f"preflight: {stage.go_mod} with {stage.image} (the go stage: FROM on line {stage.from_line}, "
        f"RUN on line {stage.run_line}) and GoBuildConfig {args.config}\n"
    )
    try:
        ran = _preflight(args, stage, context_dir, read_cluster_config, run_job)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from gobuild_operator.cli.preflight import render_table  # it imports this module

    sys.stdout.write(render_table(ran))
    return max(code, EXIT_FINDINGS if ran.failed else EXIT_CLEAN)


def _preflight_stage(args: argparse.Namespace, text: str, context: Context, context_dir: Path) -> GoStage:
    """The go stage `--preflight` runs with, or why it cannot run (before anything is printed)."""
    if args.config is None or "/" in args.config or Path(args.config).suffix in (".yaml", ".yml", ".json"):
        raise UsageError("--preflight runs in the cluster: give --config NAME of a GoBuildConfig, not a file")
    if args.output not in ("text", "json"):
        raise UsageError(f"--preflight prints text or json, not {args.output}")
    if args.timeout < 10:
        raise UsageError("--timeout must be at least 10 seconds")
    try:
        stage = go_stage(text, context=context)
    except NoGoStage as exc:
        raise UsageError(
            f"--preflight cannot tell which image runs go: {exc}; run preflight --image IMAGE"
        ) from None
    if not (context_dir / stage.go_mod).is_file():
        raise UsageError(
            f"--preflight: the go stage (line {stage.run_line}) reads {stage.go_mod}, which the context "
            f"{context_dir} does not have"
        )
    return stage


def _preflight(
    args: argparse.Namespace,
    stage: GoStage,
    context_dir: Path,
    read_cluster_config: ConfigReader | None,
    run_job: JobRunner | None,
) -> Report:
    """preflight's run with the go stage's image and go.mod (UsageError: it could not run)."""
    from gobuild_operator.cli import preflight  # it imports this module

    options = argparse.Namespace(
        config=args.config,
        namespace=args.namespace,
        project=str(context_dir / stage.go_mod),
        timeout=args.timeout,
        image=stage.image,
    )
    return preflight.run(options, read_config=read_cluster_config, run_job=run_job)


def failing(findings: list[Finding], fail_on: str) -> bool:
    """Whether a finding is at least as severe as `fail_on` ("none": never)."""
    if fail_on == "none":
        return False
    worst = [str(severity) for severity in SEVERITIES].index(fail_on)
    return any(SEVERITIES.index(finding.severity) <= worst for finding in findings)


def render_text(finding: Finding, file: str) -> str:
    return (
        f"{file}:{finding.line}: {finding.severity} {finding.code} {finding.reason}: {finding.message}. "
        f"Fix: {finding.fix}\n"
    )


_SARIF_LEVEL: Final = {"error": "error", "warning": "warning", "info": "note"}
_CODEQUALITY_SEVERITY: Final = {"error": "major", "warning": "minor", "info": "info"}


def sarif(findings: list[Finding], files: dict[str, str]) -> dict[str, object]:
    """A SARIF 2.1.0 log of one run (GitHub code scanning and other SARIF readers)."""
    rules = sorted(RULES.items(), key=lambda item: item[1].code)
    index = {reason: i for i, (reason, _) in enumerate(rules)}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "rules": [
                            {
                                "id": rule.code,
                                "name": reason,
                                "shortDescription": {"text": REASONS[reason]},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
                                "properties": {"tags": ["go", "dockerfile"]},
                            }
                            for reason, rule in rules
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": finding.code,
                        "ruleIndex": index[finding.reason],
                        "level": _SARIF_LEVEL[finding.severity],
                        "message": {"text": f"{finding.message}. Fix: {finding.fix}"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": _uri(files[finding.source])},
                                    "region": {"startLine": max(1, finding.line)},
                                }
                            }
                        ],
                        "partialFingerprints": {"primaryLocationLineHash": _fingerprint(finding, files)},
                    }
                    for finding in findings
                ],
            }
        ],
    }


def codequality(findings: list[Finding], files: dict[str, str]) -> list[dict[str, object]]:
    """GitLab's code quality report (a CodeClimate subset): one issue per finding."""
    return [
        {
            "description": f"{finding.reason}: {finding.message}. Fix: {finding.fix}",
            "check_name": finding.code,
            "fingerprint": _fingerprint(finding, files),
            "severity": _CODEQUALITY_SEVERITY[finding.severity],
            "location": {"path": _uri(files[finding.source]), "lines": {"begin": max(1, finding.line)}},
        }
        for finding in findings
    ]


def _uri(path: str) -> str:
    """A relative path with forward slashes, as SARIF and GitLab expect for files in the repository."""
    return Path(path).as_posix().removeprefix("./")


def _fingerprint(finding: Finding, files: dict[str, str]) -> str:
    """Stable across runs while the finding stays (the line number may move)."""
    key = f"{_uri(files[finding.source])}\0{finding.code}\0{finding.message}"
    return hashlib.sha256(key.encode()).hexdigest()


# --- reading ---------------------------------------------------------------------------------


def _read_text(path: Path, *, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _ignore_file(dockerfile: Path, context_dir: Path) -> Path | None:
    """BuildKit's choice: <Dockerfile>.dockerignore beside the Dockerfile wins over the context's."""
    for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context_dir / ".dockerignore"):
        if candidate.is_file():
            return candidate
    return None


def read_context(context_dir: Path, ignore_file: Path | None) -> Context:
    """The context's file list (bounded), its .dockerignore and the go.mod files in it."""
    files: set[str] = set()
    for root, dirs, names in os.walk(context_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        relative = Path(root).relative_to(context_dir).as_posix()
        for name in names:
            files.add(name if relative == "." else f"{relative}/{name}")
        if len(files) > MAX_CONTEXT_FILES:
            raise UsageError(f"the context {context_dir} has more than {MAX_CONTEXT_FILES} files")
    go_mods = sorted(
        (path for path in files if path.rsplit("/", 1)[-1] == "go.mod"), key=lambda p: p.count("/")
    )
    texts = {path: _read_regular(context_dir / path) for path in go_mods[:MAX_GO_MODS]}
    return Context(
        files=frozenset(files),
        dockerignore=_read_text(ignore_file, what=".dockerignore") if ignore_file else None,
        go_mods={path: text for path, text in texts.items() if text is not None},
    )


def _read_regular(path: Path) -> str | None:
    """A regular file's text, at most MAX_GO_MOD_BYTES; None for anything else. A FIFO, a device or
    a socket named go.mod in the context would block or never end; a symlink may point out of the
    context, which the builder never sends (BuildKit copies the link, not its target)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(MAX_GO_MOD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _settings(
    config: str | None, namespace: str | None, read_cluster_config: ConfigReader | None
) -> tuple[str | None, CheckSettings]:
    if config is None:
        return None, DEFAULT_SETTINGS
    name, spec = load_config(config, namespace, read_cluster_config)
    return name, settings_from_spec(spec)


def load_config(
    config: str, namespace: str | None, read_cluster_config: ConfigReader | None = None
) -> tuple[str, GoBuildConfigSpec]:
    """--config FILE|NAME (also `diagnose --config`): a GoBuildConfig YAML file, or NAME from the cluster.

    A FILE is spelled as a path (a "/" or a .yaml, .yml or .json suffix: `./cfg`); a bare NAME always
    means the cluster's GoBuildConfig, so a file of that name in the build's repository cannot stand
    in for the config the cluster really injects."""
    path = Path(config)
    if "/" in config or path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise UsageError(f"cannot read config {config}: No such file")
        name, spec = _config_from_file(path)
    else:
        reader = read_cluster_config or _read_from_cluster
        name, spec = config, reader(config, namespace)
    try:
        return name, parse_spec(spec)
    except SpecError as exc:
        raise UsageError(f"GoBuildConfig {name} is not valid: {exc}") from None


def _config_from_file(path: Path) -> tuple[str, Mapping[str, Any]]:
    try:
        documents = [doc for doc in yaml.safe_load_all(_read_text(path, what="config")) if doc]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not YAML: {exc}") from None
    configs = [
        doc
        for doc in documents
        if isinstance(doc, dict)
        and doc.get("kind") == c.KIND
        and str(doc.get("apiVersion", "")).startswith(c.GROUP)
    ]
    if len(configs) != 1:
        raise UsageError(f"{path} holds {len(configs)} GoBuildConfigs; give a file with exactly one")
    name = str((configs[0].get("metadata") or {}).get("name", path.name))
    spec = configs[0].get("spec") or {}
    return name, spec


def _read_from_cluster(name: str, namespace: str | None) -> Mapping[str, Any]:
    """--config NAME: the GoBuildConfig's spec from the cluster (k8s/ holds the client code)."""
    try:
        from gobuild_operator.k8s.gobuildconfigs import read_spec
    except ImportError as exc:  # pragma: no cover - the kubernetes client is a dependency
        raise UsageError(f"cannot read GoBuildConfig {name} from the cluster: {exc}") from None
    try:
        return read_spec(name, namespace)
    except LookupError as exc:
        raise UsageError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
