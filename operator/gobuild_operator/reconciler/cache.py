"""The objects a GoBuildConfig's cache needs, created and owned by it: today the module cache claim
`<name>-gomodcache` (k8s/claims.py), made when the spec wants the operator's own and it is missing.
The checks (reporting/checker.py) observe what exists and ask for it again when it went missing."""

from __future__ import annotations

from gobuild_operator.k8s.claims import ensure_claim
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.store import ConfigInfo


class CacheObjects:
    def __init__(self, *, api: ApiClient) -> None:
        self._api = api

    async def ensure(self, info: ConfigInfo) -> str:
        """Create what the config's cache needs and is missing; "" or what went wrong."""
        if info.spec is None:
            return ""
        return await ensure_claim(
            self._api, namespace=info.namespace, config_name=info.name, config_uid=info.uid, spec=info.spec
        )
