"""The servers the e2e builds use: a GOPROXY, an OpenSSH sshd serving git, an HTTPS git/proxy server.

They run on this machine and listen on one address, the host's end of the local node's veth pair
(``cluster.address``), on ports the kernel picks; Pods reach them across the node's real networking
(Pod bridge, the node namespace's routes, the veth pair). They stop when their fixture ends.
"""

from .gitrepos import PRIVATE_HOST, PrivateModule, PrivateRepos, build_private_repos, git_config_env
from .goproxy import GoProxy, GoProxyServer, ModuleStore
from .http import RecordingHTTPServer, RequestRecord
from .https import HttpsGitServer, PrivateCA, make_private_ca
from .sshd import SshGitServer

__all__ = [
    "PRIVATE_HOST",
    "GoProxy",
    "GoProxyServer",
    "HttpsGitServer",
    "ModuleStore",
    "PrivateCA",
    "PrivateModule",
    "PrivateRepos",
    "RecordingHTTPServer",
    "RequestRecord",
    "SshGitServer",
    "build_private_repos",
    "git_config_env",
    "make_private_ca",
]
