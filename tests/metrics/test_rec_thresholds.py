"""REC metrics beyond Acc@0.5, against cases computed by hand: Acc@0.1 ... 0.9, the mean over
0.5:0.95, centre accuracy, mean IoU and the format-failure rate."""

from __future__ import annotations

import pytest

from vlmr1_cli.metrics.rec import COCO_THRESHOLDS, IOU_THRESHOLDS, center_inside, rec_scores

GT = [0.0, 0.0, 10.0, 10.0]  # area 100
# (prediction, continuous IoU by hand, centre inside the GT by hand)
CASES = [
    ([0, 0, 10, 10], 1.0, True),
    ([0, 0, 10, 5], 0.5, True),  # 50 / 100: exactly on the 0.5 threshold
    ([5, 0, 15, 10], 1 / 3, True),  # 50 / 150; centre (10, 5) on the GT's edge counts as inside
    ([20, 20, 30, 30], 0.0, False),
    (None, 0.0, False),  # no box in the answer: IoU 0, a miss everywhere
    ([0, 0, 20, 20], 0.25, True),  # 100 / 400; centre (10, 10) is the GT's corner
    ([0, 0, 10, 8], 0.8, True),
    ([1, 1, 9, 9], 0.64, True),
]


def _scores(compat: bool = False) -> dict:
    return rec_scores([c[0] for c in CASES], [GT] * len(CASES), compat=compat)


def test_thresholds_are_the_literal_decimals():
    assert IOU_THRESHOLDS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert COCO_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_acc_at_each_iou_threshold():
    m = _scores()
    # hits (IoU >= t) counted by hand over the 8 cases
    by_hand = {
        "0.1": 6,
        "0.2": 6,
        "0.3": 5,
        "0.4": 4,
        "0.5": 4,
        "0.6": 3,
        "0.7": 2,
        "0.8": 2,
        "0.9": 1,
    }
    assert m["acc_at_iou"] == {t: pytest.approx(k / 8) for t, k in by_hand.items()}
    assert m["acc"] == m["acc_at_iou"]["0.5"] == 0.5


def test_acc_over_050_to_095_is_the_mean_of_ten_thresholds():
    # hits at 0.50, 0.55, ..., 0.95: 4 3 3 2 2 2 2 1 1 1 -> 21 of 80
    assert _scores()["acc_at_iou_50_95"] == pytest.approx(21 / 80)


def test_center_accuracy_mean_iou_and_format_failures():
    m = _scores()
    assert m["center_acc"] == pytest.approx(sum(c[2] for c in CASES) / 8) == pytest.approx(6 / 8)
    assert m["mean_iou"] == pytest.approx(sum(c[1] for c in CASES) / 8)
    assert m["format_failure_rate"] == pytest.approx(1 / 8) and m["n_unparsed"] == 1


def test_vlmr1_variant_uses_strict_threshold():
    m = _scores(compat=True)
    # discrete IoU equals the continuous one here (every overlap exceeds 1 px); IoU > t:
    # the exact 0.5 no longer counts at 0.5, and the [0, 0, 0, 0] stand-in scores 0
    assert m["acc"] == pytest.approx(3 / 8) and m["acc_at_iou"]["0.4"] == pytest.approx(4 / 8)
    assert m["center_acc"] == pytest.approx(6 / 8)  # an unparsed answer has no centre


@pytest.mark.parametrize(
    ("pred", "inside"),
    [
        ([0, 0, 10, 10], True),
        ([10, 10, 10, 10], True),
        ([10, 10, 12, 12], False),
        ([-4, -4, 2, 2], False),
        ([-4, -4, 4, 4], True),
        ([8, 2, 4, 6], True),  # reversed corners
    ],
)
def test_center_inside(pred, inside):
    assert center_inside(pred, GT) is inside


def test_empty_input_scores_zero():
    m = rec_scores([], [])
    assert (
        m["acc_at_iou"]["0.1"] == 0.0 and m["center_acc"] == 0.0 and m["format_failure_rate"] == 0.0
    )


def test_scoring_and_table_carry_the_new_metrics():
    from vlmr1_cli.evaluate.scoring import score_rec
    from vlmr1_cli.report.tables import summary_table, threshold_table

    records = [
        {"id": str(i), "solution": GT, "source": "s", "split": "a" if i < 4 else "b"}
        for i in range(len(CASES))
    ]
    preds = {str(i): {"box": c[0], "box_vlmr1": c[0]} for i, c in enumerate(CASES)}
    m = score_rec(records, preds, {})
    assert m["acc_at_iou_50_95"] == pytest.approx(21 / 80) and m["center_acc"] == pytest.approx(
        0.75
    )
    # split a: IoU 1, 0.5, 1/3, 0 -> Acc@0.3 = 3/4; split b: 0, 0.25, 0.8, 0.64 -> 2/4
    assert m["by_split"]["s a"]["acc_at_iou"]["0.3"] == 0.75
    assert m["by_split"]["s b"]["acc_at_iou"]["0.3"] == 0.5
    m.update(task="rec", data="d.jsonl")
    _, cols, rows = summary_table(m)
    assert cols[4:6] == ["Acc@0.5:0.95", "centre acc"] and rows[0][4:6] == ["26.25", "75.00"]
    title, cols, rows = threshold_table(m)
    assert cols == ["split", *(f"@{t}" for t in IOU_THRESHOLDS)]
    assert (
        [r[0] for r in rows] == ["all", "s a", "s b"]
        and rows[0][1] == "75.00"
        and rows[0][-1] == "12.50"
    )
