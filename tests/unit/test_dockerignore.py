""".dockerignore matching: each row is what Docker/BuildKit decides (moby/patternmatcher semantics)."""

from __future__ import annotations

import pytest

from gobuild_operator.core.dockercheck.dockerignore import decide, parse


@pytest.mark.parametrize(
    ("ignore", "path", "excluded"),
    [
        pytest.param("go.mod", "go.mod", True, id="exact"),
        pytest.param("/go.mod", "go.mod", True, id="leading-slash-is-the-root"),
        pytest.param("./go.mod", "go.mod", True, id="dot-slash-cleaned"),
        pytest.param("go.mod", "sub/go.mod", False, id="bare-name-only-at-the-root"),
        pytest.param("**/go.mod", "sub/dir/go.mod", True, id="double-star-any-depth"),
        pytest.param("**/go.mod", "go.mod", True, id="double-star-also-zero-dirs"),
        pytest.param("*.sum", "go.sum", True, id="star"),
        pytest.param("*.sum", "sub/go.sum", False, id="star-does-not-cross-slash"),
        pytest.param("*/go.sum", "sub/go.sum", True, id="star-one-dir"),
        pytest.param("go.?um", "go.sum", True, id="question-mark"),
        pytest.param("go.[ms]um", "go.sum", True, id="class"),
        pytest.param("vendor", "vendor/x/go.mod", True, id="parent-dir-excludes-below"),
        pytest.param("vendor/**", "vendor/x/go.mod", True, id="trailing-double-star"),
        pytest.param("**", "go.mod", True, id="everything"),
        pytest.param("*\n!go.mod", "go.mod", False, id="exception-after-star"),
        pytest.param("*\n!go.mod", "go.sum", True, id="exception-is-specific"),
        pytest.param("!go.mod\n*", "go.mod", True, id="last-match-wins"),
        pytest.param("*\n!**/*.go\n!go.mod", "cmd/app/main.go", False, id="exception-below-excluded-dir"),
        pytest.param("# go.mod\n", "go.mod", False, id="comment"),
        pytest.param("  go.mod  ", "go.mod", True, id="trimmed"),
        pytest.param(" # go.mod", "# go.mod", True, id="hash-not-at-line-start-is-a-pattern"),
        pytest.param("**go.mod", "xgo.mod", True, id="leading-double-star-suffix-shortcut"),
        pytest.param("go\\.mod", "go.mod", True, id="escaped-dot"),
        pytest.param("go.mod/", "go.mod", True, id="trailing-slash-cleaned"),
        pytest.param("a/../go.mod", "go.mod", True, id="dotdot-cleaned"),
        pytest.param("\ufeffgo.mod", "go.mod", True, id="utf8-bom"),
        pytest.param("", "go.mod", False, id="empty"),
    ],
)
def test_decide(ignore: str, path: str, excluded: bool) -> None:
    assert decide(parse(ignore), path).excluded is excluded


def test_the_deciding_pattern_and_its_line_are_reported() -> None:
    decision = decide(parse("# build inputs only\n.git\n*.sum\n!keep.sum\n"), "go.sum")
    assert decision.excluded
    assert decision.pattern is not None
    assert (decision.pattern.line, decision.pattern.text) == (3, "*.sum")


def test_an_exception_that_re_includes_reports_no_exclusion() -> None:
    decision = decide(parse("*\n!go.mod\n"), "go.mod")
    assert not decision.excluded
    assert decision.pattern is not None
    assert decision.pattern.exclusion
