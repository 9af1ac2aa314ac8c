"""Env names and GOFLAGS beyond the Go build settings the operator allows are refused unless its
admin allows them; a refused config injects nothing and says why on its status."""

from __future__ import annotations

from typing import Any

import pytest

from gobuild_operator.__main__ import _names
from gobuild_operator.api.configspec import policy
from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.configspec.policy import Policy
from gobuild_operator.api.status.model import GoBuildConfigStatus
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status.compose import SpecView, with_spec
from gobuild_operator.handlers.admission import admit
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

SETTINGS = Settings(operator_namespace="gobuild-system")

NOW = "2026-01-02T03:04:05Z"


def _problems(spec: dict[str, Any], allowed: Policy | None = None) -> list[str]:
    return policy.problems(parse_spec(spec), allowed or Policy())


#: Names a config once could set, each of which makes builds run code the config chooses.
RUNS_CODE_ENV = (
    "LD_PRELOAD",
    "BASH_ENV",
    "PATH",
    "GIT_CONFIG_PARAMETERS",
    "GIT_SSH_COMMAND",
    "GIT_COMMON_DIR",
    "GOENV",
    "HOME",
    "XDG_CONFIG_HOME",
    "GOTOOLCHAIN",
    "GOWORK",
    "GOROOT",
    "CC",
    "CGO_LDFLAGS",
    "PYTHONPATH",
    "ld_preload",
)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in RUNS_CODE_ENV])
def test_env_names_beyond_the_build_settings_are_refused(name: str) -> None:
    spec = {"env": [{"name": "CGO_ENABLED", "value": "0"}, {"name": name, "value": "/cache/x"}]}
    (problem,) = _problems(spec)
    assert problem.startswith(f"spec.env[1].name: {name} ")
    assert f"--allow-env={name}" in problem
    assert _problems(spec, Policy(allowed_env=frozenset({name}))) == []


@pytest.mark.parametrize(
    ("flag", "name"),
    [
        pytest.param("-toolexec=/cache/evil", "toolexec", id="toolexec"),
        pytest.param("--toolexec=/cache/evil", "toolexec", id="double-dash"),
        pytest.param("-exec=/cache/evil", "exec", id="exec"),
        pytest.param("-overlay=/cache/overlay.json", "overlay", id="overlay"),
        pytest.param("-modfile=/cache/go.mod", "modfile", id="modfile"),
        pytest.param("-gccgoflags=-fplugin=/cache/x.so", "gccgoflags", id="gccgoflags"),
        pytest.param("-ldflags=-extld=/cache/evil", "ldflags", id="ldflags-extld"),
        pytest.param("-ldflags=-extldflags=-fplugin=/x", "ldflags", id="ldflags-extldflags"),
        pytest.param("-ldflags=-extar=/cache/ar", "ldflags", id="ldflags-extar"),
        pytest.param("-gcflags=all=-importcfg=/cache/cfg", "gcflags", id="gcflags-importcfg"),
        pytest.param("-mod=/cache", "mod", id="mod-value"),
        pytest.param("-trimpath=x", "trimpath", id="value-for-a-switch"),
    ],
)
def test_goflags_beyond_the_build_settings_are_refused(flag: str, name: str) -> None:
    spec = {"goflags": ["-mod=mod", flag]}
    (problem,) = _problems(spec)
    assert problem.startswith(f"spec.goflags[1]: -{name}")
    assert f"--allow-goflag={name}" in problem
    assert _problems(spec, Policy(allowed_goflags=frozenset({name}))) == []


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            {
                "goflags": [
                    "-mod=mod",
                    "-modcacherw",
                    "-trimpath",
                    "-ldflags=-s",
                    "-ldflags=-X=main.version=1.2",
                    "-gcflags=all=-N",
                    "-tags=netgo,osusergo",
                    "-buildvcs=false",
                    "-p=4",
                ]
            },
            id="goflags",
        ),
        pytest.param(
            {"env": [{"name": n, "value": "x"} for n in ("CGO_ENABLED", "GOOS", "GOARCH", "GOEXPERIMENT")]},
            id="env",
        ),
    ],
)
def test_settings_that_only_configure_the_build_pass(spec: dict[str, Any]) -> None:
    assert _problems(spec) == []


def test_an_admin_lifts_a_list_with_a_star() -> None:
    spec = {"env": [{"name": "LD_PRELOAD"}, {"name": "PATH"}], "goflags": ["-toolexec=x", "-exec=y"]}
    assert len(_problems(spec, Policy(allowed_env=frozenset({"*"})))) == 2
    assert _problems(spec, Policy(allowed_env=frozenset({"*"}), allowed_goflags=frozenset({"*"}))) == []


HOSTILE = {"env": [{"name": "LD_PRELOAD", "value": "/go/pkg/mod/cache/evil.so"}], "goflags": ["-toolexec=/x"]}


def _store(allowed: Policy | None = None) -> Store:
    store = Store(policy=allowed)
    metadata = {"namespace": "builds", "name": "corp", "uid": "u", "generation": 1}
    store.put_config({"metadata": metadata, "spec": HOSTILE})
    return store


def test_a_refused_config_injects_nothing_and_says_why() -> None:
    store = _store()
    info = store.config(("builds", "corp"))
    assert info is not None
    assert (info.spec, info.reason) == (None, "NotAllowed")
    pod = {
        "metadata": {"name": "b", "annotations": {"gobuild.dev/config": "corp"}},
        "spec": {"containers": [{"name": "go", "image": "golang:1.26"}]},
    }
    result = admit(pod, kind="Pod", namespace="builds", settings=SETTINGS, store=store)
    assert result.obj is None
    assert any("is invalid (see its status)" in w for w in result.warnings)

    view = SpecView(None, generation=1, error=info.error, reason=info.reason)
    valid = cond.get_condition(with_spec(GoBuildConfigStatus(), view, now=NOW).conditions, cond.SPEC_VALID)
    assert valid is not None
    assert (valid.status, valid.reason) == ("False", "NotAllowed")
    assert "spec.env[0].name: LD_PRELOAD" in valid.message
    assert "spec.goflags[0]: -toolexec" in valid.message


def test_the_admin_setting_lets_the_same_config_inject() -> None:
    store = _store(Policy(allowed_env=frozenset({"LD_PRELOAD"}), allowed_goflags=frozenset({"toolexec"})))
    assert store.specs("builds")["corp"] is not None


@pytest.mark.parametrize(
    ("values", "names"),
    [
        pytest.param(["LD_PRELOAD"], ["LD_PRELOAD"], id="one"),
        pytest.param(
            ["LD_PRELOAD,BASH_ENV", "PATH"], ["LD_PRELOAD", "BASH_ENV", "PATH"], id="repeated-and-listed"
        ),
        pytest.param(["-toolexec", "--exec"], ["toolexec", "exec"], id="flags-with-dashes"),
        pytest.param(["*"], ["*"], id="everything"),
    ],
)
def test_the_allow_flags_read_names_as_admins_write_them(values: list[str], names: list[str]) -> None:
    assert _names(values) == names
