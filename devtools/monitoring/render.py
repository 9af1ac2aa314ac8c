"""A picture of the dashboard without Grafana: each panel drawn from a real Prometheus' answers.

Grafana is AGPL and is neither used nor run here. This draws every panel of the generated
dashboard JSON, at its grid position, with matplotlib: time series from `query_range` of the
panel's own queries (legends from their legendFormat), stats and tables from instant queries, 0/1
values through the panel's value mappings. It is what the panels would show, not what Grafana's
styling looks like, and the picture says so.

    python -m monitoring.render http://PROMETHEUS:9090 docs/monitoring-dashboard.png --minutes 20

(needs matplotlib: `pip install -e '.[picture]'`).
tests/install/test_prometheus_scrapes_the_install.py calls it after its scenario when
GOBUILD_DASHBOARD_PICTURE names the file to write.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from monitoring.generate import DASHBOARD_FILE, ROOT
from monitoring.queries import substitute

GRID_COLUMNS = 24
ROW_UNITS_PER_INCH = 2.2
WIDTH_INCHES = 22.0
COLORS = ("#3274d9", "#e02f44", "#56a64b", "#ff9830", "#a352cc", "#fade2a", "#8ab8ff", "#f2495c", "#73bf69")


def _get(base: str, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the local cluster's Prometheus
        answer = json.load(response)
    if answer.get("status") != "success":
        raise RuntimeError(f"{params.get('query')}: {answer.get('error')}")
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _legend(template: str, labels: dict[str, str]) -> str:
    if not template:
        shown = {k: v for k, v in labels.items() if k != "__name__"}
        return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip() or "value"


#: Grafana's named colours as its dark theme draws them (matplotlib's "blue" is much darker).
NAMED_COLORS = {
    "green": "#73bf69",
    "red": "#f2495c",
    "blue": "#5794f2",
    "yellow": "#fade2a",
    "orange": "#ff9830",
}


def _mapped(panel: dict[str, Any], value: float) -> tuple[str, str | None]:
    for mapping in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []) or []:
        option = (mapping.get("options") or {}).get(f"{value:g}")
        if option:
            color = option.get("color")
            return str(option.get("text", value)), NAMED_COLORS.get(color, color)
    return _format(value, panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")), None


def _format(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "n/a"
    if unit == "percentunit":
        return f"{value:.0%}"
    if unit == "bytes":
        for suffix in ("B", "KiB", "MiB", "GiB"):
            if abs(value) < 1024:
                return f"{value:.0f} {suffix}"
            value /= 1024
        return f"{value:.1f} TiB"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "d":
        return f"{value:.1f} days"
    return f"{value:.3g}"


def draw(base: str, output: Path, *, minutes: float = 20, model: dict[str, Any] | None = None) -> Path:
    """Draw every panel of `model` (default: the chart's dashboard) from Prometheus at `base`."""
    # matplotlib is an optional extra ('.[picture]'), not installed for the type check: by name.
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    board = model or json.loads((ROOT / DASHBOARD_FILE).read_text())
    end = time.time()
    start = end - minutes * 60
    window = f"{int(minutes)}m"
    variables = {"$__rate_interval": "1m", "$__range": window, "$__interval": "15s", "$namespace": ".*"}
    panels = board["panels"]
    height_units = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) + 3
    fig = plt.figure(figsize=(WIDTH_INCHES, height_units / ROW_UNITS_PER_INCH))
    fig.patch.set_facecolor("#111217")

    def box(grid: dict[str, int]) -> tuple[float, float, float, float]:
        left = grid["x"] / GRID_COLUMNS
        width = grid["w"] / GRID_COLUMNS
        top = (grid["y"] + 3) / height_units
        height = grid["h"] / height_units
        return left + 0.012, 1 - top - height + 0.035, width - 0.024, height - 0.07

    fig.text(
        0.01,
        1 - 0.9 / height_units,
        f"{board['title']}: every panel of the generated dashboard, drawn with matplotlib from the local "
        f"cluster's Prometheus (last {window}); not a Grafana screenshot",
        color="white",
        fontsize=15,
        va="center",
    )
    for panel in panels:
        grid = panel["gridPos"]
        if panel["type"] == "row":
            fig.text(
                0.01, 1 - (grid["y"] + 3.5) / height_units, panel["title"], color="#ccccdc", fontsize=13,
                weight="bold", va="center",
            )  # fmt: skip
            continue
        ax = fig.add_axes(box(grid))
        ax.set_facecolor("#181b1f")
        for spine in ax.spines.values():
            spine.set_color("#2c3235")
        ax.tick_params(colors="#9fa7b3", labelsize=8)
        ax.set_title(panel["title"], color="#ccccdc", fontsize=10, loc="left")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        targets = panel.get("targets", [])
        if panel["type"] == "timeseries":
            lines = 0
            stacked = (
                panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {}).get("stacking") or {}
            ).get("mode") == "normal"
            series: list[tuple[str, list[float], list[float]]] = []
            for target in targets:
                expr = substitute(target["expr"], variables)
                params = {"query": expr, "start": f"{start}", "end": f"{end}", "step": "15"}
                result = _get(base, "/api/v1/query_range", params)
                for item in result:
                    xs = [(float(t) - end) / 60 for t, _ in item["values"]]
                    ys = [float(v) for _, v in item["values"]]
                    series.append((_legend(target.get("legendFormat", ""), item["metric"]), xs, ys))
            for index, (label, xs, ys) in enumerate(series[:9]):
                line_color = COLORS[index % len(COLORS)]
                ax.plot(xs, ys, color=line_color, linewidth=1.4, label=label)
                if stacked or len(series) == 1:
                    ax.fill_between(xs, ys, color=line_color, alpha=0.12)
                lines += 1
            ax.set_xlim(-minutes, 0)
            ax.set_xlabel("minutes", color="#9fa7b3", fontsize=8)
            ax.grid(color="#2c3235", linewidth=0.5)
            if unit == "percentunit":
                ax.set_ylim(0, 1.05)
            if lines:
                ax.legend(
                    fontsize=7,
                    loc="upper left",
                    facecolor="#181b1f",
                    labelcolor="#ccccdc",
                    edgecolor="#2c3235",
                )
            else:
                ax.text(
                    0.5, 0.5, "No data", color="#9fa7b3", ha="center", va="center", transform=ax.transAxes
                )
        else:
            rows: list[tuple[str, str, str | None]] = []
            for target in targets:
                for item in _get(
                    base, "/api/v1/query", {"query": substitute(target["expr"], variables), "time": f"{end}"}
                ):
                    text, color = _mapped(panel, float(item["value"][1]))
                    rows.append((_legend(target.get("legendFormat", ""), item["metric"]), text, color))
            ax.set_xticks([])
            ax.set_yticks([])
            if not rows:
                ax.text(
                    0.5, 0.5, "No data", color="#9fa7b3", ha="center", va="center", transform=ax.transAxes
                )
            elif panel["type"] == "stat":
                for index, (label, text, color) in enumerate(rows[:6]):
                    x = (index + 0.5) / min(len(rows), 6)
                    ax.text(x, 0.55, text, color=color or "#73bf69", fontsize=20, ha="center", va="center",
                            transform=ax.transAxes, weight="bold")  # fmt: skip
                    ax.text(x, 0.2, label, color="#ccccdc", fontsize=8, ha="center", transform=ax.transAxes)
            else:
                for index, (label, text, color) in enumerate(rows[:8]):
                    y = 0.88 - index * 0.11
                    ax.text(0.02, y, label, color="#ccccdc", fontsize=8, transform=ax.transAxes, va="center")
                    ax.text(
                        0.97, y, text, color=color or "#ccccdc", fontsize=9, ha="right",
                        transform=ax.transAxes, va="center", weight="bold",
                    )  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prometheus", help="Prometheus' base URL")
    parser.add_argument("output", type=Path)
    parser.add_argument("--minutes", type=float, default=20, help="the time range drawn")
    args = parser.parse_args(argv)
    print(f"wrote {draw(args.prometheus, args.output, minutes=args.minutes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
