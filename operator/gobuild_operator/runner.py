"""Start the admission server and kopf with our handlers and settings; always leave the cluster clean.

The admission server runs in its own thread with its own event loop (handlers/webhook.py says why)
and starts before kopf, so it is serving by the time kopf registers it with the API server.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import kopf
import uvloop

from gobuild_operator.handlers.admission import Admission
from gobuild_operator.handlers.webhook import TLSFiles, WebhookServer
from gobuild_operator.metrics import Metrics
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

#: Seconds a thread may hold the GIL while another waits for it (CPython's default is 5 ms): the
#: admission thread never waits longer than this for the reporting side's CPU bursts.
GIL_SWITCH_INTERVAL = 0.001


def run_operator(settings: Settings, *, namespaces: list[str], verbose: bool) -> int:
    # Importing the handler modules registers them with kopf's default registry.
    from gobuild_operator.handlers import gobuildconfigs, startup  # noqa: F401
    from gobuild_operator.handlers import namespaces as namespace_handlers  # noqa: F401

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    store, metrics = Store(), Metrics()
    hook = settings.webhook
    certfile, keyfile, ca_pem = startup.webhook_certificates(settings)
    server = WebhookServer(
        admission=Admission(settings=settings, store=store, metrics=metrics),
        addr=hook.listen_addr,
        port=hook.port,
        tls=TLSFiles(certfile, keyfile),
        reload_interval=hook.certificate_reload_interval,
    )
    try:
        server.start()
    except RuntimeError as exc:
        where = f"{hook.listen_addr}:{hook.port}"
        print(f"gobuild-operator: cannot serve the webhook on {where} ({exc.__cause__ or exc})")
        return 1
    memo = kopf.Memo(
        settings=settings, store=store, metrics=metrics, webhook_ca=ca_pem, namespaces=namespaces
    )
    try:
        # uvloop (as kopf's own CLI does when it is installed): the watch streams and API calls
        # read TLS in compiled code.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            kopf.run(
                loop=runner.get_loop(),
                standalone=True,
                clusterwide=not namespaces,
                namespaces=namespaces,
                memo=memo,
            )
    finally:
        startup.remove_webhook_configuration(memo)  # also when kopf died before its cleanup ran
        server.stop()
    return 0
