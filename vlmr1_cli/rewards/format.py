"""Format rewards: `rec_format` and `ovd_format`, the paper's rules in linear time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlmr1_cli.parsing import match_rec_format, match_think_answer
from vlmr1_cli.rewards._common import RewardFn, named, texts


def make_rec_format() -> RewardFn:
    """`rec_format`: 1 if VLM-R1's REC format regex would find a match, else 0.

    `<think>.*?</think>\\s*<answer>.*?\\{.*\\[\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\].*\\}.*?</answer>`
    (re.search, DOTALL), decided by a linear scan instead of the backtracking regex.
    """

    def rec_format(completions: Sequence[Any], solution: Any = None, **kwargs: Any) -> list[float]:
        return [1.0 if match_rec_format(t) else 0.0 for t in texts(completions)]

    return named(rec_format, "rec_format", make_rec_format.__doc__)


def make_ovd_format(strict: bool = False) -> RewardFn:
    """`ovd_format`: 1 if the whole completion is `<think>…</think>` `<answer>…</answer>`.

    Default: the code's rule, `re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", DOTALL)`.
    `strict=True`: the paper's rule, which also requires a ```json…``` fence inside the
    answer; it is logged as `ovd_format_strict` so a run records which rule ran.
    """

    def ovd_format(completions: Sequence[Any], solution: Any = None, **kwargs: Any) -> list[float]:
        return [
            1.0 if match_think_answer(t, require_json_fence=strict) else 0.0
            for t in texts(completions)
        ]

    return named(
        ovd_format, "ovd_format_strict" if strict else "ovd_format", make_ovd_format.__doc__
    )
