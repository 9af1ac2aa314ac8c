"""Injection: whether an admitted Pod, Job or CronJob gets a GoBuildConfig, and how it gets it.

`selection` walks SPEC "Opting in" and names the config; `mutate` applies the config's plan (core/plan.py:
what every injected container receives, once per spec) to the one pod template of any of the three
kinds and says what it skipped and why; `patch` turns the change into a few coarse JSON Patch
operations; `inject` is the one path through all of them, which the webhook and the missed-injection
check both take. `budget` bounds the time one request may spend. Image builder command lines are
core/imagebuilds' job.
"""
