"""Start the admission server and kopf with our handlers and settings.

The admission server runs in its own thread with its own event loop (handlers/webhook.py says why).
With a certificate that exists when the process starts (local runs make one; cert-manager mounts
one) it starts before kopf, so it is serving by the time anything sends it a request. With the
self-managed certificate (the chart's default) it starts once this replica has read the
certificate Secret (handlers/startup.py), which a fresh install's first leader creates.

Nothing is removed on the way out: the webhook configuration belongs to the chart in a cluster,
and on local runs to whichever process leads; a replica that is merely stopping never takes it
away from the others (the next leader re-registers it if this one was the leader).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, cast

import kopf
import uvloop

from gobuild_operator.handlers.admission import Admission
from gobuild_operator.handlers.webhook import TLSFiles, WebhookServer
from gobuild_operator.metrics import Metrics
from gobuild_operator.redact import RedactingFilter
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

#: Seconds a thread may hold the GIL while another waits for it (CPython's default is 5 ms): the
#: admission thread never waits longer than this for the reporting side's CPU bursts.
GIL_SWITCH_INTERVAL = 0.001
#: Exit status when the leader lease was lost: the kubelet restarts the process as a standby.
LOST_LEADERSHIP = 3


def run_operator(settings: Settings, *, namespaces: list[str], verbose: bool) -> int:
    # Importing the handler modules registers them with kopf's default registry.
    from gobuild_operator.handlers import gobuildconfigs, startup  # noqa: F401
    from gobuild_operator.handlers import namespaces as namespace_handlers  # noqa: F401

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    for handler in logging.getLogger().handlers:  # no credential reaches the log, whoever logs it
        handler.addFilter(RedactingFilter())
    logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)
    if not verbose:  # kopf says "Handler ... succeeded" for every watch event of every object
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    store, metrics = Store(policy=settings.policy), Metrics()
    hook = settings.webhook
    ca_pem = b""
    if hook.tls_secret:
        directory = Path(tempfile.mkdtemp(prefix="gobuild-operator-tls-"))
        certfile, keyfile = directory / "tls.crt", directory / "tls.key"
    else:
        certfile, keyfile, ca_pem = startup.webhook_certificates(settings)
    server = WebhookServer(
        admission=Admission(settings=settings, store=store, metrics=metrics),
        addr=hook.listen_addr,
        port=hook.port,
        tls=TLSFiles(certfile, keyfile),
        reload_interval=hook.certificate_reload_interval,
        request_timeout=hook.timeout_seconds,
        client_ca=hook.client_ca,
    )
    if not hook.tls_secret:
        try:
            server.start()
        except RuntimeError as exc:
            where = f"{hook.listen_addr}:{hook.port}"
            print(f"gobuild-operator: cannot serve the webhook on {where} ({exc.__cause__ or exc})")
            return 1
    stop = threading.Event()
    memo = kopf.Memo(
        settings=settings,
        store=store,
        metrics=metrics,
        webhook_ca=ca_pem,
        webhook_server=server,
        namespaces=namespaces,
        stop=stop,
        lost_leadership=False,
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
                stop_flag=stop,
                # kopf would ask the passwd database for it: no entry for our numeric user.
                identity=cast(Any, settings.leader.identity or None),  # kopf's Identity: a NewType of str
            )
    finally:
        server.stop()
    return LOST_LEADERSHIP if memo.lost_leadership else 0
