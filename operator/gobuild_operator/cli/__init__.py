"""The commands besides `run`: `check` (a Dockerfile), `diagnose` (a build log), `preview` (what
the webhook would do to a workload), `preflight` (whether a go.mod will download with a config)
and `selftest` (the webhook round trip of an installed operator). __main__.py dispatches to them."""
