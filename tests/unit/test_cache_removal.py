"""What the reconciler reads to keep a config's Proxy-cache objects right (reconciler/cache.py):
objects of a config that turned the Proxy cache off are deleted once, and a config without a Proxy
cache is not read for them on every reconcile (it was: four GETs per config, each time); a
NetworkPolicy made before the admin turned policies off is deleted once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.proxycache.deployment import CacheAccess, CacheImage
from gobuild_operator.reconciler import cache as reconciler_cache
from gobuild_operator.reconciler.cache import CacheObjects
from gobuild_operator.store import ConfigInfo

UID = "uid-corp"


def _info(spec: dict[str, Any]) -> ConfigInfo:
    return ConfigInfo(
        namespace="builds",
        name="corp",
        uid=UID,
        created="2026-01-01T00:00:00Z",
        generation=1,
        spec=parse_spec(spec),
        error="",
        pending=0,
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The API calls made, as (verb, kind); every object exists, owned by the config, until deleted."""
    made: list[tuple[str, str]] = []
    deleted: set[str] = set()

    async def read(_: Any, *, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        made.append(("read", kind))
        return None if kind in deleted else {"metadata": {"ownerReferences": [{"uid": UID}]}}

    async def delete(_: Any, *, kind: str, namespace: str, name: str) -> None:
        made.append(("delete", kind))
        deleted.add(kind)

    async def apply(_: Any, obj: dict[str, Any]) -> None:
        made.append(("apply", str(obj["kind"])))
        deleted.discard(str(obj["kind"]))

    async def ensure_claim(*_: Any, **__: Any) -> str:
        return ""

    monkeypatch.setattr(reconciler_cache.applied, "read", read)
    monkeypatch.setattr(reconciler_cache.applied, "delete", delete)
    monkeypatch.setattr(reconciler_cache.applied, "apply", apply)
    monkeypatch.setattr(reconciler_cache, "ensure_claim", ensure_claim)
    return made


def test_objects_of_a_turned_off_proxy_cache_are_deleted_once_and_not_read_again(
    calls: list[tuple[str, str]],
) -> None:
    objects = CacheObjects(api=object(), image=None)  # type: ignore[arg-type]
    off = _info({"cache": {"enabled": False}})
    asyncio.run(objects.ensure(off))
    kinds = len(reconciler_cache.applied.KINDS)
    assert [verb for verb, _ in calls].count("delete") == kinds
    calls.clear()
    for _ in range(5):
        asyncio.run(objects.ensure(off))
    assert calls == []  # no GETs for a config known to run no Proxy cache


def test_turning_the_proxy_cache_on_and_off_again_deletes_again(
    calls: list[tuple[str, str]],
) -> None:
    from gobuild_operator.core.proxycache.deployment import CacheImage

    objects = CacheObjects(api=object(), image=CacheImage(image="gobuild-operator:dev", pull_policy="Never"))  # type: ignore[arg-type]
    asyncio.run(objects.ensure(_info({"cache": {"enabled": False}})))
    asyncio.run(objects.ensure(_info({"cache": {"enabled": True}})))
    assert ("apply", "Deployment") in calls
    calls.clear()
    asyncio.run(objects.ensure(_info({"cache": {"enabled": False}})))
    assert ("delete", "Deployment") in calls


def test_a_deleted_config_is_forgotten(calls: list[tuple[str, str]]) -> None:
    objects = CacheObjects(api=object(), image=None)  # type: ignore[arg-type]
    off = _info({"cache": {"enabled": False}})
    asyncio.run(objects.ensure(off))
    objects.forget(UID)
    calls.clear()
    asyncio.run(objects.ensure(off))  # a config of the same uid again: checked again, not assumed
    assert ("read", "Deployment") in calls


def test_with_policies_turned_off_an_earlier_policy_is_deleted_once_and_no_new_one_applied(
    calls: list[tuple[str, str]],
) -> None:
    image = CacheImage(image="gobuild-operator:dev", pull_policy="Never")
    with_policy = CacheObjects(api=object(), image=image, access=CacheAccess("gobuild-system"))  # type: ignore[arg-type]
    on = _info({"cache": {"enabled": True}})
    asyncio.run(with_policy.ensure(on))
    assert ("apply", "NetworkPolicy") in calls
    calls.clear()

    without = CacheObjects(api=object(), image=image, access=None)  # type: ignore[arg-type]
    for _ in range(3):
        asyncio.run(without.ensure(on))
    assert ("apply", "NetworkPolicy") not in calls
    assert calls.count(("delete", "NetworkPolicy")) == 1
    assert calls.count(("read", "NetworkPolicy")) == 1  # not read again at every reconcile
    assert ("delete", "Deployment") not in calls
