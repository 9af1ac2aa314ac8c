"""What ARG, ENV and RUN assignments set: a credential kept in the image history
(CredentialInArgOrEnv), a Go setting written in the Dockerfile over the cluster's (HardcodedGoEnv)."""

from __future__ import annotations

import re
from typing import Final

from gobuild_operator.core.dockercheck.build import Build
from gobuild_operator.core.dockercheck.scripts import Script

_CREDENTIAL_WORDS: Final = frozenset(
    {"TOKEN", "PASSWORD", "PASSWD", "PASS", "SECRET", "CREDENTIAL", "CREDENTIALS", "APIKEY", "PAT"}
)

_NOT_A_CREDENTIAL_SUFFIX: Final = frozenset(
    {"FILE", "PATH", "DIR", "ID", "SOCK", "URL", "HOST", "USER", "NAME"}
)

#: http(s)/ftp URLs with any userinfo (tokens go there), any URL with user:password.
_URL_CREDENTIALS = re.compile(r"(?i)\b(?:https?|ftp)://[^/\s@]+@|\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")


def hardcoded_env(build: Build, line: int, name: str, raw: str | None, value: str) -> None:
    """ENV NAME=value of a Go setting the cluster injects."""
    injected = dict(build.settings.go_settings).get(name)
    if (
        injected is not None
        and "$" not in (raw or "")
        and not (build.settings.from_config and value == injected)
    ):
        cluster = f" ({injected})" if build.settings.from_config else ""
        build.add(
            line,
            "HardcodedGoEnv",
            f"ENV {name}={value} overrides the {name} the cluster injects{cluster}: the build "
            "uses this value whatever the GoBuildConfig says",
            f"remove it and declare `ARG {name}` in this stage (or write ENV {name}=${name} after "
            f"the ARG if later stages need it as ENV)",
        )


def hardcoded_assignments(build: Build, line: int, script: Script) -> None:
    """NAME=value in front of go (or exported) in a RUN, for a Go setting the cluster injects."""
    for name, value in script.assigned.items():
        injected = dict(build.settings.go_settings).get(name)
        if (
            injected is not None
            and "$" not in value
            and not (build.settings.from_config and value == injected)
        ):
            build.add(
                line,
                "HardcodedGoEnv",
                f"RUN sets {name}={value} for go, overriding the {name} the cluster injects",
                f"remove the assignment and declare `ARG {name}` in this stage",
            )


def credential(build: Build, line: int, keyword: str, name: str, value: str | None) -> None:
    parts = name.upper().split("_")
    named = (
        any(part in _CREDENTIAL_WORDS for part in parts) or parts[-1] == "KEY" or "APIKEY" in parts
    ) and parts[-1] not in _NOT_A_CREDENTIAL_SUFFIX
    in_url = value is not None and _URL_CREDENTIALS.search(value) is not None
    if not named and not in_url:
        return
    what = f"{keyword} {name}" + (
        " holds a URL with credentials" if in_url and not named else " passes a credential"
    )
    build.add(
        line,
        "CredentialInArgOrEnv",
        f"{what}: ARG and ENV values are kept in the image history (docker history, the image "
        "config), where anyone who can pull the image reads them",
        "remove it and give the build the credential as a secret: `RUN --mount=type=secret,id=netrc,"
        "target=/root/.netrc go mod download` with the builder's --secret, or ssh forwarding with "
        "`RUN --mount=type=ssh`; gobuild-operator passes spec.privateModules that way "
        "(docs/image-builds.md)",
    )
