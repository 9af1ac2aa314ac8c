"""`python -m gobuild_operator selftest [--timeout SECONDS]`: is injection working in this cluster?

What the chart's `helm test` runs, and what an admin can run by hand: in a scratch namespace it
creates a GoBuildConfig and dry-runs an opted-in Pod through the API server, which calls the
webhook like for any Pod; the test passes when the Pod comes back with the config's GOPROXY. The
namespace is deleted afterwards. With `--namespace NS` it uses that existing namespace instead and
deletes only its config: the chart's test makes the namespace, so the test's account needs no
rights outside it. Exit status: 0 injected, 1 not injected in time, 2 an API error.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from typing import Any

from gobuild_operator import constants as c
from gobuild_operator.k8s.client import ApiException, make_api_client
from gobuild_operator.k8s.commands.selftest import (
    create_config,
    create_namespace,
    delete_config,
    delete_namespace,
    dry_run_pod,
)

GOPROXY = "https://selftest.gobuild.invalid"
CONFIG = "selftest"


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "selftest", "annotations": {c.ANNOTATION_CONFIG: CONFIG}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "build", "image": "golang:1.26", "command": ["go", "version"]}],
        },
    }


def _injected(pod: dict[str, Any]) -> bool:
    env = {var.get("name"): var.get("value") for var in pod["spec"]["containers"][0].get("env") or []}
    return env.get("GOPROXY") == GOPROXY


async def run(*, wait: float, namespace: str | None = None) -> int:
    """`namespace`: an existing one to use; None makes (and deletes) a scratch namespace."""
    api = await make_api_client()
    scratch = namespace is None
    namespace = namespace or f"gobuild-selftest-{secrets.token_hex(4)}"
    try:
        if scratch:
            await create_namespace(api, name=namespace)
        # Reporting off: nothing probes the made-up proxy URL.
        spec = {"goproxy": [GOPROXY], "reporting": {"enabled": False}}
        await create_config(api, namespace=namespace, name=CONFIG, spec=spec)
        deadline = time.monotonic() + wait
        while True:
            if _injected(await dry_run_pod(api, namespace=namespace, pod=_pod())):
                print(f"ok: a Pod opting in to GoBuildConfig {CONFIG} in {namespace} was injected")
                return 0
            if time.monotonic() > deadline:
                print(f"FAILED: the Pod was admitted without injection for {wait:.0f}s", file=sys.stderr)
                return 1
            await asyncio.sleep(1)
    except ApiException as exc:
        print(f"FAILED: {exc.status} {exc.reason}", file=sys.stderr)
        return 2
    finally:
        try:
            if scratch:
                await delete_namespace(api, name=namespace)
            else:
                await delete_config(api, namespace=namespace, name=CONFIG)
        finally:
            await api.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gobuild-operator selftest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for an injected Pod")
    parser.add_argument(
        "--namespace", help="an existing namespace to test in (default: a scratch one, made and deleted)"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(wait=args.timeout, namespace=args.namespace))
