"""An OpenSSH server serving the private module repositories to user ``git``.

It is the real /usr/sbin/sshd (Debian openssh-server), run as root with its own host key and config
(``-D -e -f``) in a mount namespace of its own (``unshare --mount``), where /etc/passwd has a
``git`` user (uid 4001, login shell git-shell, as on a git hosting server) so nothing is added to
this machine's users, the repositories sit at /srv/git and the privilege separation directory
/run/sshd is a private tmpfs. A clone URL is ``ssh://git@ADDRESS:PORT/srv/git/team/secretlib.git``;
only the client key generated here is authorised, and StrictModes stays on. It listens on one
address (``cluster.address`` in the tests, which the node's Pods reach).

``known_hosts_line`` is the line an ssh client needs for StrictHostKeyChecking=yes, and
``secret_data()`` the data of a ``kubernetes.io/ssh-auth`` Secret (``ssh-privatekey``,
``known_hosts``) as a GoBuildConfig's privateModules.ssh.secretName expects it.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from types import TracebackType

from localcluster.cluster import free_port
from localcluster.processes import Supervisor

from .gitrepos import PrivateRepos, git_config_env

SSHD = "/usr/sbin/sshd"
GIT_UID = 4001
START_TIMEOUT = 10.0


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=30,
        capture_output=True,
    )


class SshGitServer:
    """sshd on `host`:<port> serving `repos` to ``git`` with the generated client key."""

    user = "git"

    def __init__(self, repos: PrivateRepos, state_dir: Path, *, host: str) -> None:
        self.repos = repos
        self.state_dir = state_dir
        self.host = host
        self.port = 0
        self._supervisor = Supervisor(state_dir / "logs")
        state_dir.mkdir(parents=True, exist_ok=True)
        state_dir.chmod(0o755)
        self.config_dir = state_dir / "sshd"  # /srv/sshd in its mount namespace
        self.config_dir.mkdir(exist_ok=True)
        self.config_dir.chmod(0o755)
        _keygen(self.config_dir / "host_ed25519_key", "e2e sshd host key")
        self.client_key = state_dir / "client_ed25519"
        _keygen(self.client_key, "e2e client key")
        (self.config_dir / "authorized_keys").write_bytes(self.client_key.with_suffix(".pub").read_bytes())
        (self.config_dir / "authorized_keys").chmod(0o644)
        self.log_file = self._supervisor.log_file("sshd")

    # -- what clients need

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` of the server."""
        key_type, key, *_ = (self.config_dir / "host_ed25519_key.pub").read_text().split()
        return f"{key_type} {key}"

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_public_key}\n"

    @property
    def client_private_key(self) -> bytes:
        return self.client_key.read_bytes()

    @property
    def url_base(self) -> str:
        """Prefix of every repository URL: ``ssh://git@ADDRESS:PORT/srv/git/``."""
        return f"ssh://{self.user}@{self.host}:{self.port}/srv/git/"

    def repo_url(self, repo: str) -> str:
        return self.url_base + repo

    def secret_data(self, *, known_hosts_key: str = "known_hosts") -> dict[str, bytes]:
        """Data of the kubernetes.io/ssh-auth Secret a GoBuildConfig would name."""
        return {"ssh-privatekey": self.client_private_key, known_hosts_key: self.known_hosts_line.encode()}

    def rewrite_env(self) -> dict[str, str]:
        """GIT_CONFIG_* that send go's https://git.corp.example/... to this server over ssh."""
        return git_config_env({f"url.{self.url_base}.insteadOf": self.repos.instead_of})

    def ssh_command(self, *, key: Path, known_hosts: Path) -> str:
        """A GIT_SSH_COMMAND with strict host key checking and no user or system ssh config."""
        return (
            f"ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o BatchMode=yes"
            f" -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts}"
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # -- lifecycle

    def _write_config(self) -> None:
        etc = self.state_dir / "etc"
        etc.mkdir(exist_ok=True)
        (etc / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/bash\n"
            "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
            f"git:x:{GIT_UID}:{GIT_UID}:git:/srv/git:/usr/bin/git-shell\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (etc / "group").write_text(f"root:x:0:\ngit:x:{GIT_UID}:\nnogroup:x:65534:\n")
        (self.config_dir / "sshd_config").write_text(
            f"ListenAddress {self.host}:{self.port}\n"
            "HostKey /srv/sshd/host_ed25519_key\n"
            "PidFile none\n"
            "UsePAM no\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "AuthorizedKeysFile /srv/sshd/authorized_keys\n"
            "StrictModes yes\n"
            "AllowUsers git\n"
            "PermitRootLogin no\n"
            "AllowTcpForwarding no\n"
            "X11Forwarding no\n"
            "PrintMotd no\n"
            "LogLevel VERBOSE\n"
            # the repositories belong to root; git would otherwise refuse them as "dubious ownership"
            "SetEnv GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0=*\n"
        )

    def _command(self) -> list[str]:
        """sshd in a private mount namespace: our passwd/group, /srv/{sshd,git}, a tmpfs /run."""
        etc = self.state_dir / "etc"
        q = shlex.quote
        script = " && ".join(
            [
                "mount -t tmpfs -o mode=0755 e2e-srv /srv",
                "mkdir /srv/sshd /srv/git",
                f"mount --bind {q(str(self.config_dir))} /srv/sshd",
                f"mount --bind -o ro {q(str(self.repos.root))} /srv/git",
                f"mount --bind {q(str(etc / 'passwd'))} /etc/passwd",
                f"mount --bind {q(str(etc / 'group'))} /etc/group",
                "mount -t tmpfs -o mode=0755 e2e-run /run",
                "mkdir -m 0755 /run/sshd",
                f"exec {SSHD} -D -e -f /srv/sshd/sshd_config",
            ]
        )
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]

    def start(self) -> None:
        last_log = ""
        for _attempt in range(3):
            self.port = free_port(self.host)
            self._write_config()
            process = self._supervisor.spawn(
                "sshd", self._command(), env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                last_log = self.log()
                if f"Server listening on {self.host} port {self.port}" in last_log:
                    return
                if process.poll() is not None:
                    break
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"sshd did not start:\n{last_log}")

    def stop(self) -> None:
        self._supervisor.stop()

    def __enter__(self) -> SshGitServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
