"""Bare git repositories holding private Go modules, served by the sshd and HTTPS servers.

Module paths end in ``.git`` (``git.corp.example/team/secretlib.git``). That VCS qualifier is how go
finds a repository without DNS: for a path without one, go first asks
``https://git.corp.example/team/secretlib?go-get=1`` for a ``<meta name="go-import">`` tag, and no
name resolves here. With the qualifier go skips that lookup and runs ``git ls-remote
https://git.corp.example/team/secretlib.git`` directly, which a git ``url.<base>.insteadOf`` rewrite
(GIT_CONFIG_COUNT/KEY/VALUE in the environment) turns into ssh://git@127.0.0.1:PORT/srv/git/... or
https://127.0.0.1:PORT/git/... . Set GOPRIVATE=git.corp.example (and GOPROXY=direct or a list that
GONOPROXY bypasses) so go neither asks a proxy nor the checksum database about them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PRIVATE_HOST = "git.corp.example"
_GIT_TIMEOUT = 30
_FIXED_DATE = "2024-01-02T03:04:05Z"


@dataclass(frozen=True)
class PrivateModule:
    path: str  # module path, e.g. git.corp.example/team/secretlib.git
    repo: str  # repository below the repos root, e.g. team/secretlib.git
    version: str  # the tag, e.g. v1.0.0
    package: str  # Go package name
    message: str  # what <package>.Message() returns, so a build can prove which code it got

    def consumer_files(self, *, consumer: str = "e2e.example/private-consumer") -> dict[str, str]:
        """go.mod and main.go of a program that needs this module (no go.sum: go writes it)."""
        return {
            "go.mod": f"module {consumer}\n\ngo 1.22.0\n\nrequire {self.path} {self.version}\n",
            "main.go": (
                f'package main\n\nimport (\n\t"fmt"\n\n\t"{self.path}"\n)\n\n'
                f"func main() {{ fmt.Println({self.package}.Message()) }}\n"
            ),
        }

    def write_consumer(self, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for name, content in self.consumer_files().items():
            (dest / name).write_text(content)
        return dest


@dataclass(frozen=True)
class PrivateRepos:
    root: Path  # holds <repo> bare repositories
    modules: Mapping[str, PrivateModule]  # by package name
    host: str = PRIVATE_HOST

    @property
    def instead_of(self) -> str:
        """The URL prefix go hands git, which the insteadOf rewrite replaces."""
        return f"https://{self.host}/"


def _git(*args: str, cwd: Path, env: Mapping[str, str]) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, env=dict(env), check=True, timeout=_GIT_TIMEOUT, capture_output=True
    )


def build_private_repos(root: Path, *, host: str = PRIVATE_HOST) -> PrivateRepos:
    """Create the bare repositories under `root` (world-readable, owned by root)."""
    modules = {
        "secretlib": PrivateModule(
            f"{host}/team/secretlib.git",
            "team/secretlib.git",
            "v1.0.0",
            "secretlib",
            "secretlib v1.0.0 over ssh",
        ),
        "tokenlib": PrivateModule(
            f"{host}/team/tokenlib.git",
            "team/tokenlib.git",
            "v1.0.0",
            "tokenlib",
            "tokenlib v1.0.0 over https",
        ),
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@corp.example",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@corp.example",
        "GIT_AUTHOR_DATE": _FIXED_DATE,
        "GIT_COMMITTER_DATE": _FIXED_DATE,
    }
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    work = root / ".work"
    for module in modules.values():
        tree = work / module.package
        tree.mkdir(parents=True)
        (tree / "go.mod").write_text(f"module {module.path}\n\ngo 1.22\n")
        (tree / f"{module.package}.go").write_text(
            f"// Package {module.package} is a private module served only by the e2e git servers.\n"
            f"package {module.package}\n\n"
            "// Message says which module and transport delivered this code.\n"
            f'func Message() string {{ return "{module.message}" }}\n'
        )
        _git("init", "-q", "-b", "main", cwd=tree, env=env)
        _git("add", ".", cwd=tree, env=env)
        _git("commit", "-q", "-m", f"{module.package} {module.version}", cwd=tree, env=env)
        _git("tag", module.version, cwd=tree, env=env)
        bare = root / module.repo
        bare.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "-q", "--bare", str(tree), str(bare), cwd=root, env=env)
    shutil.rmtree(work)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            Path(dirpath, name).chmod(0o755)
        for name in filenames:
            Path(dirpath, name).chmod(0o644)
    return PrivateRepos(root=root, modules=modules, host=host)


def git_config_env(settings: Mapping[str, str]) -> dict[str, str]:
    """git configuration as GIT_CONFIG_COUNT/KEY_n/VALUE_n variables (how the operator injects it)."""
    env = {"GIT_CONFIG_COUNT": str(len(settings))}
    for index, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env
