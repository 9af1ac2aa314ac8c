"""The API calls of the command-line tools, not of the running operator: `preview`'s server-side
dry runs (dryrun.py), `preflight`'s Job and what it reads back (preflight.py), and `selftest`'s
scratch config and dry-run Pod (selftest.py). Each opens its own client; nothing here runs inside
the operator's process."""
