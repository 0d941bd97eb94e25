"""A reward that misbehaves stops the run with one line naming the reward and the sample:
non-finite values, None, wrong-length lists, non-numbers; and reward weights must be finite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.loading import load_recipe
from vlmr1_cli.recipes.schema import RewardTerm
from vlmr1_cli.train.reward_funcs import TaskReward, build_reward_funcs

IDS = ["s0", "s1", "s2", "s3"]
TASKS = ["rec", "ovd", "rec", "rec"]


def _call(returned, task=TASKS):
    reward = TaskReward(
        lambda completions, solution, **kw: returned, "rec", "mine", multi_task=True
    )
    return reward(completions=["a", "b", "c", "d"], solution=[None] * 4, task=task, id=IDS)


@pytest.mark.parametrize(
    "returned,message",
    [
        (
            [1.0, float("nan"), 0.0],
            r"^reward 'rec/mine' returned nan for sample 's2': rewards must be finite numbers$",
        ),
        ([float("inf"), 1.0, 0.0], r"^reward 'rec/mine' returned inf for sample 's0'"),
        ([1.0, 0.5, -math.inf], r"^reward 'rec/mine' returned -inf for sample 's3'"),
        (
            [None, 1.0, 1.0],
            r"^reward 'rec/mine' returned None for sample 's0': .* \(return 0.0 for a completion",
        ),
        ([1.0, "0.5", 1.0], r"^reward 'rec/mine' returned str '0.5' for sample 's2'"),
        ([1.0, [0.5], 1.0], r"^reward 'rec/mine' returned list \[0.5\] for sample 's2'"),
        (
            [1.0, 1.0],
            r"^reward 'rec/mine' returned 2 scores for 3 completions \(the batch starting at sample 's0'\)",
        ),
        ([1.0] * 4, r"^reward 'rec/mine' returned 4 scores for 3 completions"),
        (
            0.5,
            r"^reward 'rec/mine' returned 0.5 for the batch starting at sample 's0': it must return a list",
        ),
        (None, r"^reward 'rec/mine' returned None for the batch starting at sample 's0'"),
        (np.array([1.0, np.nan, 0.0]), r"returned nan for sample 's2'"),
        (
            [1.0, 10**5000, 0.0],
            r"^reward 'rec/mine' returned an integer of 16610 bits for sample 's2'",
        ),
    ],
)
def test_misbehaving_reward_is_named_with_the_sample(returned, message):
    with pytest.raises(UserError, match=message):
        _call(returned)


def test_good_outputs_pass_as_floats():
    assert _call([1, True, 0.25]) == [1.0, None, 1.0, 0.25]
    assert _call(np.array([0.5, 0.0, 1.0], dtype=np.float32)) == [0.5, None, 0.0, 1.0]
    assert _call([np.float64(0.5), np.int64(2), 0.0]) == [0.5, None, 2.0, 0.0]
    # other tasks' rows stay None ("not applicable" to TRL); no rows of its task: no call
    assert _call("never looked at", task=["ovd"] * 4) == [None] * 4


def test_without_an_id_column_the_row_is_named():
    reward = TaskReward(
        lambda completions, solution, **kw: [0.0, None], "rec", "mine", multi_task=False
    )
    with pytest.raises(UserError, match=r"^reward 'mine' returned None for batch row 1"):
        reward(completions=["a", "b"], solution=[None, None])


def _recipe(rewards: str):
    return load_recipe("demo_shapes_grpo", [f"rewards={rewards}"])


@pytest.mark.parametrize("weight", [float("nan"), -math.inf, math.inf])
def test_reward_weight_must_be_finite(weight):
    # A recipe built by hand: callers need not go through load_recipe's checks.
    recipe = _recipe("{rec: [rec_iou]}")
    recipe.rewards = {"rec": [RewardTerm("rec_iou"), RewardTerm("rec_format", weight=weight)]}
    with pytest.raises(
        UserError,
        match=rf"^recipe: key 'rewards.rec\[1\].weight': must be a finite number, got {weight}$",
    ):
        build_reward_funcs(recipe)


@pytest.mark.parametrize(
    "weight,message",
    [
        (".nan", "must be a finite number, got nan"),
        ("-.inf", "must be a finite number, got -inf"),
        ("nan", "must be a finite number, got 'nan'"),
        ("1e999", "must be a finite number, got '1e999'"),
        ("1" + "0" * 400, "must be a finite number, got an integer of 401 digits"),
        ("true", "expected a number, got True"),
        ("x", "expected a number, got 'x'"),
        ("null", "expected a number, got None"),
    ],
)
def test_recipe_with_a_weight_that_is_not_a_finite_number_is_refused(weight, message):
    # load_recipe refuses it: such a weight never reaches build_reward_funcs
    with pytest.raises(UserError, match=rf"^recipe: key 'rewards.rec\[1\].weight': {message}$"):
        _recipe(f"{{rec: [rec_iou, {{name: rec_format, weight: {weight}}}]}}")


def test_finite_weights_including_negative_pass():
    _, weights = build_reward_funcs(_recipe("{rec: [rec_iou, {name: rec_format, weight: -0.5}]}"))
    assert weights == [1.0, -0.5]


PLUGIN = """
def nan_on_second(completions, solution=None, **kwargs):
    return [1.0] + [float("nan")] * (len(completions) - 1)
"""


def test_training_stops_at_the_first_batch_on_a_nan_reward(
    tiny_model, shapes_data, grpo_settings, tmp_path, monkeypatch
):
    from vlmr1_cli.train.run import train

    (tmp_path / "vlmr1_test_nan_reward.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    recipe = load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={tiny_model}",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            "rewards={rec: [rec_format, 'vlmr1_test_nan_reward:nan_on_second']}",
            *grpo_settings(out),
        ],
    )
    with pytest.raises(
        UserError,
        match=r"^reward 'nan_on_second' returned nan for sample '[^']+': "
        r"rewards must be finite numbers$",
    ):
        train(recipe)
    assert not (out / "model.safetensors").exists()


@pytest.mark.parametrize(
    "error, message",
    [
        (ValueError("reward exploded\nsecond line"), "ValueError: reward exploded$"),
        (SystemExit(4), r"sys.exit\(4\)$"),
    ],
)
def test_a_reward_that_raises_is_named_with_the_batch(error, message):
    def boom(completions, solution, **kw):
        raise error

    reward = TaskReward(boom, "rec", "boom", multi_task=False, source="mymod:boom")
    with pytest.raises(
        UserError,
        match=r"^reward 'mymod:boom' failed on the batch starting at "
        r"sample 'b': " + message,
    ):
        reward(completions=["a", "b"], solution=[None, None], task=["ovd", "rec"], id=["a", "b"])
    interrupted = TaskReward(
        lambda c, s, **kw: (_ for _ in ()).throw(KeyboardInterrupt), "rec", "k", multi_task=False
    )
    with pytest.raises(KeyboardInterrupt):
        interrupted(completions=["a"], solution=[None])
