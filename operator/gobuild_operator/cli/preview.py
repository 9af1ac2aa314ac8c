"""`python -m gobuild_operator preview -f FILE [--config FILE|NAME] [-n NS] [--server] [--patch]
[-o yaml|json]`, also `kubectl gobuild preview` (the `kubectl-gobuild` plugin the package installs).

Shows what the admission webhook would make of a Pod, Job or CronJob before it is created, as
`istioctl kube-inject` and `linkerd inject` do for their meshes. The workloads (a file, several
documents, a List, or `-` for stdin) are printed as they would be admitted, manifests on stdout;
what kubectl would print beside them (the webhook's warnings, the variables the workload keeps,
the arguments added to an image builder's command line, why a workload is left as it was) goes to
stderr, so `preview -f job.yaml > injected.yaml` keeps only the manifests.

Two ways to decide, one answer:
- offline, `--config ./gbc.yaml` (a path: see `check --config`): the webhook's own code
  (core/injection `inject`, the same call admission makes) with that one GoBuildConfig, no cluster.
  It cannot see the namespace's labels, the operator's --allow-env policy or the API server's
  address the operator adds to NO_PROXY in a cluster; `--server` can.
- against the cluster (`--server`, the default without a config file): each workload is created as
  a server-side dry run (dryRun=All), so the real API server and webhook run and nothing is stored;
  the output is what the API server would store, defaults included. `--config NAME` then names the
  GoBuildConfig the workloads are expected to get: a workload that gets another one, or none, is
  reported.

`--patch` prints the JSON Patch (RFC 6902) from each workload as given to the admitted one instead:
the webhook's patch offline, the whole difference (defaults too) with `--server`.

Exit status: 0 previewed, 1 the API server refused a workload (`--server`), 2 a usage, file or
config error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import yaml

from gobuild_operator import constants as c
from gobuild_operator.api.configspec import policy as policies
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.configspec.policy import Policy
from gobuild_operator.cli.check import UsageError, load_config
from gobuild_operator.core.injection import workload
from gobuild_operator.core.injection.inject import inject
from gobuild_operator.core.injection.patch import json_patch
from gobuild_operator.core.injection.selection import should_inject
from gobuild_operator.handlers.admission import MAX_STORED_OBJECT_BYTES, WARNING_PREFIX
from gobuild_operator.settings import Settings

PROG: Final = "python -m gobuild_operator preview"
EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
#: The kinds the webhook mutates (handlers/admission.py KINDS).
KINDS: Final = tuple(workload.POD_TEMPLATE_PATH)
#: Metadata the API server sets on a dry run that says nothing about the workload (kubectl hides
#: managedFields too).
_SERVER_METADATA: Final = ("managedFields",)


@dataclass(frozen=True)
class Document:
    """One workload read from the input: where it came from, and the object."""

    source: str
    index: int  # 1-based, in the file
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        metadata = self.obj.get("metadata")
        if isinstance(metadata, Mapping):
            name = metadata.get("name") or metadata.get("generateName")
            if isinstance(name, str) and name:
                return name
        return f"(document {self.index} of {self.source})"

    @property
    def namespace(self) -> str | None:
        metadata = self.obj.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        return namespace if isinstance(namespace, str) and namespace else None

    def title(self) -> str:
        """kubectl's way of naming an object: pod/build, job.batch/nightly."""
        group = "" if self.kind == "Pod" or self.kind not in KINDS else ".batch"
        return f"{self.kind.lower()}{group}/{self.name}"


@dataclass
class Preview:
    """What preview says about one document: the object as admitted, and the notes for stderr."""

    document: Document
    obj: dict[str, Any]
    outcome: str  # injected, skipped, unchanged, too_large, not_handled, refused
    summary: str
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show what the gobuild-operator webhook would make of Pods, Jobs and CronJobs "
        "before they are created: manifests on stdout, warnings and notes on stderr.",
        epilog="exit status: 0 previewed, 1 the API server refused a workload (--server), "
        "2 usage, file or config error",
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="the workloads (YAML or JSON, several documents, a List); - reads stdin; repeatable",
    )
    # --config and -n as check and diagnose have them (cli/options.py); -o is yaml|json here, as kubectl's.
    parser.add_argument(
        "--config",
        metavar="FILE|NAME",
        default=None,
        help="a GoBuildConfig YAML file (a path: ./gbc.yaml) to preview offline with, or the NAME of "
        "the GoBuildConfig in the cluster the workloads are expected to get (with the server dry run)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="the workloads' namespace (default: their own, else the kube context's; offline: default)",
    )
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="default: yaml")
    parser.add_argument(
        "--patch",
        action="store_true",
        help="print the JSON Patch from each workload to the admitted one instead of the object",
    )
    parser.add_argument(
        "--server",
        action="store_true",
        help="ask the cluster: a server-side dry run through the real API server and webhook "
        "(the default unless --config is a file)",
    )
    parser.add_argument(
        "--operator-namespace",
        default=Settings.default_namespace(),
        help="offline: the operator's namespace, where nothing is injected (default: %(default)s)",
    )
    parser.add_argument(
        "--cluster-domain", default=c.DEFAULT_CLUSTER_DOMAIN, help="offline: the operator's --cluster-domain"
    )
    return parser


def main(argv: list[str] | None = None, *, prog: str = PROG, stdin: IO[str] | None = None) -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        documents = [
            doc for source in args.filename for doc in read_documents(source, stdin=stdin or sys.stdin)
        ]
        if not documents:
            raise UsageError("no objects in " + ", ".join(args.filename))
        offline = args.config is not None and _is_path(args.config) and not args.server
        if args.server and args.config is not None and _is_path(args.config):
            raise UsageError(
                "--server previews with the cluster's GoBuildConfigs: give --config NAME, not a file"
            )
        if offline:
            name, spec = load_config(args.config, args.namespace)
            previews = [
                preview_offline(
                    doc,
                    config_name=name,
                    spec=spec,
                    namespace=_namespace(doc, args.namespace) or "default",
                    operator_namespace=args.operator_namespace,
                    cluster_domain=args.cluster_domain,
                )
                for doc in documents
            ]
        else:
            previews = preview_server(documents, namespace=args.namespace, expected=args.config)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(render(previews, output=args.output, patch=args.patch))
    for item in previews:
        sys.stderr.write(render_notes(item))
    return EXIT_REFUSED if any(item.outcome == "refused" for item in previews) else EXIT_OK


# --- reading ---------------------------------------------------------------------------------


def read_documents(source: str, *, stdin: IO[str]) -> Iterator[Document]:
    """The objects in `source` (- for stdin), in order; a List's items one by one. UsageError names
    the document that is not YAML or not an object."""
    label = "stdin" if source == "-" else source
    if source == "-":
        text = stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    loader = yaml.safe_load_all(text)
    index = 0
    while True:
        index += 1
        try:
            obj = next(loader)
        except StopIteration:
            return
        except yaml.YAMLError as exc:
            where = ""
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                where = f" (line {mark.line + 1})"
            problem = getattr(exc, "problem", None) or str(exc)
            raise UsageError(f"{label}: document {index}{where} is not YAML: {problem}") from None
        if obj is None:  # an empty document (a trailing ---)
            index -= 1
            continue
        if not isinstance(obj, dict):
            raise UsageError(f"{label}: document {index} is not an object but {type(obj).__name__}")
        if not isinstance(obj.get("kind"), str) or not obj.get("kind"):
            raise UsageError(f"{label}: document {index} has no kind")
        if obj["kind"] == "List" or (obj["kind"].endswith("List") and isinstance(obj.get("items"), list)):
            for item in obj.get("items") or []:
                if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
                    raise UsageError(
                        f"{label}: document {index} has an item that is not an object with a kind"
                    )
                yield Document(label, index, item)
            continue
        yield Document(label, index, obj)


def _is_path(config: str) -> bool:
    """check's rule (cli/check.py load_config): a FILE is spelled as a path, a bare NAME is the cluster's."""
    return "/" in config or Path(config).suffix in (".yaml", ".yml", ".json")


def _namespace(doc: Document, flag: str | None) -> str | None:
    if flag and doc.namespace and flag != doc.namespace:
        raise UsageError(
            f"{doc.title()} is in namespace {doc.namespace}, not -n {flag}: give one or leave out the other"
        )
    return flag or doc.namespace


# --- offline ---------------------------------------------------------------------------------


def preview_offline(
    doc: Document,
    *,
    config_name: str,
    spec: GoBuildConfigSpec,
    namespace: str,
    operator_namespace: str,
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN,
) -> Preview:
    """The webhook's answer for `doc` in a namespace whose one GoBuildConfig is `spec`."""
    if doc.kind not in KINDS:
        return Preview(
            doc, doc.obj, "not_handled", f"not changed: the webhook handles {_kinds()}, not {doc.kind}"
        )
    refused = policies.problems(spec, Policy())
    configs: dict[str, GoBuildConfigSpec | None] = {config_name: None if refused else spec}
    notes = [
        f"GoBuildConfig {config_name} is NotAllowed by the operator's default policy: {problem}"
        for problem in refused
    ]
    arguments: dict[str, Any] = {
        "kind": doc.kind,
        "namespace": namespace,
        "namespace_labels": {},
        "operator_namespace": operator_namespace,
        "configs": configs,
    }
    decision = should_inject(doc.obj, **arguments)
    result = inject(doc.obj, **arguments, cluster_domain=cluster_domain)
    warnings = list(result.warnings)
    if result.obj is None:
        why = decision.reason if result.outcome == "skipped" else "nothing to change (see the warnings)"
        return Preview(doc, doc.obj, result.outcome, f"not changed: {why}", warnings, notes)
    size = len(json.dumps(result.obj, separators=(",", ":")))
    if size > MAX_STORED_OBJECT_BYTES:
        summary = (
            f"not changed: with the Go build settings it would have {size} bytes, more than the API "
            f"server stores ({MAX_STORED_OBJECT_BYTES})"
        )
        return Preview(doc, doc.obj, "too_large", summary, warnings, notes)
    summary = f"injected with GoBuildConfig {result.config} ({decision.reason})"
    return Preview(
        doc, result.obj, "injected", summary, warnings, notes + _injected_notes(result.obj, doc.kind)
    )


# --- against the cluster ---------------------------------------------------------------------


def preview_server(
    documents: Sequence[Document], *, namespace: str | None, expected: str | None
) -> list[Preview]:
    """Each workload created as a server-side dry run: what the API server would store."""
    try:
        from gobuild_operator.k8s.commands import dryrun
    except ImportError as exc:  # pragma: no cover - the kubernetes client is a dependency
        raise UsageError(f"cannot reach the cluster: {exc}") from None
    # The client logs "Config not found" once per lookup; the error below says it once, with the way out.
    logging.getLogger("kubernetes_asyncio").setLevel(logging.ERROR)
    if expected is not None:
        load_config(expected, namespace)  # a NAME that does not exist is a usage error, as in check
    handled = [doc for doc in documents if doc.kind in KINDS]
    fallback: str | None = None
    targets = []
    for doc in handled:
        where = _namespace(doc, namespace)
        if where is None:
            fallback = fallback or dryrun.default_namespace()
            where = fallback
        targets.append((where, doc.obj))
    try:
        answers = iter(dryrun.dry_run_create(targets)) if targets else iter(())
    except dryrun.NoCluster as exc:
        raise UsageError(
            f"cannot reach the cluster: {exc}; give --config ./FILE to preview offline"
        ) from None
    previews = []
    for doc in documents:
        if doc.kind not in KINDS:
            summary = f"not changed: the webhook handles {_kinds()}, not {doc.kind}"
            previews.append(Preview(doc, doc.obj, "not_handled", summary))
            continue
        answer = next(answers)
        warnings = [
            w.removeprefix(WARNING_PREFIX) if w.startswith(WARNING_PREFIX) else w for w in answer.warnings
        ]
        if answer.obj is None:
            previews.append(
                Preview(doc, doc.obj, "refused", f"refused by the API server: {answer.error}", warnings)
            )
            continue
        stored = _without_server_metadata(answer.obj)
        config = workload.annotations_of(workload.pod_template(stored, doc.kind)).get(c.ANNOTATION_INJECTED)
        before = workload.annotations_of(workload.pod_template(doc.obj, doc.kind)).get(c.ANNOTATION_INJECTED)
        notes: list[str] = []
        if config is not None and before is None:
            outcome, summary = "injected", f"injected with GoBuildConfig {config} (server dry run)"
            notes = _injected_notes(stored, doc.kind)
        else:
            outcome = "unchanged"
            summary = "not changed by the webhook (server dry run; its warnings, if any, say why)"
            if not warnings:
                summary = (
                    "not changed by the webhook (server dry run): not opted in, or its namespace has no "
                    "GoBuildConfig"
                )
        if expected is not None and config != expected:
            got = f"GoBuildConfig {config}" if config else "no GoBuildConfig"
            notes.append(f"gets {got}, not --config {expected}")
        previews.append(Preview(doc, stored, outcome, summary, warnings, notes))
    return previews


def _without_server_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k not in _SERVER_METADATA}}


# --- printing --------------------------------------------------------------------------------


def _injected_notes(obj: Mapping[str, Any], kind: str) -> list[str]:
    """The skipped variables and the added builder arguments, from the marker annotations."""
    annotations = workload.annotations_of(workload.pod_template(obj, kind))
    notes = []
    skipped = annotations.get(c.ANNOTATION_SKIPPED_ENV)
    if skipped:
        notes.append(f"skipped variables (the workload's own are kept): {skipped.replace(',', ', ')}")
    added = annotations.get(c.ANNOTATION_BUILD_ARGS)
    if added:
        try:
            by_container = json.loads(added)
        except ValueError:
            by_container = None
        if isinstance(by_container, dict):
            for container, arguments in by_container.items():
                if isinstance(arguments, list):
                    notes.append(f"container {container}: added arguments {' '.join(map(str, arguments))}")
    return notes


def render(previews: Sequence[Preview], *, output: str, patch: bool) -> str:
    """stdout: the admitted objects (or their patches) as YAML documents or JSON (a List for several)."""
    if patch:
        values: list[Any] = [json_patch(item.document.obj, item.obj) for item in previews]
    else:
        values = [item.obj for item in previews]
    if output == "json":
        if len(values) == 1:
            value: Any = values[0]
        elif patch:
            value = values
        else:
            value = {"apiVersion": "v1", "kind": "List", "items": values}
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump_all(values, sort_keys=False, allow_unicode=True, width=1 << 16)


def render_notes(item: Preview) -> str:
    """stderr: as kubectl prints admission warnings, and a line per note."""
    title = item.document.title()
    lines = [f"{title}: {item.summary}"]
    lines += [f"Warning: {WARNING_PREFIX}{warning}" for warning in item.warnings]
    lines += [f"{title}: {note}" for note in item.notes]
    return "".join(line + "\n" for line in lines)


def _kinds() -> str:
    return ", ".join(KINDS[:-1]) + f" and {KINDS[-1]}"


if __name__ == "__main__":
    sys.exit(main())
