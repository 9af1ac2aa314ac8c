"""Whether the golang image a stage builds FROM is older than go.mod's go directive
(GoVersionTooOld)."""

from __future__ import annotations

import re

from gobuild_operator.core.dockercheck.build import Build, Stage, image_tag

_GOLANG_TAG = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+)|(rc|beta)\d+)?")

_GO_DIRECTIVE = re.compile(r"^go[ \t]+(\d+)\.(\d+)(?:\.(\d+)|(rc|beta)\d+)?[ \t]*(?://.*)?$", re.MULTILINE)


def go_version(build: Build, stage: Stage) -> None:
    root = stage.root or stage
    if root.from_line in build.reported_versions or not root.golang:
        return
    image_version = _version(image_tag(root.root_image), _GOLANG_TAG)
    go_mods = [context_path for _, context_path in stage.gomod.values() if context_path] or ["go.mod"]
    text = build.context.go_mods.get(go_mods[0])
    if image_version is None or text is None:
        return
    match = _GO_DIRECTIVE.search(text)
    required = _version(match.group(0)[2:].strip().split("//")[0].strip(), _GOLANG_TAG) if match else None
    if required is None or not _older(image_version, required):
        return
    build.reported_versions.add(root.from_line)
    wanted = match.group(0).split()[1] if match else ""
    has = ".".join(str(part) for part in image_version if part >= 0)
    tag = image_tag(root.root_image)
    tag_match = _GOLANG_TAG.match(tag)
    variant = tag[tag_match.end() :] if tag_match else ""  # -alpine, -bookworm
    build.add(
        root.from_line,
        "GoVersionTooOld",
        f"{go_mods[0]} requires go {wanted} but {root.root_image} has Go {has}: "
        "go stops with 'go.mod requires go >= ...' (golang images set GOTOOLCHAIN=local), or downloads "
        "a toolchain through GOPROXY where that is allowed",
        f"use `FROM golang:{wanted}{variant}` or newer (or lower the go directive if the code allows)",
    )


def _version(text: str, pattern: re.Pattern[str]) -> tuple[int, int, int] | None:
    """(major, minor, patch): patch -1 for a pre-release (1.23rc1), -2 when not given (1.22)."""
    match = pattern.match(text)
    if not match:
        return None
    major, minor, patch, pre = match.group(1), match.group(2), match.group(3), match.group(4)
    if pre:
        return int(major), int(minor), -1
    return int(major), int(minor), int(patch) if patch is not None else -2


def _older(image: tuple[int, int, int], required: tuple[int, int, int]) -> bool:
    """Whether the image's Go is older than go.mod requires. An image tag without a patch (golang:1.22)
    is the newest 1.22.x; a go directive without one (go 1.22) means 1.22.0."""
    if image[:2] != required[:2]:
        return image[:2] < required[:2]
    if image[2] == -2:
        return False
    return image[2] < (0 if required[2] == -2 else required[2])
