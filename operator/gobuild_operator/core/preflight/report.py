"""Routes and outcomes, one row per module, and the project-wide checks: what preflight prints.

`plan` decides, offline, the route of each module go.mod requires (routes.py). `merge` adds what
real go did in the preflight Job: each module's download (`go mod download -json path@version`
run outside the project, so one module's failure never hides another's), the project's own
`go mod download` (which loads the module graph and checks the `go` and `toolchain` lines against
the image's go), and go.sum against the hashes go computed. A failure is classified by the one
classifier (core/diagnosis) with the settings the Job ran with, so the reason, the remedy and the
route are the ones the operator would report for a build that failed the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.diagnosis.diagnose import Diagnosis, diagnose
from gobuild_operator.core.diagnosis.reasons.registry import reason as registry_entry
from gobuild_operator.core.diagnosis.remedies import remedy_for
from gobuild_operator.core.diagnosis.routes import POD, Facts, GoSettings
from gobuild_operator.core.plan import build_plan
from gobuild_operator.core.preflight.gomod import GoMod, GoSum
from gobuild_operator.core.preflight.output import JobOutput, json_objects
from gobuild_operator.core.preflight.routes import NAMES, Credentials, GoEnv, Route, route_for
from gobuild_operator.redact import redact_text

OK: Final = "ok"
FAILED: Final = "failed"
NOT_CHECKED: Final = "not checked"
LOCAL: Final = "local"
#: The reasons preflight gives itself, from comparing go.sum with go's hashes (registry names).
MISSING_GO_SUM: Final = "MissingGoSum"
CHECKSUM_MISMATCH: Final = "ChecksumMismatch"
#: The longest go error text kept as evidence.
MAX_EVIDENCE: Final = 500


@dataclass(frozen=True)
class Outcome:
    status: str  # ok, failed, not checked, local (replaced by a directory)
    reason: str = ""
    summary: str = ""
    remedy: str = ""
    evidence: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "outcome": self.status,
            "reason": self.reason,
            "summary": self.summary,
            "remedy": self.remedy,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Row:
    route: Route
    outcome: Outcome = Outcome(NOT_CHECKED)

    def to_dict(self) -> dict[str, str]:
        return {**self.route.to_dict(), **self.outcome.to_dict()}


@dataclass(frozen=True)
class Check:
    """A project-wide check: the go version, the module graph, the Job itself."""

    name: str
    outcome: Outcome
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "detail": self.detail, **self.outcome.to_dict()}


@dataclass(frozen=True)
class Report:
    module: str
    go: str
    toolchain: str
    env: GoEnv
    rows: tuple[Row, ...]
    checks: tuple[Check, ...] = ()
    go_version: str = ""  # the image's go, from the Job
    ran: bool = False  # merged with a Job's output

    @property
    def failed(self) -> bool:
        return any(r.outcome.status == FAILED for r in self.rows) or any(
            c.outcome.status == FAILED for c in self.checks
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "go": self.go,
            "toolchain": self.toolchain,
            "goVersion": self.go_version,
            "settings": {k: redact_text(v) for k, v in self.env.as_env().items()},
            "ok": self.ran and not self.failed,
            "modules": [row.to_dict() for row in self.rows],
            "checks": [check.to_dict() for check in self.checks],
        }


@dataclass(frozen=True)
class Target:
    """What a required module resolves to: itself, a replacement module, or a local directory."""

    path: str
    version: str
    replaced_by: str = ""
    local: bool = False


def targets(gomod: GoMod) -> list[Target]:
    """go.mod's requirements with go.mod's replacements applied, in go.mod's order."""
    found = []
    for req in gomod.requires:
        rep = gomod.replacement(req.path, req.version)
        if rep is None:
            found.append(Target(req.path, req.version))
        elif rep.local:
            found.append(Target(req.path, req.version, replaced_by=rep.new, local=True))
        else:
            found.append(Target(rep.new, rep.new_version, replaced_by=f"{rep.new}@{rep.new_version}"))
    return found


def downloads(gomod: GoMod) -> list[str]:
    """path@version of every module the Job downloads (the targets that are not directories)."""
    seen: dict[str, None] = {}
    for target in targets(gomod):
        if not target.local:
            seen[f"{target.path}@{target.version}"] = None
    return list(seen)


def repository(path: str) -> str | None:
    """The https URL go hands git for a module path with a VCS qualifier (`host/team/lib.git/sub`:
    https://host/team/lib.git); None without one (go would look the repository up first)."""
    elements = path.split("/")
    for index, element in enumerate(elements):
        if index > 0 and element.endswith(".git") and len(element) > len(".git"):
            return "https://" + "/".join(elements[: index + 1])
    return None


def git_probes(report: Report) -> list[tuple[str, str]]:
    """(module@version, repository URL) of the modules go fetches from git directly."""
    probes = []
    for row in report.rows:
        url = repository(row.route.path) if row.route.kind == "direct" else None
        if url is not None and row.outcome.status != LOCAL:
            probes.append((row.route.module, url))
    return probes


def plan(gomod: GoMod, gosum: GoSum, *, env: GoEnv, credentials: Credentials) -> Report:
    """The routes alone (nothing run yet)."""
    rows = []
    for target in targets(gomod):
        route = route_for(
            target.path,
            target.version,
            env=env,
            credentials=credentials,
            in_go_sum=gosum.has(target.path, target.version),
        )
        route = replace(route, replaced_by=target.replaced_by)
        outcome = (
            Outcome(LOCAL, summary=f"replaced by the directory {target.replaced_by}")
            if target.local
            else Outcome(NOT_CHECKED)
        )
        rows.append(Row(route, outcome))
    return Report(gomod.module, gomod.go, gomod.toolchain, env, tuple(rows))


def from_spec(config_name: str, spec: GoBuildConfigSpec, *, namespace: str) -> tuple[GoEnv, Credentials]:
    """The Go settings the webhook injects for this config (core/injection's plan), and the names
    of the credentials it mounts: the routes before anything runs."""
    injected = build_plan(config_name=config_name, spec=spec, namespace=namespace)
    env = GoEnv.from_env({var.name: var.value for var in injected.env if var.name in NAMES})
    ssh = spec.private_modules.ssh
    netrc = spec.private_modules.netrc
    credentials = Credentials(
        ssh_hosts=tuple(ssh.hosts) if ssh is not None else (),
        ssh_secret=ssh.secret_name if ssh is not None else "",
        netrc_secret=netrc.secret_name if netrc is not None else "",
    )
    return env, credentials


#: The webhook's volumes (constants.py) -> what in the config names what the volume needs.
_VOLUME_FIELDS: Final = {
    c.VOLUME_NETRC: "spec.privateModules.netrc.secretName (a Secret with the key .netrc)",
    c.VOLUME_SSH: "spec.privateModules.ssh.secretName (a Secret with ssh-privatekey and the knownHostsKey)",
    c.VOLUME_CA: "spec.caBundle (its configMapName or secretName, with its key)",
    c.VOLUME_CACHE: "spec.cache (the claim)",
}


def not_started(report: Report, message: str) -> Report:
    """The plan, with why the preflight Pod never started (its volume's Secret or ConfigMap does not
    exist, its image cannot be pulled): a build with this config would not start either."""
    remedy = ""
    for volume, field in _VOLUME_FIELDS.items():
        if f'volume "{volume}"' in message:
            remedy = (
                f"Create what {field} names in this namespace, or correct the name in the "
                "GoBuildConfig: every Pod injected with this config waits for it."
            )
            break
    else:
        if "Image" in message or "image" in message:
            remedy = "Give --image an image the nodes can pull, the one your builds use."
    check = Check(
        "pod",
        Outcome(
            FAILED,
            summary="the preflight Pod never started",
            remedy=remedy,
            evidence=redact_text(message)[:MAX_EVIDENCE],
        ),
    )
    return replace(report, checks=(check,), ran=True)


def job_env(output: JobOutput) -> dict[str, str] | None:
    """The Go settings `go env -json` printed in the Job (what the build really gets)."""
    section = output.section("env")
    if section is None or section.status != 0:
        return None
    objects, _ = json_objects(section.out)
    if not objects:
        return None
    return {k: str(v) for k, v in objects[0].items() if isinstance(v, str)}


def merge(gomod: GoMod, gosum: GoSum, output: JobOutput, *, env: GoEnv, credentials: Credentials) -> Report:
    """The plan with the Job's outcomes; `env` is replaced by the Job's own `go env` when it ran."""
    seen_env = job_env(output)
    if seen_env is not None:
        env = GoEnv.from_env(seen_env)
    report = plan(gomod, gosum, env=env, credentials=credentials)
    settings = GoSettings.from_env(env.as_env())
    go_version = (seen_env or {}).get("GOVERSION", "")
    downloaded: dict[tuple[str, str], dict[str, Any]] = {}
    section = output.section("download")
    if section is not None:
        objects, _ = json_objects(section.out)
        for obj in objects:
            downloaded[(str(obj.get("Path")), str(obj.get("Version")))] = obj
    rows = []
    for row in report.rows:
        if row.outcome.status == LOCAL:
            rows.append(row)
            continue
        got = downloaded.get((row.route.path, row.route.version))
        outcome = _module_outcome(row.route, got, gosum, settings, section is not None)
        probe = output.section(f"git:{row.route.module}")
        error = (got or {}).get("Error")
        if outcome.status == FAILED and isinstance(error, str) and probe is not None and probe.status:
            # git's own words for the same request (go hid them): the classifier ranks them
            outcome = _classified(f"{probe.err}\n{error}", settings, module=row.route.path)
        rows.append(Row(row.route, outcome))
    checks = _checks(gomod, output, settings=settings, go_version=go_version or "?", rows=rows)
    return replace(report, rows=tuple(rows), checks=tuple(checks), go_version=go_version, ran=True)


def _module_outcome(
    route: Route,
    got: Mapping[str, Any] | None,
    gosum: GoSum,
    settings: GoSettings | None,
    ran: bool,
) -> Outcome:
    if got is None:
        return Outcome(NOT_CHECKED, summary="go reported nothing for this module" if ran else "")
    error = got.get("Error")
    if isinstance(error, str) and error:
        return _classified(error, settings, module=route.path)
    key = (route.path, route.version)
    lacking: list[str] = []
    for name, kind, have in (("Sum", "", gosum.zips.get(key)), ("GoModSum", "/go.mod", gosum.mods.get(key))):
        computed = got.get(name)
        if not isinstance(computed, str) or not computed:
            continue
        line = f"{route.path} {route.version}{kind} {computed}"
        if have is not None and have != computed:
            return _explained(
                CHECKSUM_MISMATCH, route, settings, evidence=f"go.sum has {have}, the download is {line}"
            )
        if have is None:
            lacking.append(line)
    if lacking:
        return _explained(MISSING_GO_SUM, route, settings, evidence="go.sum lacks: " + "; ".join(lacking))
    return Outcome(OK)


def _explained(name: str, route: Route, settings: GoSettings | None, *, evidence: str) -> Outcome:
    entry = registry_entry(name)
    facts = Facts(route=route.kind, module=route.path)
    return Outcome(
        FAILED,
        reason=entry.name,
        summary=entry.summary,
        remedy=remedy_for(entry.name, facts, settings=settings, workload=POD),
        evidence=evidence,
    )


def _classified(text: str, settings: GoSettings | None, *, module: str = "") -> Outcome:
    found: Diagnosis = diagnose(text, settings=settings, workload=POD)
    evidence = redact_text(found.evidence or text.strip())[:MAX_EVIDENCE]
    return Outcome(FAILED, found.reason, found.summary, redact_text(found.remedy), evidence)


def _checks(
    gomod: GoMod, output: JobOutput, *, settings: GoSettings | None, go_version: str, rows: Sequence[Row]
) -> list[Check]:
    checks = []
    if not output.complete:
        checks.append(
            Check(
                "job",
                Outcome(FAILED, summary="the preflight Job did not finish its checks (see its log)"),
            )
        )
    build = output.section("build")
    wanted = f"go {gomod.go}" + (f", toolchain {gomod.toolchain}" if gomod.toolchain else "")
    if build is None:
        checks.append(Check("project", Outcome(NOT_CHECKED), detail=wanted))
    elif build.status == 0:
        checks.append(Check("project", Outcome(OK), detail=f"{wanted}; image: {go_version}"))
    else:
        objects, stray = json_objects(build.out)
        errors = [str(o["Error"]) for o in objects if isinstance(o.get("Error"), str)]
        text = "\n".join([build.err, stray, *errors]).strip()
        # go stops the project at the first module it cannot get: when that module's own row knows
        # more (git's words, go.sum), the project says the same
        named = [
            row.outcome for row in rows if row.outcome.status == FAILED and f"{row.route.module}:" in text
        ]
        outcome = named[0] if named else _classified(text, settings)
        checks.append(Check("project", outcome, detail=f"{wanted}; image: {go_version}"))
    return checks
