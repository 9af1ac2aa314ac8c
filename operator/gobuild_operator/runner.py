"""Start kopf with our handlers and settings, and always leave the cluster clean on exit."""

from __future__ import annotations

import logging
import socket

import kopf

from gobuild_operator.core.redact import RedactingFilter
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store


def _port_free(addr: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def run_operator(settings: Settings, *, namespaces: list[str], verbose: bool) -> int:
    hook = settings.webhook
    if not _port_free(hook.listen_addr, hook.port):
        where = f"{hook.listen_addr}:{hook.port}"
        print(f"gobuild-operator: {where} is in use; pick another port with --webhook-port")
        return 1
    # Importing the handler modules registers them with kopf's default registry.
    from gobuild_operator.handlers import admission, gobuildconfigs, pods, startup  # noqa: F401
    from gobuild_operator.handlers import namespaces as namespace_handlers  # noqa: F401

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    for handler in logging.getLogger().handlers:  # no credential reaches the log, whoever logs it
        handler.addFilter(RedactingFilter())
    logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)
    memo = kopf.Memo(settings=settings, store=Store(policy=settings.policy))
    try:
        kopf.run(
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            memo=memo,
        )
    finally:
        startup.remove_webhook_configuration(memo)  # also when kopf died before its cleanup ran
    return 0
