"""python -m gobuild_operator {run,diagnose,check,preview,preflight,selftest}: the operator, its log
classifier, its Dockerfile check, a preview of what the webhook does to a workload, a preflight of a
go.mod against a config, and an end-to-end check of injection in a live cluster. `kubectl-gobuild`
(the kubectl plugin the package installs) runs the commands a workload's author uses from kubectl:
`kubectl gobuild preview` and `kubectl gobuild preflight`."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from gobuild_operator.api.configspec.policy import Policy
from gobuild_operator.api.fields.values import is_dns_label
from gobuild_operator.settings import LeaderSettings, Settings, WebhookSettings


def _run(args: argparse.Namespace) -> int:
    from gobuild_operator.runner import run_operator  # kopf is heavy: only load it to run

    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    settings = Settings(
        operator_namespace=args.operator_namespace,
        check_secrets=args.secret_checks,
        cluster_domain=args.cluster_domain,
        probe_timeout=args.probe_timeout,
        health_port=args.health_port if args.health_port > 0 else None,
        health_addr=args.health_addr,
        leader=LeaderSettings(
            lease=args.leader_election_lease,
            duration=args.leader_election_lease_duration,
            retry_period=args.leader_election_retry_period,
            identity=identity,
        ),
        metrics_port=args.metrics_port if args.metrics_port > 0 else None,
        metrics_addr=args.metrics_addr,
        metrics_auth=args.metrics_auth,
        extra_no_proxy=tuple(h for h in [os.environ.get("KUBERNETES_SERVICE_HOST", "")] if h),
        status_flush_interval=args.status_flush_interval,
        probe_interval_override=args.probe_interval_override,
        probe_allow_link_local=args.probe_allow_link_local,
        own_addresses=tuple(a.strip() for a in os.environ.get("POD_IPS", "").split(",") if a.strip()),
        cache_image=args.cache_image,
        cache_image_pull_policy=args.cache_image_pull_policy,
        cache_network_policy=args.cache_network_policy,
        cache_ingress_namespaces=tuple(name for names in args.cache_ingress_namespace for name in names),
        probe_hosts=tuple(
            host.strip() for value in args.probe_hosts for host in value.split(",") if host.strip()
        ),
        policy=Policy(
            allowed_env=frozenset(_names(args.allow_env)),
            allowed_goflags=frozenset(_names(args.allow_goflag)),
            max_cache_size=args.cache_max_size,
            cache_storage_classes=frozenset(_names(args.cache_storage_class)),
        ),
        webhook=WebhookSettings(
            listen_addr=args.webhook_addr,
            port=args.webhook_port,
            host=args.webhook_host,
            register=args.register_webhook,
            configuration_name=args.webhook_configuration,
            service_name=args.webhook_service,
            certificate_dir=args.webhook_cert_dir,
            client_ca=args.webhook_client_ca,
            admission_budget=args.admission_budget,
            timeout_seconds=args.webhook_timeout,
            tls_secret=args.tls_secret,
            tls_validity_days=args.tls_validity_days,
            tls_renew_before_days=args.tls_renew_before_days,
        ),
    )
    return run_operator(settings, namespaces=args.namespace, verbose=args.verbose)


def _names(values: list[str]) -> list[str]:
    """Repeated and comma-separated flag values, without dashes ("-toolexec" and "toolexec" alike)."""
    return [name.strip().lstrip("-") for value in values for name in value.split(",") if name.strip()]


def _namespace_names(value: str) -> list[str]:
    """A comma-separated list of namespace names (DNS labels), for argparse."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        if not is_dns_label(name):
            raise argparse.ArgumentTypeError(f"{name!r} is not a namespace name (a DNS label)")
    return names


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "diagnose":
        from gobuild_operator.cli.diagnose import main as diagnose_main

        return diagnose_main(argv[1:])
    if argv and argv[0] == "selftest":
        from gobuild_operator.cli.selftest import main as selftest_main

        return selftest_main(argv[1:])
    if argv and argv[0] == "check":
        from gobuild_operator.cli.check import main as check_main

        return check_main(argv[1:])
    if argv and argv[0] == "preview":
        from gobuild_operator.cli.preview import main as preview_main

        return preview_main(argv[1:])
    if argv and argv[0] == "preflight":
        from gobuild_operator.cli.preflight import main as preflight_main

        return preflight_main(argv[1:])
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
        help="keep the MutatingWebhookConfiguration registered with this process's URL while it leads "
        "(local runs; in a cluster the Helm chart owns it)",
    )
    run.add_argument("--webhook-configuration", default="gobuild-operator")
    run.add_argument("--webhook-service", default=None, help="in-cluster: the webhook's Service name")
    run.add_argument("--webhook-cert-dir", type=Path, default=None, help="tls.crt/tls.key/ca.crt to serve")
    run.add_argument(
        "--webhook-client-ca",
        type=Path,
        default=None,
        help="serve only callers with a client certificate this CA signed (the API server's, from its "
        "admission configuration); default: any caller",
    )
    run.add_argument(
        "--tls-secret",
        default=None,
        help="self-managed TLS: the Secret in --operator-namespace holding the webhook's CA and certificate",
    )
    run.add_argument("--tls-validity-days", type=int, default=365)
    run.add_argument("--tls-renew-before-days", type=int, default=30)
    run.add_argument("--webhook-timeout", type=int, default=5, help="seconds the API server waits for us")
    run.add_argument(
        "--leader-election-lease",
        default=LeaderSettings.lease,
        help="the Lease in --operator-namespace that makes one replica the one that writes status",
    )
    run.add_argument("--leader-election-lease-duration", type=float, default=LeaderSettings.duration)
    run.add_argument("--leader-election-retry-period", type=float, default=LeaderSettings.retry_period)
    run.add_argument("--health-port", type=int, default=0, help="plain-HTTP /healthz and /readyz; 0 disables")
    run.add_argument("--health-addr", default="0.0.0.0")  # noqa: S104
    run.add_argument("--probe-timeout", type=float, default=5.0, help="seconds a GOPROXY probe may take")
    run.add_argument(
        "--no-secret-checks",
        dest="secret_checks",
        action="store_false",
        help="do not read the Secrets GoBuildConfigs name (report them as not checked); for RBAC "
        "that grants no Secret reads",
    )
    run.add_argument(
        "--admission-budget",
        type=float,
        default=WebhookSettings.admission_budget,
        metavar="SECONDS",
        help="admit an object unchanged (and count it) when deciding takes longer than this",
    )
    run.add_argument("--metrics-port", type=int, default=8080, help="Prometheus metrics; 0 disables")
    run.add_argument("--metrics-addr", default="0.0.0.0")  # noqa: S104
    run.add_argument(
        "--metrics-auth",
        action="store_true",
        help="serve /metrics only to bearer tokens the API server accepts for users RBAC lets GET /metrics",
    )
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
        "--probe-hosts",
        action="append",
        default=[],
        metavar="HOST[,HOST]",
        help="probe only these GOPROXY hosts (names, *.suffix, addresses, CIDRs); others are not "
        "probed and not even resolved (default: any host)",
    )
    run.add_argument(
        "--cache-max-size",
        default="",
        metavar="QUANTITY",
        help="the largest cache claim the operator creates for a GoBuildConfig, e.g. 50Gi (default: any)",
    )
    run.add_argument(
        "--cache-storage-class",
        action="append",
        default=[],
        metavar="CLASS[,CLASS]",
        help="StorageClasses GoBuildConfigs may name for their cache claim (default: any; the cluster's "
        "default class always)",
    )
    run.add_argument(
        "--cache-image",
        default=os.environ.get("OPERATOR_IMAGE", ""),
        metavar="IMAGE",
        help="the image the Proxy module caches run: the operator's own (default: $OPERATOR_IMAGE)",
    )
    run.add_argument(
        "--cache-image-pull-policy",
        default=os.environ.get("OPERATOR_IMAGE_PULL_POLICY", "IfNotPresent"),
        choices=("Always", "IfNotPresent", "Never"),
    )
    run.add_argument(
        "--cache-network-policy",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give each Proxy cache a NetworkPolicy that admits only the Pods of its config's namespace, "
        "the operator's namespace and --cache-ingress-namespace (default: on; it takes effect where the "
        "CNI enforces NetworkPolicy)",
    )
    run.add_argument(
        "--cache-ingress-namespace",
        action="append",
        default=[],
        type=_namespace_names,
        metavar="NS[,NS]",
        help="namespaces whose Pods may also reach every Proxy cache, e.g. Prometheus' (it scrapes /metrics)",
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
        help="let GoBuildConfigs set these env names beyond the Go build settings allowed by default "
        "(GOTOOLCHAIN, HOME, ...; * for any)",
    )
    run.add_argument(
        "--allow-goflag",
        action="append",
        default=[],
        metavar="FLAG[,FLAG]",
        help="let GoBuildConfigs set these GOFLAGS, with any value, beyond those allowed by default "
        "(toolexec, modfile, ...; * for any)",
    )
    run.add_argument("--verbose", action="store_true")
    sub.add_parser(
        "diagnose",
        help="classify a saved build log: diagnose [FILE|-] [--config FILE|NAME] [--output json|text]",
    )
    sub.add_parser("selftest", help="check that the webhook injects an opted-in Pod (what `helm test` runs)")
    sub.add_parser(
        "check",
        help="what will break go mod download in an image build: "
        "check [Dockerfile] [--context DIR] [--config FILE|NAME] [--output json|text]",
    )
    sub.add_parser(
        "preview",
        help="what the webhook would make of a workload: "
        "preview -f FILE [--config FILE|NAME] [-n NS] [--server] [--patch] [-o yaml|json]",
    )
    sub.add_parser(
        "preflight",
        help="will a go.mod download with a config (real go in a Job opted into it): "
        "preflight --config NAME [-n NS] [DIR|go.mod] [-o table|json] [--timeout S] [--image IMAGE]",
    )
    args = parser.parse_args(argv)
    return _run(args)


#: kubectl gobuild SUBCOMMAND: the subcommands of the plugin.
KUBECTL_SUBCOMMANDS = {
    "preview": "what the webhook would make of a workload, before it is created",
    "preflight": "whether a go.mod will download with a GoBuildConfig, and why not",
}


def kubectl_plugin(argv: list[str] | None = None) -> int:
    """`kubectl-gobuild`: kubectl runs it for `kubectl gobuild ...`; the same code as python -m."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "preview":
        from gobuild_operator.cli.preview import main as preview_main

        return preview_main(argv[1:], prog="kubectl gobuild preview")
    if argv and argv[0] == "preflight":
        from gobuild_operator.cli.preflight import main as preflight_main

        return preflight_main(argv[1:], prog="kubectl gobuild preflight")
    listed = "".join(f"  {name:<10} {text}\n" for name, text in KUBECTL_SUBCOMMANDS.items())
    usage = f"usage: kubectl gobuild {{{','.join(KUBECTL_SUBCOMMANDS)}}} ...\n\n{listed}"
    asked = bool(argv) and argv[0] in ("-h", "--help", "help")
    (sys.stdout if asked else sys.stderr).write(usage)
    return 0 if asked else 2


if __name__ == "__main__":
    sys.exit(main())
