"""Rewards per task: each recipe reward is wrapped so that it scores only rows of its task
(returning None elsewhere, which TRL treats as "not applicable"), so REC and OVD rows can
train together with their own rewards. Weights become TRL's `reward_weights`; they must be
finite numbers (a NaN weight would turn every advantage into NaN).

What a reward returns for its own rows is checked on every call: one finite number per
completion. A wrong-length list, a non-number, NaN or infinity stops the run with one line
naming the reward and the sample. So does None: the wrapper's None for other tasks' rows is
the only "not applicable" vlmr1 uses, since each reward only sees rows of its task; a None
for one of those rows would make TRL drop that reward from the sample's weighted sum
silently (nansum), which is a bug in the reward, not a statement about the sample. A reward
that raises (or calls sys.exit) stops the run the same way, in one line naming it and the
batch; one whose signature cannot take the call is refused before the model loads
(vlmr1_cli.rewards.registry).

The first reward of the `ovd` task also logs `ovd/pred_to_gt_boxes`, the number of boxes
predicted over the number in the ground truth: the reward-hacking signal (a policy that
lists every queried label drives it far above 1). Every wrapper records its scores for the
sample-completions log.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import Recipe
from vlmr1_cli.train.samples import SampleLog


def box_count_ratio(completions: list, solution: list) -> tuple[int, int]:
    """(predicted boxes, ground-truth boxes) summed over OVD completions."""
    from vlmr1_cli.parsing import completion_text, parse_boxes

    n_pred = sum(len(parse_boxes(completion_text(c))) for c in completions)
    n_gt = sum(len(s) for s in solution if isinstance(s, list))
    return n_pred, n_gt


def _sample_name(ids: Any, row: int) -> str:
    if isinstance(ids, (list, tuple)) and row < len(ids):
        return f"sample '{ids[row]}'"
    return f"batch row {row}"


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return repr(value)  # nan, inf
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"  # repr raises past 4,300 digits
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def checked_scores(name: str, scores: Any, rows: list[int], ids: Any) -> list[float]:
    """`scores` as one finite float per row of `rows`, or UserError naming the reward and the
    sample (`ids`: the batch's `id` column, when the dataset has one)."""
    where = f"reward '{name}'"
    if hasattr(scores, "tolist") and not isinstance(scores, (list, tuple)):
        scores = scores.tolist()  # numpy arrays, tensors
    if not isinstance(scores, (list, tuple)):
        raise UserError(
            f"{where} returned {_describe(scores)} for the batch starting at "
            f"{_sample_name(ids, rows[0])}: it must return a list of numbers, "
            "one per completion"
        )
    if len(scores) != len(rows):
        raise UserError(
            f"{where} returned {len(scores)} scores for {len(rows)} completions "
            f"(the batch starting at {_sample_name(ids, rows[0])}): it must return "
            "one number per completion"
        )
    out = []
    for row, value in zip(rows, scores, strict=True):
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            value = value.item()  # numpy and torch scalars
        try:
            ok = isinstance(value, numbers.Real) and math.isfinite(float(value))
        except OverflowError:  # an integer too large for a float
            ok = False
        if not ok:
            hint = " (return 0.0 for a completion it cannot score)" if value is None else ""
            raise UserError(
                f"{where} returned {_describe(value)} for {_sample_name(ids, row)}: "
                f"rewards must be finite numbers{hint}"
            )
        out.append(float(value))
    return out


class TaskReward:
    """A reward restricted to one task; logs under `rewards/<task>/<name>` when several tasks train."""

    def __init__(
        self,
        fn: Callable,
        task: str,
        name: str,
        multi_task: bool,
        samples: SampleLog | None = None,
        log_boxes: bool = False,
        source: str | None = None,
    ):
        self.fn = fn
        self.source = source or name  # as the recipe names it (`module:function` for a user's)
        self.task = task
        self.name = name
        self.samples = samples
        self.log_boxes = log_boxes
        self.__name__ = f"{task}/{name}" if multi_task else name

    def __call__(self, completions: list, solution: list, task: list | None = None, **kwargs: Any):
        n = len(completions)
        idx = list(range(n)) if task is None else [i for i, t in enumerate(task) if t == self.task]
        out: list[float | None] = [None] * n
        if idx:
            sub = {
                k: [v[i] for i in idx] if isinstance(v, list) and len(v) == n else v
                for k, v in kwargs.items()
            }
            comps, sols = [completions[i] for i in idx], [solution[i] for i in idx]
            if task is not None:
                sub["task"] = [task[i] for i in idx]
            scores = checked_scores(
                self.__name__,
                self._call(comps, sols, sub, idx, kwargs.get("id")),
                idx,
                kwargs.get("id"),
            )
            for i, s in zip(idx, scores, strict=True):
                out[i] = s
            if self.log_boxes and callable(kwargs.get("log_metric")):
                n_pred, n_gt = box_count_ratio(comps, sols)
                if n_gt:
                    kwargs["log_metric"]("ovd/pred_to_gt_boxes", n_pred / n_gt)
        state = kwargs.get("trainer_state")
        if self.samples is not None and state is not None:
            self.samples.record(
                int(state.global_step) + 1, kwargs.get("id"), task, completions, self.__name__, out
            )
        return out

    def _call(self, comps: list, sols: list, sub: dict, rows: list[int], ids: Any) -> Any:
        """The reward's own call: whatever it raises (a bug in a user's reward, a sys.exit)
        stops the run in one line naming the reward and the batch; KeyboardInterrupt still
        interrupts."""
        try:
            return self.fn(comps, sols, **sub)
        except UserError:
            raise
        except (Exception, SystemExit) as e:
            what = (
                f"sys.exit({e.code!r})"
                if isinstance(e, SystemExit)
                else f"{type(e).__name__}: {_first_line(e)}"
            )
            raise UserError(
                f"reward '{self.source}' failed on the batch starting at "
                f"{_sample_name(ids, rows[0])}: {what}"
            ) from e


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else "(no message)"


def build_reward_funcs(
    recipe: Recipe, samples: SampleLog | None = None
) -> tuple[list[Callable], list[float]]:
    """The recipe's `rewards` section as TRL reward functions and weights (names checked here,
    with suggestions for typos, before any model loads)."""
    from vlmr1_cli.rewards import get_reward

    if not recipe.rewards:
        raise UserError("recipe: key 'rewards' is empty: GRPO needs at least one reward per task")
    multi = len(recipe.rewards) > 1
    funcs: list[Callable] = []
    weights: list[float] = []
    first_ovd = True
    for task, terms in recipe.rewards.items():
        for j, term in enumerate(terms):
            try:  # a NaN weight would make every advantage NaN
                finite = math.isfinite(term.weight)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise UserError(
                    f"recipe: key 'rewards.{task}[{j}].weight': must be a finite number, "
                    f"got {term.weight}"
                )
            try:
                fn = get_reward(term.name, **term.options)
            except UserError as e:
                raise UserError(f"recipe: key 'rewards.{task}[{j}]': {e}") from None
            log_boxes = task == "ovd" and first_ovd
            first_ovd = first_ovd and task != "ovd"
            label = getattr(fn, "__name__", None) or term.name.split(":")[-1]
            funcs.append(TaskReward(fn, task, label, multi, samples, log_boxes, source=term.name))
            weights.append(term.weight)
    return funcs, weights
