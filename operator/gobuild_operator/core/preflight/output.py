"""What the preflight Job prints, read back: sections of real go output between marker lines.

The Job's script (job.py) runs each go command with its stdout and stderr captured apart, then
prints `@@gobuild-preflight NAME STATUS`, the command's stdout, `@@gobuild-preflight NAME.stderr`
and its stderr. The reader is one pass over the lines; go's `-json` output (a stream of objects) is
decoded object by object, and text that is not JSON is kept as the section's stray text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

MARK: Final = "@@gobuild-preflight"
#: The most of a Pod's log preflight reads (go's JSON for thousands of modules fits).
MAX_LOG: Final = 8 << 20


@dataclass
class Section:
    name: str
    status: int | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def out(self) -> str:
        return "\n".join(self.stdout)

    @property
    def err(self) -> str:
        return "\n".join(self.stderr)


@dataclass(frozen=True)
class JobOutput:
    sections: dict[str, Section]
    complete: bool  # the script reached its end marker

    def section(self, name: str) -> Section | None:
        return self.sections.get(name)


def parse_output(log: str) -> JobOutput:
    """The sections of the Job's log (MAX_LOG characters at most are read)."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    to_stderr = False
    complete = False
    for line in log[:MAX_LOG].split("\n"):
        if line.startswith(MARK + " "):
            words = line[len(MARK) + 1 :].split()
            if words == ["end"]:
                complete = True
                current = None
                continue
            if len(words) == 1 and words[0].endswith(".stderr") and current is not None:
                to_stderr = True
                continue
            if len(words) == 2 and words[1].lstrip("-").isdigit():
                current = sections.setdefault(words[0], Section(words[0]))
                current.status = int(words[1])
                to_stderr = False
                continue
        if current is not None:
            (current.stderr if to_stderr else current.stdout).append(line)
    return JobOutput(sections, complete)


def json_objects(text: str) -> tuple[list[dict[str, Any]], str]:
    """The JSON objects of go's -json output, in order, and whatever text was not one."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    stray: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        start = text.find("{", pos)
        if start < 0:
            stray.append(text[pos:])
            break
        stray.append(text[pos:start])
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            # not an object here: keep the line as text and go on after it
            newline = text.find("\n", start)
            end = n if newline < 0 else newline + 1
            stray.append(text[start:end])
            pos = end
            continue
        if isinstance(value, dict):
            objects.append(value)
        pos = end
    return objects, "".join(stray).strip()
