"""Tiers 2 to 5, the outcomes that are often the consequence of a cause: an unknown revision or module,
a go.mod out of step, a missing go.sum entry, and last "lookup disabled", nearly always an offline
retry; then Unknown, which no rule finds."""

from __future__ import annotations

from typing import Final

from gobuild_operator.api.status.reasons import ReasonName
from gobuild_operator.core.diagnosis.reasons.entry import Reason, Rule

OUTCOMES: Final[tuple[Reason, ...]] = (
    Reason(
        ReasonName.UnknownRevision,
        tier=2,
        summary="The module exists but the requested version, tag, branch or commit does not.",
        remedy=(
            "Build change: fix the version in go.mod or the `go get` argument (was the tag pushed? was it "
            "deleted?); `go list -m -versions MODULE` shows what exists. For a private module make sure "
            "spec.goprivate covers it, so go asks the repository rather than a proxy with a stale view."
        ),
        rules=(
            Rule(
                ("unknown revision", "couldn't find remote ref", "no matching versions for query"),
                in_proxy_detail=True,
            ),
            Rule(("reference is not a tree", "did not match any file(s) known to git")),
        ),
    ),
    Reason(
        ReasonName.ModulePathMismatch,
        tier=2,
        summary=(
            "A module's go.mod declares another path than the one it was required as (a renamed module, "
            "a fork, or a case mismatch)."
        ),
        remedy=(
            "Build change: require and import the module by the path its go.mod declares; a fork used "
            "under the original path needs `replace ORIGINAL => FORK VERSION` in go.mod."
        ),
        rules=(Rule(("module declares its path as",)),),
    ),
    Reason(
        ReasonName.ModuleNotFound,
        tier=3,
        summary="The proxy or git server says the module does not exist (404/410, repository not found).",
        remedy=(
            "Check the module path in go.mod and the imports. A private module must be in spec.goprivate "
            "(or its host in spec.privateModules.ssh.hosts) so go fetches it directly instead of asking a "
            "public proxy, which answers 404/410 for what it cannot see; if another proxy has it, add it "
            "to spec.goproxy (spec.proxyFallback: OnNotFound moves on after a 404/410)."
        ),
        rules=(
            Rule((": 404 ", ": 410 "), r"(?:reading \S+|unexpected status \(\S+\)): (?:404|410) "),
            Rule(("' not found",), r"[Rr]epository '[^'\n]*' not found"),
            Rule(
                (
                    "does not appear to be a git repository",
                    "Repository not found",
                    "The project you were looking for could not be found",
                    "no go-import meta tags",
                )
            ),
            Rule(("reading file://",), r"reading file://\S+: no such file or directory"),
        ),
    ),
    Reason(
        ReasonName.GoModInGoPath,
        tier=4,
        summary="The module sits in GOPATH itself, where go ignores (or refuses) its go.mod.",
        remedy=(
            "Build change: build the module outside GOPATH, e.g. `WORKDIR /src` before copying go.mod in a "
            "Dockerfile (golang images use GOPATH=/go as their working directory), or the container's "
            "workingDir."
        ),
        rules=(Rule(("ignoring go.mod in $GOPATH", "$GOPATH/go.mod exists but should not")),),
    ),
    Reason(
        ReasonName.NoGoMod,
        # Before MissingGoSum: "no required module provides package X: go.mod file not found" is this.
        tier=4,
        summary="go ran outside a module: no go.mod in the working directory or any parent.",
        remedy=(
            "Build change: run go in the module's directory (the container's workingDir, or a `cd` in the "
            "script), or create go.mod with `go mod init`."
        ),
        rules=(
            Rule(
                (
                    "go.mod file not found in current directory or any parent directory",
                    "cannot find main module",
                    "does not contain main module",
                    "outside main module or its selected dependencies",
                    "go: no modules specified",
                    "modules disabled by GO111MODULE=off",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.InconsistentVendoring,
        tier=4,
        summary="vendor/modules.txt does not match go.mod, and go builds from vendor/.",
        remedy=(
            "Build change: run `go mod vendor` and commit vendor/; or build without it with "
            'spec.goflags: ["-mod=mod"] (or -mod=readonly), which downloads the modules instead.'
        ),
        rules=(Rule(("inconsistent vendoring",)),),
    ),
    Reason(
        ReasonName.GoModUpdateNeeded,
        tier=4,
        summary=(
            "go.mod does not list what the code needs (a missing requirement, or a version a dependency "
            "needs), and the build may not update it (-mod=readonly)."
        ),
        remedy=(
            "Build change: run `go mod tidy` and commit go.mod and go.sum; or let the build update them "
            'with spec.goflags: ["-mod=mod"].'
        ),
        rules=(
            Rule(
                (
                    "updates to go.mod needed",
                    "no required module provides package",
                    "import lookup disabled by -mod=readonly",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.MissingGoSum,
        tier=4,
        summary=(
            "go.sum (or go.mod) lacks an entry the build needs, and the build may not add it (-mod=readonly)."
        ),
        remedy=(
            "Build change: run `go mod tidy` and commit go.mod and go.sum; or let the build update them "
            'with spec.goflags: ["-mod=mod"].'
        ),
        rules=(Rule(("missing go.sum entry", "updates to go.sum needed")),),
    ),
    Reason(
        ReasonName.LookupDisabled,
        tier=5,
        summary="go had to download a module but downloads were disabled (GOPROXY=off, or -mod=vendor).",
        remedy=(
            'Set spec.goproxy to reachable proxies instead of "off" (a GOPROXY the workload sets itself '
            "wins unless spec.overrideEnv); with -mod=vendor in spec.goflags or the build, run `go mod "
            "vendor`. If the log shows an earlier failure that made the build retry offline, fix that one."
        ),
        rules=(
            Rule(
                (
                    "lookup disabled by GOPROXY=off",
                    "lookup disabled by -mod=vendor",
                    "lookup disabled by GOFLAGS=-mod=vendor",
                )
            ),
        ),
    ),
    Reason(
        ReasonName.Unknown,
        tier=None,
        summary="No known Go module download failure was found in the log.",
        remedy=(
            "Read the first `go:` error in the log; if it is a download failure this classifier should "
            "know, report it together with the log."
        ),
    ),
)
