"""Control rewards for the learning experiment (experiments/learning.py). Use them as the
reward plug-in `experiments.controls:<name>` with the repository root on the import path
(`python -m` from it, or PYTHONPATH).

- `permuted_rec_iou` (the experiment's control): `rec_iou` computed right, then its values
  shuffled across the batch's samples. The rewards keep their distribution and lose every
  link to the completion they score, so a GRPO run that still gains from them would reveal a
  bug (leaked labels, a frame error, a sign error) or a bias of the algorithm itself.
- `shuffled_rec_iou` scores every completion against *another* prompt's ground truth. It
  loses the link to the image but not to the boxes: a completion shaped like a typical true
  box still earns more, so on one-shape images it teaches the size and place of shapes
  (BENCHMARKS.md, "Learning").
"""

from __future__ import annotations

import itertools
import random

_CALLS = itertools.count()


def _group_size(ids: list) -> int:
    n = 1
    while n < len(ids) and ids[n] == ids[0]:
        n += 1
    return n


def shuffled_rec_iou(
    completions, solution, id=None, iou_kind="discrete", parser="paper", threshold=None, **kwargs
):
    """`rec_iou` with the same options as the recipe's, scored against shifted solutions."""
    from vlmr1_cli.rewards import get_reward

    g = _group_size(list(id)) if id is not None else 1
    shift = g % len(solution) if len(solution) > g else 0
    rolled = solution[shift:] + solution[:shift] if shift else list(reversed(solution))
    return get_reward("rec_iou", iou_kind=iou_kind, parser=parser, threshold=threshold)(
        completions, rolled, **kwargs
    )


def permuted_rec_iou(
    completions, solution, iou_kind="discrete", parser="paper", threshold=None, seed=0, **kwargs
):
    """`rec_iou` with the recipe's options, its values then permuted across the batch.

    Each call draws a new permutation, reproducibly (`seed`, then the call's index in this
    process). About one sample in a batch keeps its own reward, as in any random permutation.
    """
    from vlmr1_cli.rewards import get_reward

    scores = get_reward("rec_iou", iou_kind=iou_kind, parser=parser, threshold=threshold)(
        completions, solution, **kwargs
    )
    random.Random(f"permuted_rec_iou:{seed}:{next(_CALLS)}").shuffle(scores)
    return scores
