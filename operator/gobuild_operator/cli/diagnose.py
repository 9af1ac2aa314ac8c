"""`python -m gobuild_operator diagnose [FILE|-] [--config FILE|NAME] [--output json|text]`.

Classifies a saved build log.

The same classifier the operator runs on failed Pods, offline: a platform engineer pastes the log
of a CI run (or pipes `kubectl logs`) and gets the reason, what it means, the GoBuildConfig field
that fixes it and the line that shows it. With `--config` (the GoBuildConfig the build was injected
with, as `check --config` reads it) the log is also compared with the Go settings that config
injects, which is how an image build that never passed them to its RUN steps shows
(BuildSettingsNotPassed); the operator does the same with the failed container's environment.
Exit status is scriptable: 0 a known reason, 1 Unknown, 2 a usage or file error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Final

from gobuild_operator.cli.check import ConfigReader, UsageError, load_config
from gobuild_operator.cli.options import add_config_options
from gobuild_operator.core.diagnosis.diagnose import UNKNOWN, Diagnosis, GoSettings, diagnose
from gobuild_operator.core.injection.plan import build_plan

PROG: Final = "python -m gobuild_operator diagnose"
EXIT_DIAGNOSED: Final = 0
EXIT_UNKNOWN: Final = 1
EXIT_USAGE: Final = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify the log of a failed Go build: which module download failed, and how to fix it.",
        epilog="exit status: 0 a known reason, 1 Unknown, 2 usage or file error",
    )
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="the build log; '-' or nothing reads standard input",
    )
    add_config_options(
        parser,
        config_help="the GoBuildConfig the build was injected with (a YAML file, as a path: ./cfg.yaml, or "
        "the NAME of one in the cluster): go asking servers its settings do not name is then reported",
        json_help="json for scripts: keys reason, summary, remedy, evidence",
    )
    return parser


def read_log(file: str) -> str:
    """The log's text; undecodable bytes are replaced, since logs are not always clean UTF-8."""
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(file, "rb") as fh:
            data = fh.read()
    return data.decode("utf-8", errors="replace")


def render_text(d: Diagnosis) -> str:
    lines = [f"reason:   {d.reason}", f"summary:  {d.summary}"]
    if d.evidence:
        lines.append(f"evidence: {d.evidence}")
    lines.append(f"remedy:   {d.remedy}")
    return "\n".join(lines) + "\n"


def injected_settings(
    config: str, namespace: str | None, read_cluster_config: ConfigReader | None = None
) -> GoSettings | None:
    """The Go settings GoBuildConfig `config` injects (what its plan puts in a container's env)."""
    name, spec = load_config(config, namespace, read_cluster_config)
    plan = build_plan(config_name=name, spec=spec)
    return GoSettings.from_env({var.name: var.value for var in plan.env})


def main(argv: list[str] | None = None, *, read_cluster_config: ConfigReader | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.file == "-" and sys.stdin is not None and sys.stdin.isatty():
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: no log given: name a FILE or pipe the log on standard input", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = (
            None
            if args.config is None
            else injected_settings(args.config, args.namespace, read_cluster_config)
        )
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        text = read_log(args.file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"{PROG}: error: cannot read {args.file}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    result = diagnose(text, settings=settings)
    if args.output == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(result))
    return EXIT_UNKNOWN if result.reason == UNKNOWN else EXIT_DIAGNOSED


if __name__ == "__main__":
    sys.exit(main())
