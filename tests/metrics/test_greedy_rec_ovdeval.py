"""Greedy P/R (against the literal max-pair loop), REC accuracy, OVDEval 5-group average."""

from __future__ import annotations

import random

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import iou
from vlmr1_cli.metrics.cocodata import load_detections, load_ground_truth
from vlmr1_cli.metrics.greedy import greedy_pr
from vlmr1_cli.metrics.ovdeval import ovdeval_average, ovdeval_mean8
from vlmr1_cli.metrics.rec import rec_scores


def oracle_greedy(gt, res, per_label=False, average="micro"):
    """docs/metrics.md §5 literally: per image, repeatedly take the max-IoU pair."""
    cats = {c["id"] for c in gt["categories"]}
    tps, npred, ngt = [], [], []
    for im in gt["images"]:
        preds = [r for r in res if r["image_id"] == im["id"]]
        gts = [
            a
            for a in gt["annotations"]
            if a["image_id"] == im["id"] and a["category_id"] in cats and not a["iscrowd"]
        ]
        xyxy = lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]]  # noqa: E731
        free_p, free_g = list(range(len(preds))), list(range(len(gts)))
        tp = 0
        while free_p and free_g:
            best, bp, bg = -1.0, -1, -1
            for p in free_p:
                for g in free_g:
                    if per_label and preds[p]["category_id"] != gts[g]["category_id"]:
                        continue
                    v = iou(xyxy(preds[p]["bbox"]), xyxy(gts[g]["bbox"]))
                    if v > best:
                        best, bp, bg = v, p, g
            if best < 0.5:
                break
            tp += preds[bp]["category_id"] == gts[bg]["category_id"]
            free_p.remove(bp)
            free_g.remove(bg)
        tps.append(tp)
        npred.append(len(preds))
        ngt.append(len(gts))
    if average == "micro":
        return (
            sum(tps) / sum(npred) if sum(npred) else 0.0,
            sum(tps) / sum(ngt) if sum(ngt) else 0.0,
        )
    ps = [t / n for t, n in zip(tps, npred, strict=True) if n]
    rs = [t / n for t, n in zip(tps, ngt, strict=True) if n]
    return (sum(ps) / len(ps) if ps else 0.0, sum(rs) / len(rs) if rs else 0.0)


@pytest.mark.parametrize("per_label", [False, True])
@pytest.mark.parametrize("average", ["micro", "image"])
def test_greedy_matches_literal_loop(coco_set, per_label, average):
    rng = random.Random(7)
    for _ in range(8):
        gt, res = coco_set(rng, rng.randint(1, 12), rng.randint(1, 4), dense=rng.random() < 0.5)
        g = load_ground_truth(gt)
        out = greedy_pr(g, load_detections(res, g), per_label=per_label, average=average)
        p, r = oracle_greedy(gt, res, per_label, average)
        assert out["greedy_precision"] == pytest.approx(p, abs=1e-12)
        assert out["greedy_recall"] == pytest.approx(r, abs=1e-12)
        assert out["average"] == average
        assert out["matching"] == ("per_label" if per_label else "wrong_label_consumes_gt")


def test_greedy_wrong_label_consumes_gt():
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1}, {"id": 2}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            }
        ],
    }
    res = [
        {
            "image_id": 1,
            "category_id": 2,
            "bbox": [0, 0, 10, 10],
            "score": 1.0,
        },  # IoU 1, wrong label
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 9], "score": 1.0},
    ]  # IoU 0.9, right label
    g = load_ground_truth(gt)
    d = load_detections(res, g)
    assert (greedy_pr(g, d)["tp"], greedy_pr(g, d, per_label=True)["tp"]) == (0, 1)
    out = greedy_pr(g, d, per_label=True)
    assert (out["greedy_precision"], out["greedy_recall"]) == (0.5, 1.0)
    with pytest.raises(ValueError):
        greedy_pr(g, d, average="macro")


def test_rec_scores_definitions():
    gts = [(0, 0, 10, 10)] * 4
    preds = [(9, 0, 19, 10), (8.5, 0, 18.5, 10), (0, 0, 20, 10), None]
    std = rec_scores(preds, gts)
    assert std["n"] == 4 and std["n_unparsed"] == 1
    assert std["acc"] == 0.25  # only the IoU == 0.5 box, kept by >= 0.5
    assert std["mean_iou"] == pytest.approx((10 / 190 + 15 / 185 + 0.5) / 4)
    compat = rec_scores(preds, gts, compat=True)
    assert compat["acc"] == 0.0  # discrete IoU and > 0.5
    assert compat["mean_iou"] == pytest.approx((0 + 15 / 185 + 0.5) / 4)
    assert rec_scores([], [])["acc"] == 0.0
    with pytest.raises(UserError):
        rec_scores([None], [])


PAPER_ROWS = [  # celeb logo landm color mater posit relat negat | published overall
    ((0.7, 10.3, 15.1, 9.4, 9.0, 67.5, 10.7, 52.5), 29.720),  # Grounding-DINO, 5-group value
    ((1.8, 6.1, 26.3, 22.9, 16.3, 21.2, 41.98, 35.1), 25.86),
    ((13.2, 26.5, 21.3, 2.9, 11.6, 47.9, 13.1, 38.7), 25.46),
    ((50.4, 34.9, 50.7, 4.3, 7.6, 33.7, 13.1, 34.4), 26.50),
    ((55.0, 34.6, 47.9, 4.5, 9.7, 42.9, 21.5, 37.7), 31.01),
    ((7.7, 13.8, 17.3, 2.2, 3.5, 39.3, 17.0, 35.2), 21.46),
    ((10.5, 15.2, 18.7, 2.3, 4.1, 39.6, 15.9, 34.9), 21.68),
    ((9.9, 18.3, 26.6, 2.5, 6.2, 45.3, 18.1, 36.4), 24.48),
    ((57.8, 35.8, 48.3, 7.8, 19.1, 44.5, 27.0, 51.7), 36.79),
]
SUBSETS = (
    "celebrity",
    "logo",
    "landmark",
    "color",
    "material",
    "position",
    "relationship",
    "negation",
)


@pytest.mark.parametrize("values, published", PAPER_ROWS)
def test_ovdeval_five_group_average_reproduces_the_paper(values, published):
    per = dict(zip(SUBSETS, values, strict=True))
    assert ovdeval_average(per) == pytest.approx(published, abs=0.005)


def test_ovdeval_average_inputs():
    per = {s.upper(): 1.0 for s in SUBSETS} | {"extra": 5.0}
    assert ovdeval_average(per) == 1.0 and ovdeval_mean8(per) == 1.0
    assert ovdeval_mean8(dict(zip(SUBSETS, PAPER_ROWS[4][0], strict=True))) == pytest.approx(31.725)
    with pytest.raises(UserError, match="missing: negation"):
        ovdeval_average({s: 1.0 for s in SUBSETS[:-1]})
