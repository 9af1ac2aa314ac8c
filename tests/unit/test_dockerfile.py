"""The Dockerfile parser: line numbers, directives, continuations, heredocs, forms and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobuild_operator.core.dockercheck.dockerfile import csv_fields, expand, key_values, parse, references


def summary(text: str) -> list[tuple[int, str, str]]:
    return [(i.line, i.keyword, i.rest) for i in parse(text).instructions]


def test_directives_only_at_the_top() -> None:
    parsed = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\n# escape=\\\n")
    assert parsed.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert parsed.escape == "`"
    assert summary("\n# escape=`\nFROM scratch\n")[0] == (3, "FROM", "scratch")
    assert parse("\n# escape=`\nFROM scratch\n").escape == "\\"


def test_continuations_keep_the_first_line_and_drop_comments_and_blank_lines() -> None:
    text = "FROM golang\nRUN a \\\n  # a comment\n\n  && b \\  \n  && c\nRUN d\n"
    assert summary(text) == [(1, "FROM", "golang"), (2, "RUN", "a && b && c"), (7, "RUN", "d")]
    assert parse(text).instructions[1].end_line == 6


def test_backtick_escape_continues_lines() -> None:
    assert summary("# escape=`\nFROM x\nRUN a `\n  b\n")[1] == (3, "RUN", "a b")


def test_keywords_are_case_insensitive_and_flags_are_split_off() -> None:
    [run] = parse("run --mount=type=cache,target=/go/pkg/mod --network=none go mod download\n").instructions
    assert run.keyword == "RUN"
    assert run.flags == (("mount", "type=cache,target=/go/pkg/mod"), ("network", "none"))
    assert run.rest == "go mod download"
    assert run.flag("network") == "none"


def test_exec_form_only_for_a_json_array_of_strings() -> None:
    exec_run, shell_run, bad_json = parse(
        'RUN ["go", "mod", "download"]\nRUN [ -f x ]\nRUN ["go", 1]\n'
    ).instructions
    assert exec_run.exec_form == ("go", "mod", "download")
    assert shell_run.exec_form is None
    assert bad_json.exec_form is None


def test_heredocs_take_their_lines_and_the_next_instruction_keeps_its_number() -> None:
    text = "FROM x\nRUN <<EOF\ngo mod download\nEOF\nCOPY <<-A <<'B' /dst\n\tone\n\tA\ntwo\nB\nRUN done\n"
    instructions = parse(text).instructions
    assert [(i.line, i.keyword) for i in instructions] == [(1, "FROM"), (2, "RUN"), (5, "COPY"), (10, "RUN")]
    assert instructions[1].heredocs[0].body == "go mod download"
    assert instructions[1].heredocs[0].line == 3
    assert [h.body for h in instructions[2].heredocs] == ["one", "two"]
    assert instructions[2].end_line == 9


def test_here_string_is_not_a_heredoc() -> None:
    instructions = parse("RUN cat <<< EOF\nRUN b\n").instructions
    assert [i.line for i in instructions] == [1, 2]
    assert instructions[0].heredocs == ()


@pytest.mark.parametrize(
    ("text", "legacy", "pairs"),
    [
        pytest.param("GOPROXY", False, [("GOPROXY", None)], id="arg-name"),
        pytest.param("A=1 B", False, [("A", "1"), ("B", None)], id="arg-several"),
        pytest.param(
            'GOFLAGS="-mod=mod -trimpath" X=y',
            True,
            [("GOFLAGS", "-mod=mod -trimpath"), ("X", "y")],
            id="env-quoted",
        ),
        pytest.param("GOFLAGS -mod=mod", True, [("GOFLAGS", "-mod=mod")], id="env-legacy-form"),
        pytest.param(
            "GOPROXY https://a,direct", True, [("GOPROXY", "https://a,direct")], id="env-legacy-url"
        ),
    ],
)
def test_key_values(text: str, legacy: bool, pairs: list[tuple[str, str | None]]) -> None:
    assert key_values(text, legacy=legacy) == pairs


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        pytest.param("golang:${GO}-alpine", "golang:1.26-alpine", id="braces"),
        pytest.param("golang:$GO", "golang:1.26", id="bare"),
        pytest.param("golang:${MISSING:-1.25}", "golang:1.25", id="default"),
        pytest.param("golang:${GO:-1.25}", "golang:1.26", id="default-unused"),
        pytest.param("x${GO:+-set}", "x-set", id="alternative"),
        pytest.param("x${MISSING}", "x", id="unknown-is-empty"),
    ],
)
def test_expand(text: str, expanded: str) -> None:
    assert expand(text, {"GO": "1.26"}.get) == expanded


def test_references_and_csv_fields() -> None:
    assert references("ENV X=${GOPROXY:-direct}", "GOPROXY")
    assert not references("ENV X=$GOPROXYX", "GOPROXY")
    assert csv_fields("type=secret,id=netrc,target=/root/.netrc,required") == {
        "type": "secret",
        "id": "netrc",
        "target": "/root/.netrc",
        "required": "true",
    }


def test_the_syntax_forms_fixture_parses_into_every_instruction() -> None:
    """The fixture `check` must find nothing in: proof that nothing in it was skipped unparsed."""
    path = Path(__file__).resolve().parents[1] / "fixtures" / "dockerfiles" / "syntax-forms" / "Dockerfile"
    parsed = parse(path.read_text())
    assert parsed.escape == "`"
    assert [(i.line, i.keyword) for i in parsed.instructions] == [
        (4, "ARG"),
        (6, "FROM"),
        (7, "ARG"),
        (8, "WORKDIR"),
        (10, "COPY"),
        (11, "RUN"),
        (15, "COPY"),
        (16, "RUN"),
        (21, "FROM"),
        (22, "COPY"),
        (23, "ENTRYPOINT"),
    ]
    assert parsed.instructions[5].rest == "go mod download"
    assert parsed.instructions[4].exec_form == ("go.mod", "go.sum", "./")
    assert parsed.instructions[7].heredocs[0].body == "set -eu\nCGO_ENABLED=0 go build -o /out/app ."
