"""Answer spans and code fences: `<answer>` tags, ```json fences, completion text (linear time)."""

from __future__ import annotations

from typing import Any

ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
FENCE = "```"
BOX_KEYS = ("bbox_2d", "bbox", "box_2d", "box")
LABEL_KEY = "label"
QWEN2_BOX_START, QWEN2_BOX_END = "<|box_start|>", "<|box_end|>"
QWEN2_REF_START, QWEN2_REF_END = "<|object_ref_start|>", "<|object_ref_end|>"

# A number in an answer whose magnitude exceeds this is no coordinate: the box holding it is
# unreadable (a format failure). A billion leaves a margin of 1000 below geometry.MAX_VALUE,
# the bound on boxes in results files, for the conversion into original-image pixels, so an
# evaluation never writes a results file that scoring mode would refuse.
MAX_ANSWER_VALUE = 1e9


# --------------------------------------------------------------------------- completions


def completion_text(completion: Any) -> str:
    """The text of one completion: a str, or TRL's conversational form.

    `[{"role": "assistant", "content": str | [{"type": "text", "text": ...}, ...]}, ...]`
    gives the text of its assistant messages (a message without a role counts), joined in
    order. Anything else gives "".
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return ""
    parts: list[str] = []
    for msg in completion:
        if not isinstance(msg, dict) or msg.get("role", "assistant") != "assistant":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, (list, tuple)):
            for part in content:
                if isinstance(part, dict) and part.get("type", "text") == "text":
                    text = part.get("text")
                    if isinstance(text, str):
                        parts.append(text)
    return "".join(parts)


# --------------------------------------------------------------------------- tag spans


def _tag_spans(text: str, open_tag: str, close_tag: str):
    """Yield `(start, end)` of the contents of non-overlapping `open(.*?)close` matches.

    Same spans, in the same order, as `re.finditer(open + "(.*?)" + close, text, re.DOTALL)`:
    an opening tag with no closing tag after it ends the scan, since no later opening tag
    can have one either.
    """
    pos = 0
    lo, lc = len(open_tag), len(close_tag)
    while True:
        i = text.find(open_tag, pos)
        if i < 0:
            return
        j = text.find(close_tag, i + lo)
        if j < 0:
            return
        yield i + lo, j
        pos = j + lc


def extract_answer(text: str, *, last: bool = False) -> str | None:
    """Content of the first (or last) `<answer>…</answer>` span, unstripped; None if none.

    First: `re.search(r"<answer>(.*?)</answer>", text, re.DOTALL).group(1)`.
    Last: `re.findall(...)[-1]` (non-overlapping matches scanned left to right).
    """
    if not isinstance(text, str):
        return None
    found = None
    for found_span in _tag_spans(text, ANSWER_OPEN, ANSWER_CLOSE):
        found = found_span
        if not last:
            break
    return None if found is None else text[found[0] : found[1]]


def json_fences(text: str) -> list[str]:
    """`re.findall(r"```json(.*?)```", text, re.DOTALL)`, unstripped, in linear time."""
    if not isinstance(text, str):
        return []
    return [text[a:b] for a, b in _tag_spans(text, FENCE + "json", FENCE)]


# --------------------------------------------------------------------------- paper regexes

# VLM-R1's REC box: integers only, no space after "[" or before "]". `\d` is any Unicode
# decimal digit, as in the original; int() accepts the same characters. Each attempt scans a
# run of digits, commas and spaces that contains no other "[", so the search is linear.
