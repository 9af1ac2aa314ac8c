"""`python -m gobuild_operator.modcache` as the operator will run it: settings from a JSON file and
flags, a clear refusal of bad ones, no operator machinery loaded, and a process that needs only its
storage directory, holds no capabilities, and serves a big zip in bounded memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.modcache.__main__ import load_settings, parse_args
from support.modcache import (
    CacheProcess,
    Mirror,
    make_module,
    sandbox_available,
    sandbox_prefix,
    write_module,
)

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "gobuild_operator.modcache", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_the_settings() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for flag in (
        "--config",
        "--goproxy",
        "--gosumdb",
        "--max-bytes",
        "--https-proxy",
        "--netrc-file",
        "--ca-file",
    ):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("config", "flags", "environ", "expected"),
    [
        pytest.param({}, [], {}, {"port": 8080, "goproxy": "https://proxy.golang.org"}, id="defaults"),
        pytest.param(
            {"port": 9000, "maxBytes": "1Gi"}, [], {}, {"port": 9000, "max_bytes": 1 << 30}, id="file"
        ),
        pytest.param({"port": 9000}, ["--port", "9100"], {}, {"port": 9100}, id="flags-win"),
        pytest.param(
            {},
            [],
            {"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": ".svc", "NETRC": "/etc/gomodcache/netrc"},
            {
                "https_proxy": "http://proxy.corp:3128",
                "no_proxy": (".svc",),
                "netrc_file": "/etc/gomodcache/netrc",
            },
            id="proxy-variables-from-the-environment",
        ),
        pytest.param(
            {"httpsProxy": "http://from.file:1"},
            [],
            {"HTTPS_PROXY": "http://from.env:1"},
            {"https_proxy": "http://from.file:1"},
            id="the-file-beats-the-environment",
        ),
        pytest.param(
            {},
            ["--gonosumdb", "a.example,b.example/*"],
            {},
            {"gonosumdb": ("a.example", "b.example/*")},
            id="lists",
        ),
    ],
)
def test_settings_come_from_file_then_flags_then_environment(
    tmp_path: Path,
    config: dict[str, Any],
    flags: list[str],
    environ: dict[str, str],
    expected: dict[str, Any],
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    settings = load_settings(parse_args(["--config", str(path), *flags]), environ)
    assert {k: getattr(settings, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param('{"storagedir": "/x"}', "unknown setting 'storagedir'", id="typo"),
        pytest.param("[1]", "one JSON object", id="not-an-object"),
        pytest.param('{"gosumdb": "nonsense"}', "GOSUMDB", id="gosumdb"),
    ],
)
def test_bad_settings_stop_the_cache_before_it_serves(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(config)
    result = _run("--config", str(path), "--print-config")
    assert result.returncode == 2
    assert message in result.stderr


def test_the_cache_loads_neither_kopf_nor_an_api_client() -> None:
    code = (
        "import sys, gobuild_operator.modcache.__main__, gobuild_operator.modcache.server; "
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('kopf', 'kubernetes', 'kubernetes_asyncio')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


BIG = 128 << 20


def test_a_big_zip_is_served_in_bounded_memory_from_a_read_only_root_without_capabilities(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    if not sandbox_available(storage):
        pytest.skip("needs root and unshare/setpriv for a read-only root filesystem")
    root = tmp_path / "mirror"
    big = make_module("example.com/big", "v1.0.0", {"blob.bin": bytes(range(256)) * (BIG // 256)})
    write_module(root, big)
    mirror = Mirror(root).start()
    cache = CacheProcess(
        ["--storage-dir", str(storage), "--goproxy", mirror.url, "--gosumdb", "off"],
        log=tmp_path / "cache.log",
        prefix=sandbox_prefix(storage),
    )
    try:
        cache.start()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        assert opener.open(cache.url + "/healthz", timeout=30).status == 200
        baseline = cache.status("VmRSS")
        cache.reset_peak()
        sizes = []
        for _ in range(2):  # the miss (download, store) and the hit (from disk)
            with opener.open(f"{cache.url}/{big.escaped}.zip", timeout=120) as resp:
                size = 0
                while chunk := resp.read(1 << 20):
                    size += len(chunk)
                sizes.append(size)
        peak = cache.status("VmHWM")
        assert sizes == [len(big.zip)] * 2
        assert mirror.count(".zip") == 1
        assert peak - baseline < 48 << 10, f"peak RSS grew by {(peak - baseline) >> 10} MiB for a 128 MiB zip"
        assert "Read-only file system" not in cache.log.read_text()
    finally:
        cache.stop()
        mirror.stop()
