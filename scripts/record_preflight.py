#!/usr/bin/env python3
"""Record what the preflight Job prints, from real go, as fixtures for tests/unit/test_preflight.py.

Each case runs the Job's own script (core/preflight/job.py `script`) with the host's go, against
the e2e module proxy (tests/e2e/servers, the recorded real modules) on 127.0.0.1, in a network
namespace of its own (`unshare --net`, only loopback): nothing can reach a public name. Every run
gets a fresh HOME, GOMODCACHE and GOCACHE, GOENV=off, GOSUMDB=off and GOFLAGS=-mod=readonly, as a
build the operator injects would. Stored in tests/fixtures/preflight/<case>/: the go.mod and
go.sum given, env.json (the settings) and job.log (exactly what the script printed).

Regenerate (as root, after `make e2e-setup` recorded the modules):
    PYTHONPATH=devtools:tests:operator .venv/bin/python scripts/record_preflight.py [CASE...]
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "preflight"
CONSUMER = REPO / "tests" / "e2e" / "testdata" / "consumer"
MARKER = "GOBUILD_PREFLIGHT_RECORDING"


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cases(proxy: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    """case -> (go.mod, go.sum, env)."""
    go_mod = (CONSUMER / "go.mod").read_text()
    go_sum = (CONSUMER / "go.sum").read_text()
    env = {"GOPROXY": f"{proxy},off", "GOSUMDB": "off", "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    absent = go_mod.replace(
        "\trsc.io/quote/v3 v3.1.0\n", "\trsc.io/quote/v3 v3.1.0\n\texample.com/absent v1.0.0\n"
    )
    no_sampler = "".join(
        line for line in go_sum.splitlines(True) if not line.startswith("rsc.io/sampler v1.3.0 h1:")
    )
    no_sampler_mod = "".join(
        line for line in go_sum.splitlines(True) if not line.startswith("rsc.io/sampler v1.3.0/go.mod")
    )
    newer = go_mod.replace("go 1.22.0", "go 1.99.0")
    wrong = go_sum.replace(
        "rsc.io/sampler v1.3.0 h1:7uVkIFmeBqHfdjD+gZwtXXI+RODJ2Wc4O7MPEh/QiW4=",
        "rsc.io/sampler v1.3.0 h1:AAAAIFmeBqHfdjD+gZwtXXI+RODJ2Wc4O7MPEh/QiW4=",
    )
    nothing = "".join(
        line for line in go_sum.splitlines(True) if not line.startswith("rsc.io/sampler v1.3.0")
    )
    dead = f"http://127.0.0.1:{refused_port()}"
    return {
        "ok": (go_mod, go_sum, env),
        "private_pattern_goes_direct": (go_mod, go_sum, {**env, "GOPRIVATE": "rsc.io/quote,golang.org/x/*"}),
        "absent_module": (absent, go_sum, env),
        "go_sum_lacks_zip_hash": (go_mod, no_sampler, env),
        "go_sum_lacks_go_mod_hash": (go_mod, no_sampler_mod, env),
        "go_sum_wrong_hash": (go_mod, wrong, env),
        "go_sum_lacks_both_hashes": (go_mod, nothing, env),
        "wrong_proxy": (go_mod, go_sum, {**env, "GOPROXY": f"{dead},off"}),
        "go_newer_than_image": (newer, go_sum, {**env, "GOTOOLCHAIN": "auto"}),
        "go_newer_than_image_local": (newer, go_sum, env),
    }


#: (GOPRIVATE-style globs, module path): what x/mod's MatchPrefixPatterns is asked, for patterns.json.
PATTERN_CASES: list[tuple[str, str]] = [
    ("git.corp.example", "git.corp.example/team/lib"),
    ("git.corp.example", "git.corp.example"),
    ("git.corp.example", "git.corp.example.com/team/lib"),
    ("corp.example", "git.corp.example/x"),
    ("*.corp.example", "git.corp.example/team/lib"),
    ("*.corp.example", "corp.example/team/lib"),
    ("*.corp.example/team", "git.corp.example/team/lib"),
    ("*.corp.example/team", "git.corp.example/other/lib"),
    ("git.corp.example/team/", "git.corp.example/team/lib"),
    ("git.corp.example/*/lib", "git.corp.example/team/lib/v2"),
    ("git.corp.example/*", "git.corp.example"),
    ("golang.org/x/*", "golang.org/x/mod"),
    ("golang.org/x/*", "golang.org/x"),
    ("rsc.io/quote", "rsc.io/quote/v3"),
    ("rsc.io/quote", "rsc.io/quotes"),
    ("*", "anything.example/at/all"),
    ("*/*", "a/b/c"),
    ("*/*", "a"),
    ("git?.corp.example", "git1.corp.example/x"),
    ("git?.corp.example", "git.corp.example/x"),
    ("git[0-9].corp.example", "git7.corp.example/x"),
    ("git[^0-9].corp.example", "git7.corp.example/x"),
    ("git[^0-9].corp.example", "gitx.corp.example/x"),
    ("git[.corp.example", "git[.corp.example/x"),
    ("git\\.corp.example", "git.corp.example/x"),
    ("a.example,,git.corp.example", "git.corp.example/x"),
    (" git.corp.example", "git.corp.example/x"),
    ("a.example,b.example", "b.example/x"),
    ("", "git.corp.example/x"),
    ("GIT.corp.example", "git.corp.example/x"),
    ("*corp*", "git.corp.example/x"),
    ("**.example", "git.corp.example/x"),
]

PATTERN_PROGRAM = """package main

import (
	"encoding/json"
	"os"

	"golang.org/x/mod/module"
)

func main() {
	var cases [][2]string
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := make([]bool, len(cases))
	for i, c := range cases {
		out[i] = module.MatchPrefixPatterns(c[0], c[1])
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
"""


def record_patterns() -> None:
    """patterns.json: x/mod's own answers (v0.41.0 from the module cache; GOPROXY=off)."""
    work = Path(tempfile.mkdtemp(prefix="patterns-"))
    try:
        (work / "go.mod").write_text("module patterns\n\ngo 1.22\n\nrequire golang.org/x/mod v0.41.0\n")
        (work / "main.go").write_text(PATTERN_PROGRAM)
        env = {
            **os.environ,
            "GOPROXY": "off",
            "GOSUMDB": "off",
            "GOFLAGS": "-mod=mod",
            "GOTOOLCHAIN": "local",
            "GOENV": "off",
        }
        done = subprocess.run(
            ["go", "run", "."],
            cwd=work,
            env=env,
            input=json.dumps(PATTERN_CASES),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        answers = json.loads(done.stdout)
        rows = [{"globs": g, "path": p, "match": m} for (g, p), m in zip(PATTERN_CASES, answers, strict=True)]
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "patterns.json").write_text(json.dumps({"x/mod": "v0.41.0", "cases": rows}, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ssh_cases(proxy: str, git: Any, keep: Path) -> dict[str, tuple[str, str, dict[str, str]]]:
    """A private module over SSH (the e2e sshd on loopback; module path 127.0.0.1/srv/git/...), with
    the right known_hosts and with one that lacks the server: what the webhook's ssh settings do."""
    module = git.repos.modules["secretlib"]
    key = keep / "id_ed25519"
    key.write_bytes(git.client_private_key)
    key.chmod(0o600)
    right, wrong = keep / "known_hosts", keep / "known_hosts_other"
    right.write_text(git.known_hosts_line)
    wrong.write_text(f"[192.0.2.1]:22 {git.host_public_key}\n")
    base = {
        "GOPROXY": f"{proxy},off",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=readonly",
        "GOTOOLCHAIN": "local",
        "GOPRIVATE": "127.0.0.1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        **git.rewrite_env(),
    }
    fetch = subprocess.run(
        ["go", "mod", "download", "-json", f"{module.path}@{module.version}"],
        cwd=keep,
        env={
            **os.environ,
            **base,
            "GOPROXY": "direct",
            "GOMODCACHE": str(keep / "modcache"),
            "GOENV": "off",
            "GIT_SSH_COMMAND": git.ssh_command(key=key, known_hosts=right),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(fetch.stdout)
    line = f"{module.path} {module.version}"
    go_mod = (CONSUMER / "go.mod").read_text().replace("require (\n", f"require (\n\t{line}\n", 1)
    go_sum = (CONSUMER / "go.sum").read_text() + f"{line} {got['Sum']}\n{line}/go.mod {got['GoModSum']}\n"
    return {
        "ssh_ok": (go_mod, go_sum, {**base, "GIT_SSH_COMMAND": git.ssh_command(key=key, known_hosts=right)}),
        "ssh_unknown_host_key": (
            go_mod,
            go_sum,
            {**base, "GIT_SSH_COMMAND": git.ssh_command(key=key, known_hosts=wrong)},
        ),
    }


def record(only: list[str]) -> None:
    from e2e.modules import load
    from e2e.servers import GoProxyServer, ModuleStore, SshGitServer, build_private_repos
    from gobuild_operator.core.preflight import report
    from gobuild_operator.core.preflight.gomod import parse_go_mod, parse_go_sum
    from gobuild_operator.core.preflight.job import script
    from gobuild_operator.core.preflight.routes import Credentials, GoEnv

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if not only:
        record_patterns()
    modules = load()
    keep = Path(tempfile.mkdtemp(prefix="preflight-ssh-"))
    with (
        GoProxyServer(ModuleStore(modules.download), host="127.0.0.1") as server,
        SshGitServer(
            build_private_repos(keep / "repos", host="127.0.0.1/srv/git"), keep / "sshd", host="127.0.0.1"
        ) as git,
    ):
        all_cases = cases(server.url) | ssh_cases(server.url, git, keep)
        for case, (go_mod, go_sum, env) in all_cases.items():
            if only and case not in only:
                continue
            work = Path(tempfile.mkdtemp(prefix="preflight-"))
            try:
                mount = work / "mount"
                mount.mkdir()
                (mount / "go.mod").write_text(go_mod)
                (mount / "go.sum").write_text(go_sum)
                parsed = parse_go_mod(go_mod)
                wanted = report.downloads(parsed)
                (mount / "modules").write_text("\n".join(wanted) + "\n")
                planned = report.plan(
                    parsed, parse_go_sum(go_sum), env=GoEnv.from_env(env), credentials=Credentials()
                )
                probes = report.git_probes(planned)
                (mount / "repos").write_text("".join(f"{module} {url}\n" for module, url in probes))
                run_env = {
                    "PATH": f"{Path(shutil.which('go') or '/usr/local/go/bin/go').parent}:/usr/bin:/bin",
                    "HOME": str(work / "home"),
                    "GOMODCACHE": str(work / "modcache"),
                    "GOCACHE": str(work / "gocache"),
                    "GOPATH": str(work / "gopath"),
                    "GOENV": "off",
                    "TMPDIR": str(work),
                    **env,
                }
                done = subprocess.run(
                    ["sh", "-c", script(str(mount), summary_path=str(work / "termination-log"))],
                    env=run_env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=True,
                )
                target = OUT / case
                target.mkdir(parents=True, exist_ok=True)
                (target / "go.mod").write_text(go_mod)
                (target / "go.sum").write_text(go_sum)
                (target / "env.json").write_text(json.dumps(env, indent=2) + "\n")
                (target / "job.log").write_text(done.stdout.replace(str(work), "$WORK"))
                print(f"{case}: {len(done.stdout)} characters", file=sys.stderr)
            finally:
                subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
                shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["chmod", "-R", "u+w", str(keep)], check=False)
    shutil.rmtree(keep, ignore_errors=True)


def main() -> None:
    if os.environ.get(MARKER):
        record(sys.argv[1:])  # case names: record only those
        return
    os.execvp(  # noqa: S606 - re-run this script in a network namespace of its own
        "unshare",
        ["unshare", "--net", "env", f"{MARKER}=1", sys.executable, *sys.argv],
    )


if __name__ == "__main__":
    main()
