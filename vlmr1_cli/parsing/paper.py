"""Paper-exact scanners: each reproduces one regular expression of VLM-R1's reward or evaluation
code with the same acceptance and captured text, in linear time (the originals backtrack
catastrophically on a stuck policy's repetitive output)."""

from __future__ import annotations

import re

from vlmr1_cli.parsing.spans import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    FENCE,
    MAX_ANSWER_VALUE,
    THINK_CLOSE,
    THINK_OPEN,
    extract_answer,
)

_INT_BOX_RE = re.compile(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]")
# Digits of MAX_ANSWER_VALUE (1e9: 10); longer digit strings are over it, whatever the digits.
_MAX_ANSWER_DIGITS = len(str(int(MAX_ANSWER_VALUE)))


def _int_box(m: re.Match) -> tuple[int, int, int, int] | None:
    """The four captured integers, or None when one exceeds MAX_ANSWER_VALUE.

    VLM-R1 converts them with int(), which raises past 4,300 digits (its reward's `except`
    gives 0, its evaluation crashes); here the box is unreadable instead, as is any box with a
    coordinate over a billion, far outside any image (VLM-R1 scores such a box a near-zero
    IoU, or crashes once its float conversion overflows past 308 digits).
    """
    groups = m.groups()
    # Decided on the digit count first: int() of a long digit string is slow or raises.
    if any(len(g.lstrip("0")) > _MAX_ANSWER_DIGITS for g in groups):
        return None
    box = tuple(int(g) for g in groups)
    return box if all(v <= MAX_ANSWER_VALUE for v in box) else None  # type: ignore[return-value]


def find_int_box(text: str) -> tuple[int, int, int, int] | None:
    """First match of VLM-R1's `\\[(\\d+),\\s*(\\d+),\\s*(\\d+),\\s*(\\d+)]` as ints, or None
    (also when a value exceeds MAX_ANSWER_VALUE)."""
    if not isinstance(text, str):
        return None
    m = _INT_BOX_RE.search(text)
    if m is None:
        return None
    return _int_box(m)


def _int_box_spans(text: str, pos: int = 0):
    """`(start, end, match)` of each non-overlapping integer-box match from `pos` on."""
    for m in _INT_BOX_RE.finditer(text, pos):
        yield m.start(), m.end(), m


def _think_to_answer(text: str, pos: int) -> int:
    """End of the earliest-ending `</think>\\s*<answer>` starting at or after `pos`, or -1.

    Candidates are tried in order of their `</think>`; the whitespace runs they skip are
    disjoint (a run cannot contain "<"), so the scan is linear. The first candidate that is
    followed by `<answer>` also ends first.
    """
    n = len(text)
    while True:
        b = text.find(THINK_CLOSE, pos)
        if b < 0:
            return -1
        e = b + len(THINK_CLOSE)
        while e < n and text[e].isspace():  # re's \s on str == str.isspace
            e += 1
        if text.startswith(ANSWER_OPEN, e):
            return e + len(ANSWER_OPEN)
        pos = b + 1


def match_rec_format(text: str) -> bool:
    """Same acceptance as VLM-R1's REC format check, in linear time:

    `re.search(r"<think>.*?</think>\\s*<answer>.*?\\{.*\\[\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\].*\\}.*?</answer>",
    text, re.DOTALL)`. With DOTALL every wildcard is unrestricted, so a match exists iff the
    pieces occur in order without overlapping; taking each piece's earliest-ending occurrence
    after the previous one is then optimal.
    """
    if not isinstance(text, str):
        return False
    a = text.find(THINK_OPEN)
    if a < 0:
        return False
    pos = _think_to_answer(text, a + len(THINK_OPEN))
    if pos < 0:
        return False
    d = text.find("{", pos)
    if d < 0:
        return False
    m = _INT_BOX_RE.search(text, d + 1)
    if m is None:
        return False
    g = text.find("}", m.end())
    if g < 0:
        return False
    return text.find(ANSWER_CLOSE, g + 1) >= 0


def match_think_answer(text: str, *, require_json_fence: bool = False) -> bool:
    """Same acceptance as `re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)`.

    With `require_json_fence`, the paper's stricter OVD rule: as
    `re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?```json.*?```.*?</answer>", text, re.DOTALL)`.
    Linear time (see `match_rec_format` for why earliest-ending pieces decide).
    """
    if not isinstance(text, str):
        return False
    n = len(text)
    if not text.startswith(THINK_OPEN) or not text.endswith(ANSWER_CLOSE):
        return False
    limit = n - len(ANSWER_CLOSE)  # the final "</answer>" starts here
    pos = _think_to_answer(text, len(THINK_OPEN))
    if pos < 0 or pos > limit:
        return False
    if require_json_fence:
        f = text.find(FENCE + "json", pos)
        if f < 0:
            return False
        c = text.find(FENCE, f + len(FENCE) + 4)
        if c < 0 or c + len(FENCE) > limit:
            return False
    return True


def parse_rec_box_vlmr1(text: str) -> tuple[int, int, int, int] | None:
    """VLM-R1's REC evaluation parser (docs/metrics.md §1), in linear time.

    The first `<answer>` span (or the whole text if none), then
    `re.search(r"\\{.*\\[(\\d+),\\s*(\\d+),\\s*(\\d+),\\s*(\\d+)]\\s*.*\\}", span, re.DOTALL)`:
    after the first "{", the last integer 4-list that has a "}" somewhere after it.
    """
    if not isinstance(text, str):
        return None
    span = extract_answer(text)
    if span is None:
        span = text
    first_brace = span.find("{")
    last_brace = span.rfind("}")
    if first_brace < 0 or last_brace < 0:
        return None
    best = None
    for _, end, m in _int_box_spans(span, first_brace + 1):
        if end > last_brace:
            break
        best = m
    if best is None:
        return None
    return _int_box(best)
