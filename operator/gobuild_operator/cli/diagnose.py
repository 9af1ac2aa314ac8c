"""`python -m gobuild_operator diagnose [FILE|-] [--config FILE|NAME] [--output json|text]`.

Classifies a saved build log.

The same classifier the operator runs on failed Pods, offline: a platform engineer pastes the log
of a CI run (or pipes `kubectl logs`) and gets the reason, what it means, the GoBuildConfig field
that fixes it and the line that shows it. With `--config` (the GoBuildConfig the build was injected
with, as `check --config` reads it) the log is also compared with the Go settings that config
injects, which is how an image build that never passed them to its RUN steps shows
(BuildSettingsNotPassed); the operator does the same with the failed container's environment. The
config's GOPROXY list also tells which route failed (a module a mirror lacks shows only as the
error of the `direct` or `off` entry after it), and the remedy is computed from it, as on the status.

The log is read in blocks and classified as it comes (bounded memory whatever its size).
Exit status is scriptable: 0 a known reason, 1 Unknown, 2 a usage or file error.
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
from collections.abc import Iterator
from typing import BinaryIO, Final

from gobuild_operator.cli.check import ConfigReader, UsageError, load_config
from gobuild_operator.cli.options import add_config_options
from gobuild_operator.core.diagnosis.diagnose import UNKNOWN, Diagnosis, diagnose
from gobuild_operator.core.diagnosis.routes import IMAGE_BUILD, POD, GoSettings, Workload
from gobuild_operator.core.plan import build_plan

PROG: Final = "python -m gobuild_operator diagnose"
EXIT_DIAGNOSED: Final = 0
EXIT_UNKNOWN: Final = 1
EXIT_USAGE: Final = 2
#: Bytes read at a time.
CHUNK: Final = 1 << 20
WORKLOADS: Final[dict[str, Workload | None]] = {"auto": None, "pod": POD, "image-build": IMAGE_BUILD}


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
        json_help="json for scripts: keys reason, summary, remedy, evidence, module, host, route",
    )
    parser.add_argument(
        "--workload",
        choices=tuple(WORKLOADS),
        default="auto",
        help="what ran go: a Pod's container (pod), or an image build's RUN step (image-build), where go "
        "asking servers the --config does not name means the Dockerfile did not pass the settings on; "
        "auto (default) decides from the builder's lines in the log",
    )
    return parser


def read_log(file: str) -> str:
    """The log's whole text (tests, small logs); undecodable bytes are replaced."""
    return "".join(log_pieces(file))


def log_pieces(file: str) -> Iterator[str]:
    """The log's text in pieces of about CHUNK characters, decoded as it is read: logs are not always
    clean UTF-8, so undecodable bytes are replaced."""
    if file == "-":
        yield from _decode(sys.stdin.buffer)
        return
    with open(file, "rb") as fh:
        yield from _decode(fh)


def _decode(stream: BinaryIO) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = stream.read(CHUNK)
        if not data:
            break
        yield decoder.decode(data)
    yield decoder.decode(b"", final=True)


def render_text(d: Diagnosis) -> str:
    lines = [f"reason:   {d.reason}", f"summary:  {d.summary}"]
    if d.module:
        lines.append(f"module:   {d.module}")
    if d.host:
        lines.append(f"host:     {d.host}" + (f" ({d.route})" if d.route else ""))
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
        result = diagnose(log_pieces(args.file), settings=settings, workload=WORKLOADS[args.workload])
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"{PROG}: error: cannot read {args.file}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    if args.output == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(result))
    return EXIT_UNKNOWN if result.reason == UNKNOWN else EXIT_DIAGNOSED


if __name__ == "__main__":
    sys.exit(main())
