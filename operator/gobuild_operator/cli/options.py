"""The options `check` and `diagnose` share: which GoBuildConfig, where, and how to print."""

from __future__ import annotations

import argparse


def add_config_options(
    parser: argparse.ArgumentParser,
    *,
    config_help: str,
    json_help: str,
    more_outputs: tuple[tuple[str, str], ...] = (),
) -> None:
    """--config FILE|NAME, -n/--namespace and -o/--output text|json (and `more_outputs`: (name, help))."""
    parser.add_argument("--config", metavar="FILE|NAME", default=None, help=config_help)
    parser.add_argument("-n", "--namespace", default=None, help="namespace of --config NAME")
    extra = "".join(f", {name} {text}" for name, text in more_outputs)
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json", *(name for name, _ in more_outputs)),
        default="text",
        help=f"text for people (default), {json_help}{extra}",
    )
