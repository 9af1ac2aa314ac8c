"""A Dockerfile parser that keeps line numbers, for `check` (core/dockercheck/).

It follows BuildKit's Dockerfile frontend where that decides what a build does:

* Parser directives (`# syntax=...`, `# escape=\\``, `# check=...`) only at the very top, before any
  comment, blank line or instruction; `escape` changes the line-continuation character.
* A line ending in the escape character (trailing blanks allowed) continues on the next; comment lines
  and blank lines inside a continuation are dropped. An instruction's line number is its first line.
* Instructions are case-insensitive; leading `--name=value` words are flags (`RUN --mount=...`,
  `COPY --from=...`, `FROM --platform=...`).
* Heredocs (`RUN <<EOF`, `<<-EOF`, quoted terminators, several per instruction) take the lines after
  the instruction up to their terminator; RUN keeps their text, so a script inside one is checked too.
* The exec (JSON array) form is recognised when the arguments are a valid JSON array of strings;
  anything else is the shell form, as in BuildKit.
* Variables (`$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alt}`) are expanded where the frontend
  expands them (FROM with the ARGs before the first FROM; WORKDIR, COPY, ENV, ARG with the stage's).

Nothing here reads files: the text comes in, instructions come out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=(.*)")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Heredoc:
    name: str
    body: str
    #: The line of the heredoc's first body line.
    line: int


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), flags, arguments and where it is."""

    line: int
    end_line: int
    keyword: str
    #: Leading `--name=value` flags, in order; a flag without a value has "" (`--link`).
    flags: tuple[tuple[str, str], ...]
    #: The arguments after the flags, continuation lines joined with a space.
    rest: str
    #: The exec form's words when `rest` is a JSON array of strings, else None.
    exec_form: tuple[str, ...] | None = None
    heredocs: tuple[Heredoc, ...] = ()
    #: The comment lines right before the instruction (without "#"), where inline ignores live.
    comments: tuple[str, ...] = ()

    def flag_values(self, name: str) -> list[str]:
        return [value for flag, value in self.flags if flag == name]

    def flag(self, name: str) -> str | None:
        values = self.flag_values(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    directives: Mapping[str, str] = field(default_factory=dict)
    escape: str = "\\"


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile; never raises (what cannot be understood is kept as plain text)."""
    lines = text.removeprefix("\ufeff").splitlines()
    directives: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.fullmatch(lines[index])
        if not match or match.group(1).lower() in directives:
            break
        directives[match.group(1).lower()] = match.group(2).strip(" \t")
        index += 1
    escape = "`" if directives.get("escape") == "`" else "\\"
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    instructions: list[Instruction] = []
    comments: list[str] = []
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            comments = []
            index += 1
            continue
        if stripped.startswith("#"):
            comments.append(stripped[1:].strip())
            index += 1
            continue
        start = index
        parts: list[str] = []
        line = lines[index]
        while True:
            match = continuation.search(line)
            if match is None:
                parts.append(line.strip())
                break
            parts.append(line[: match.start()].strip())
            index += 1
            # comment and blank lines inside a continuation are dropped
            while index < len(lines) and (not lines[index].strip() or lines[index].lstrip().startswith("#")):
                index += 1
            if index >= len(lines):
                break
            line = lines[index]
        end = index
        index += 1
        logical = " ".join(part for part in parts if part)
        keyword, _, arguments = logical.partition(" ")
        keyword = keyword.upper()
        heredocs: list[Heredoc] = []
        if keyword in ("RUN", "COPY", "ADD"):
            for match in _HEREDOC.finditer(arguments):
                strip_tabs, name = match.group(1) == "-", match.group(3)
                body_start = index
                body: list[str] = []
                while index < len(lines):
                    candidate = lines[index].lstrip("\t") if strip_tabs else lines[index]
                    index += 1
                    if candidate == name:
                        break
                    body.append(candidate)
                heredocs.append(Heredoc(name, "\n".join(body), body_start + 1))
                end = index - 1
        flags, rest = _split_flags(arguments.strip())
        instructions.append(
            Instruction(
                line=start + 1,
                end_line=end + 1,
                keyword=keyword,
                flags=flags,
                rest=rest,
                exec_form=_exec_form(rest),
                heredocs=tuple(heredocs),
                comments=tuple(comments),
            )
        )
        comments = []
    return Dockerfile(tuple(instructions), directives, escape)


def _split_flags(arguments: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """Leading `--name=value` words; scanned by position, so many flags cost no copies of the rest."""
    flags: list[tuple[str, str]] = []
    pos = 0
    while arguments.startswith("--", pos):
        end = arguments.find(" ", pos)
        end = len(arguments) if end < 0 else end
        word = arguments[pos:end]
        if word == "--":
            break
        name, _, value = word[2:].partition("=")
        flags.append((name.lower(), value))
        pos = end
        while pos < len(arguments) and arguments[pos] in " \t":
            pos += 1
    return tuple(flags), arguments[pos:]


def _exec_form(rest: str) -> tuple[str, ...] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


# --- words and variables ---------------------------------------------------------------------


#: Shell words, a token at a time: plain text, single- and double-quoted strings, a backslash escape,
#: blanks; a lone quote is unbalanced. One pass of the regex engine, so linear in the text (shlex
#: builds each word a character at a time by string concatenation: quadratic on a long word).
_TOKEN = re.compile(r"""([^\s'"\\]+)|'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|(\s+)|(['"\\])""", re.DOTALL)
_DQ_ESCAPE = re.compile(r"""\\([$`"\\\n])""")


def words(text: str) -> list[str]:
    """Shell-like words (quotes removed, as POSIX sh); unbalanced quotes fall back to splitting on blanks."""
    found: list[str] = []
    current: list[str] = []
    started = False
    for m in _TOKEN.finditer(text):
        plain, single, double, escaped, blank, lone = m.groups()
        if lone is not None:
            return text.split()
        if blank is not None:
            if started:
                found.append("".join(current))
            current, started = [], False
            continue
        started = True
        if plain is not None:
            current.append(plain)
        elif single is not None:
            current.append(single)
        elif double is not None:
            current.append(_DQ_ESCAPE.sub(r"\1", double) if "\\" in double else double)
        elif escaped is not None:
            current.append("" if escaped == "\n" else escaped)
    if started:
        found.append("".join(current))
    return found


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand $NAME, ${NAME}, ${NAME:-default} and ${NAME:+alt}; unknown names expand to ""."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = lookup(name)
        operator, word = match.group(2), match.group(3) or ""
        if operator in (":-", "-"):
            unset = value is None or (operator == ":-" and value == "")
            return word if unset else str(value)
        if operator in (":+", "+"):
            unset = value is None or (operator == ":+" and value == "")
            return "" if unset else word
        return value or ""

    return _VARIABLE.sub(replace, text)


def references(text: str, name: str) -> bool:
    """Whether `text` uses the variable `name` ($NAME or ${NAME...})."""
    return any((match.group(1) or match.group(4)) == name for match in _VARIABLE.finditer(text))


def key_values(text: str, *, legacy: bool = False) -> list[tuple[str, str | None]]:
    """ARG/ENV arguments: NAME=value pairs (quotes removed), NAME alone as (NAME, None).

    With `legacy` (ENV), a first word without "=" is the old `ENV NAME value with spaces` form: one pair.
    """
    items = words(text)
    if legacy and items and "=" not in items[0]:
        return [(items[0], " ".join(items[1:]))]
    pairs: list[tuple[str, str | None]] = []
    for item in items:
        name, sep, value = item.partition("=")
        pairs.append((name, value if sep else None))
    return pairs


def csv_fields(value: str) -> dict[str, str]:
    """`type=cache,target=/go/pkg/mod` -> {"type": "cache", "target": "/go/pkg/mod"} (keys lower case)."""
    fields: dict[str, str] = {}
    for part in value.split(","):
        key, sep, item = part.partition("=")
        fields[key.strip().lower()] = item.strip().strip("\"'") if sep else "true"
    return fields
