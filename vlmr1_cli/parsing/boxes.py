"""The tolerant box reader for evaluation and rewards not tied to the paper's exact rule:
JSON lists/objects with `bbox_2d` (+ `label`), bare lists, Qwen2-VL box forms, ints and floats."""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from vlmr1_cli.geometry import Box
from vlmr1_cli.parsing.spans import (
    BOX_KEYS,
    FENCE,
    LABEL_KEY,
    MAX_ANSWER_VALUE,
    QWEN2_BOX_END,
    QWEN2_BOX_START,
    QWEN2_REF_END,
    QWEN2_REF_START,
    _tag_spans,
    extract_answer,
)


class ParsedBox(NamedTuple):
    bbox: tuple[float, float, float, float]
    label: str | None


# Tokens of the tolerant reader. Double-quoted strings stop at a newline (JSON strings cannot
# hold one) and never start at an escaped quote: a failed string attempt ends at a newline or
# the end, every quote it passed was escaped, so no later attempt rescans its run (linear
# time even on `"\"\"\"…`). Single-quoted strings (Python-style dicts) may not hold brackets
# or braces, so an apostrophe in prose never swallows a box.
_TOKEN_RE = re.compile(
    r'(?<!\\)"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\\\n\[\]{}\"]*'"
    r"|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
    r"|[{}\[\]:,]"
)


def _number(tok: str) -> float | None:
    """The token's value, or None if it is not a number within MAX_ANSWER_VALUE."""
    try:
        v = float(tok)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) and abs(v) <= MAX_ANSWER_VALUE else None


def _string(tok: str) -> str:
    if tok[0] == "'":
        return tok[1:-1]
    try:
        v = json.loads(tok)
    except ValueError:
        return tok[1:-1]
    return v if isinstance(v, str) else tok[1:-1]


def _is_num(tok: str) -> bool:
    c = tok[0]
    return c.isdigit() or c in "-+."


def _scan_boxes(text: str) -> list[ParsedBox]:
    """Boxes in `text`, read token by token (linear; tolerant of prose and truncation).

    A box is a flat list of exactly four finite numbers. One that is the value of a box key
    (`bbox_2d`, `bbox`, `box_2d`, `box`, or an unreadable key) inside `{…}` takes that
    object's string `label` (before or after it); a list that is the value of another named
    key is not a box; any other four-number list is a box without a label. An object cut off
    by the end of the text still gives its box.
    """
    toks = [m.group(0) for m in _TOKEN_RE.finditer(text)]
    n = len(toks)
    found: list[tuple[int, ParsedBox]] = []
    # object frames: [position of its box token, box, label, current key or None]
    frames: list[list[Any]] = []
    i = 0
    while i < n:
        t = toks[i]
        c = t[0]
        if c == "{":
            frames.append([-1, None, None, None])
        elif c == "}":
            if frames:
                pos, box, label, _ = frames.pop()
                if box is not None:
                    found.append((pos, ParsedBox(box, label)))
        elif c == ",":
            if frames:
                frames[-1][3] = None
        elif c == ":":
            pass
        elif c in "\"'":
            value = _string(t)
            if i + 1 < n and toks[i + 1] == ":":
                if frames:
                    frames[-1][3] = value
                i += 2
                continue
            if frames and i > 0 and toks[i - 1] == ":" and frames[-1][3] == LABEL_KEY:
                if frames[-1][2] is None:
                    frames[-1][2] = value
        elif c == "[":
            # flat list of numbers: "[" num ("," num)* "]"
            j = i + 1
            nums: list[float | None] = []
            ok = False
            while j < n and _is_num(toks[j]):
                nums.append(_number(toks[j]))
                j += 1
                if j < n and toks[j] == ",":
                    j += 1
                    continue
                if j < n and toks[j] == "]":
                    ok = True
                break
            if ok and len(nums) == 4 and all(v is not None for v in nums):
                box = (nums[0], nums[1], nums[2], nums[3])
                after_colon = i > 0 and toks[i - 1] == ":"
                if frames and after_colon:
                    frame = frames[-1]
                    key = frame[3]
                    if (key is None or key in BOX_KEYS) and frame[1] is None:
                        frame[0], frame[1] = i, box
                elif not after_colon or not frames:
                    found.append((i, ParsedBox(box, None)))  # type: ignore[arg-type]
                i = j + 1
                continue
            if ok:
                i = j + 1
                continue
        i += 1
    for pos, box, label, _ in frames:  # truncated objects
        if box is not None:
            found.append((pos, ParsedBox(box, label)))
    found.sort(key=lambda pb: pb[0])
    return [pb for _, pb in found]


def _fence_bodies(text: str) -> list[str] | None:
    """Bodies of the ``` fences in `text` (any language tag), or None if there are none.

    A fence left open by a truncated generation runs to the end of the text.
    """
    if FENCE not in text:
        return None
    bodies = []
    pos = 0
    while True:
        i = text.find(FENCE, pos)
        if i < 0:
            break
        start = i + len(FENCE)
        k = start
        while k < len(text) and (text[k].isalnum() or text[k] in "_-+"):
            k += 1  # language tag such as json / JSON / python
        j = text.find(FENCE, k)
        if j < 0:
            bodies.append(text[k:])
            break
        bodies.append(text[k:j])
        pos = j + len(FENCE)
    return bodies


_QWEN2_NUM_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def _qwen2_boxes(text: str) -> list[ParsedBox]:
    """Qwen2-VL's `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`.

    A reference applies to the boxes that directly follow it (only whitespace between).
    """
    out: list[ParsedBox] = []
    label: str | None = None
    prev_end = 0
    for a, b in _tag_spans(text, QWEN2_BOX_START, QWEN2_BOX_END):
        gap = text[prev_end : a - len(QWEN2_BOX_START)]
        r_end = gap.rfind(QWEN2_REF_END)
        if r_end >= 0:
            r_start = gap.rfind(QWEN2_REF_START, 0, r_end)
            tail = gap[r_end + len(QWEN2_REF_END) :]
            if r_start >= 0 and not tail.strip():
                label = gap[r_start + len(QWEN2_REF_START) : r_end].strip()
            else:
                label = None
        elif gap.strip():
            label = None
        nums = [_number(m.group(0)) for m in _QWEN2_NUM_RE.finditer(text, a, b)]
        if len(nums) == 4 and all(v is not None for v in nums):
            out.append(ParsedBox((nums[0], nums[1], nums[2], nums[3]), label))  # type: ignore[arg-type]
        prev_end = b + len(QWEN2_BOX_END)
    return out


# `(x1,y1),(x2,y2)`: Qwen2-VL's box once `<|box_start|>`/`<|box_end|>` are dropped by decoding
# with skip_special_tokens=True (TRL and generate both do). Every quantifier is bounded by a
# literal, so the scan stays linear.
_PAIR_NUM = r"\s*([-+]?\d+(?:\.\d+)?)\s*"
_PAIR_RE = re.compile(
    r"\(" + _PAIR_NUM + "," + _PAIR_NUM + r"\)\s*,\s*\(" + _PAIR_NUM + "," + _PAIR_NUM + r"\)"
)


def _pair_boxes(text: str) -> list[ParsedBox]:
    """Bare `(x1,y1),(x2,y2)` boxes; the text since the previous box (the object reference,
    whose tokens were dropped) becomes the label when it is short."""
    out: list[ParsedBox] = []
    prev = 0
    for m in _PAIR_RE.finditer(text):
        nums = [_number(g) for g in m.groups()]
        if all(v is not None for v in nums):
            label = text[prev : m.start()].strip(" \t\r\n,;.")
            out.append(ParsedBox(tuple(nums), label if 0 < len(label) <= 200 else None))  # type: ignore[arg-type]
        prev = m.end()
    return out


def parse_boxes(text: str) -> list[ParsedBox]:
    """Every box the answer states, in order; tolerant, linear, never raises.

    Reads the first `<answer>` span if there is one, else the whole text. Within it:
    the bodies of ``` fences if any (```json, ```JSON, plain ```; an unclosed one runs to the
    end); else Qwen2-VL `<|box_start|>` boxes if any; else the text itself. JSON lists and
    objects with `bbox_2d` (+ `label`), bare `[x1, y1, x2, y2]` lists, ints and floats are
    read; malformed items (wrong length, non-numbers, non-finite values, magnitudes over
    MAX_ANSWER_VALUE) are skipped.
    Coordinates are returned as written: converting frames is the caller's job.
    """
    if not isinstance(text, str):
        return []
    span = extract_answer(text)
    if span is None:
        span = text
    bodies = _fence_bodies(span)
    if bodies is not None:
        out: list[ParsedBox] = []
        for body in bodies:
            out.extend(_scan_boxes(body))
        return out
    if QWEN2_BOX_START in span:
        return _qwen2_boxes(span)
    return _scan_boxes(span) or _pair_boxes(span)


def parse_rec_box(text: str) -> Box | None:
    """The first box of the answer (or of the whole text), for REC; None if there is none."""
    boxes = parse_boxes(text)
    return boxes[0].bbox if boxes else None
