"""The reason registry: every download failure reason once, with its tier, summary, general remedy
and the log lines that show it, grouped by kind in the classifier's order of precedence (the
environment's failures, the failures that cause a download to fail, the outcomes that often follow
from those). `registry` joins the kinds into the one ordered tuple the classifier, the CRD's reason
descriptions, docs/diagnosis.md and the tests read. Pure data: no I/O.
"""
