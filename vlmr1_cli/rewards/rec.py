"""REC rewards: `rec_iou` (VLM-R1's accuracy reward) and the answer-box helpers it uses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vlmr1_cli.geometry import iou, iou_discrete, iou_vlmr1, is_number
from vlmr1_cli.parsing import extract_answer, find_int_box, parse_rec_box
from vlmr1_cli.rewards._common import RewardFn, named, need_solution, texts, unit

_IOUS = {"discrete": iou_vlmr1, "discrete_geometry": iou_discrete, "continuous": iou}
_PARSERS = ("paper", "tolerant")


def rec_solution_box(sol: Any) -> tuple | None:
    """The ground-truth box of one REC solution item, or None if it has none.

    A list/tuple of four numbers (vlmr1's records, already in the model frame) is used as is.
    A string is VLM-R1's form: the JSON list in its last `<answer>` span (or the whole string);
    failing JSON, the first box the tolerant parser finds there.
    """
    if hasattr(sol, "tolist") and not isinstance(sol, (list, tuple, str)):
        sol = sol.tolist()  # numpy arrays / tensors from a dataset's format
    if isinstance(sol, (list, tuple)):
        if len(sol) == 4 and all(is_number(v) for v in sol):
            return tuple(sol)
        return None
    if not isinstance(sol, str):
        return None
    body = extract_answer(sol, last=True)
    if body is None:
        body = sol
    try:
        data = json.loads(body.strip())
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, list) and len(data) == 4 and all(is_number(v) for v in data):
        return tuple(data)
    return parse_rec_box(body)


def paper_pred_box(text: str) -> tuple[int, int, int, int] | None:
    """VLM-R1's prediction: first `<answer>` span, then its first integer `[a,b,c,d]`."""
    answer = extract_answer(text)
    if answer is None:
        return None
    try:
        return find_int_box(answer)
    except ValueError:  # int() refuses digit strings over 4300 characters
        return None


def make_rec_iou(
    iou_kind: str = "discrete", parser: str = "paper", threshold: float | None = None
) -> RewardFn:
    """Build `rec_iou`.

    Default (the paper's code): the prediction is the first integer `[a,b,c,d]` of the first
    `<answer>` span; the reward is VLM-R1's discrete IoU, not thresholded; anything missing
    gives 0. `iou_kind="continuous"` uses the standard IoU; `parser="tolerant"` reads the box
    with `parsing.parse_rec_box` (floats, JSON objects, Qwen2-VL tokens, no answer tag).
    `threshold=t` makes the reward the metric itself: 1 if IoU >= t, else 0. A policy unsure
    between two objects can earn more expected *continuous* IoU from one large box over both
    than from an imprecise guess, though that box scores 0 at Acc@0.5; the thresholded reward
    pays only for a box that counts.
    """
    if iou_kind not in _IOUS:
        raise ValueError(f"iou_kind must be one of {sorted(_IOUS)}, got {iou_kind!r}")
    if parser not in _PARSERS:
        raise ValueError(f"parser must be one of {list(_PARSERS)}, got {parser!r}")
    if threshold is not None and (not is_number(threshold) or not 0 < threshold <= 1):
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    iou_fn = _IOUS[iou_kind]
    read = paper_pred_box if parser == "paper" else parse_rec_box
    name = (
        "rec_iou" if (iou_kind, parser) == ("discrete", "paper") else f"rec_iou_{iou_kind}_{parser}"
    )
    if threshold is not None:
        name = f"{name}_at{threshold:g}"

    def score(pred: tuple | None, gt: tuple | None) -> float:
        if gt is None or pred is None:
            return 0.0
        value = unit(iou_fn(pred, gt))
        if threshold is None:
            return value
        return 1.0 if value >= threshold else 0.0

    def rec_iou(
        completions: Sequence[Any], solution: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        sols = need_solution(name, completions, solution)
        out = []
        for text, sol in zip(texts(completions), sols, strict=True):
            out.append(score(read(text), rec_solution_box(sol)))
        return out

    return named(rec_iou, name, make_rec_iou.__doc__)
