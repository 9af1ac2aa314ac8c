"""Hostile workloads and configs through the webhook, in process: no exception, no invalid patch.

Hypothesis draws a namespace's GoBuildConfigs (valid, hostile and invalid specs, names up to the
253 characters an object name may have; the store parses them and applies the operator's policy as
the watch would) and a Pod, Job or CronJob that opts in to one of them (with hostile env:
GIT_CONFIG_* counts, $(VAR) references, secret-backed variables). Each goes, as the bytes the API server
sends, through the entry point the operator's webhook server calls (`Admission.review`).
Every answer must

- allow the object, without the handler failing (outcome "error") and within a CPU-time budget;
- carry a JSON Patch that applies, to an object the API server takes (support/podcheck.py);
- inject the config's env values literally: the kubelet expands nothing in them;
- leave nothing to do on a second admission of the result (reinvocation is a no-op).

`make unit` runs FUZZ_EXAMPLES (default 1,000: about 10 s of CPU) cases; `make fuzz` runs 10,000.
Then each way a tenant's text reaches admission (support/complexity.py: a long config name, a long
`sh -c` script, long or many env values, arguments, containers) is sent once at FUZZ_LARGEST bytes
(128 KiB in `make unit`, 1 MiB in `make fuzz`): the webhook must decide it within its own budget
(not answer "over budget") and admit it.
"""

from __future__ import annotations

import base64
import copy
import gc
import json
import os
import time
from collections import Counter
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gobuild_operator.store import Store
from support.complexity import ENTRY_POINTS, EntryPoint
from support.hostile import config_names, hostile_specs, hostile_workloads
from support.kubelet import container_environment, expand
from support.podcheck import containers, problems, template
from support.webhook import Webhook, review

NAMESPACE = "builds"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
#: CPU seconds one admission request may take here (the webhook's own timeout is 5 s). CPU time, not
#: wall time: on a shared machine another process can stall any request; what admission itself
#: costs is what the workload and the config could drive up.
BUDGET = float(os.environ.get("FUZZ_BUDGET", "1.0"))
#: Bytes of hostile text in the largest request of each kind.
LARGEST = int(os.environ.get("FUZZ_LARGEST", str(128 * 1024)))
ADMISSION_ENTRIES = [entry for entry in ENTRY_POINTS if entry.name.startswith("admission:")]

Case = tuple[Store, dict[str, dict[str, Any]], str, dict[str, Any], str]
slowest = {"cpu": 0.0, "wall": 0.0}
outcomes: Counter[str] = Counter()


class _Everything(dict[str, str]):
    """A kubelet environment in which every variable is defined."""

    def get(self, key: str, default: Any = None) -> str:  # type: ignore[override]
        return "\0defined\0"


@st.composite
def namespaces(draw: st.DrawFn) -> Case:
    names = draw(st.lists(config_names, min_size=1, max_size=3, unique=True))
    specs = {name: draw(hostile_specs) for name in names}
    store = Store()
    for index, (name, spec) in enumerate(specs.items()):
        metadata = {"namespace": NAMESPACE, "name": name, "uid": f"uid-{index}", "generation": 1}
        store.put_config({"metadata": metadata, "spec": spec})
    labels = {"gobuild.dev/injection": "disabled"} if draw(st.integers(0, 19)) == 0 else {}
    store.put_namespace(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE, **labels})
    kind, obj = draw(hostile_workloads(names))
    obj.setdefault("metadata", {})["namespace"] = NAMESPACE  # as the API server sends it
    operation = "UPDATE" if kind == "CronJob" and draw(st.booleans()) else "CREATE"
    return store, specs, kind, obj, operation


def admit(
    store: Store, kind: str, obj: dict[str, Any], operation: str
) -> tuple[dict[str, Any], Webhook, float]:
    webhook = Webhook(store)
    request = review(kind, obj, namespace=NAMESPACE, operation=operation)
    # The collector is paused while the request runs: a full collection of the heap hypothesis
    # builds up over thousands of examples (up to a second here) is the harness's cost, not
    # admission's; it runs between requests instead.
    gc.disable()
    try:
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = webhook(kind, request)["response"]
        cpu = time.thread_time() - started_cpu
    finally:
        gc.enable()
    slowest["cpu"] = max(slowest["cpu"], cpu)
    slowest["wall"] = max(slowest["wall"], time.perf_counter() - started)
    return response, webhook, cpu


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(namespaces())
def test_hostile_workloads_and_configs_through_admission(case: Case) -> None:
    store, specs, kind, obj, operation = case
    sent = copy.deepcopy(obj)
    response, webhook, cpu = admit(store, kind, obj, operation)
    for outcome in ("injected", "skipped", "unchanged"):
        outcomes[outcome] += int(webhook.count(kind, outcome))

    assert response["allowed"] is True
    assert webhook.count(kind, "error") == 0, response.get("warnings")
    assert cpu < BUDGET, f"{cpu:.3f} CPU seconds"
    assert obj == sent, "the request object was modified"
    if "patch" not in response:
        return
    patch = json.loads(base64.b64decode(response["patch"]))
    mutated = jsonpatch.apply_patch(sent, patch)
    assert problems(kind, sent, mutated) == []

    # The config's env values reach the container as written.
    config = template(kind, mutated)["metadata"]["annotations"]["gobuild.dev/injected"]
    values = {e["name"]: e.get("value", "") for e in specs[config].get("env") or []}
    old = {c["name"]: c for c in containers(template(kind, sent)["spec"])}
    for container in containers(template(kind, mutated)["spec"]):
        added = [e for e in container.get("env") or [] if e not in (old[container["name"]].get("env") or [])]
        for var in added:
            value = str(var.get("value"))
            assert expand(value, _Everything()) == expand(value, {}), f"{var['name']} would be expanded"
        env = container.get("env") or []
        seen = container_environment(env)
        last = {e["name"]: e for e in env}  # a workload's own duplicate later in the list wins
        for var in added:
            if var["name"] in values and last[var["name"]] is var:
                assert seen[var["name"]] == values[var["name"]]

    again, _, _ = admit(store, kind, mutated, operation)
    assert "patch" not in again, "a second admission changed the object again"


@pytest.mark.parametrize("entry", ADMISSION_ENTRIES, ids=[entry.name for entry in ADMISSION_ENTRIES])
def test_the_largest_hostile_text_is_decided_within_the_admission_budget(entry: EntryPoint) -> None:
    answer = json.loads(entry.prepare(LARGEST)())  # type: ignore[arg-type]
    response = answer["response"]
    assert response["allowed"] is True
    warnings = response.get("warnings") or []
    assert not [w for w in warnings if "longer than its budget" in w], warnings


def test_the_fuzzer_reached_every_outcome_and_reports_its_slowest_request() -> None:
    """Runs after the fuzzer (file order). A fuzzer whose cases are all admitted unchanged tests
    nothing (it once called an entry point with no handler registered), so every outcome must occur;
    and the slowest request, for the log of a `make fuzz` run."""
    if not outcomes:
        pytest.skip("the fuzzer did not run in this session (run the whole file)")
    assert {"injected", "skipped", "unchanged"} <= {o for o, n in outcomes.items() if n}, outcomes
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    cpu, wall = slowest["cpu"] * 1000, slowest["wall"] * 1000
    print(
        f"\nfuzz: {EXAMPLES} examples ({counts}); slowest admission {cpu:.1f} ms CPU "
        f"(budget {BUDGET:g} s), {wall:.1f} ms wall"
    )
