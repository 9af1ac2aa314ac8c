"""What a RUN that downloads modules needs: a cache mount for the module cache (NoModuleCacheMount),
an ARG for each Go setting the cluster injects (GoSettingNotDeclared), the mount that carries
private modules' credentials (PrivateModulesWithoutMount). A command that builds from vendor/
downloads nothing."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Final

from gobuild_operator.core.dockercheck import dockerfile as df
from gobuild_operator.core.dockercheck.build import Build, Stage
from gobuild_operator.core.dockercheck.scripts import GoCommand, Script


def from_vendor(build: Build, command: GoCommand, stage: Stage, script: Script) -> bool:
    """Whether this command builds from vendor/ instead of downloading (`go mod ...` always fetches)."""
    if command.words[1:2] == ("mod",):
        return False
    goflags = f"{stage.lookup('GOFLAGS') or ''} {script.assigned.get('GOFLAGS', '')}"
    flags = [*command.words, *goflags.split()]
    if "-mod=mod" in flags or "-mod=readonly" in flags:
        return False
    return build.vendored or "-mod=vendor" in flags


def fetches(
    build: Build,
    instruction: df.Instruction,
    stage: Stage,
    script: Script,
    mounts: Sequence[Mapping[str, str]],
) -> None:
    caches = {
        posixpath.normpath(
            posixpath.join(stage.cwd, m.get("target") or m.get("dst") or m.get("destination") or "")
        )
        for m in mounts
        if m.get("type") == "cache"
    }
    modcache = stage.modcache
    mounted = {t for t in caches if t == modcache or t.endswith("/pkg/mod")}
    if stage.modules_in_image or mounted & build.cache_targets:
        return  # modules are already there: nothing fetched, nothing to check
    declared(build, instruction, stage, script)
    private_mounts(build, instruction, stage, mounts)
    if not mounted and build.once(stage, "NoModuleCacheMount"):
        earlier = sorted(build.cache_targets)
        why = (
            f"an earlier RUN put the modules in a cache mount at {earlier[0]}, which this RUN does not "
            "mount, so it downloads them all again"
            if earlier
            else "every build downloads all modules again"
        )
        build.add(
            instruction.line,
            "NoModuleCacheMount",
            f"`{next(c for c in script.go if c.fetches).text}` runs without a cache mount for the module "
            f"cache ({modcache}): {why}",
            f"`RUN --mount=type=cache,target={modcache} {next(c for c in script.go if c.fetches).text}` "
            "(and the same mount on every RUN that builds)",
        )
    if mounted:
        build.cache_targets |= mounted
    else:
        stage.modules_in_image = True


def declared(build: Build, instruction: df.Instruction, stage: Stage, script: Script) -> None:
    missing = [
        name
        for name, _ in build.settings.go_settings
        if name not in stage.args and name not in stage.env and name not in script.assigned
    ]
    if not missing or not build.once(stage, "GoSettingNotDeclared"):
        return
    them = "it" if len(missing) == 1 else "them"
    as_args = "build arguments" if len(missing) > 1 else "a build argument"
    global_note = ""
    if any(name in build.global_args for name in missing):
        global_note = " (an ARG before the first FROM is only visible to FROM lines, not inside stages)"
    source = "the GoBuildConfig injects" if build.settings.from_config else "every GoBuildConfig injects"
    effects = "; ".join(dict.fromkeys(_WITHOUT[name] for name in missing if name in _WITHOUT))
    build.add(
        instruction.line,
        "GoSettingNotDeclared",
        f"{', '.join(missing)}: {source} {them} as {as_args}, but "
        f"stage {stage.label} declares no ARG for {them}{global_note}, so this RUN ignores the "
        f"cluster's value{': ' + effects if effects else ''}",
        " and ".join(f"`ARG {name}`" for name in missing)
        + f" (without a value) after the FROM on line {stage.from_line}",
    )


def private_mounts(
    build: Build, instruction: df.Instruction, stage: Stage, mounts: Sequence[Mapping[str, str]]
) -> None:
    settings = build.settings
    private = settings.private or bool(stage.lookup("GOPRIVATE"))
    if not private:
        return
    ssh_ids = {m.get("id", "default") for m in mounts if m.get("type") == "ssh"}
    secret_ids = {
        m.get("id") or posixpath.basename(m.get("target", "")) for m in mounts if m.get("type") == "secret"
    }
    ids = settings.ids
    needed: list[str] = []
    if settings.ssh and ids.ssh_id not in ssh_ids:
        needed.append("--mount=type=ssh" + ("" if ids.ssh_id == "default" else f",id={ids.ssh_id}"))
        if ids.known_hosts_secret_id not in secret_ids:
            needed.append(f"--mount=type=secret,id={ids.known_hosts_secret_id},target=/root/.ssh/known_hosts")
    if settings.netrc and ids.netrc_secret_id not in secret_ids:
        needed.append(f"--mount=type=secret,id={ids.netrc_secret_id},target=/root/.netrc")
    if not settings.ssh and not settings.netrc and not ssh_ids and not secret_ids:
        needed.append("--mount=type=ssh (or --mount=type=secret,id=netrc,target=/root/.netrc)")
    if not needed or not build.once(stage, "PrivateModulesWithoutMount"):
        return
    build.add(
        instruction.line,
        "PrivateModulesWithoutMount",
        "private modules (GOPRIVATE"
        + (", ssh" if settings.ssh else "")
        + (", netrc" if settings.netrc else "")
        + ") are fetched by a RUN without the mount that carries their credentials: git fails "
        "with 'Permission denied (publickey)' or 'could not read Username'",
        f"`RUN {' '.join(needed)} go mod download`; for ssh the build also needs git's URL rewrite "
        '(`git config --global url."ssh://git@HOST/".insteadOf "https://HOST/"`)',
    )


#: What go does in a RUN step without each setting the cluster injects (GoSettingNotDeclared).
_WITHOUT: Final = {
    "GOPROXY": "go asks its default proxy.golang.org, which clusters without egress cannot reach",
    "GOPRIVATE": "private modules are sent to the proxy, which cannot see them, instead of fetched directly",
    "GONOPROXY": "private modules are sent to the proxy, which cannot see them, instead of fetched directly",
    "GOSUMDB": "go checks modules against its default sum.golang.org",
    "GONOSUMDB": "private modules are looked up in the public checksum database",
    "GOFLAGS": "the config's go flags are not applied",
}
