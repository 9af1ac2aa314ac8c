"""python -m localcluster {up,down,serve,run,build,images}: the local cluster from the command line.

`up` starts it in the background (a detached `serve` process owns every component) and returns
once the nodes are Ready and cluster DNS and storage are available; `down` stops it, removes its
state and undoes whatever a killed cluster left on the host; `run -- CMD` starts it, runs CMD with
KUBECONFIG pointing at it, and stops it when CMD ends or on Ctrl-C. `--nodes N` starts N nodes
(default 1; with more, volumes are node-local, see addons.py); `--no-node` starts the control
plane alone (Pods then stay Pending). `images [NAME...]` builds the node's container images
(or finds them cached) and prints each archive to import.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from localcluster import host, images
from localcluster.binaries import (
    CONTROL_PLANE,
    KUBE,
    MONITORING,
    NODE,
    TOOLS,
    Component,
    ensure_binaries,
)
from localcluster.cluster import LocalCluster

PID_FILE = "serve.pid"
READY_FILE = "ready"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _print_usage_hint(state_dir: Path) -> None:
    nodes = (state_dir / READY_FILE).read_text().split()[1:] if (state_dir / READY_FILE).exists() else []
    print(
        f"\nlocal cluster ready (Kubernetes {KUBE.version}; nodes: {', '.join(nodes) or 'none'}):\n"
        f"  export KUBECONFIG={(state_dir / 'kubeconfig').resolve()}\n"
        f"  kubectl get nodes\n",
        flush=True,
    )


def _print_try_hint(kubeconfig: Path, prometheus_url: str | None = None, *, follows: bool = True) -> None:
    if prometheus_url:
        print(
            f"Prometheus (the chart's scrape configuration and alerts): {prometheus_url}\n"
            f"  curl -s '{prometheus_url}/api/v1/alerts'\n"
            f"  curl -s '{prometheus_url}/api/v1/query' --data-urlencode "
            "'query=sum by (namespace, outcome) (gobuild_download_outcomes_total)'\n"
            "  docs/monitoring.md: every metric, alert and dashboard panel\n",
            flush=True,
        )
    print(
        "gobuild-operator is installed (helm release gobuild-operator in namespace gobuild-system).\n"
        "Try the quick start from another terminal:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        "  kubectl apply -f examples/quickstart.yaml\n"
        "  kubectl -n builds wait --for=condition=complete job/build --timeout=180s\n"
        "  kubectl -n builds get gbc\n"
        + ("Following the operator's log here; Ctrl-C stops everything.\n" if follows else ""),
        flush=True,
    )


def cmd_install(args: argparse.Namespace) -> int:
    """Install the operator into the cluster KUBECONFIG names (the local one if it is that)."""
    from localcluster.install import install

    kubeconfig = Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    local = args.state_dir if (args.state_dir / "kubeconfig").resolve() == kubeconfig.resolve() else None
    prometheus_url = install(kubeconfig, state_dir=local, with_monitoring=args.with_monitoring)
    _print_try_hint(kubeconfig, prometheus_url)
    return 0


def cmd_monitoring(args: argparse.Namespace) -> int:
    """Prometheus in the running local cluster: the chart (re)installed with its Prometheus
    configuration, then Prometheus reading it."""
    from localcluster.install import install

    kubeconfig = (args.state_dir / "kubeconfig").resolve()
    if not (_alive(args.state_dir / PID_FILE) and (args.state_dir / READY_FILE).exists()):
        print(f"no local cluster is running in {args.state_dir}: make cluster-up first", file=sys.stderr)
        return 1
    prometheus_url = install(kubeconfig, state_dir=args.state_dir, with_monitoring=True)
    _print_try_hint(kubeconfig, prometheus_url, follows=False)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    for name, path in ensure_binaries(_components(args)).items():
        print(f"{name}: {path}")
    return 0


#: The images a `make run` starts with: the node's, the operator's base and the quick start's.
RUN_IMAGES = ("pause", "debian", "golang-1.26", "python-3.11")


def cmd_setup(args: argparse.Namespace) -> int:
    """Everything `make run` (or, with --all-images, `make test`) builds, as fast as this machine
    allows: the Go builds and the Debian/Go images side by side (compilation is CPU-bound, image
    building mostly downloads and disk), then what needs both (the operator's image)."""
    from concurrent.futures import ThreadPoolExecutor

    from localcluster import addons, demo
    from localcluster.operator_image import ensure_operator_image

    started = time.monotonic()
    components = CONTROL_PLANE + NODE + TOOLS + (MONITORING if args.with_monitoring else ())
    names = None if args.all_images else list(RUN_IMAGES)
    with ThreadPoolExecutor(max_workers=2) as pool:
        binaries = pool.submit(ensure_binaries, components)
        archives = pool.submit(images.ensure_images, names)
        paths = binaries.result()
        archives.result()
    print(f"binaries and images ready in {time.monotonic() - started:.0f}s", flush=True)
    addons.images(binaries=paths, log=print)
    demo.goproxy_image(log=print)
    if args.with_monitoring:
        from localcluster import prometheus

        prometheus.image(log=print)
    ensure_operator_image(log=print)
    print(f"set-up complete in {time.monotonic() - started:.0f}s", flush=True)
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        archives = images.ensure_images(args.names or None)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    for name, archive in archives.items():
        size = archive.path.stat().st_size / 1e6
        print(f"{name}: {' '.join(archive.refs)}\n  {archive.path} ({size:.0f} MB, config {archive.digest})")
    elapsed = time.monotonic() - started
    print(f"{len(archives)} images in {elapsed:.1f}s; import each with: ctr -n k8s.io images import FILE")
    return 0


def cmd_operator_image(_: argparse.Namespace) -> int:
    from localcluster.operator_image import ensure_operator_image

    started = time.monotonic()
    archive = ensure_operator_image()
    size = archive.path.stat().st_size / 2**20
    print(f"{archive.ref}: {archive.path} ({size:.0f} MB uncompressed) in {time.monotonic() - started:.0f}s")
    return 0


def cmd_manifests(_: argparse.Namespace) -> int:
    from localcluster.chart import render_install_manifest

    print(f"wrote {render_install_manifest()}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    if _alive(state_dir / PID_FILE) and (state_dir / READY_FILE).exists():
        running = len((state_dir / READY_FILE).read_text().split()) - 1
        if not args.no_node and running != args.nodes:
            print(f"already running with {running} node(s), not {args.nodes}: stop it first", file=sys.stderr)
            return 1
        print(f"already running; KUBECONFIG={(state_dir / 'kubeconfig').resolve()}")
        return 0
    ensure_binaries(_components(args))  # build in the foreground so progress shows
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    no_node = ["--no-node"] if args.no_node else []
    with open(state_dir / "serve.log", "ab") as log:
        serve = ["serve", "--state-dir", str(state_dir), f"--nodes={args.nodes}", *no_node]
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcluster", *serve],
            env=with_devtools_path(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `make cluster-up`; `make cluster-down` stops it
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if (state_dir / READY_FILE).exists():
            _print_usage_hint(state_dir)
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    print((state_dir / "serve.log").read_text()[-4000:], file=sys.stderr)
    print("local cluster failed to start", file=sys.stderr)
    _stop_server(state_dir)
    return 1


def _stop_server(state_dir: Path) -> None:
    pid = _alive(state_dir / PID_FILE)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if _alive(state_dir / PID_FILE) is None:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)  # its children die with it (PR_SET_PDEATHSIG)


def cmd_down(args: argparse.Namespace) -> int:
    _stop_server(args.state_dir)
    swept = host.sweep()  # nodes of killed runs (their container shims outlive them)
    shutil.rmtree(args.state_dir, ignore_errors=True)
    if swept:
        print(f"removed what killed local clusters left behind (node slots {swept})")
    print("local cluster stopped")
    return 0


def _components(args: argparse.Namespace) -> tuple[Component, ...]:
    if getattr(args, "no_node", False):
        return CONTROL_PLANE
    # `build` also makes the tools that build and install the operator (buildkit, helm).
    tools = TOOLS if args.fn is cmd_build else ()
    return CONTROL_PLANE + NODE + tools + (MONITORING if getattr(args, "with_monitoring", False) else ())


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def cmd_serve(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / PID_FILE).write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    cluster = LocalCluster(state_dir=state_dir, with_node=not args.no_node, node_count=args.nodes)
    try:
        cluster.start()
        _write_ready(state_dir, cluster)
        while True:
            cluster.check_alive()
            time.sleep(1)
    except _Stop:
        return 0
    finally:
        cluster.stop()
        (state_dir / PID_FILE).unlink(missing_ok=True)
        (state_dir / READY_FILE).unlink(missing_ok=True)


def _write_ready(state_dir: Path, cluster: LocalCluster) -> None:
    """The API server's URL and the nodes' names: written once all of them are ready."""
    (state_dir / READY_FILE).write_text(" ".join([cluster.server, *cluster.node_names]) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    """Run CMD against the background cluster if one is up, else against one started here."""
    state_dir: Path = args.state_dir
    command = [c for c in args.command if c != "--"]
    if not command:
        print("run needs a command after --", file=sys.stderr)
        return 2
    cluster: LocalCluster | None = None
    prometheus_url: str | None = None
    if _alive(state_dir / PID_FILE) and (state_dir / READY_FILE).exists():
        print(f"using the running local cluster in {state_dir}")
    else:
        shutil.rmtree(state_dir, ignore_errors=True)
        cluster = LocalCluster(state_dir=state_dir, with_node=not args.no_node, node_count=args.nodes)
    signal.signal(signal.SIGTERM, _raise_stop)
    child: subprocess.Popen[bytes] | None = None
    try:
        if cluster is not None:
            cluster.start()
            _write_ready(state_dir, cluster)
        kubeconfig = (state_dir / "kubeconfig").resolve()
        if args.install:
            from localcluster.install import install

            prometheus_url = install(kubeconfig, state_dir=state_dir, with_monitoring=args.with_monitoring)
        _print_usage_hint(state_dir)
        if args.install:
            _print_try_hint(kubeconfig, prometheus_url)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        child = subprocess.Popen(command, env=env)
        return child.wait()
    except (KeyboardInterrupt, _Stop):
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(state_dir, ignore_errors=True)


def _node_count(value: str) -> int:
    count = int(value)
    if not 1 <= count <= host.MAX_NODES:
        raise argparse.ArgumentTypeError(f"between 1 and {host.MAX_NODES}")
    return count


def with_devtools_path(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with devtools/ on PYTHONPATH: the tools are the repository's, not installed with the wheel."""
    devtools = str(Path(__file__).resolve().parents[1])
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, (devtools, env.get("PYTHONPATH", ""))))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, fn in (("build", cmd_build), ("up", cmd_up), ("down", cmd_down), ("serve", cmd_serve)):
        p = sub.add_parser(name)
        p.set_defaults(fn=fn)
        p.add_argument("--state-dir", type=Path, default=Path(".cluster"))
        p.add_argument("--timeout", type=float, default=300)
        p.add_argument("--no-node", action="store_true", help="the control plane alone (Pods stay Pending)")
        p.add_argument("--nodes", type=_node_count, default=1, help="how many nodes (default 1)")
        p.add_argument(
            "--with-monitoring", action="store_true", help="also Prometheus and promtool (build, up)"
        )
    p = sub.add_parser("setup", help="build everything `make run` needs (binaries, images), side by side")
    p.set_defaults(fn=cmd_setup)
    p.add_argument("--with-monitoring", action="store_true", help="also Prometheus and promtool")
    p.add_argument("--all-images", action="store_true", help="every image the tests use, not only run's")
    p = sub.add_parser("manifests", help="render manifests/install.yaml from the chart")
    p.set_defaults(fn=cmd_manifests)
    p = sub.add_parser(
        "operator-image", help="build (or find cached) the operator's image from the Dockerfile"
    )
    p.set_defaults(fn=cmd_operator_image)
    p = sub.add_parser("images", help="build (or find cached) the node's container images")
    p.set_defaults(fn=cmd_images)
    p.add_argument(
        "names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(images.IMAGE_NAMES)}"
    )
    p = sub.add_parser(
        "install", help="build the images and helm-install the operator into $KUBECONFIG's cluster"
    )
    p.set_defaults(fn=cmd_install)
    p.add_argument("--state-dir", type=Path, default=Path(".cluster"))
    p.add_argument("--with-monitoring", action="store_true", help="also Prometheus, with the chart's alerts")
    p = sub.add_parser("monitoring", help="Prometheus in the running local cluster, with the chart's alerts")
    p.set_defaults(fn=cmd_monitoring)
    p.add_argument("--state-dir", type=Path, default=Path(".cluster"))
    p = sub.add_parser("run")
    p.set_defaults(fn=cmd_run)
    p.add_argument("--state-dir", type=Path, default=Path(".cluster"))
    p.add_argument("--install", action="store_true", help="install the operator (image + chart) before CMD")
    p.add_argument("--with-monitoring", action="store_true", help="with --install: also Prometheus")
    p.add_argument("--no-node", action="store_true", help="the control plane alone (Pods stay Pending)")
    p.add_argument("--nodes", type=_node_count, default=1, help="how many nodes (default 1)")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    result: int = args.fn(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
