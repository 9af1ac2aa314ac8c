"""Every recorded failure of every Go version, git, OpenSSH and builder through `diagnose`.

Prints the corpus as a table, reason by Go version (and by tool): how many fixtures of each reason
each version printed and the classifier named right. The same root cause reads differently across
Go versions; this is where that shows.
"""

from __future__ import annotations

from collections import Counter

import pytest

from gobuild_operator.core.diagnosis.diagnose import REASONS, diagnose
from support.gofailures import all_recorded, go_versions

MIN_FIXTURES_PER_GO_VERSION = 40


def test_the_corpus_reason_by_go_version(capsys: pytest.CaptureFixture[str]) -> None:
    recorded = all_recorded()
    columns = [*go_versions(), *sorted({r.origin for r in recorded} - set(go_versions()))]
    right: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    for r in recorded:
        got = diagnose(r.text, settings=r.settings, workload=r.workload)
        total[(r.reason, r.origin)] += 1
        if got.reason == r.reason:
            right[(r.reason, r.origin)] += 1
        else:
            wrong.append(f"{r.case}: {r.reason} expected, {got.reason} named ({got.evidence})")
    width = max(len(reason) for reason in REASONS)
    rows = [f"{'reason':<{width}} " + " ".join(f"{column:>16}" for column in columns)]
    for reason in REASONS:
        cells = [f"{right[(reason, c)]}/{total[(reason, c)]}" if total[(reason, c)] else "-" for c in columns]
        rows.append(f"{reason:<{width}} " + " ".join(f"{cell:>16}" for cell in cells))
    per_column = [sum(total[(reason, c)] for reason in REASONS) for c in columns]
    covered = [sum(1 for reason in REASONS if total[(reason, c)]) for c in columns]
    rows.append(f"{'fixtures':<{width}} " + " ".join(f"{n:>16}" for n in per_column))
    rows.append(f"{'reasons covered':<{width}} " + " ".join(f"{n:>16}" for n in covered))
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert not wrong, "\n".join(wrong)
    for version in go_versions():
        assert per_column[columns.index(version)] >= MIN_FIXTURES_PER_GO_VERSION, version
