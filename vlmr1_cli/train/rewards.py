"""Rewards per task: each recipe reward is wrapped so that it scores only rows of its task
(returning None elsewhere, which TRL treats as "not applicable"), so REC and OVD rows can
train together with their own rewards. Weights become TRL's `reward_weights`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlmr1_cli.errors import UserError


class TaskReward:
    """A reward restricted to one task; logs under `rewards/<task>/<name>` in TRL."""

    def __init__(self, fn: Callable, task: str, name: str, multi_task: bool):
        self.fn = fn
        self.task = task
        self.name = name
        self.__name__ = f"{task}/{name}" if multi_task else name

    def __call__(self, completions: list, solution: list, task: list | None = None, **kwargs: Any):
        if task is None:
            return self.fn(completions, solution, **kwargs)
        idx = [i for i, t in enumerate(task) if t == self.task]
        out: list[float | None] = [None] * len(completions)
        if not idx:
            return out
        sub_kwargs = {k: [v[i] for i in idx] if isinstance(v, list) and len(v) == len(completions) else v
                      for k, v in kwargs.items()}
        scores = self.fn([completions[i] for i in idx], [solution[i] for i in idx], **sub_kwargs)
        for i, s in zip(idx, scores, strict=True):
            out[i] = s
        return out


def box_count_ratio(completions: list, solution: list, task: list | None = None, log_metric=None, **_: Any):
    """Not a reward (weight 0): logs predicted/GT box counts on OVD rows, the hacking signal."""
    from vlmr1_cli.parsing import completion_text, parse_boxes

    n_pred = n_gt = 0
    for i, (c, s) in enumerate(zip(completions, solution, strict=True)):
        if task is not None and task[i] != "ovd":
            continue
        n_pred += len(parse_boxes(completion_text(c)))
        n_gt += len(s) if isinstance(s, list) else 0
    if log_metric is not None and n_gt:
        log_metric("ovd/pred_to_gt_boxes", n_pred / n_gt)
    return [None] * len(completions)


def build_reward_funcs(recipe: dict) -> tuple[list[Callable], list[float]]:
    from vlmr1_cli.rewards import get_reward

    spec = recipe.get("rewards") or {}
    if not spec:
        raise UserError("recipe: key 'rewards' is empty: GRPO needs at least one reward per task")
    if not isinstance(spec, dict):
        raise UserError("recipe: key 'rewards' must map task names to reward lists")
    multi = len(spec) > 1
    funcs: list[Callable] = []
    weights: list[float] = []
    for task, items in spec.items():
        if not isinstance(items, list) or not items:
            raise UserError(f"recipe: key 'rewards.{task}' must be a non-empty list")
        for j, item in enumerate(items):
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, dict) or "name" not in item:
                raise UserError(f"recipe: key 'rewards.{task}[{j}]' needs a 'name'")
            unknown = set(item) - {"name", "weight"}
            if unknown:
                raise UserError(f"recipe: key 'rewards.{task}[{j}].{sorted(unknown)[0]}': unknown (use name, weight)")
            try:
                fn = get_reward(str(item["name"]))
            except UserError as e:
                raise UserError(f"recipe: key 'rewards.{task}[{j}]': {e}") from None
            funcs.append(TaskReward(fn, task, str(item["name"]).split(":")[-1], multi))
            weights.append(float(item.get("weight", 1.0)))
    if "ovd" in spec:
        funcs.append(box_count_ratio)
        weights.append(0.0)
    if recipe["training"].get("reward_weights") is not None:
        raise UserError("recipe: key 'training.reward_weights': set weights on each reward under 'rewards' instead")
    return funcs, weights
