"""The mutating admission webhook: an AdmissionReview in, an AdmissionReview out, as bytes.

`core.inject` decides and changes; `core.patch` turns the change into a few coarse JSON Patch
operations; this module speaks AdmissionReview. The HTTP server around it is handlers/webhook.py,
which runs it on an event loop of its own (see there why).

Everything the decision needs comes from the store (GoBuildConfigs and namespace labels kept in
memory from kopf's watches), so admission makes no API calls and writes nothing: counting injected
Pods is the Pod watch's job (reporting/downloads.py), which sees the Pods that were really created.
The webhook fails open: whatever goes wrong, the object is admitted unchanged with a warning that
says why and the request is counted by outcome, never blocked:

- `injected`, `skipped` (not opted in, or opted into nothing usable), `unchanged` (opted in, but
  nothing to change: already injected, no selected container, an object not understood);
- `over_budget`: the request used up `--admission-budget` seconds (core/injection/budget.py);
- `too_large`: the body is larger than MAX_REVIEW_BYTES, or the injected object would be larger
  than the API server stores (MAX_STORED_OBJECT_BYTES); `error`: a bug, logged with its traceback;
- `malformed`: not an AdmissionReview at all (answered 400, which failurePolicy Ignore admits).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from gobuild_operator.core.injection.budget import Budget, OverBudget
from gobuild_operator.core.injection.inject import Injection, PlanCache, inject
from gobuild_operator.core.injection.patch import json_patch
from gobuild_operator.metrics import Metrics
from gobuild_operator.redact import redact_text
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

logger = logging.getLogger(__name__)

#: Prefix of every admission warning, so users see who speaks.
WARNING_PREFIX: Final = "gobuild-operator: "

#: The largest AdmissionReview read. The API server refuses request bodies over 3 MiB
#: (--max-request-bytes) and etcd objects over 1.5 MiB, and a review carries the object and, for
#: an UPDATE, the stored old object: 3 + 1.5 MiB plus JSON's escaping stays below this.
MAX_REVIEW_BYTES: Final = 8 * 1024 * 1024

#: The largest object the API server stores (etcd's request limit, 1.5 MiB, less what the API
#: server adds itself: managedFields, status). An injected object beyond it would be admitted and
#: then refused by the API server ("request is too large"), so it is admitted unchanged instead.
MAX_STORED_OBJECT_BYTES: Final = 1_500_000

#: The request uid sits near the start of what the API server sends; enough to answer a review we
#: will not read in full.
_UID = re.compile(rb'"uid"\s*:\s*"([^"\\]{1,128})"')

#: The object kind each webhook path handles (paths and rules: k8s/webhookconfig.py HOOKS).
KINDS: Final[Mapping[str, str]] = {"pods": "Pod", "jobs": "Job", "cronjobs": "CronJob"}


class Malformed(Exception):
    """The body is not an AdmissionReview we can answer."""


class _TooLargeInjected(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def admit(
    obj: Mapping[str, Any],
    *,
    kind: str,
    namespace: str,
    settings: Settings,
    store: Store,
    plans: PlanCache | None = None,
    budget: Budget | None = None,
) -> Injection:
    """What admission does with one object, from the store's view of its namespace."""
    return inject(
        obj,
        kind=kind,
        namespace=namespace,
        namespace_labels=store.namespace_labels(namespace),
        operator_namespace=settings.operator_namespace,
        configs=store.specs(namespace),
        cluster_domain=settings.cluster_domain,
        extra_no_proxy=settings.extra_no_proxy,
        plans=plans,
        budget=budget,
    )


class Admission:
    """Answers AdmissionReviews. Not thread-safe (its plan cache): one per serving thread."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._budget = settings.webhook.admission_budget
        self.plans = PlanCache()

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    def ready(self) -> bool:
        return self._store.synced

    def review(self, body: bytes, *, kind: str) -> bytes:
        """The AdmissionReview answering `body`; raises Malformed when there is nothing to answer."""
        started = self._clock()
        try:
            review = orjson.loads(body)
            request = review["request"]
            uid = request["uid"]
            if not isinstance(uid, str):
                raise TypeError("uid")
        except (ValueError, TypeError, KeyError) as exc:  # orjson.JSONDecodeError is a ValueError
            self._count(kind, "malformed", started)
            raise Malformed(str(exc)) from None
        outcome = "error"
        patch: list[dict[str, Any]] | None = None
        warnings: list[str] = []
        try:
            namespace = str(request.get("namespace") or "")
            obj = request.get("object")
            budget = Budget(deadline=started + self._budget, clock=self._clock)
            result = admit(
                obj if isinstance(obj, Mapping) else {},
                kind=kind,
                namespace=namespace,
                settings=self._settings,
                store=self._store,
                plans=self.plans,
                budget=budget,
            )
            warnings.extend(result.warnings)
            if result.outcome == "injected" and result.config:
                warnings.extend(probe_warnings(self._store, namespace, result.config))
            outcome = result.outcome
            if result.obj is not None and isinstance(obj, Mapping):
                size = len(orjson.dumps(result.obj))
                if size > MAX_STORED_OBJECT_BYTES:
                    raise _TooLargeInjected(size)
                patch = json_patch(obj, result.obj)
                budget.check()
                self._metrics.injections.labels(namespace=namespace, config=result.config or "").inc()
            if logger.isEnabledFor(logging.DEBUG):
                name = (obj.get("metadata") or {}).get("name") if isinstance(obj, Mapping) else None
                logger.debug("%s %s %s/%s: %s", outcome, kind, namespace, name, result.config or "-")
        except _TooLargeInjected as exc:
            patch, outcome = None, "too_large"
            warnings.append(
                f"not injected: with the Go build settings the object would have {exc.size} bytes, more than "
                f"the API server stores ({MAX_STORED_OBJECT_BYTES}); it is admitted as it was"
            )
        except OverBudget:
            patch, outcome = None, "over_budget"
            warnings.append(
                f"not injected: admission took longer than its budget of {self._budget:g} s; "
                "recreate the object to try again"
            )
            logger.warning(
                "admitted %s in %s unchanged: over the admission budget", kind, request.get("namespace")
            )
        except Exception:  # never block or corrupt what we do not understand: admit unchanged
            patch, outcome = None, "error"
            warnings.append("not injected because of an internal error; see the operator log")
            logger.exception(
                "admitted %s in %s unchanged after an internal error", kind, request.get("namespace")
            )
        self._count(kind, outcome, started)
        return answer(uid, patch=patch, warnings=warnings)

    def too_large(self, prefix: bytes, *, kind: str, size: int) -> bytes | None:
        """The answer to a review over MAX_REVIEW_BYTES, from its first bytes (None: no uid there)."""
        started = self._clock()
        self._count(kind, "too_large", started)
        match = _UID.search(prefix)
        logger.warning("admitted a %s unchanged: its AdmissionReview has %d bytes", kind, size)
        if match is None:
            return None
        note = (
            f"not injected: the admission request has {size} bytes, more than the webhook reads "
            f"({MAX_REVIEW_BYTES})"
        )
        return answer(match.group(1).decode("ascii", "replace"), patch=None, warnings=[note])

    def _count(self, kind: str, outcome: str, started: float) -> None:
        self._metrics.admission_requests.labels(kind=kind, outcome=outcome).inc()
        self._metrics.admission_seconds.labels(kind=kind).observe(self._clock() - started)


def probe_warnings(store: Store, namespace: str, config: str) -> list[str]:
    """What the latest probes of the config found failing, for whoever creates a build with it: a
    build that cannot get past a failing proxy fails at go mod download, minutes later."""
    health = store.probe_health(namespace, config)
    if health is None:
        return []
    failed = "; ".join(f"{url}: {error}" for url, error in health.failing)
    if health.blocking:
        effect = (
            "builds fail at go mod download until it answers (kubectl get gbc "
            f"{config} -o yaml shows status.proxies; fix spec.goproxy or set spec.proxyFallback: OnAnyError)"
        )
    else:
        effect = "go moves on past it to the next spec.goproxy entry, so builds depend on that one"
    return [redact_text(f"{config}: the GOPROXY probe at {health.time} failed: {failed}; {effect}")]


def answer(uid: str, *, patch: list[dict[str, Any]] | None, warnings: list[str]) -> bytes:
    """An allowing AdmissionReview response, with `patch` as a JSON Patch when there is one.

    orjson, not json: encoding the patch (several KB of env values) was a tenth of a request."""
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(patch)).decode("ascii")
    if warnings:
        response["warnings"] = [WARNING_PREFIX + warning for warning in warnings]
    return orjson.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
    )
