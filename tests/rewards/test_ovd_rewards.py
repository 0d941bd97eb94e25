"""od_ap / od_ap50 / od_length / weighted_sum: equal to regex + pycocotools oracles of the paper."""

from __future__ import annotations

import json
import random
import re

import pytest

from vlmr1_cli.metrics.pycoco import vlmr1_calculate_map
from vlmr1_cli.rewards import get_reward
from vlmr1_cli.rewards.ovd import clean_text, detection_score

LABELS = ["car", "dog", "red car", "person"]


def oracle_od(content: str, sol: str, kind: str) -> float:
    """VLM-R1's od_reward / odLength_reward flow with the real regexes and pycocotools."""
    pat = r"<answer>(.*?)</answer>"
    sm = re.search(pat, sol, re.DOTALL)
    ground_truth = sm.group(1).strip() if sm else None
    cm = re.findall(pat, content, re.DOTALL)
    answer = cm[-1].strip() if cm else None
    if answer is None:
        return 0.0
    if ground_truth == "None" and answer == "None":
        return 1.0
    fence = r"```json(.*?)```"
    gm = re.findall(fence, ground_truth, re.DOTALL)
    body = gm[-1].strip() if gm else None
    gt = [i for i in json.loads(body)] if body else []
    preds = []
    pm = re.findall(fence, answer, re.DOTALL)
    if pm:
        try:
            preds = [i for i in json.loads(pm[-1].strip())]
        except Exception:
            preds = []
    if preds and gt:
        ap, ap50 = vlmr1_calculate_map(preds, gt)
        reward = ap50 if kind == "od_ap50" else ap
    elif not preds and not gt:
        reward = 1.0
    else:
        reward = 0.0
    if kind == "od_length":
        reward = reward * (1.0 if len(gt) >= len(preds) else len(gt) / len(preds))
    return min(1.0, max(0.0, reward))


def sol_string(gt: list) -> str:
    return (
        "<answer>None</answer>"
        if not gt
        else "<think>x</think><answer>```json\n" + json.dumps(gt) + "\n```</answer>"
    )


def random_case(rng: random.Random):
    n_gt = rng.choice([0, 1, 1, 2, 3, 5, 8, 15, 30])
    gt = []
    for _ in range(n_gt):
        x, y = rng.randint(0, 400), rng.randint(0, 400)
        w, h = rng.choice([rng.randint(1, 150), rng.uniform(0.5, 150)]), rng.randint(1, 150)
        if rng.random() < 0.05:
            w = -w  # inverted GT box: pycocotools ignores it (negative area)
        gt.append({"bbox_2d": [x, y, x + w, y + h], "label": rng.choice(LABELS)})
    preds: list = []
    for g in gt:
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            b = [v + rng.choice([0, 0, 1, -2, 5, 30]) for v in g["bbox_2d"]]
            label = g["label"] if rng.random() < 0.85 else rng.choice(LABELS + ["zebra"])
            preds.append({"bbox_2d": b, "label": label})
    for _ in range(rng.choice([0, 0, 1, 3])):  # false positives and malformed items
        x, y = rng.randint(0, 400), rng.randint(0, 400)
        preds.append(
            rng.choice(
                [
                    {"bbox_2d": [x, y, x + 40, y + 40], "label": rng.choice(LABELS)},
                    {"bbox_2d": [x, y, x - 10, y + 10], "label": rng.choice(LABELS)},
                    {"bbox_2d": [x, y], "label": "car"},
                    {"bbox_2d": [x, y, x + 5, y + 5, 9], "label": "car"},
                    {"bbox_2d": [True, 0, 10, 10], "label": "car"},
                    {"label": "car"},
                    {"bbox_2d": ["1", 2, 3, 4], "label": "car"},
                    {"bbox_2d": [x, y, x + 5, y + 5], "label": ["car"]},
                    "car",
                    7,
                ]
            )
        )
    rng.shuffle(preds)
    if rng.random() < 0.05 and gt:  # more than 100 detections of one label (maxDets)
        g = gt[0]
        preds = [{"bbox_2d": g["bbox_2d"], "label": "x"}] + [dict(g) for _ in range(105)]
    fence = "```json\n" + json.dumps(preds) + "\n```"
    if rng.random() < 0.6:
        return f"<think>t</think><answer>{fence}</answer>", gt
    content = rng.choice(
        [
            f"<think>t</think><answer>{fence}</answer>",
            f"<think>t</think><answer>{fence}</answer>",
            f"<answer>```json\n[]\n```{fence}</answer>",
            f"<answer>{fence}</answer><answer>None</answer>",
            "<answer>None</answer>",
            "<answer> None </answer>",
            f"no tags {fence}",
            "<answer>```json\n{bad json\n```</answer>",
            '<answer>```json\n"ab"\n```</answer>',
            '<answer>```json\n{"bbox_2d": [1,2,3,4], "label": "car"}\n```</answer>',
            "<answer>```json\n12\n```</answer>",
            f"<answer>{json.dumps(preds)}</answer>",
        ]
    )
    return content, gt


@pytest.mark.parametrize("kind", ["od_ap", "od_ap50", "od_length"])
def test_od_rewards_equal_oracle(kind):
    rng = random.Random(hash(kind) % 1000)
    fn = get_reward(kind)
    cases = [random_case(rng) for _ in range(150)]
    comps = [c for c, _ in cases]
    gts = [g for _, g in cases]
    want = [oracle_od(c, sol_string(g), kind) for c, g in cases]
    assert fn(comps, gts) == want
    assert fn(comps, [sol_string(g) for g in gts]) == want


def test_od_hand_cases():
    ap, length = get_reward("od_ap"), get_reward("od_length")
    gt = [{"bbox_2d": [0, 0, 10, 10], "label": "a"}]
    fence = lambda items: "<answer>```json\n" + json.dumps(items) + "\n```</answer>"  # noqa: E731
    assert ap(["no answer"], [gt]) == [0.0]
    assert ap(["<answer>None</answer>"], [[]]) == [1.0]
    assert ap(["<answer>nothing here</answer>"], [[]]) == [1.0]  # both lists empty
    assert ap([fence(gt)], [[]]) == [0.0]
    assert ap(["<answer>None</answer>"], [gt]) == [0.0]
    assert ap([fence(gt)], [gt]) == [pytest.approx(1.0)]
    # an unknown label is dropped, not a false positive, but still counts for the length
    two = gt + [{"bbox_2d": [50, 50, 60, 60], "label": "zzz"}]
    assert ap([fence(two)], [gt]) == ap([fence(gt)], [gt])
    assert length([fence(two)], [gt]) == [pytest.approx(0.5)]
    # only unknown labels: AP 0
    assert ap([fence([{"bbox_2d": [0, 0, 10, 10], "label": "b"}])], [gt]) == [0.0]
    # the last fence of the last answer counts; bare JSON gives no predictions
    assert ap(["<answer>" + json.dumps(gt) + "</answer>"], [gt]) == [0.0]
    # an inverted GT box makes pycocotools return -1: clamped to 0
    inv = [{"bbox_2d": [10, 0, 0, 10], "label": "a"}]
    assert ap([fence(gt)], [inv]) == [0.0]


def test_od_score_ties_follow_listing_order():
    # all scores are 1.0: a duplicate listed before the true positive costs precision
    ap = get_reward("od_ap50")
    gt = [{"bbox_2d": [0, 0, 10, 10], "label": "a"}]
    fp = {"bbox_2d": [50, 50, 60, 60], "label": "a"}
    fence = lambda items: "<answer>```json\n" + json.dumps(items) + "\n```</answer>"  # noqa: E731
    first, second = ap([fence([fp] + gt), fence(gt + [fp])], [gt, gt])
    assert first == pytest.approx(0.5) and second == pytest.approx(1.0)


def oracle_weighted_sum(content: str, sol: str) -> float:
    def clean(text):
        m = re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)
        if m:
            text = m[-1]
        for ch in ["\n", "\r"]:
            text = re.sub(r"(?<=\s)" + re.escape(ch), "", text)
            text = re.sub(r"(?<!\s)" + re.escape(ch), " ", text)
        return text.strip().rstrip(".").lower()

    c, s = clean(content), clean(sol)
    if s == "none":
        return 1.0 if c == "none" else 0.0

    def first(text, strict):
        m = re.search(r"```json(.*?)```", clean(text), re.DOTALL)
        body = m.group(1).strip() if m else None
        if not body:
            return []
        if strict:
            return [i for i in json.loads(body)]
        try:
            return [i for i in json.loads(body)]
        except Exception:
            return []

    preds, gts = first(c, False), first(s, True)
    return min(1.0, max(0.0, detection_score(preds, gts)))


def test_weighted_sum_equals_oracle():
    rng = random.Random(5)
    fn = get_reward("weighted_sum")
    cases = [random_case(rng) for _ in range(300)]
    comps = [c.replace("t</think>", "T \n\n x\r\n</think>") for c, _ in cases]
    gts = [g for _, g in cases]
    want = [oracle_weighted_sum(c, sol_string(g)) for c, g in zip(comps, gts, strict=True)]
    assert fn(comps, [sol_string(g) for g in gts]) == want
    # list solutions: labels compared lowercased, like VLM-R1's cleaned text
    assert fn(comps, gts) == want


def test_weighted_sum_hand_cases():
    fn = get_reward("weighted_sum")
    gt = [
        {"bbox_2d": [10, 10, 50, 50], "label": "Car"},
        {"bbox_2d": [100, 100, 150, 150], "label": "dog"},
    ]
    c = (
        '<answer>```json\n[{"bbox_2d":[10,10,50,50],"label":"car"},'
        '{"bbox_2d":[100,100,150,150],"label":"cat"},{"bbox_2d":[101,100,150,150],"label":"dog"}]\n```</answer>'
    )
    # car matched (IoU 1); cat takes the dog GT first (IoU 1 > 0.98) with a wrong label;
    # one prediction unmatched: 0.7 * 1/2 + 0.3 * (1 - (0 + 1/3) / 2)
    assert fn([c], [gt]) == [pytest.approx(0.7 * 0.5 + 0.3 * (1 - (1 / 3) / 2))]
    assert fn(["<answer>None.</answer>", "<answer>no</answer>"], [[], []]) == [1.0, 0.0]
    assert fn(["<answer>```json\n[]\n```</answer>"], [gt]) == [0.0]
    assert clean_text("<answer> A\n\nB.. </answer>") == "a b"


def test_paper_parsing_quirks():
    ap, length = get_reward("od_ap"), get_reward("od_length")
    gt = [{"bbox_2d": [0, 0, 10, 10], "label": "a"}]
    fenced = lambda body: f"<answer>```json\n{body}\n```</answer>"  # noqa: E731
    # numbers, null and bad JSON give no predictions: with GT None that is "both empty"
    for body in ("12", "null", "{bad", "", "true"):
        assert ap([fenced(body)], [[]]) == [1.0], body
        assert ap([fenced(body)], [gt]) == [0.0], body
    # a string or an object is iterated into malformed items: they are predictions
    assert ap([fenced('"ab"')], [[]]) == [0.0]
    obj = '{"bbox_2d": [0, 0, 10, 10], "label": "a"}'
    assert ap([fenced(obj)], [gt]) == [0.0]  # its keys are not boxes
    assert length([fenced(obj)], [gt]) == [0.0]
    # the last <answer> span and the last fence inside it decide
    good = fenced(json.dumps(gt))
    assert ap([good + "<answer>None</answer>"], [gt]) == [0.0]
    assert ap(["<answer>None</answer>" + good], [gt]) == [pytest.approx(1.0)]
    two = "<answer>```json\n" + json.dumps(gt) + "\n``` then ```json\n[]\n```</answer>"
    assert ap([two], [gt]) == [0.0]


def test_array_solutions_are_accepted():
    np = pytest.importorskip("numpy")
    rec = get_reward("rec_iou")
    assert rec(["<answer>[0,0,10,10]</answer>"], [np.array([0.0, 0.0, 10.0, 10.0])]) == [1.0]
    ap = get_reward("od_ap")
    assert ap(["<answer>None</answer>"], [np.array([], dtype=object)]) == [1.0]
