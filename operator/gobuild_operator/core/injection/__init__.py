"""Injection: whether an admitted Pod, Job or CronJob gets a GoBuildConfig, and what it gets.

`selection` walks SPEC "Opting in" and names the config; `plan` turns a spec into what every
injected container receives (env, volumes, mounts, git and ssh settings), once per spec; `mutate`
applies a plan to the one pod template of any of the three kinds and says what it skipped and why;
`patch` turns the change into a few coarse JSON Patch operations; `inject` is the one path through
all of them, which the webhook and the missed-injection check both take. `budget` bounds the time
one request may spend. Image builder command lines are core/imagebuilds' job.
"""
