"""What a terminal shows of a build log's lines: escapes and CI prefixes stripped, a line's bounds, its
carriage-return segment, the lines above it, and the evidence cut from it.

The classifier (diagnose.py) reads a log in blocks of whole lines; everything here works on one such
block as text and a position in it, and never reads more than WINDOW characters of one line around a
position or CONTEXT_LINES lines above it, so the work stays linear in the log's size.

Text a module proxy returns ("server response:" and the indented lines under it) is the proxy's own
story about its upstream (`in_proxy_detail`); the classifier never reads it as this build's own failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

#: Longest evidence kept (a pathological log line must not bloat a status field).
MAX_EVIDENCE: Final = 500
#: Lines of the previous block kept for looking back (a proxy's response, the go line above git's).
CONTEXT_LINES: Final = 24
#: How much of one line is looked at around a match (attribution, module, host).
WINDOW: Final = 4096

# Terminal escapes: CSI (colours, GitLab's `\e[0K`), OSC (titles), nF (`ESC ( B`, charset
# designation, as `tput sgr0` prints it) and the single-character ones.
_ANSI: Final = re.compile(
    r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[ -/]+[0-~]|\x1b[0-Z\\-~]"
)

# What CI systems and image builders put in front of a tool's output line. Each alternative ends
# with exactly the separator it owns, so the tool's own indentation (a tab) survives.
_PREFIX: Final = re.compile(
    r"""
    (?:
        \d{4}-\d{2}-\d{2}[T\ ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?[ ]  # ISO 8601
      | \[\d{4}-\d{2}-\d{2}[T\ ][^\]\n]*\][ ]?                                     # [2024-05-01 12:34:56]
      | \[?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\]?[ ]                                      # 12:34:56 / [12:34:56]
      | (?:stdout|stderr)[ ][FP][ ]                                                # CRI container log
      | \#\d+[ ]\d+(?:\.\d+)?[ ]                                                   # buildkit "#8 12.34 "
      | \#\d+[ ]                                                                   # buildkit "#8 "
      | \d+\.\d+[ ]                                                                # buildx error summary
      | (?:STEP|Step)[ ]\d+/\d+[ ]?:[ ]                                            # podman/buildah, docker
      | (?:INFO|WARN|ERRO|DEBU|FATA)\[\d+\][ ]*                                     # kaniko (logrus)
      | \++[ ]                                                                     # sh -x trace
      | \#\#\[[a-z]+\][ ]?                                                         # GitHub Actions, Azure
      | \[(?:step-[\w.-]+|Pipeline|pod/[^\]\n]+|[\w.-]+/[\w.-]+)\][ ]?               # tekton, jenkins
      | \[[\w.-]+[ ]:[ ][\w.-]+\][ ]?                                              # tkn "[task : step]"
      | [\w.-]+-\d+[ ]+\|[ ]                                                       # compose "build-1  | "
    )
    """,
    re.VERBOSE,
)


PROXY_DETAIL_MARK: Final = "server response:"


def strip_ci_prefix(line: str) -> str:
    """The line without CI/builder prefixes (timestamps, `#8 1.23`, `STEP 3/7:`, `+ `), indentation kept."""
    for _ in range(8):
        m = _PREFIX.match(line)
        if m is None or m.end() == 0:
            break
        line = line[m.end() :]
    return line


def strip_ansi(text: str) -> str:
    """The text without terminal escapes (colours, cursor moves, charset designations)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def start_of_line(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def end_of_line(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def last_lines(text: str, count: int) -> str:
    """The last `count` lines of text (each cut to WINDOW characters), for looking back."""
    start = len(text)
    for _ in range(count + 1):  # one more: the text ends with a newline
        start = text.rfind("\n", 0, start)
        if start < 0:
            break
    return "\n".join(line[:WINDOW] for line in text[start + 1 :].split("\n"))


def segment(text: str, line_start: int, pos: int, line_end: int) -> tuple[int, int]:
    """The carriage-return segment of the line around pos (what a terminal shows of it)."""
    lo, hi = max(line_start, pos - WINDOW), min(line_end, pos + WINDOW)
    cr = text.rfind("\r", lo, pos)
    start = cr + 1 if cr >= 0 else lo
    cr = text.find("\r", pos, hi)
    return start, (cr if cr >= 0 else hi)


def evidence_at(text: str, line_start: int, pos: int, end: int) -> str:
    """The matched line without CI prefixes; of a long line, the part around the match."""
    line_end = end_of_line(text, pos)
    start, stop = segment(text, line_start, pos, line_end)
    if start == line_start or text.rfind("\r", line_start, pos) >= 0:
        head = text[start:pos]
        stripped = strip_ci_prefix(head)
        start += len(head) - len(stripped)
    line = text[start:stop]
    lead = len(line) - len(line.lstrip())
    line = line.strip()
    if len(line) <= MAX_EVIDENCE:
        return line
    at = max(0, pos - start - lead)
    span = max(1, min(end - pos, MAX_EVIDENCE - 2))
    first = max(0, min(at - (MAX_EVIDENCE - 2 - span) // 2, len(line) - (MAX_EVIDENCE - 2)))
    piece = line[first : first + MAX_EVIDENCE - 2]
    return ("…" if first > 0 else "") + piece + ("…" if first + len(piece) < len(line) else "")


def visible(text: str, line_start: int) -> str:
    """What a terminal shows of the line at line_start (its last CR segment, without CI prefixes),
    bounded to WINDOW characters."""
    line = text[line_start : min(end_of_line(text, line_start), line_start + WINDOW)]
    return strip_ci_prefix(line.rstrip("\r").rsplit("\r", 1)[-1])


def is_indented(line: str) -> bool:
    return line[:1] in (" ", "\t")


def previous_lines(text: str, line_start: int) -> Iterable[tuple[int, str]]:
    """(start, visible text) of the lines before line_start, nearest first, at most CONTEXT_LINES."""
    end = line_start - 1
    for _ in range(CONTEXT_LINES):
        if end < 0:
            return
        start = text.rfind("\n", 0, end) + 1
        yield start, visible(text, start)
        end = start - 1


def in_proxy_detail(text: str, line_start: int, pos: int) -> bool:
    """Whether pos lies in text a module proxy sent back (after `server response:`, or indented under it)."""
    if text.find(PROXY_DETAIL_MARK, line_start, pos) >= 0:
        return True
    if not is_indented(visible(text, line_start)):
        return False
    for _, previous in previous_lines(text, line_start):
        if PROXY_DETAIL_MARK in previous:
            return True
        if not is_indented(previous):
            return False
    return False
