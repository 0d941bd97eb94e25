"""OVD accuracy rewards: `od_ap`, `od_ap50`, `od_length` and `weighted_sum` (docs/metrics.md §6).

They reproduce VLM-R1's reward code value for value, including the cases where its parsing
is odd (last ```json fence only, items that are kept though malformed, score-1.0 ordering).
The AP itself comes from `metrics.ap.single_image_ap`, which is bit-identical to the
pycocotools COCOeval run VLM-R1 makes per completion but about two orders of magnitude
cheaper; pycocotools is still used for the rare non-finite coordinates.

Solutions are either vlmr1's list of `{"bbox_2d", "label"}` dicts (empty list = nothing
present, VLM-R1's "None") or VLM-R1's own string (an `<answer>` holding a ```json fence or
"None"). Where VLM-R1 itself would crash (a malformed ground truth), the reward is 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from vlmr1_cli.geometry import iou_vlmr1
from vlmr1_cli.parsing import extract_answer, json_fences
from vlmr1_cli.rewards._common import RewardFn, named, need_solution, texts, unit


class _GT(NamedTuple):
    is_none: bool  # VLM-R1's ground truth is the answer "None"
    items: list


class BadGroundTruth(Exception):
    """A ground truth VLM-R1 could not score (it would crash); the reward is 0."""


def _json_items(fence_body: str | None) -> list:
    """`[item for item in json.loads(body.strip())]`, [] on any failure (VLM-R1's except)."""
    if fence_body is None:
        return []
    try:
        return [item for item in json.loads(fence_body.strip())]
    except (ValueError, TypeError, RecursionError):
        return []


def od_ground_truth(sol: Any) -> _GT | None:
    """The ground truth of one OVD solution item, as VLM-R1's `od_reward` reads it."""
    if hasattr(sol, "tolist") and not isinstance(sol, (list, tuple, str)):
        sol = sol.tolist()
    if isinstance(sol, (list, tuple)):
        return _GT(len(sol) == 0, list(sol))
    if not isinstance(sol, str):
        return None
    answer = extract_answer(sol)  # VLM-R1: re.search, the first span
    if answer is None:
        return None
    answer = answer.strip()
    fences = json_fences(answer)
    body = fences[-1].strip() if fences else None
    items: list = []
    if body:
        try:
            items = [item for item in json.loads(body)]
        except (ValueError, TypeError, RecursionError):
            return None
    return _GT(answer == "None", items)


def _gt_arrays(gt_items: list) -> tuple[dict, list, list, list]:
    cats: dict = {}
    xywh, area, cat = [], [], []
    try:
        for g in gt_items:
            label = g["label"]
            if label not in cats:
                cats[label] = len(cats)
            b = g["bbox_2d"]
            xywh.append([b[0], b[1], b[2] - b[0], b[3] - b[1]])
            area.append((b[2] - b[0]) * (b[3] - b[1]))
            cat.append(cats[label])
    except Exception as e:
        raise BadGroundTruth(str(e)) from None
    return cats, xywh, area, cat


def od_map(pred_items: list, gt_items: list) -> tuple[float, float]:
    """VLM-R1's `calculate_map` as (stats[0], stats[1]); both non-empty lists."""
    from vlmr1_cli.metrics.ap import single_image_ap

    cats, gt_xywh, gt_area, gt_cat = _gt_arrays(gt_items)
    dt_xywh, dt_cat = [], []
    for p in pred_items:
        try:
            k = cats[p["label"]]
            b = p["bbox_2d"]
            box = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            _ = (b[2] - b[0]) * (b[3] - b[1])  # VLM-R1 computes the area too; it may raise
        except Exception:
            continue
        dt_xywh.append(box)
        dt_cat.append(k)
    if not dt_xywh:
        return 0.0, 0.0
    try:
        res = single_image_ap(gt_xywh, gt_area, gt_cat, dt_xywh, dt_cat, len(cats))
    except (OverflowError, TypeError, ValueError):
        raise BadGroundTruth("numbers out of range") from None
    if res is None:  # NaN IoUs: let pycocotools define the value
        from vlmr1_cli.metrics.pycoco import vlmr1_calculate_map

        try:
            return vlmr1_calculate_map(pred_items, gt_items)
        except Exception as e:
            raise BadGroundTruth(str(e)) from None
    return res


def od_reward_value(text: str, gt: _GT | None, kind: str) -> float:
    """One completion's `od_ap` / `od_ap50` / `od_length` value (raw, before clamping)."""
    if gt is None:
        return 0.0
    answer = extract_answer(text, last=True)  # VLM-R1: re.findall(...)[-1]
    if answer is None:
        return 0.0
    answer = answer.strip()
    if gt.is_none and answer == "None":
        return 1.0
    fences = json_fences(answer)
    preds = _json_items(fences[-1]) if fences else []
    n_gt, n_pred = len(gt.items), len(preds)
    if n_pred > 0 and n_gt > 0:
        try:
            ap, ap50 = od_map(preds, gt.items)
        except BadGroundTruth:
            return 0.0
        bbox_reward = ap50 if kind == "od_ap50" else ap
    elif n_pred == 0 and n_gt == 0:
        bbox_reward = 1.0
    else:
        bbox_reward = 0.0
    if kind == "od_length":
        length_score = 1.0 if n_gt >= n_pred else n_gt / n_pred
        return bbox_reward * length_score
    return bbox_reward


def _make_od(kind: str, doc: str | None) -> RewardFn:
    def reward(
        completions: Sequence[Any], solution: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        sols = need_solution(kind, completions, solution)
        return [
            unit(od_reward_value(t, od_ground_truth(s), kind))
            for t, s in zip(texts(completions), sols, strict=True)
        ]

    return named(reward, kind, doc)


def make_od_ap() -> RewardFn:
    """`od_ap`: COCO AP (stats[0]) of the last ```json fence of the last `<answer>`."""
    return _make_od("od_ap", make_od_ap.__doc__)


def make_od_ap50() -> RewardFn:
    """`od_ap50`: as `od_ap` with AP@0.5 (stats[1])."""
    return _make_od("od_ap50", make_od_ap50.__doc__)


def make_od_length() -> RewardFn:
    """`od_length` (the paper's odLength): AP * min(1, N_gt / N_pred), N_pred counting every parsed item."""
    return _make_od("od_length", make_od_length.__doc__)


# --------------------------------------------------------------------------- weighted_sum

_NL_AFTER_SPACE = {c: re.compile(r"(?<=\s)" + re.escape(c)) for c in "\n\r"}
_NL_AFTER_OTHER = {c: re.compile(r"(?<!\s)" + re.escape(c)) for c in "\n\r"}


def clean_text(text: str) -> str:
    """VLM-R1's `clean_text`: last `<answer>` span (or all), newlines folded, stripped,
    trailing dots removed, lowercased. The look-behind substitutions are linear."""
    if not isinstance(text, str):
        return ""
    answer = extract_answer(text, last=True)
    if answer is not None:
        text = answer
    for c in "\n\r":
        text = _NL_AFTER_SPACE[c].sub("", text)
        text = _NL_AFTER_OTHER[c].sub(" ", text)
    return text.strip().rstrip(".").lower()


def _first_fence_items(text: str, *, strict: bool) -> list:
    fences = json_fences(clean_text(text))
    body = fences[0].strip() if fences else None
    if not body:
        return []
    if strict:
        try:
            return [item for item in json.loads(body)]
        except (ValueError, TypeError, RecursionError):
            raise BadGroundTruth("ground truth JSON") from None
    return _json_items(body)


def _label(item: Any) -> str:
    try:
        label = item["label"].lower()
    except Exception:
        return ""
    return label if isinstance(label, str) else ""


def detection_score(pred_boxes: list, gt_boxes: list, iou_threshold: float = 0.5) -> float:
    """VLM-R1's `detection_score` (alpha 0.7, beta 0, gamma 0.3) on parsed item lists."""
    alpha, beta, gamma = 0.7, 0.0, 0.3
    if len(gt_boxes) == 0:
        return 1.0 if not pred_boxes else 0.0
    if len(pred_boxes) == 0:
        return 0.0
    edges = []
    for p_i, p in enumerate(pred_boxes):
        for g_i, g in enumerate(gt_boxes):
            try:
                v = iou_vlmr1(p["bbox_2d"], g["bbox_2d"])
            except Exception:
                v = 0.0
            if v >= iou_threshold:
                edges.append((-v, p_i, g_i))
    # repeatedly taking the max pair (ties: lowest prediction, then lowest GT) == one pass
    # over the pairs in this order, keeping those whose ends are both still free
    edges.sort()
    free_p = set(range(len(pred_boxes)))
    free_g = set(range(len(gt_boxes)))
    match_ious: list[float] = []
    n_label = 0
    for neg_v, p_i, g_i in edges:
        if p_i in free_p and g_i in free_g:
            correct = _label(pred_boxes[p_i]) == _label(gt_boxes[g_i])
            match_ious.append(-neg_v if correct else 0)
            n_label += correct
            free_p.discard(p_i)
            free_g.discard(g_i)
            if not free_p or not free_g:
                break
    position_score = sum(match_ious) / len(gt_boxes) if match_ious else 0.0
    label_score = sum(1.0 for _ in range(n_label)) / len(gt_boxes) if match_ious else 0.0
    miss_rate = len(free_g) / len(gt_boxes)
    false_alarm_rate = len(free_p) / len(pred_boxes) if pred_boxes else 0.0
    completeness_score = 1.0 - (miss_rate + false_alarm_rate) / 2.0
    return (alpha * position_score + beta * label_score + gamma * completeness_score) / (
        alpha + beta + gamma
    )


def weighted_sum_value(text: str, sol: Any) -> float:
    clean_content = clean_text(text)
    if isinstance(sol, (list, tuple)):
        if len(sol) == 0:
            return 1.0 if clean_content == "none" else 0.0
        gt_boxes = list(sol)
    elif isinstance(sol, str):
        sol_clean = clean_text(sol)
        if sol_clean == "none":
            return 1.0 if clean_content == "none" else 0.0
        try:
            gt_boxes = _first_fence_items(sol_clean, strict=True)
        except BadGroundTruth:
            return 0.0
    else:
        return 0.0
    pred_boxes = _first_fence_items(clean_content, strict=False)
    return detection_score(pred_boxes, gt_boxes)


def make_weighted_sum() -> RewardFn:
    """`weighted_sum`: 0.7 * sum(IoU of label-correct matches) / N_gt + 0.3 * completeness.

    VLM-R1's `detection_score`: greedy max-IoU matching (discrete IoU >= 0.5) between the
    first ```json fences of the cleaned completion and ground truth; "none" vs "none" is 1.
    """

    def weighted_sum(
        completions: Sequence[Any], solution: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        sols = need_solution("weighted_sum", completions, solution)
        return [
            unit(weighted_sum_value(t, s)) for t, s in zip(texts(completions), sols, strict=True)
        ]

    return named(weighted_sum, "weighted_sum", make_weighted_sum.__doc__)
