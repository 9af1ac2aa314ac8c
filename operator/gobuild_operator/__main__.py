"""python -m gobuild_operator {run,diagnose}: the operator and its offline log classifier."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gobuild_operator.core.policy import Policy
from gobuild_operator.settings import Settings, WebhookSettings


def _run(args: argparse.Namespace) -> int:
    from gobuild_operator.runner import run_operator  # kopf is heavy: only load it to run

    settings = Settings(
        operator_namespace=args.operator_namespace,
        cluster_domain=args.cluster_domain,
        metrics_port=args.metrics_port if args.metrics_port > 0 else None,
        metrics_addr=args.metrics_addr,
        extra_no_proxy=tuple(h for h in [os.environ.get("KUBERNETES_SERVICE_HOST", "")] if h),
        status_flush_interval=args.status_flush_interval,
        probe_interval_override=args.probe_interval_override,
        probe_allow_link_local=args.probe_allow_link_local,
        policy=Policy(
            allowed_env=frozenset(_names(args.allow_env)),
            allowed_goflags=frozenset(_names(args.allow_goflag)),
        ),
        webhook=WebhookSettings(
            listen_addr=args.webhook_addr,
            port=args.webhook_port,
            host=args.webhook_host,
            register=args.register_webhook,
            configuration_name=args.webhook_configuration,
            service_name=args.webhook_service,
            certificate_dir=args.webhook_cert_dir,
        ),
    )
    return run_operator(settings, namespaces=args.namespace, verbose=args.verbose)


def _names(values: list[str]) -> list[str]:
    """Repeated and comma-separated flag values, without dashes ("-toolexec" and "toolexec" alike)."""
    return [name.strip().lstrip("-") for value in values for name in value.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "diagnose":
        from gobuild_operator.diagnose_cli import main as diagnose_main

        return diagnose_main(argv[1:])
    parser = argparse.ArgumentParser(prog="gobuild-operator", description="Run the gobuild-operator.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator and its admission webhook")
    run.add_argument("--namespace", action="append", default=[], help="watch only these (default: all)")
    run.add_argument("--operator-namespace", default=Settings.default_namespace())
    run.add_argument("--cluster-domain", default="cluster.local")
    run.add_argument("--webhook-addr", default="0.0.0.0")  # noqa: S104
    run.add_argument("--webhook-port", type=int, default=9443)
    run.add_argument("--webhook-host", default="127.0.0.1", help="name the API server uses to reach us")
    run.add_argument(
        "--register-webhook",
        action="store_true",
        help="create the MutatingWebhookConfiguration on start and delete it on exit (local runs)",
    )
    run.add_argument("--webhook-configuration", default="gobuild-operator")
    run.add_argument("--webhook-service", default=None, help="in-cluster: the webhook's Service name")
    run.add_argument("--webhook-cert-dir", type=Path, default=None, help="tls.crt/tls.key/ca.crt to serve")
    run.add_argument("--metrics-port", type=int, default=8080, help="Prometheus metrics; 0 disables")
    run.add_argument("--metrics-addr", default="0.0.0.0")  # noqa: S104
    run.add_argument(
        "--status-flush-interval", type=float, default=0.5, help="seconds between batched status writes"
    )
    run.add_argument(
        "--probe-interval-override",
        type=float,
        default=None,
        metavar="SECONDS",
        help="probe every config this often, ignoring spec.reporting.probeIntervalSeconds (tests, demos)",
    )
    run.add_argument(
        "--probe-allow-link-local",
        action="store_true",
        help="let GOPROXY probes reach link-local addresses and cloud metadata services (refused by default)",
    )
    run.add_argument(
        "--allow-env",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="let GoBuildConfigs set these env names that run code (LD_PRELOAD, BASH_ENV, ...; * for all)",
    )
    run.add_argument(
        "--allow-goflag",
        action="append",
        default=[],
        metavar="FLAG[,FLAG]",
        help="let GoBuildConfigs set these GOFLAGS that run code (toolexec, exec, ...; * for all)",
    )
    run.add_argument("--verbose", action="store_true")
    sub.add_parser("diagnose", help="classify a saved build log: diagnose [FILE|-] [--output json|text]")
    args = parser.parse_args(argv)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
