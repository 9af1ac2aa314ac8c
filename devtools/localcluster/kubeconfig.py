"""Kubeconfig files for the local cluster's clients: one identity (client certificate) each."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(path: Path, *, server: str, pki: Path, user: str, pair_stem: str) -> Path:
    """A kubeconfig for `server` authenticating with `<pki>/<pair_stem>.crt|.key`, trusting `<pki>/ca.crt`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "gobuild-local",
                "cluster": {"server": server, "certificate-authority-data": _b64(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki / f"{pair_stem}.crt"),
                    "client-key-data": _b64(pki / f"{pair_stem}.key"),
                },
            }
        ],
        "contexts": [{"name": "gobuild-local", "context": {"cluster": "gobuild-local", "user": user}}],
        "current-context": "gobuild-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
