#!/usr/bin/env python3
"""Record real `go mod download` failures inside image builds (BuildKit, buildah) as classifier fixtures.

Inside an image build go's error reaches the log wrapped by the builder (`#12 4.211 go: ...`,
`ERROR: failed to solve: process "/bin/sh -c go mod download" did not complete successfully`), and
go runs with what the Dockerfile gives its RUN step, not with the builder container's environment.
This script runs real builds that fail that way and stores what the builder printed, exactly, in
tests/fixtures/gofailures/<case>.txt, with a manifest.json entry per case (expected reason, builder
and version, the Dockerfile, the build arguments, and `injected`: the Go settings the build was
given, which the classifier compares the servers go asked with).

The builds:

- BuildKit: buildkitd and buildctl from BuildKit's Go module with the node's runc
  (devtools/localcluster/buildkit.py runs buildkitd), the base image `golang:1.26` from
  devtools/localcluster/images.py given as an OCI-layout named context, RUN steps on the host network;
- buildah (when installed; Debian's 1.28): `buildah bud --isolation chroot --storage-driver vfs
  --network host`, the same base image pulled from a docker-archive. Nothing is recorded for docker
  (legacy builder or buildx): no Docker engine runs on these machines.

Isolation as scripts/record_go_failures.py (whose pieces this reuses): the script re-executes itself
in a private network and mount namespace with only loopback, a DNS server on 127.0.0.1 that answers
`*.corp.invalid` and NXDOMAIN for every other name, so a build that falls back to go's default
proxy.golang.org fails on DNS right away, and nothing leaves the machine. The DNS server listens on
192.0.2.53 (a documentation address put on the namespace's loopback), not 127.0.0.1: BuildKit
replaces a loopback nameserver in resolv.conf with public ones for its RUN steps, as a cluster's
DNS Service address is not. A plain-HTTP GOPROXY at
goproxy.corp.invalid:8080 serves example.com/hello; port 8081 refuses connections.

Regenerate:  sudo .venv/bin/python scripts/record_builder_failures.py   (or as root without sudo)
One case:    ... scripts/record_builder_failures.py --only buildkit_goproxy_not_passed
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "devtools"))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import record_go_failures as gofail  # noqa: E402  (the namespace, DNS and module proxy pieces)

DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "gofailures"
IN_NAMESPACE_MARKER = "BUILDERFAILURES_IN_NAMESPACE"
GENERATOR = "scripts/record_builder_failures.py"
REGENERATE = f"sudo .venv/bin/python {GENERATOR}"

BASE_IMAGE = "golang-1.26"  # devtools/localcluster/images.py
FROM = "golang:1.26"
PROXY_PORT = 8080
CLOSED_PORT = gofail.PORT_CLOSED
PROXY = f"http://goproxy.{gofail.DOMAIN}:{PROXY_PORT}"
PRIVATE_HOST = f"git.{gofail.DOMAIN}"
PRIVATE_MODULE = f"{PRIVATE_HOST}/team/lib"
BUILD_TIMEOUT = 300
DNS_ADDRESS = "192.0.2.53"

DECLARED = "ARG GOPROXY GOSUMDB GOPRIVATE GOFLAGS\n"


def dockerfile(*, declare: str) -> str:
    """The Dockerfile every case builds; `declare` is the ARG line (or nothing)."""
    return (
        f"FROM {FROM} AS build\n{declare}WORKDIR /src\nCOPY go.mod go.sum* ./\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\nCOPY . .\n"
    )


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    reason: str
    how: str
    declare: str  # the Dockerfile's ARG line
    build_args: Mapping[str, str]  # what the webhook passes (the injected values)
    requires: Mapping[str, str]


def build_cases() -> list[Case]:
    injected = {"GOPROXY": PROXY, "GOSUMDB": "off", "GOFLAGS": "-mod=mod"}
    return [
        Case(
            "goproxy_not_passed",
            "BuildSettingsNotPassed",
            "the Dockerfile declares no ARG GOPROXY, so RUN go mod download ignores the GOPROXY build "
            "argument and asks go's default proxy.golang.org, which does not resolve here (as in a "
            "cluster whose DNS answers only cluster names)",
            "",
            injected,
            {gofail.MODULE: "v1.0.0"},
        ),
        Case(
            "goprivate_not_passed",
            "BuildSettingsNotPassed",
            "the Dockerfile declares ARG GOPROXY but not GOPRIVATE: go asks the proxy for the private "
            f"module {PRIVATE_MODULE}, which answers 404",
            "ARG GOPROXY GOSUMDB GOFLAGS\n",
            {**injected, "GOPRIVATE": PRIVATE_HOST},
            {PRIVATE_MODULE: "v1.0.0"},
        ),
        Case(
            "proxy_connection_refused",
            "ProxyUnreachable",
            "the Dockerfile declares the settings; the GOPROXY they name refuses connections",
            DECLARED,
            {**injected, "GOPROXY": f"http://goproxy.{gofail.DOMAIN}:{CLOSED_PORT}"},
            {gofail.MODULE: "v1.0.0"},
        ),
        Case(
            "module_not_found",
            "ModuleNotFound",
            "the Dockerfile declares the settings; the proxy has no example.com/nosuch (404)",
            DECLARED,
            injected,
            {"example.com/nosuch": "v1.0.0"},
        ),
    ]


# --------------------------------------------------------------------------------------------
# Servers and inputs


class DNSServer(gofail.DNSServer):
    """record_go_failures' DNS server (*.corp.invalid -> 127.0.0.1, NXDOMAIN otherwise) on DNS_ADDRESS."""

    def __init__(self) -> None:  # binds elsewhere than the parent; the same answers
        import socket
        import threading

        gofail.run(["ip", "addr", "add", f"{DNS_ADDRESS}/32", "dev", "lo"])
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((DNS_ADDRESS, 53))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        (gofail.STATE / "resolv.conf").write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:1 attempts:1\n")


class ProxyHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the builds' output is what is recorded."""


@contextlib.contextmanager
def module_proxy(root: Path) -> Iterator[None]:
    gofail.build_module_proxy(root)
    handler = functools.partial(ProxyHandler, directory=str(root))
    server = gofail.QuietThreadingHTTPServer((gofail.LOOPBACK, PROXY_PORT), handler)
    gofail.serve_in_thread(server)
    try:
        yield
    finally:
        server.shutdown()


def write_context(directory: Path, case: Case) -> None:
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(dockerfile(declare=case.declare))
    (directory / "go.mod").write_text(gofail.go_mod_text(dict(case.requires)))
    (directory / "main.go").write_text(gofail.main_go_text(dict(case.requires)))


@dataclasses.dataclass(frozen=True)
class Recorded:
    output: str
    exit_code: int
    seconds: float


def _run(argv: list[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Recorded:
    started = time.monotonic()
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    output = proc.stdout.decode("utf-8", "replace")
    return Recorded(output, proc.returncode, round(time.monotonic() - started, 1))


# --------------------------------------------------------------------------------------------
# Builders


class Builder:
    name: str
    version: str

    def build(self, context: Path, case: Case) -> Recorded:
        raise NotImplementedError

    def describe(self, case: Case) -> str:
        raise NotImplementedError


class BuildKitBuilder(Builder):
    name = "buildkit"

    def __init__(self, kit: Any, layout: Path, digest: str) -> None:
        self.kit, self.layout, self.digest = kit, layout, digest
        version = subprocess.run([str(kit.buildctl), "--version"], capture_output=True, text=True, check=True)
        self.version = version.stdout.strip()

    def argv(self, context: Path, case: Case) -> list[str]:
        return [
            str(self.kit.buildctl),
            f"--addr={self.kit.address}",
            "build",
            *(f"--opt=build-arg:{k}={v}" for k, v in case.build_args.items()),
            "--progress=plain",
            "--frontend=dockerfile.v0",
            f"--local=context={context}",
            f"--local=dockerfile={context}",
            f"--oci-layout=golang={self.layout}",
            f"--opt=context:{FROM}=oci-layout://golang@{self.digest}",
        ]

    def build(self, context: Path, case: Case) -> Recorded:
        return _run(self.argv(context, case))

    def describe(self, case: Case) -> str:
        return " ".join(self.argv(Path("CONTEXT"), case)[3:]).replace(str(self.layout), "LAYOUT")


class BuildahBuilder(Builder):
    name = "buildah"

    def __init__(self, storage: Path, archive: Path) -> None:
        self.storage = storage
        self.global_flags = ["--storage-driver", "vfs", "--root", str(storage / "root"),
                             "--runroot", str(storage / "run")]  # fmt: skip
        version = subprocess.run(["buildah", "--version"], capture_output=True, text=True, check=True)
        self.version = version.stdout.strip()
        pulled = _run(["buildah", *self.global_flags, "pull", "--quiet", f"docker-archive:{archive}"])
        if pulled.exit_code != 0:
            raise RuntimeError(f"buildah pull failed:\n{pulled.output}")
        image_id = pulled.output.strip().splitlines()[-1]
        subprocess.run(
            ["buildah", *self.global_flags, "tag", image_id, FROM], check=True, capture_output=True
        )

    def argv(self, context: Path, case: Case) -> list[str]:
        # Valueless, as the webhook adds them: buildah takes each value from its environment.
        return [
            "buildah",
            *self.global_flags,
            "bud",
            *(f"--build-arg={k}" for k in case.build_args),
            "--isolation=chroot",
            "--network=host",
            "--pull=never",
            str(context),
        ]

    def build(self, context: Path, case: Case) -> Recorded:
        return _run(self.argv(context, case), cwd=context, env={**os.environ, **case.build_args})

    def describe(self, case: Case) -> str:
        return " ".join(self.argv(Path("CONTEXT"), case)[len(self.global_flags) + 1 :])


@contextlib.contextmanager
def builders(work: Path, wanted: set[str]) -> Iterator[list[Builder]]:
    from localcluster import buildkit, images

    archive = images.ensure_images([BASE_IMAGE])[BASE_IMAGE]
    found: list[Builder] = []
    with contextlib.ExitStack() as stack:
        if "buildkit" in wanted:
            layout = work / "layout"
            digest = images.write_oci_layout(archive, layout)
            kit = stack.enter_context(buildkit.running())
            found.append(BuildKitBuilder(kit, layout, digest))
        if "buildah" in wanted:
            if shutil.which("buildah") is None:
                print("buildah is not installed (apt-get install buildah): its cases are skipped")
            else:
                found.append(BuildahBuilder(work / "buildah", archive.path))
        yield found


# --------------------------------------------------------------------------------------------
# Recording


def _redact(output: str, work: Path) -> str:
    """Temporary paths of this run are not part of what a builder says about the failure."""
    return re.sub(re.escape(str(work)) + r"/[^\s\"']*", "CONTEXT", output)


def record(out: Path, only: set[str], wanted: set[str]) -> int:
    manifest_path = out / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    cases_out: dict[str, Any] = manifest["cases"]
    # On disk, not the namespace's small /srv tmpfs: a base image layout and buildah's vfs copies.
    work = Path(tempfile.mkdtemp(prefix="builderfailures-", dir="/var/tmp"))
    try:
        failures = _record_into(out, cases_out, work, only, wanted)
    finally:
        gofail.wipe(work)
    manifest["cases"] = dict(sorted(cases_out.items()))
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return 1 if failures else 0


def _record_into(out: Path, cases_out: dict[str, Any], work: Path, only: set[str], wanted: set[str]) -> int:
    failures = 0
    with module_proxy(work / "proxy"), builders(work, wanted) as found:
        for builder in found:
            for case in build_cases():
                name = f"{builder.name}_{case.name}"
                if only and name not in only:
                    continue
                context = work / "contexts" / name
                write_context(context, case)
                result = builder.build(context, case)
                ok = result.exit_code != 0 and "go: " in result.output
                print(f"{name:40} {case.reason:24} exit={result.exit_code:<4} {result.seconds:5.1f}s  "
                      f"{'ok' if ok else 'DID NOT FAIL AS EXPECTED'}")  # fmt: skip
                if not ok:
                    failures += 1
                    print(result.output[-6000:], file=sys.stderr)
                    continue
                (out / f"{name}.txt").write_text(_redact(result.output, work))
                cases_out[name] = {
                    "reason": case.reason,
                    "how": case.how,
                    "builder": builder.version,
                    "command": builder.describe(case),
                    "dockerfile": dockerfile(declare=case.declare),
                    "go_mod_requires": dict(case.requires),
                    "injected": dict(case.build_args),
                    "exit_code": result.exit_code,
                    "generator": GENERATOR,
                    "regenerate": REGENERATE,
                    "provoked": "real build, output as the builder printed it (temporary paths: CONTEXT)",
                }
    return failures


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="fixture directory (default: %(default)s)"
    )
    parser.add_argument("--only", action="append", default=[], metavar="CASE", help="record only this case")
    parser.add_argument(
        "--builder", action="append", choices=("buildkit", "buildah"), default=[], help="default: both"
    )
    args = parser.parse_args(args_list)
    if os.environ.get(IN_NAMESPACE_MARKER) != "1":
        gofail.reexec_in_namespace(
            args_list,
            script=__file__,
            marker=IN_NAMESPACE_MARKER,
            needs="a private network namespace, buildkitd, mounts",
        )
    gofail.prepare_namespace()
    dns = DNSServer()
    try:
        return record(args.out.resolve(), set(args.only), set(args.builder or ("buildkit", "buildah")))
    finally:
        dns.close()


if __name__ == "__main__":
    sys.exit(main())
