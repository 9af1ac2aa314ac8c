"""Loopback servers for the e2e tests: a GOPROXY, an sshd and an HTTPS git/proxy server.

All listen on 127.0.0.1 only, on ports the kernel picks, and stop when their fixture ends.
"""

from .gitrepos import PRIVATE_HOST, PrivateModule, PrivateRepos, build_private_repos, git_config_env
from .goproxy import GoProxy, GoProxyServer, ModuleStore
from .http import LoopbackHTTPServer, RequestRecord
from .https import HttpsGitServer, PrivateCA, make_private_ca
from .sshd import SshGitServer

__all__ = [
    "PRIVATE_HOST",
    "GoProxy",
    "GoProxyServer",
    "HttpsGitServer",
    "LoopbackHTTPServer",
    "ModuleStore",
    "PrivateCA",
    "PrivateModule",
    "PrivateRepos",
    "RequestRecord",
    "SshGitServer",
    "build_private_repos",
    "git_config_env",
    "make_private_ca",
]
