"""Diagnosis: a build log in, a reason out, with its summary, remedy and the evidence.

`reasons/` is the registry (names from api/status/reasons.py; summary, remedy and the log lines that show
each reason, in the classifier's order of precedence); `diagnose` runs it over a log, linear in the
log's size, reading lines as a terminal shows them (`lines`) and placing a failed request on go's
route through the build's Go settings (`routes`); `remedies` says what fixes it for this config and
workload. The operator runs it on failed Pods' termination messages, and the `diagnose` command on
saved logs, so both name the same reason for the same log.
"""
