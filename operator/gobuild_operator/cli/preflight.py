"""`python -m gobuild_operator preflight --config NAME [-n NS] [DIR|go.mod] [-o table|json]
[--timeout S] [--image IMAGE]`, also `kubectl gobuild preflight`.

Says whether a project's modules will download with a GoBuildConfig before any build runs, and
why not. The routes come from the config alone (core/preflight: which GOPROXY entry, direct or
off, which GOPRIVATE/GONOPROXY/GONOSUMDB pattern matched, whether the checksum database is
consulted, which credential applies); the outcomes from real go, run in the cluster in a
short-lived Job opted into the config, so it gets exactly what a build gets (the webhook's
settings, credentials, CA, proxies and cache) and asks exactly the servers a build would. The Job,
its ConfigMap (go.mod, go.sum, the module list) and its Pod are deleted at the end (and by the
Job's ttlSecondsAfterFinished if this command is killed). Secrets are never read: the credential
column names what the config mounts, and URLs are printed without their userinfo.

Exit status: 0 every module downloads, 1 a module or the project would fail (or the Job could
not run), 2 a usage, file, config or cluster error.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any, Final

from gobuild_operator.cli.check import ConfigReader, JobRunner, UsageError, load_config
from gobuild_operator.core.preflight import job as jobs
from gobuild_operator.core.preflight.gomod import (
    MAX_GO_MOD,
    MAX_GO_SUM,
    GoModError,
    parse_go_mod,
    parse_go_sum,
)
from gobuild_operator.core.preflight.output import parse_output
from gobuild_operator.core.preflight.report import (
    FAILED,
    Check,
    Outcome,
    Report,
    downloads,
    from_spec,
    git_probes,
    merge,
    not_started,
    plan,
)
from gobuild_operator.redact import redact_text

PROG: Final = "python -m gobuild_operator preflight"
EXIT_OK: Final = 0
EXIT_FAILS: Final = 1
EXIT_USAGE: Final = 2
DEFAULT_TIMEOUT: Final = 300


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Will this go.mod download with a GoBuildConfig? Runs real go in a short-lived Job "
        "opted into the config and prints, per module, the route, the credential and the outcome "
        "with the reason and remedy.",
        epilog="exit status: 0 every module downloads, 1 something would fail, "
        "2 usage, file, config or cluster error",
    )
    parser.add_argument(
        "project",
        nargs="?",
        default=".",
        metavar="DIR|go.mod",
        help="the project's directory or its go.mod (go.sum is read beside it); default: .",
    )
    parser.add_argument(
        "--config", required=True, metavar="NAME", help="the GoBuildConfig in the cluster to run with"
    )
    parser.add_argument(
        "-n", "--namespace", default=None, help="the config's namespace (default: the kube context's)"
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="default: table")
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help="seconds the Job may run, scheduling and image pull included (default: %(default)s)",
    )
    parser.add_argument(
        "--image",
        default=jobs.DEFAULT_IMAGE,
        help="the Go toolchain image the Job runs: the one your builds use (default: %(default)s)",
    )
    return parser


def main(
    argv: list[str] | None = None,
    *,
    prog: str = PROG,
    read_config: ConfigReader | None = None,
    run_job: JobRunner | None = None,
) -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        report = run(args, read_config=read_config, run_job=run_job)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(render_json(report) if args.output == "json" else render_table(report))
    return EXIT_FAILS if report.failed else EXIT_OK


def read_project(project: str) -> tuple[str, str]:
    """(go.mod text, go.sum text or "") of DIR or DIR/go.mod."""
    path = Path(project)
    go_mod = path / "go.mod" if path.is_dir() else path
    go_sum = go_mod.with_name("go.sum")
    try:
        if go_mod.stat().st_size > MAX_GO_MOD:
            raise UsageError(f"{go_mod} is larger than {MAX_GO_MOD} bytes")
        mod_text = go_mod.read_text(encoding="utf-8")
        sum_text = ""
        if go_sum.is_file():
            if go_sum.stat().st_size > MAX_GO_SUM:
                raise UsageError(f"{go_sum} is larger than {MAX_GO_SUM} bytes")
            sum_text = go_sum.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename or go_mod}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{go_mod} or {go_sum} is not UTF-8") from None
    return mod_text, sum_text


def run(
    args: argparse.Namespace, *, read_config: ConfigReader | None = None, run_job: JobRunner | None = None
) -> Report:
    if "/" in args.config or Path(args.config).suffix in (".yaml", ".yml", ".json"):
        raise UsageError("preflight runs in the cluster: give --config NAME of a GoBuildConfig, not a file")
    if args.timeout < 10:
        raise UsageError("--timeout must be at least 10 seconds")
    mod_text, sum_text = read_project(args.project)
    try:
        gomod = parse_go_mod(mod_text)
        gosum = parse_go_sum(sum_text)
    except GoModError as exc:
        raise UsageError(str(exc)) from None
    logging.getLogger("kubernetes_asyncio").setLevel(logging.ERROR)
    try:
        from gobuild_operator.k8s.commands import preflight as cluster
    except ImportError as exc:  # pragma: no cover - the kubernetes client is a dependency
        raise UsageError(f"cannot reach the cluster: {exc}") from None
    try:
        namespace = args.namespace or cluster.default_namespace()
    except Exception as exc:
        raise UsageError(f"cannot reach the cluster: {exc}") from None
    try:
        name, spec = load_config(args.config, namespace, read_config)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    env, credentials = from_spec(name, spec, namespace=namespace)
    planned = plan(gomod, gosum, env=env, credentials=credentials)
    job, config_map = jobs.objects(
        name=f"gobuild-preflight-{secrets.token_hex(3)}",
        namespace=namespace,
        config=name,
        image=args.image,
        go_mod=mod_text,
        go_sum=sum_text,
        modules=downloads(gomod),
        timeout_seconds=args.timeout,
        repos=git_probes(planned),
    )
    log, injected, pod, stuck = (run_job or _run_in_cluster)(job, config_map, args.timeout + 30)
    if stuck:
        report = not_started(planned, f"pod {pod}: {stuck}")
    else:
        report = merge(gomod, gosum, parse_output(log), env=env, credentials=credentials)
    if injected != name:
        got = f"GoBuildConfig {injected}" if injected else "no GoBuildConfig"
        summary = (
            f"the preflight Pod got {got}, not {name}: is the operator's webhook running, and is "
            f"the namespace {namespace} not labelled gobuild.dev/injection=disabled?"
        )
        check = Check("injection", Outcome(FAILED, summary=summary), detail=f"pod {pod}")
        report = Report(**{**report.__dict__, "checks": (check, *report.checks)})
    return report


def _default_namespace() -> str:
    from gobuild_operator.k8s.gobuildconfigs import current_namespace

    return current_namespace()


def _run_in_cluster(
    job: dict[str, Any], config_map: dict[str, Any], timeout: float
) -> tuple[str, str, str, str]:
    try:
        from gobuild_operator.k8s.commands import preflight as cluster
    except ImportError as exc:  # pragma: no cover - the kubernetes client is a dependency
        raise UsageError(f"cannot reach the cluster: {exc}") from None
    try:
        ran = cluster.run(job, config_map, timeout=timeout)
    except cluster.NoCluster as exc:
        raise UsageError(f"cannot reach the cluster: {exc}") from None
    except cluster.RunError as exc:
        raise UsageError(str(exc)) from None
    return ran.log, ran.injected, ran.pod, ran.message


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


_COLUMNS: Final = ("MODULE", "VERSION", "ROUTE", "PATTERN", "SUMDB", "CREDENTIAL", "OUTCOME")


def _key(outcome: Outcome) -> tuple[str, str, str]:
    return (outcome.reason, outcome.summary, outcome.remedy)


def render_table(report: Report) -> str:
    """A kubectl-style table, then each failure's reason, remedy and evidence."""
    rows = [_COLUMNS]
    for row in report.rows:
        route = row.route
        # GOPRIVATE sends a module direct and keeps it from the checksum database: named once
        pattern = ", ".join(dict.fromkeys(p for p in (route.noproxy, route.nosumdb) if p)) or "-"
        outcome = (
            row.outcome.status if not row.outcome.reason else f"{row.outcome.status}: {row.outcome.reason}"
        )
        rows.append(
            (
                route.path,
                route.version,
                redact_text(route.via),
                pattern,
                route.sumdb,
                route.credential,
                outcome,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.append("")
    lines.append(
        f"module {report.module}: go {report.go or '(none)'}"
        + (f", toolchain {report.toolchain}" if report.toolchain else "")
        + (f"; the Job ran {report.go_version}" if report.go_version else "")
    )
    for check in report.checks:
        text = check.outcome.status + (f": {check.outcome.reason}" if check.outcome.reason else "")
        lines.append(f"{check.name}: {text}" + (f" ({check.detail})" if check.detail else ""))
    # One paragraph per distinct failure: the modules it names, the reason, remedy and first evidence.
    groups: dict[tuple[str, str, str], list[tuple[str, Outcome]]] = {}
    for row in report.rows:
        if row.outcome.status == FAILED:
            what = f"{row.route.module} (route {row.route.kind})"
            groups.setdefault(_key(row.outcome), []).append((what, row.outcome))
    for check in report.checks:
        if check.outcome.status == FAILED and _key(check.outcome) not in groups:
            groups[_key(check.outcome)] = [(check.name, check.outcome)]
    for (reason, _, _), members in groups.items():
        first = members[0][1]
        lines.append("")
        lines.append(f"{reason or 'failed'}: " + ", ".join(what for what, _ in members))
        for label, value in (
            ("summary", first.summary),
            ("remedy", first.remedy),
            ("evidence", first.evidence),
        ):
            if value:
                lines.append(f"  {label}: {value}")
    lines.append("")
    lines.append("preflight: " + ("the build would fail" if report.failed else "every module downloads"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
