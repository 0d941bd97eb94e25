"""parsing.py: paper-exact scanners agree with the real regexes; the tolerant reader."""

from __future__ import annotations

import random
import re

import pytest

from vlmr1_cli.parsing import (
    ParsedBox,
    completion_text,
    extract_answer,
    find_int_box,
    json_fences,
    match_rec_format,
    match_think_answer,
    parse_boxes,
    parse_rec_box,
    parse_rec_box_vlmr1,
)

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
FENCE_RE = re.compile(r"```json(.*?)```", re.DOTALL)
INT_BOX_RE = re.compile(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]")
REC_FORMAT_RE = re.compile(
    r"<think>.*?</think>\s*<answer>.*?\{.*\[\d+,\s*\d+,\s*\d+,\s*\d+\].*\}.*?</answer>", re.DOTALL
)
OVD_FORMAT_RE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
OVD_STRICT_RE = re.compile(r"<think>.*?</think>\s*<answer>.*?```json.*?```.*?</answer>", re.DOTALL)
VLMR1_EVAL_RE = re.compile(r"\{.*\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]\s*.*\}", re.DOTALL)

PIECES = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "```json",
    "```",
    "{",
    "}",
    "[",
    "]",
    ",",
    ", ",
    " ",
    "\n",
    "\t",
    "\u00a0",
    "1",
    "23",
    "7",
    "\u0663",
    "a",
    "x",
    "<",
    ">",
    "/",
    "<ans",
    "wer>",
    "</think",
    "-",
    ".",
    "[1,2,3,4]",
    "[1, 2,3, 4]",
    "[10,20,30,40]",
]


def random_strings(n: int, seed: int, max_pieces: int = 14):
    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(rng.choice(PIECES) for _ in range(rng.randint(0, max_pieces)))


def test_completion_text_forms():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    assert (
        completion_text(
            [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image"},
                        {"type": "text", "text": "b"},
                    ],
                }
            ]
        )
        == "ab"
    )
    assert (
        completion_text([{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}])
        == "y"
    )
    for junk in (None, 3, [1, 2], [{"role": "assistant", "content": None}], {"content": 5}, b"x"):
        assert completion_text(junk) == ""


def test_extract_answer_matches_regex():
    for s in random_strings(3000, 1):
        m = ANSWER_RE.search(s)
        assert extract_answer(s) == (m.group(1) if m else None), s
        all_ = ANSWER_RE.findall(s)
        assert extract_answer(s, last=True) == (all_[-1] if all_ else None), s


def test_extract_answer_cases():
    assert extract_answer("<answer> a </answer><answer>b</answer>") == " a "
    assert extract_answer("<answer> a </answer><answer>b</answer>", last=True) == "b"
    # findall is non-overlapping: a nested opening tag belongs to the first span
    assert extract_answer("<answer>a<answer>b</answer>", last=True) == "a<answer>b"
    assert extract_answer("<answer>unclosed") is None
    assert extract_answer(None) is None  # type: ignore[arg-type]


def test_json_fences_and_int_box_match_regex():
    for s in random_strings(3000, 2):
        assert json_fences(s) == FENCE_RE.findall(s), s
        m = INT_BOX_RE.search(s)
        assert find_int_box(s) == (tuple(int(g) for g in m.groups()) if m else None), s


def test_int_box_is_the_paper_pattern():
    assert find_int_box("[1,2,3,4]") == (1, 2, 3, 4)
    assert find_int_box("[1, 2,\n3,  4]") == (1, 2, 3, 4)
    assert find_int_box("[ 1,2,3,4]") is None  # no space after "["
    assert find_int_box("[1,2,3,4 ]") is None  # nor before "]"
    assert find_int_box("[1.5,2,3,4]") is None
    assert find_int_box("[-1,2,3,4]") is None
    assert find_int_box("[\u0661,2,3,4]") == (1, 2, 3, 4)  # \d is Unicode, int() agrees


@pytest.mark.parametrize("seed", [3, 4])
def test_rec_format_matches_regex(seed):
    for s in random_strings(4000, seed):
        assert match_rec_format(s) == bool(REC_FORMAT_RE.search(s)), repr(s)


def test_rec_format_cases():
    ok = '<think>look</think>\n <answer>{"bbox_2d": [1, 2,3,4]}</answer>'
    assert match_rec_format(ok)
    assert match_rec_format("prefix " + ok + " suffix")
    assert not match_rec_format('<think>a</think>x<answer>{"b": [1,2,3,4]}</answer>')
    assert not match_rec_format('<think>a</think><answer>{"b": [1.0,2,3,4]}</answer>')
    assert not match_rec_format("<think>a</think><answer>[1,2,3,4]</answer>")  # no braces
    assert not match_rec_format("<think>" + "a" * 10000)


@pytest.mark.parametrize("seed", [5, 6])
def test_think_answer_matches_fullmatch(seed):
    for s in random_strings(4000, seed):
        assert match_think_answer(s) == bool(OVD_FORMAT_RE.fullmatch(s)), repr(s)
        assert match_think_answer(s, require_json_fence=True) == bool(OVD_STRICT_RE.fullmatch(s)), (
            repr(s)
        )


def test_think_answer_anchored_forms():
    for s in random_strings(3000, 7, max_pieces=8):
        s = "<think>" + s + "</answer>"
        assert match_think_answer(s) == bool(OVD_FORMAT_RE.fullmatch(s)), repr(s)
        assert match_think_answer(s, require_json_fence=True) == bool(OVD_STRICT_RE.fullmatch(s)), (
            repr(s)
        )


def test_vlmr1_eval_parser_matches_regex():
    for s in random_strings(4000, 8):
        m = VLMR1_EVAL_RE.search(extract_answer(s) if extract_answer(s) is not None else s)
        assert parse_rec_box_vlmr1(s) == (tuple(int(g) for g in m.groups()) if m else None), repr(s)


def test_parse_boxes_json_forms():
    text = (
        "<think>a [9,9,9,9] in thought</think><answer>```json\n"
        '[{"bbox_2d": [1, 2, 3.5, 4], "label": "red car"},'
        ' {"label": "b", "bbox_2d": [5, 6, 7, 8]},'
        ' {"bbox_2d": [1, 2]}, {"bbox_2d": ["a", 1, 2, 3], "label": "bad"}, {"label": "nobox"}]\n```</answer>'
    )
    assert parse_boxes(text) == [
        ParsedBox((1.0, 2.0, 3.5, 4.0), "red car"),
        ParsedBox((5.0, 6.0, 7.0, 8.0), "b"),
    ]
    assert parse_boxes('{"bbox_2d": [1e1, -2, 3, 4], "label": "x\\"y"}') == [
        ParsedBox((10.0, -2.0, 3.0, 4.0), 'x"y')
    ]
    assert parse_boxes("[[1,2,3,4],[5,6,7,8]]") == [
        ParsedBox((1, 2, 3, 4), None),
        ParsedBox((5, 6, 7, 8), None),
    ]
    assert parse_boxes("The box is [10, 20, 30, 40].") == [ParsedBox((10, 20, 30, 40), None)]
    assert parse_boxes("{'bbox_2d': [1, 2, 3, 4], 'label': 'dog'}") == [
        ParsedBox((1, 2, 3, 4), "dog")
    ]
    # a four-number list under another named key is not a box
    assert parse_boxes('{"size": [1, 2, 3, 4]}') == []
    # truncated generation: complete objects survive, the cut one keeps its box
    cut = '```json\n[{"bbox_2d": [1,2,3,4], "label": "a"}, {"bbox_2d": [5,6,7,8], "label": "b'
    assert parse_boxes(cut) == [ParsedBox((1, 2, 3, 4), "a"), ParsedBox((5, 6, 7, 8), None)]
    # JSON's NaN/Infinity and overflowing numbers are not coordinates
    assert parse_boxes("[NaN, 1, 2, 3] [1e999, 1, 2, 3] [1, 2, 3, 4, 5]") == []


def test_parse_boxes_qwen2_tokens():
    text = (
        "<|object_ref_start|>the dog<|object_ref_end|><|box_start|>(10,20),(30,40)<|box_end|>"
        " <|box_start|>(1.5,2),(3,4)<|box_end|> and then <|box_start|>(5,6),(7,8)<|box_end|>"
    )
    assert parse_boxes(text) == [
        ParsedBox((10, 20, 30, 40), "the dog"),
        ParsedBox((1.5, 2, 3, 4), "the dog"),
        ParsedBox((5, 6, 7, 8), None),
    ]


def test_parse_rec_box():
    assert parse_rec_box('<answer>{"bbox_2d": [1.5, 2, 3, 4]}</answer>') == (1.5, 2, 3, 4)
    assert parse_rec_box("no box here") is None
    assert parse_rec_box("") is None
    assert parse_rec_box(None) is None  # type: ignore[arg-type]


def test_never_raises_on_junk():
    rng = random.Random(9)
    alphabet = "{}[]\":,'`<>|/\\0123456789.-+eE abn\n\u0663"
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        parse_boxes(s)
        parse_rec_box(s)
        parse_rec_box_vlmr1(s)


def test_decoded_qwen2_boxes_without_special_tokens():
    from vlmr1_cli.parsing import parse_boxes

    boxes = parse_boxes("the cat(10,20),(300,400) and the dog (1.5, 2),(3,4.25)")
    assert [b.bbox for b in boxes] == [(10, 20, 300, 400), (1.5, 2, 3, 4.25)]
    assert [b.label for b in boxes] == ["the cat", "and the dog"]
    assert parse_boxes("(1,2),(3)") == []


def test_pair_scan_is_linear_on_degenerate_text():
    import time

    from vlmr1_cli.parsing import parse_boxes

    for text in ("(" * 10000, "(1," * 5000, "(1,2),(" * 3000, "1" * 10000 + ")"):
        t = time.perf_counter()
        parse_boxes(text)
        assert time.perf_counter() - t < 2.0  # a stall guard: backtracking would take minutes
