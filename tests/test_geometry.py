import pytest

from vlmr1_cli.geometry import (
    iou,
    iou_discrete,
    iou_matrix,
    smart_resize,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_iou_continuous_and_discrete_differ_only_for_thin_overlaps():
    assert iou_discrete([0, 0, 10, 10], [9, 0, 19, 10]) == 0.0
    assert iou([0, 0, 10, 10], [9, 0, 19, 10]) == pytest.approx(10 / 190)
    assert iou([0, 0, 10, 10], [8.5, 0, 18.5, 10]) == pytest.approx(0.0811, abs=1e-4)
    assert iou_discrete([0, 0, 10, 10], [8.5, 0, 18.5, 10]) == pytest.approx(0.0811, abs=1e-4)


def test_iou_degenerate_is_zero():
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0
    assert iou([5, 5, 5, 5], [0, 0, 10, 10]) == 0.0


def test_iou_matrix_matches_scalar():
    a = [[0, 0, 10, 10], [5, 5, 15, 15]]
    b = [[0, 0, 10, 10], [20, 20, 30, 30], [2, 3, 9, 12]]
    m = iou_matrix(a, b)
    for i in range(2):
        for j in range(3):
            assert m[i, j] == pytest.approx(iou(a[i], b[j]))


@pytest.mark.parametrize(
    "hw,limits,expected",
    [
        ((480, 640), 12845056, (476, 644)),
        ((640, 427), 12845056, (644, 420)),
        ((1080, 1920), 12845056, (1092, 1932)),
        ((1080, 1920), 1003520, (728, 1316)),
        ((3000, 4000), 1003520, (840, 1148)),
        ((70, 98), 12845056, (56, 112)),
        ((20, 30), 12845056, (56, 84)),
    ],
)
def test_smart_resize_worked_examples(hw, limits, expected):
    assert smart_resize(hw[0], hw[1], 28, 3136, limits) == expected


def test_smart_resize_rejects_extreme_aspect():
    with pytest.raises(ValueError):
        smart_resize(10, 2100, 28, 3136, 12845056)


def test_xywh_roundtrip():
    assert xyxy_to_xywh(xywh_to_xyxy([1.5, 2, 3, 4])) == (1.5, 2.0, 3.0, 4.0)


def test_is_number_is_the_one_rule_bools_are_not_numbers():
    from vlmr1_cli.geometry import is_number

    assert is_number(0) and is_number(-3) and is_number(2.5) and is_number(10**300)
    for v in (True, False, float("nan"), float("inf"), 10**400, "1", None, [1]):
        assert not is_number(v), v  # 10**400: too large for a float, and no OverflowError
