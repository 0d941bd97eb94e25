"""rec_iou / rec_format / ovd_format against straightforward regex oracles of the paper's code."""

from __future__ import annotations

import json
import random
import re

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.rewards import get_reward


def oracle_iou(b1, b2):
    ix1, iy1 = max(b1[0], b2[0]), max(b1[1], b2[1])
    ix2, iy2 = min(b1[2] - 1, b2[2] - 1), min(b1[3] - 1, b2[3] - 1)
    inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1) if (ix1 < ix2 and iy1 < iy2) else 0
    union = (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - inter
    return float(inter) / union


def oracle_rec_iou(content, sol_box):
    try:
        m = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
        if not m:
            return 0.0
        b = re.search(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]", m.group(1).strip())
        if not b:
            return 0.0
        return max(0.0, oracle_iou([int(g) for g in b.groups()], sol_box))
    except Exception:
        return 0.0


def _completion(rng):
    box = [rng.randint(0, 60) for _ in range(4)]
    form = rng.choice(
        [
            '<think>t</think><answer>{{"bbox_2d": [{},{}, {},{}]}}</answer>',
            "<answer>[{}, {},{},{}]</answer>",
            "<answer>[{}.5,{},{},{}]</answer>",
            "[{},{},{},{}]",
            "<answer>x [{},{},{},{}] [1,2,3,4]</answer> <answer>[0,0,0,0]</answer>",
        ]
    )
    return form.format(*box)


def test_rec_iou_matches_paper_oracle_both_solution_forms():
    rng = random.Random(0)
    fn = get_reward("rec_iou")
    comps, sols, strs, want = [], [], [], []
    for _ in range(2000):
        c = _completion(rng)
        gt = [rng.choice([rng.randint(0, 60), rng.uniform(0, 60)]) for _ in range(4)]
        comps.append(c)
        sols.append(gt)
        strs.append(f"<answer>ignored</answer><answer>{json.dumps(gt)}</answer>")
        want.append(min(1.0, oracle_rec_iou(c, gt)))
    assert fn(comps, sols) == want
    assert fn(comps, strs) == want
    conv = [[{"role": "assistant", "content": c}] for c in comps]
    assert fn(conv, sols, prompts=None, trainer_state=None) == want


def test_rec_iou_hand_cases():
    fn = get_reward("rec_iou")
    # 1-px overlaps do not count in VLM-R1's IoU
    assert fn(["<answer>[0,0,10,10]</answer>"], [[9, 0, 19, 10]]) == [0.0]
    assert fn(["<answer>[0,0,10,10]</answer>"], [[0, 0, 10, 10]]) == [1.0]
    assert fn(["<answer>[0,0,0,0]</answer>"], [[0, 0, 0, 0]]) == [0.0]  # zero union
    assert fn(["no answer [0,0,10,10]"], [[0, 0, 10, 10]]) == [0.0]
    assert fn(["<answer>[" + "9" * 5000 + ",1,2,3]</answer>"], [[0, 0, 1, 1]]) == [0.0]
    assert fn(["<answer>[0,0,10,10]</answer>"], [None]) == [0.0]
    assert fn(["<answer>[0,0,10,10]</answer>"], ["<answer>garbage</answer>"]) == [0.0]


def test_rec_iou_options():
    cont = get_reward("rec_iou", iou_kind="continuous", parser="tolerant")
    assert cont.__name__ == "rec_iou_continuous_tolerant"
    v = cont(['{"bbox_2d": [0, 0, 10, 10.0]}'], [[9, 0, 19, 10]])[0]
    assert v == pytest.approx(10 / 190)
    with pytest.raises(UserError, match="iou_kind"):
        get_reward("rec_iou", iou_kind="bogus")
    with pytest.raises(UserError, match="bad option"):
        get_reward("rec_iou", nope=1)


def test_rec_iou_threshold_pays_only_boxes_that_count():
    fn = get_reward("rec_iou", threshold=0.5)
    assert fn.__name__ == "rec_iou_at0.5"
    gt = [[0, 0, 10, 10]]
    # IoU 1, 0.5 (boundary counts, as Acc@0.5 does), 1/3, and a missing answer
    comps = [
        "<answer>[0,0,10,10]</answer>",
        "<answer>[0,0,10,20]</answer>",
        "<answer>[0,0,10,30]</answer>",
        "no answer",
    ]
    assert fn(comps, gt * 4) == [1.0, 1.0, 0.0, 0.0]
    # a hedge box over two objects earns continuous IoU but no thresholded reward
    hedge = ["<answer>[0,0,30,10]</answer>"]
    assert get_reward("rec_iou")(hedge, gt)[0] > 0.3
    assert fn(hedge, gt) == [0.0]
    for bad in (0, 1.5, "half", True):
        with pytest.raises(UserError, match="threshold"):
            get_reward("rec_iou", threshold=bad)


def test_rec_iou_needs_solution():
    fn = get_reward("rec_iou")
    with pytest.raises(UserError, match="solution"):
        fn(["x"])
    with pytest.raises(UserError, match="2 solutions"):
        fn(["x"], [[0, 0, 1, 1], [0, 0, 1, 1]])


def test_format_rewards():
    rec_format = get_reward("rec_format")
    ovd_format = get_reward("ovd_format")
    strict = get_reward("ovd_format", strict=True)
    assert strict.__name__ == "ovd_format_strict"
    good_rec = '<think>a</think> <answer>{"bbox_2d": [1,2,3,4]}</answer>'
    good_ovd = "<think>a</think>\n<answer>```json\n[]\n```</answer>"
    assert rec_format([good_rec, good_ovd, "x" + good_rec]) == [1.0, 0.0, 1.0]
    assert ovd_format([good_ovd, good_rec, "x" + good_ovd, good_ovd + " "]) == [1.0, 1.0, 0.0, 0.0]
    assert strict([good_ovd, good_rec]) == [1.0, 0.0]
    # format rewards do not need a solution column
    assert ovd_format([[{"role": "assistant", "content": good_ovd}]]) == [1.0]
