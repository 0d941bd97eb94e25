"""Extreme JSON and numbers: nesting deeper than the parser allows, integers over 4,300 digits,
integers too large for a float or a 64-bit integer. Files give one line naming FILE:LINE (or
the key) and exit 1; model answers holding them are format failures, never exceptions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vlmr1_cli import geometry
from vlmr1_cli.data.loader import load_records
from vlmr1_cli.data.vlmr1_rec import convert_vlmr1_rec
from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import iou, iou_discrete, iou_vlmr1
from vlmr1_cli.io import iter_jsonl, read_json, read_json_object
from vlmr1_cli.parsing import find_int_box, parse_boxes, parse_rec_box, parse_rec_box_vlmr1

HUGE = "1" + "0" * 5000  # over Python's 4,300-digit limit for int()
BIG = "1" + "0" * 400  # parses, but too large for a float
DEEP = "[" * 100_000 + "]" * 100_000  # deeper than the recursion limit


# --------------------------------------------------------------------------- bounds


def test_bounded_numbers_never_convert_huge_integers():
    is_bounded_number, is_int_id = geometry.is_bounded_number, geometry.is_int_id
    assert is_bounded_number(10**12) and is_bounded_number(-1e12) and is_bounded_number(0.5)
    for v in (10**12 + 1, 10**5000, -(10**400), float("nan"), float("inf"), 1e13, True, "1", None):
        assert not is_bounded_number(v), v
    assert is_int_id(2**63 - 1) and is_int_id(-(2**63))
    assert not is_int_id(2**63) and not is_int_id(True) and not is_int_id(1.0)


# --------------------------------------------------------------------------- JSON files


@pytest.mark.parametrize(
    "body,why",
    [
        ('{"a": ' + HUGE + "}", "an integer has more than 4300 digits"),
        (DEEP, "nested deeper than the JSON parser allows"),
    ],
)
def test_json_readers_give_one_line(tmp_path, body, why):
    f = tmp_path / "f.json"
    f.write_text(body)
    for reader in (read_json, read_json_object):
        with pytest.raises(UserError) as err:
            reader(f)
        assert str(err.value) == f"{f}: invalid JSON: {why}"
    jl = tmp_path / "f.jsonl"
    jl.write_text('{"ok": 1}\n\n' + body + "\n")
    with pytest.raises(UserError) as err:
        list(iter_jsonl(jl))
    assert str(err.value) == f"{jl}:3: invalid JSON: {why}"


def _record(**over) -> dict:
    rec = {
        "id": "a",
        "task": "rec",
        "images": [],
        "image_sizes": [],
        "problem": "the cat",
        "solution": [1, 2, 30, 40],
    }
    rec.update(over)
    return rec


@pytest.mark.parametrize(
    "text,message",
    [
        (
            json.dumps(_record(solution=[1, 2, 30, 40])).replace("40", BIG),
            r"f.jsonl:2: key 'solution': a rec solution must be \[x1, y1, x2, y2\] finite numbers",
        ),
        (
            json.dumps(_record(solution=[1, 2, 30, 40])).replace("40", "1e400"),
            r"f.jsonl:2: key 'solution': a rec solution must be",
        ),
        (
            json.dumps(_record(solution=[1, 2, 30, 2e12])),
            r"f.jsonl:2: key 'solution': .*at most 1e\+12",
        ),
        (
            json.dumps(
                _record(
                    task="ovd", labels=["a"], solution=[{"bbox_2d": [1, 2, 3, 4], "label": "a"}]
                )
            ).replace("4]", BIG + "]"),
            r"f.jsonl:2: key 'solution': item 0 must be",
        ),
        (
            json.dumps(_record(images=["x.jpg"], image_sizes=[[640, 480]])).replace("480", BIG),
            r"f.jsonl:2: key 'image_sizes': must be a list of \[width, height\] positive integers",
        ),
        (
            json.dumps(
                _record(
                    task="ovd", labels=["a"], solution=[{"bbox_2d": [30, 2, 10, 4], "label": "a"}]
                )
            ),
            r"f.jsonl:2: key 'solution': item 0: inverted box \[30, 2, 10, 4\]",
        ),
    ],
)
def test_training_records_refuse_huge_numbers(tmp_path, text, message):
    f = tmp_path / "f.jsonl"
    f.write_text(json.dumps(_record(id="ok")) + "\n" + text + "\n")
    with pytest.raises(UserError, match=message):
        load_records(f, check_images=False)


# --------------------------------------------------------------------------- vlmr1-rec


def _vlmr1_line(answer: str, **over) -> str:
    item = {
        "id": 1,
        "image": "a.jpg",
        "width": 64,
        "height": 48,
        "conversations": [
            {"from": "human", "value": "<image>the cat"},
            {"from": "gpt", "value": f"<answer>{answer}</answer>"},
        ],
    }
    item.update(over)
    return json.dumps(item)


@pytest.mark.parametrize(
    "line,message",
    [
        (
            _vlmr1_line(f"[1, 2, 30, {HUGE}]"),
            r"t.jsonl:1: the gpt turn is not a JSON .*more than 4300 digits",
        ),
        (_vlmr1_line(DEEP), r"t.jsonl:1: the gpt turn is not a JSON .*nested deeper"),
        (
            _vlmr1_line(f"[1, 2, 30, {BIG}]"),
            r"t.jsonl:1: key 'conversations\[1\].value' must be .* got "
            r"\[1, 2, 30, an integer of 1329 bits\]",
        ),
        (_vlmr1_line("[1, 2, 30, 1e400]"), r"t.jsonl:1: key 'conversations\[1\].value' must be"),
        (
            _vlmr1_line("[1, 2, 30, 40]").replace('"width": 64', '"width": ' + BIG),
            r"t.jsonl:1: width/height must be positive integers, got an integer of 1329 bitsx48",
        ),
        (
            _vlmr1_line("[1, 2, 30, 40]", image_id=2**64),
            r"t.jsonl:1: key 'image_id': .* does not fit a 64-bit",
        ),
    ],
)
def test_vlmr1_rec_answers_with_extreme_numbers(tmp_path, line, message):
    f = tmp_path / "t.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(UserError, match=message):
        convert_vlmr1_rec([f], tmp_path / "out.jsonl")


def test_vlmr1_rec_huge_number_in_the_json_file(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"id": ' + HUGE + "}\n")
    with pytest.raises(UserError, match=r"t.jsonl:1: invalid JSON: an integer has more than 4300"):
        convert_vlmr1_rec([f], tmp_path / "out.jsonl")


def test_vlmr1_rec_eval_file_with_a_huge_number(tmp_path):
    f = tmp_path / "refcoco_val.json"
    f.write_text('[{"image": "a.jpg", "width": ' + HUGE + "}]")
    with pytest.raises(
        UserError, match=r"refcoco_val.json: invalid JSON: an integer has more than 4300"
    ):
        convert_vlmr1_rec([f], tmp_path / "out.jsonl")


def test_validate_reports_extreme_lines_and_goes_on(tmp_path):
    from vlmr1_cli.data.validate import validate_file

    good = json.dumps(_record(id="ok"))
    f = tmp_path / "f.jsonl"
    f.write_text(
        "\n".join(
            [
                good.replace('"ok"', '"a"').replace("40]", BIG + "]"),  # too large for a float
                '{"id": ' + HUGE + "}",
                DEEP,
                good,
            ]
        )
        + "\n"
    )
    rep = validate_file(f, None)
    assert rep.records == 4 and rep.bad_lines == 3
    problems = dict(rep.problems)
    assert problems[2] == "invalid JSON: an integer has more than 4300 digits"
    assert problems[3] == "invalid JSON: nested deeper than the JSON parser allows"
    assert "a rec solution must be" in problems[1]


# --------------------------------------------------------------------------- model answers


ANSWERS = [
    f'<answer>{{"bbox_2d": [{HUGE}, 1, 2, 3]}}</answer>',
    f'<answer>{{"bbox_2d": [1, 1, {BIG}, {BIG}]}}</answer>',
    '<answer>{"bbox_2d": [1, 1, 1e300, 5]}</answer>',
    '<answer>{"bbox_2d": [1, 1, 2000000000, 5]}</answer>',
    f"<answer>{DEEP}</answer>",
    f"<answer>```json\n{DEEP}\n```</answer>",
    f"<answer>{{[1, 2, 3, {HUGE}]}}</answer>",
    f"<answer>{{[1, 2, 3, {BIG}]}}</answer>",
    f"<|box_start|>(1,2),(3,{BIG})<|box_end|>",
    f"(1,2),(3,{HUGE})",
]


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_with_extreme_numbers_are_format_failures(text):
    assert parse_boxes(text) == [] and parse_rec_box(text) is None
    assert parse_rec_box_vlmr1(text) is None and find_int_box(text) is None


def test_leading_zeros_are_not_a_huge_number():
    text = "<answer>{[0000000000001, 2, 3, 4]}</answer>"
    assert find_int_box(text) == (1, 2, 3, 4) == parse_rec_box_vlmr1(text)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
@pytest.mark.parametrize("task", ["rec", "ovd"])
def test_evaluation_reads_extreme_answers_as_unparsed(family, task):
    from vlmr1_cli.evaluate.tasks import read_answer
    from vlmr1_cli.models.registry import family_by_name

    row = {"image_sizes": [[640, 480]], "input_sizes": [[644, 476]]}
    for text in ANSWERS:
        assert read_answer(task, text, row, family_by_name(family))["parsed"] is False, text


def test_ious_of_integers_too_large_for_a_float_are_zero():
    huge = 10**400
    for fn in (iou, iou_discrete, iou_vlmr1):
        assert fn([0, 0, huge, huge], [0, 0, 10, 10]) == 0.0
        assert fn([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0


def test_rec_reward_on_a_vlmr1_solution_with_a_huge_integer():
    from vlmr1_cli.rewards import get_reward

    sol = f"<answer>[0, 0, {BIG}, 5]</answer>"
    for reward in (
        get_reward("rec_iou"),
        get_reward("rec_iou", iou_kind="continuous", parser="tolerant"),
        get_reward("rec_iou", iou_kind="discrete_geometry", parser="tolerant"),
    ):
        assert reward(["<answer>[1, 1, 5, 5]</answer>"], solution=[sol]) == [0.0]


# --------------------------------------------------------------------------- CLI


def test_cli_scoring_file_nested_too_deep(tmp_path):
    gt, res = tmp_path / "gt.json", tmp_path / "res.json"
    gt.write_text(DEEP)
    res.write_text("[]")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "evaluate",
            "--gt",
            str(gt),
            "--results",
            str(res),
            "--metric",
            "coco",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {gt}: invalid JSON: nested deeper than the JSON parser allows"
    ]
