"""The commands besides `run`: `check` (a Dockerfile), `diagnose` (a build log) and `selftest`
(the webhook round trip of an installed operator). __main__.py dispatches to them."""
