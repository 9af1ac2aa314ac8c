"""`go mod download` of a large real dependency graph through the module cache, side by side with the
floor and with nginx proxy_cache, in one run.

The workload is the requirements of github.com/prometheus/prometheus v0.316.0 (about 250 module
zips, 440 go.mod files, 290 MB), downloaded once from the Go module proxy into
~/.cache/gobuild-operator/bench-cache (the only time anything leaves the machine; later runs are
offline) and served from there by the project's own static mirror (devtools/images/goproxy, built
with `go build`) on loopback. Every go run starts from an empty GOMODCACHE, with GOFLAGS=-mod=mod,
GOSUMDB=off (the project's go.sum pins every module), GOENV=off and a loopback GOPROXY only.

Rows, each a ratio to the floor:
  (1) the static mirror itself (the floor);
  (2) gomodcache, cold (empty cache): every file fetched from the mirror and kept;
  (2v) the same, checking every .mod/.zip against a checksum database on loopback (x/mod's own
       server, tests/support/go/sumdb, vouching for the mirror's files), when it can be built;
  (3) gomodcache, warm: served from its disk, the mirror asked nothing;
  (4) nginx 1.22 proxy_cache, configured for GOPROXY as well as nginx allows (immutable files
      kept for good, list/latest/queries 60 s and served stale, cache lock), cold and warm.
Then `--concurrency` builds at once (each downloading the graph's modules of up to 2 MB, so 20
extracted module caches fit on this disk) against the floor and the warm cache; the cache's CPU
per warm build; and its peak RSS while it fetches, then serves, the largest zip.

Warm rows take turns with the floor (`--repeat` rounds), so drift on a busy machine spreads over
all of them; medians are printed. Bounded: every go run has a timeout, and the run stops by itself.

Run: make bench-cache   (or .venv/bin/python bench/cache.py --repeat 3 --concurrency 20)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "operator"), str(REPO / "tests")]

from gobuild_operator.core.modcache.paths import escape  # noqa: E402
from gobuild_operator.modcache.verify import zip_hash  # noqa: E402
from support.modcache import CacheProcess, build_sumdb_helper, go_env, sumdb_server  # noqa: E402
from support.waiting import wait_for  # noqa: E402

PROJECT = ("github.com/prometheus/prometheus", "v0.316.0")
#: The project module's own h1 (from sum.golang.org), checked before its go.mod and go.sum are used.
PROJECT_H1 = "h1:f1GRFerhTMKQma+awCoC9T820ecWeGSdF+xAlMHzZzM="
BENCH_DIR = Path(os.environ.get("GOBUILD_BENCH_CACHE") or Path.home() / ".cache/gobuild-operator/bench-cache")
SMALL = 2 << 20
VERBOSE = "--verbose" in sys.argv
GO_TIMEOUT = 1800


# --- the workload -------------------------------------------------------------------------------


def ensure_modules() -> tuple[Path, Path]:
    """(the GOPROXY-layout mirror tree, the project directory with go.mod and go.sum)."""
    gomodcache, project = BENCH_DIR / "gomodcache", BENCH_DIR / "project"
    mirror = gomodcache / "cache" / "download"
    marker = BENCH_DIR / f"complete-{PROJECT[1]}"
    if marker.exists():
        return mirror, project
    print(f"downloading the requirements of {PROJECT[0]}@{PROJECT[1]} once into {BENCH_DIR} ...", flush=True)
    env = go_env(BENCH_DIR / "work", goproxy=os.environ.get("BENCH_GOPROXY", "https://proxy.golang.org"))
    env["GOMODCACHE"] = str(gomodcache)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "work" / "home").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "mod", "download", "-json", "@".join(PROJECT)],
        env=env,
        cwd=BENCH_DIR,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=GO_TIMEOUT,
    )
    zpath = mirror / escape(PROJECT[0]) / "@v" / f"{PROJECT[1]}.zip"
    if zip_hash(zpath) != PROJECT_H1:
        raise SystemExit(f"{zpath} does not have the pinned hash {PROJECT_H1}")
    project.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zpath) as zf:
        for name in ("go.mod", "go.sum"):
            (project / name).write_bytes(zf.read(f"{PROJECT[0]}@{PROJECT[1]}/{name}"))
    subprocess.run(["go", "mod", "download"], env=env, cwd=project, check=True, timeout=GO_TIMEOUT)
    marker.write_text("ok\n")
    return mirror, project


def small_modules(mirror: Path, project: Path) -> list[str]:
    """module@version of the project's requirements whose zip is at most SMALL bytes."""
    out = []
    for line in (project / "go.sum").read_text().splitlines():
        module, version, _ = line.split()
        if version.endswith("/go.mod"):
            continue
        z = mirror / escape(module) / "@v" / f"{escape(version)}.zip"
        if z.exists() and z.stat().st_size <= SMALL:
            out.append(f"{module}@{version}")
    return sorted(set(out))


# --- servers ------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def up() -> bool:
        try:
            with opener.open(url, timeout=2) as resp:
                return bool(resp.status)
        except urllib.error.HTTPError:
            return True  # an answer, whatever its status

    wait_for(up, timeout=60, what=url)


@dataclass
class Proc:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def cpu_seconds(self, pids: list[int] | None = None) -> float:
        total = 0.0
        for pid in pids or [self.process.pid]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def build_static_mirror(tmp: Path) -> Path:
    binary = tmp / "goproxy"
    env = go_env(tmp / "gobuild", goproxy="off")
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=REPO / "devtools/images/goproxy",
        env=env,
        check=True,
        timeout=600,
    )
    return binary


def start_static(binary: Path, root: Path, tmp: Path) -> Proc:
    port = _free_port()
    log = tmp / "mirror.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), "-root", str(root), "-addr", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_http(f"http://127.0.0.1:{port}/healthz")
    return Proc(proc, f"http://127.0.0.1:{port}", log)


def mirror_requests(mirror: Proc) -> int:
    return sum(1 for line in mirror.log.read_text().splitlines() if " GET " in line)


#: A canonical semantic version as nginx's PCRE sees it (escaped upper case: `!` and a letter).
SEMVER = r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9a-z.!-]+)?(\+incompatible)?"
NGINX_CONF = """
daemon off; master_process on; worker_processes {workers}; user root;
pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 100000;
  client_body_temp_path {tmp}/client; proxy_temp_path {tmp}/proxy-tmp; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  proxy_cache_path {cache} levels=1:2 keys_zone=gomod:32m max_size=10g inactive=3650d use_temp_path=off;
  types {{ application/zip zip; application/json info; text/plain mod; }}
  upstream mirror {{ server {upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    proxy_http_version 1.1; proxy_set_header Connection "";
    proxy_cache gomod; proxy_cache_key $uri;
    proxy_cache_lock on; proxy_cache_lock_timeout 600s; proxy_cache_lock_age 600s;
    proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
    proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
    proxy_cache_valid 404 410 5s;
    # immutable: .info/.mod/.zip of a canonical version
    location ~ "^/[^@]+/@v/{semver}\\.(info|mod|zip)$" {{
      proxy_pass http://mirror; proxy_cache_valid 200 3650d;
    }}
    # list, latest and version queries: 60 s, then stale while the upstream fails
    location ~ "^/[^@]+/(@v/list|@latest|@v/[^/]+\\.info)$" {{
      proxy_pass http://mirror; proxy_cache_valid 200 60s;
    }}
    location ~ "^/sumdb/[^/]+/(lookup|tile)/" {{ proxy_pass http://mirror; proxy_cache_valid 200 3650d; }}
    location ~ "^/sumdb/[^/]+/(supported|latest)$" {{ proxy_pass http://mirror; proxy_cache_valid 200 60s; }}
    location / {{ return 404; }}
  }}
}}
"""


def start_nginx(tmp: Path, upstream: str, cache: Path) -> Proc | None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        return None
    port = _free_port()
    for d in ("client", "proxy-tmp", "fcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            workers=os.cpu_count() or 2,
            tmp=tmp,
            cache=cache,
            upstream=upstream.removeprefix("http://"),
            semver=SEMVER,
            port=port,
        )
    )
    log = tmp / "nginx.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(tmp)], stdout=out, stderr=subprocess.STDOUT
        )
    started = Proc(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_http(f"http://127.0.0.1:{port}/")  # 404 for / is an answer
    except BaseException:
        started.stop()
        raise
    return started


def _nginx_pids(nginx: Proc) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(nginx.process.pid)], capture_output=True, text=True, check=False)
    return [nginx.process.pid, *(int(p) for p in out.stdout.split())]


@contextlib.contextmanager
def cache_process(
    tmp: Path, name: str, upstream: str, *, event_loop: str, gosumdb: str = "off"
) -> Iterator[CacheProcess]:
    storage = tmp / name
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir(parents=True)
    cache = CacheProcess(
        [
            "--storage-dir",
            str(storage),
            "--goproxy",
            upstream,
            "--gosumdb",
            gosumdb,
            "--log-level",
            "warning",
            "--event-loop",
            event_loop,
        ],
        log=tmp / f"{name}.log",
    ).start()
    try:
        yield cache
    finally:
        cache.stop()


# --- go runs --------------------------------------------------------------------------------------


def go_download(project: Path, proxy: str, work: Path, modules: list[str] | None = None) -> float:
    """Seconds for `go mod download` (of `modules`, or of everything) into an empty module cache."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "home").mkdir(parents=True)
    env = go_env(work, goproxy=proxy)
    start = time.monotonic()
    result = subprocess.run(
        ["go", "mod", "download", *(modules or [])],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=GO_TIMEOUT,
        check=False,
    )
    elapsed = time.monotonic() - start
    if VERBOSE and modules is None:
        print(f"    ({proxy}: {elapsed:.1f} s)", file=sys.stderr, flush=True)
    subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
    shutil.rmtree(work, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(f"go mod download through {proxy} failed:\n{result.stderr[-3000:]}")
    return elapsed


def concurrent(project: Path, proxy: str, tmp: Path, modules: list[str], n: int) -> tuple[float, list[float]]:
    start = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        times = list(pool.map(lambda i: go_download(project, proxy, tmp / f"c{i}", modules), range(n)))
    return time.monotonic() - start, times


def _get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    size = 0
    with opener.open(url, timeout=600) as resp:
        while chunk := resp.read(1 << 20):
            size += len(chunk)
    return size


def largest_zip(mirror: Path) -> Path:
    return max(mirror.rglob("*.zip"), key=lambda p: p.stat().st_size)


# --- the run ------------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _row(name: str, seconds: float, floor: float, note: str = "") -> None:
    print(f"  {name:<48}{seconds:>9.1f} s{seconds / floor:>9.2f}x   {note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the warm comparisons (medians)")
    parser.add_argument("--concurrency", type=int, default=20, help="builds at once in the concurrent row")
    parser.add_argument("--event-loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument(
        "--compare-event-loops", action="store_true", help="also time warm runs with the other loop"
    )
    parser.add_argument("--skip-nginx", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="each go run's time on stderr as it ends")
    args = parser.parse_args()
    # A SIGTERM (a timeout, a wrapper giving up) unwinds like an error, so the finally blocks stop
    # the mirror, caches and nginx this run started instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    mirror_root, project = ensure_modules()
    small = small_modules(mirror_root, project)
    zips = list(mirror_root.rglob("*.zip"))
    big = largest_zip(mirror_root)
    started = time.monotonic()
    print(
        f"workload: go mod download of {PROJECT[0]}@{PROJECT[1]}'s requirements, a fresh GOMODCACHE per run"
    )
    print(
        f"mirror: {len(zips)} zips, {sum(z.stat().st_size for z in zips) / 1e6:.0f} MB; "
        f"{os.cpu_count()} cores; load at start {_load()}"
    )

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmpdir:
        tmp = Path(tmpdir)
        static = start_static(build_static_mirror(tmp), mirror_root, tmp)
        other = "uvloop" if args.event_loop == "asyncio" else "asyncio"
        try:
            with cache_process(tmp, "gomodcache", static.url, event_loop=args.event_loop) as cache:
                print("\n                                                   median      ratio   notes")
                before = mirror_requests(static)
                floor = go_download(project, static.url, tmp / "go")
                per_build = mirror_requests(static) - before
                cache_cpu = cache_process_cpu(cache)
                cold = go_download(project, cache.url, tmp / "go")
                cold_cpu = cache_process_cpu(cache) - cache_cpu
                asked_cold = mirror_requests(static) - before - per_build
                nginx_cache = tmp / "nginx-cache"
                nginx = None if args.skip_nginx else start_nginx(tmp, static.url, nginx_cache)
                try:
                    nginx_cold = 0.0
                    if nginx is not None:
                        mark = mirror_requests(static)
                        nginx_cold = go_download(project, nginx.url, tmp / "go")
                        nginx_asked = mirror_requests(static) - mark
                    floors, warms, nginx_warms, cpus, nginx_cpus = [floor], [], [], [], []
                    mark = mirror_requests(static)
                    for _ in range(args.repeat):
                        cpu = cache_process_cpu(cache)
                        warms.append(go_download(project, cache.url, tmp / "go"))
                        cpus.append(cache_process_cpu(cache) - cpu)
                        if nginx is not None:
                            ncpu = nginx.cpu_seconds(_nginx_pids(nginx))
                            nginx_warms.append(go_download(project, nginx.url, tmp / "go"))
                            nginx_cpus.append(nginx.cpu_seconds(_nginx_pids(nginx)) - ncpu)
                        floors.append(go_download(project, static.url, tmp / "go"))
                    warm_asked = mirror_requests(static) - mark - args.repeat * per_build
                    f = statistics.median(floors)
                    _row(
                        "(1) static mirror (floor)",
                        f,
                        f,
                        f"{per_build} requests per build; runs {_fmt(floors)}",
                    )
                    _row(
                        "(2) gomodcache, cold",
                        cold,
                        f,
                        f"{asked_cold} upstream requests; cache CPU {cold_cpu:.1f} s",
                    )
                    verified = cold_verified(tmp, static, project, mirror_root, args.event_loop)
                    if isinstance(verified, str):
                        print(f"  (2v) gomodcache, cold, checking a checksum database: skipped ({verified})")
                    else:
                        _row("(2v) gomodcache, cold, checking checksum database", verified[0], f, verified[1])
                    w = statistics.median(warms)
                    _row(
                        "(3) gomodcache, warm",
                        w,
                        f,
                        f"{warm_asked} upstream requests; cache CPU {statistics.median(cpus):.1f} s/build; "
                        f"runs {_fmt(warms)}",
                    )
                    if nginx is not None:
                        _row("(4) nginx proxy_cache, cold", nginx_cold, f, f"{nginx_asked} upstream requests")
                        _row(
                            "(4) nginx proxy_cache, warm",
                            statistics.median(nginx_warms),
                            f,
                            f"nginx CPU {statistics.median(nginx_cpus):.1f} s/build; "
                            f"runs {_fmt(nginx_warms)}",
                        )
                    else:
                        print("  (4) nginx proxy_cache: skipped (no nginx; apt-get install nginx-light)")
                    if args.compare_event_loops:
                        with cache_process(tmp, "gomodcache-other", static.url, event_loop=other) as second:
                            go_download(project, second.url, tmp / "go")
                            times = [go_download(project, second.url, tmp / "go") for _ in range(args.repeat)]
                        _row(
                            f"(3') gomodcache, warm, {other}",
                            statistics.median(times),
                            f,
                            f"runs {_fmt(times)}",
                        )
                    print(f"  warm / floor = {w / f:.3f} (the goal: at most 1.2)")

                    n = args.concurrency
                    print(
                        f"\n{n} builds at once, each the {len(small)} modules of at most {SMALL >> 20} MB "
                        f"(all {len(small)} zips, every go.mod):"
                    )
                    cpu = cache_process_cpu(cache)
                    cache.reset_peak()
                    wall_c, times_c = concurrent(project, cache.url, tmp, small, n)
                    peak_c = cache.status("VmHWM")
                    cpu_c = cache_process_cpu(cache) - cpu
                    wall_f, times_f = concurrent(project, static.url, tmp, small, n)
                    _row(
                        "static mirror (floor)",
                        wall_f,
                        wall_f,
                        f"per build median {statistics.median(times_f):.1f} s, max {max(times_f):.1f} s",
                    )
                    _row(
                        "gomodcache, warm",
                        wall_c,
                        wall_f,
                        f"per build median {statistics.median(times_c):.1f} s, "
                        f"max {max(times_c):.1f} s; cache CPU {cpu_c:.1f} s, peak RSS {peak_c >> 10} MiB",
                    )
                finally:
                    if nginx is not None:
                        nginx.stop()

                print(
                    f"\nmemory while serving the largest zip ({big.relative_to(mirror_root)}, "
                    f"{big.stat().st_size / 1e6:.0f} MB):"
                )
                url = "/" + str(big.relative_to(mirror_root))
                idle = cache.status("VmRSS")
                cache.reset_peak()
                _get(cache.url + url)
                peak = cache.status("VmHWM")
                print(f"  warm cache: RSS before {idle >> 10} MiB, peak while sending {peak >> 10} MiB")
            with cache_process(tmp, "gomodcache-cold", static.url, event_loop=args.event_loop) as fresh:
                _get(fresh.url + "/healthz")
                idle = fresh.status("VmRSS")
                fresh.reset_peak()
                _get(fresh.url + url)
                print(
                    f"  cold cache (fetch, store, send): RSS before {idle >> 10} MiB, "
                    f"peak {fresh.status('VmHWM') >> 10} MiB"
                )
        finally:
            static.stop()
    print(f"\nload at end {_load()}; {time.monotonic() - started:.0f} s in all")


def cache_process_cpu(cache: CacheProcess) -> float:
    assert cache.process is not None
    fields = Path(f"/proc/{cache.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_verified(
    tmp: Path, static: Proc, project: Path, mirror_root: Path, event_loop: str
) -> tuple[float, str] | str:
    binary = build_sumdb_helper(Path.home() / ".cache" / "gobuild-operator" / "test-bin")
    if isinstance(binary, str):
        return binary
    with (
        sumdb_server(binary, mirror_root, log=tmp / "sumdb.log", fill=1000) as db,
        cache_process(
            tmp, "gomodcache-verified", static.url, event_loop=event_loop, gosumdb=db.gosumdb
        ) as cache,
    ):
        seconds = go_download(project, cache.url, tmp / "go")
        text = (
            urllib.request.build_opener(urllib.request.ProxyHandler({}))
            .open(cache.url + "/metrics", timeout=30)
            .read()
            .decode()
        )
        failures = sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("gomodcache_verification_fail")
        )
        checked = sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith('gomodcache_misses_total{kind="sumdb-lookup"}')
        )
        return seconds, f"{checked:.0f} lookups checked (signature and proof), {failures:.0f} failures"


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
