"""Per-task reward wrapping, the OVD box-count ratio and the sample log (no model needed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.loading import load_recipe
from vlmr1_cli.train.reward_funcs import TaskReward, build_reward_funcs
from vlmr1_cli.train.samples import SampleLog, SampleLogCallback


def _conv(text):
    return [{"role": "assistant", "content": text}]


def test_task_reward_scores_only_its_rows_and_logs_the_box_ratio():
    seen = {}

    def fake(completions, solution, **kw):
        seen.update(kw, n=len(completions))
        return [0.5] * len(completions)

    metrics = []
    samples = SampleLog(limit=10)
    r = TaskReward(fake, "ovd", "fake", multi_task=True, samples=samples, log_boxes=True)
    assert r.__name__ == "ovd/fake"
    three = (
        '<answer>```json\n[{"bbox_2d": [1,2,3,4], "label": "a"}, {"bbox_2d": [1,2,3,5], "label": "a"}, '
        '{"bbox_2d": [2,2,3,4], "label": "b"}]\n```</answer>'
    )
    out = r(
        completions=[_conv("x"), _conv(three), _conv("None")],
        solution=[[1, 2, 3, 4], [{"bbox_2d": [1, 2, 3, 4], "label": "a"}], []],
        task=["rec", "ovd", "ovd"],
        id=["a", "b", "c"],
        extra=[{}, {"k": 1}, {}],
        trainer_state=SimpleNamespace(global_step=4),
        log_metric=lambda k, v: metrics.append((k, v)),
    )
    assert out == [None, 0.5, 0.5]
    assert (
        seen["n"] == 2
        and seen["id"] == ["b", "c"]
        and seen["extra"] == [{"k": 1}, {}]
        and seen["task"] == ["ovd", "ovd"]
    )
    assert metrics == [("ovd/pred_to_gt_boxes", 3.0)]  # 3 predicted boxes for 1 in the ground truth
    rows = samples.take(5)
    assert [row["id"] for row in rows] == ["a", "b", "c"] and rows[1]["rewards"] == {
        "ovd/fake": 0.5
    }
    assert rows[0]["rewards"] == {} and rows[1]["completion"].startswith("<answer>")


def test_sample_log_writes_the_latest_step(tmp_path):
    log = SampleLog(limit=2)
    log.record(3, ["a", "b", "c"], ["rec"] * 3, ["x", "y", "z"], "rec_iou", [0.1, 0.2, 0.3])
    log.record(3, ["a", "b", "c"], ["rec"] * 3, ["x", "y", "z"], "rec_format", [1.0, 0.0, 1.0])
    cb = SampleLogCallback(log, tmp_path)
    state = SimpleNamespace(is_world_process_zero=True, global_step=3)
    cb.on_log(None, state, None, logs={"loss": 0})
    cb.on_log(
        None, SimpleNamespace(is_world_process_zero=True, global_step=4), None, logs={}
    )  # nothing new
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert rows == [
        {
            "step": 3,
            "id": "a",
            "task": "rec",
            "completion": "x",
            "rewards": {"rec_iou": 0.1, "rec_format": 1.0},
        },
        {
            "step": 3,
            "id": "b",
            "task": "rec",
            "completion": "y",
            "rewards": {"rec_iou": 0.2, "rec_format": 0.0},
        },
    ]


def _recipe(rewards: str):
    return load_recipe(None, ["model.path=m", f"rewards={rewards}"])


def test_recipe_rewards_become_weighted_trl_functions():
    funcs, weights = build_reward_funcs(
        _recipe(
            "{rec: [rec_iou, {name: rec_format, weight: 0.5}], ovd: [{name: ovd_format, options: {strict: true}}]}"
        )
    )
    assert [f.__name__ for f in funcs] == ["rec/rec_iou", "rec/rec_format", "ovd/ovd_format_strict"]
    assert weights == [1.0, 0.5, 1.0]
    assert [f.log_boxes for f in funcs] == [False, False, True]
    single, _ = build_reward_funcs(_recipe("{rec: [rec_iou], ovd: null}"))
    assert [f.__name__ for f in single] == ["rec_iou"]


@pytest.mark.parametrize(
    "rewards, message",
    [
        ("{rec: [rec_iuo]}", r"rewards.rec\[0\].*did you mean 'rec_iou'"),
        ("{rec: [{name: rec_iou, wieght: 2}]}", r"rewards.rec\[0\].wieght': unknown"),
        (
            "{rec: [{name: rec_iou, weight: heavy}]}",
            r"rewards.rec\[0\].weight': expected a number, got 'heavy'",
        ),
        ("{rec: [{name: ovd_format, options: {stric: true}}]}", r"rewards.rec\[0\].*bad option"),
        ("{rec: []}", r"rewards.rec' must be a non-empty list"),
        ("{rec: [{weight: 1}]}", r"rewards.rec\[0\]' needs a 'name'"),
        ("{rec: [no_such.module:fn]}", r"rewards.rec\[0\].*cannot import module 'no_such.module'"),
    ],
)
def test_bad_reward_entries_name_the_key(rewards, message):
    with pytest.raises(UserError, match=message):
        build_reward_funcs(_recipe(rewards))
