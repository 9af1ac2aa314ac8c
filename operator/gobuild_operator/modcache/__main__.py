"""python -m gobuild_operator.modcache: run the module cache (one per GoBuildConfig that caches).

Settings come from `--config FILE` (the JSON the operator renders into a ConfigMap), then from
flags, which win; proxy variables and NETRC are read from the environment when neither sets them,
as every HTTP client does. `--print-config` shows the result as JSON and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gobuild_operator.core.proxycache.settings import LOG_LEVELS, CacheSettings, SettingsError

# flag -> (settings field, help); every field of CacheSettings that a flag can set.
_FLAGS: dict[str, tuple[str, str]] = {
    "--listen-address": ("listen_address", "address to listen on (default 0.0.0.0)"),
    "--port": ("port", "port for the GOPROXY protocol, /metrics, /healthz and /readyz (default 8080)"),
    "--storage-dir": ("storage_dir", "the cache's only writable directory (default /var/cache/gomodcache)"),
    "--max-bytes": ("max_bytes", "size bound, bytes or a quantity such as 10Gi (default 10Gi)"),
    "--mutable-ttl": ("mutable_ttl_seconds", "seconds @v/list, @latest and queries stay fresh (default 60)"),
    "--negative-ttl": ("negative_ttl_seconds", "seconds a 404/410 is remembered, at most 300 (default 5)"),
    "--upstream-connect-timeout": ("upstream_connect_timeout_seconds", "seconds (default 10)"),
    "--upstream-idle-timeout": ("upstream_idle_timeout_seconds", "seconds without a byte (default 60)"),
    "--revalidate-timeout": (
        "revalidate_timeout_seconds",
        "seconds to refresh list/latest/query before a stale copy is served (default 10)",
    ),
    "--goproxy": ("goproxy", "upstream GOPROXY list, go's syntax (default https://proxy.golang.org)"),
    "--gosumdb": ("gosumdb", "checksum database, go's GOSUMDB syntax, or off (default sum.golang.org)"),
    "--gonosumdb": ("gonosumdb", "comma-separated module patterns the checksum database does not cover"),
    "--goprivate": ("goprivate", "comma-separated patterns; GONOSUMDB defaults to them, as in go"),
    "--http-proxy": ("http_proxy", "proxy for http upstreams (default $HTTP_PROXY)"),
    "--https-proxy": ("https_proxy", "proxy for https upstreams, via CONNECT (default $HTTPS_PROXY)"),
    "--no-proxy": ("no_proxy", "comma-separated hosts/domains/CIDRs reached directly (default $NO_PROXY)"),
    "--ca-file": ("ca_file", "PEM file of CAs trusted in addition to the system's"),
    "--netrc-file": ("netrc_file", "netrc with credentials for upstream hosts (default $NETRC)"),
    "--log-level": ("log_level", f"one of {', '.join(LOG_LEVELS)} (default info)"),
}
_FROM_ENV = {
    "http_proxy": ("HTTP_PROXY", "http_proxy"),
    "https_proxy": ("HTTPS_PROXY", "https_proxy"),
    "no_proxy": ("NO_PROXY", "no_proxy"),
    "netrc_file": ("NETRC",),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gobuild_operator.modcache",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="JSON settings file (keys: the camelCase of the flags)")
    parser.add_argument(
        "--print-config", action="store_true", help="print the effective settings as JSON, exit"
    )
    parser.add_argument(
        "--event-loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="asyncio (default: sends files with sendfile(2)) or uvloop (sends them in chunks)",
    )
    for flag, (dest, text) in _FLAGS.items():
        parser.add_argument(flag, dest=dest, default=None, help=text)
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace, environ: dict[str, str]) -> CacheSettings:
    data: dict[str, Any] = {}
    if args.config is not None:
        loaded = json.loads(args.config.read_text())
        if not isinstance(loaded, dict):
            raise SettingsError(f"{args.config}: the settings must be one JSON object")
        data = loaded
    given = {dest: getattr(args, dest) for dest, _ in _FLAGS.values() if getattr(args, dest) is not None}
    from_file = CacheSettings.from_mapping(data)
    for name, variables in _FROM_ENV.items():
        if name in given or getattr(from_file, name):
            continue
        value = next((environ[v] for v in variables if environ.get(v)), None)
        if value is not None:
            given[name] = value
    return CacheSettings.from_mapping(data, **given)


async def _serve(settings: CacheSettings) -> None:
    from gobuild_operator.modcache.server import start

    running = await start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        logging.getLogger(__name__).info("stopping")
        await running.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args, dict(os.environ))
    except (SettingsError, OSError, json.JSONDecodeError) as exc:
        print(f"gomodcache: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(json.dumps(settings.to_mapping(), indent=2, sort_keys=True))
        return 0
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.event_loop == "uvloop":
        import uvloop

        uvloop.run(_serve(settings))
    else:
        asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
