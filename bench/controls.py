"""Control rewards for the learning benchmark (bench/learning.py).

`shuffled_rec_iou` scores every completion against *another* prompt's ground truth: the
reward keeps its distribution but loses its link to the image, so a GRPO run that still
"learns" from it would reveal a bug (leaked labels, a frame error, a sign error).
Use it as `controls:shuffled_rec_iou` with this folder on PYTHONPATH.
"""

from __future__ import annotations


def _group_size(ids: list) -> int:
    n = 1
    while n < len(ids) and ids[n] == ids[0]:
        n += 1
    return n


def shuffled_rec_iou(completions, solution, id=None, iou_kind="discrete", parser="paper", threshold=None,
                     **kwargs):  # noqa: A002 (TRL column name)
    """`rec_iou` with the same options as the recipe's, scored against shifted solutions."""
    from vlmr1_cli.rewards import get_reward

    g = _group_size(list(id)) if id is not None else 1
    shift = g % len(solution) if len(solution) > g else 0
    rolled = solution[shift:] + solution[:shift] if shift else list(reversed(solution))
    return get_reward("rec_iou", iou_kind=iou_kind, parser=parser, threshold=threshold)(completions, rolled, **kwargs)
