"""The only code that talks to the Kubernetes API besides kopf.

kopf watches GoBuildConfigs and Namespaces and runs the operator's start-up; everything else goes
through the one async ApiClient of client.py (kubernetes_asyncio): the operator's own watches
(metawatch.py: injected Pods, missed injections, referenced objects, the webhook's TLS Secret),
status writes (status.py, called by the status writer only), Events, leases, claims, the webhook
configuration, lookups. Keyword-only functions; no other package imports an API client (an
import-linter contract checks it).
"""
