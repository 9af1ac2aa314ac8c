"""The only code that talks to the Kubernetes API besides kopf.

kopf does what kopf does: the watches of GoBuildConfigs, Namespaces and injected Pods, the admission
webhook, and its own progress annotations. Everything else goes through the one async ApiClient of
client.py (kubernetes_asyncio), with keyword-only functions here; no other module imports an API
client (an import-linter contract checks it).
"""
