"""What a GoBuildConfig's status says about its config: the conditions, and the parts the operator checks.

`conditions` keeps metav1.Conditions and derives Ready; `reach` decides what a GOPROXY probe may ask
and reach, and `health` what the probes, the referenced Secrets and ConfigMaps and the module cache
claim mean as conditions and status fields; `compose` makes one status from the spec's part, the
checks' findings and what the builds did (core/downloads/). No I/O: reporting/ feeds it and the
reconciler writes what it returns.
"""
