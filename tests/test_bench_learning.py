"""The learning experiment's control and bookkeeping (experiments/controls.py, experiments/learning.py),
checked without training: the control must score against other prompts' boxes with the
recipe's own reward options, and the summary must compute the gaps --check relies on."""

from __future__ import annotations

import pytest

from experiments import controls, learning


def test_shuffled_reward_scores_against_the_next_group():
    right = "<answer>[0,0,10,10]</answer>"
    sols = [[0, 0, 10, 10]] * 2 + [[50, 50, 60, 60]] * 2  # two prompts, G = 2
    ids = ["a", "a", "b", "b"]
    # prompt a's completions are scored against b's box and b's against a's
    assert controls.shuffled_rec_iou([right] * 4, sols, id=ids) == [0.0, 0.0, 1.0, 1.0]
    near = "<answer>[50,50,60,64]</answer>"  # IoU 100/140 with the second box
    assert controls.shuffled_rec_iou([near] * 4, sols, id=ids)[:2] == [pytest.approx(100 / 140)] * 2
    assert controls.shuffled_rec_iou([near] * 4, sols, id=ids, threshold=0.5)[:2] == [1.0, 1.0]
    assert controls.shuffled_rec_iou([near] * 4, sols, id=ids, threshold=0.8)[:2] == [0.0, 0.0]


def test_permuted_reward_keeps_the_values_and_loses_the_samples(monkeypatch):
    import itertools
    import random

    monkeypatch.setattr(controls, "_CALLS", itertools.count())
    hit, miss = "<answer>[0,0,10,10]</answer>", "<answer>[50,50,60,60]</answer>"
    completions = [hit] * 8 + [miss] * 24
    sols = [[0, 0, 10, 10]] * 32
    true = [1.0] * 8 + [0.0] * 24
    first = controls.permuted_rec_iou(completions, sols, threshold=0.5)
    second = controls.permuted_rec_iou(completions, sols, threshold=0.5)
    assert sorted(first) == sorted(second) == sorted(true)  # same values: same mean and spread
    assert first != true and second != first  # moved, and a new permutation on every call
    # reproducible: the n-th call of a process draws the same permutation for the same seed
    for call, got in enumerate((first, second)):
        again = list(true)
        random.Random(f"permuted_rec_iou:0:{call}").shuffle(again)
        assert again == got
    # the recipe's options reach rec_iou: a near box is a hit at 0.5, not at 0.8
    near = ["<answer>[0,0,10,14]</answer>"] * 4  # IoU 100/140
    assert controls.permuted_rec_iou(near, sols[:4], threshold=0.5) == [1.0] * 4
    assert controls.permuted_rec_iou(near, sols[:4], threshold=0.8) == [0.0] * 4


def test_control_keeps_the_recipes_reward_options():
    from vlmr1_cli.demo import DemoConfig
    from vlmr1_cli.recipes.loading import load_recipe

    cfg = DemoConfig()
    real = load_recipe("demo_shapes_grpo").rewards["rec"]
    control = load_recipe("demo_shapes_grpo", [learning.control_rewards(cfg, [])])
    control = control.rewards["rec"]
    assert [c.name for c in control] == [
        "experiments.controls:permuted_rec_iou" if r.name == "rec_iou" else r.name for r in real
    ]
    assert [(c.options, c.weight) for c in control] == [(r.options, r.weight) for r in real]
    other = load_recipe("demo_shapes_grpo", [learning.control_rewards(cfg, [], "other-box")])
    assert "experiments.controls:shuffled_rec_iou" in [c.name for c in other.rewards["rec"]]


def test_summary_gaps_and_reward_curve_key():
    arm = lambda acc, ood=0.1: {  # noqa: E731
        "eval_acc": acc,
        "eval_ood_acc": ood,
        "eval_ood_pairs_acc": ood + 0.1,
        "eval_warmup_acc": acc / 2,
        "eval_unparsed": 0.0,
        "eval_ood_unparsed": 0.0,
    }
    results = [
        {
            "seed": s,
            "arms": {
                "sft": arm(0.2),
                "grpo": arm(0.3 + s / 100),
                "grpo_shuffled": arm(0.05),
                "sft_more": arm(0.25),
            },
        }
        for s in (0, 1)
    ]
    summary = learning.summarise(results)
    assert summary["gaps"]["grpo_minus_sft_in_domain"] == pytest.approx([0.1, 0.11])
    assert summary["gaps"]["grpo_minus_shuffled_in_domain"] == pytest.approx([0.25, 0.26])
    assert summary["gaps"]["shuffled_minus_sft_in_domain"] == pytest.approx([-0.15, -0.15])
    assert summary["gaps"]["grpo_minus_sft_more_ood_pairs"] == pytest.approx([0.0, 0.0])
    assert summary["gaps"]["grpo_minus_sft_more_warmup"] == pytest.approx([0.025, 0.03])
    assert summary["gaps"]["sft_more_minus_sft_out_of_domain"] == pytest.approx([0.0, 0.0])
    assert summary["grpo"]["eval_ood_pairs_acc"][0] == pytest.approx(0.2)
    assert summary["grpo_format_rate_min"] == 1.0
    assert (
        learning.reward_mean({"step": 1, "rewards/rec_iou_at0.5/mean": 0.4, "reward": 1.4}) == 0.4
    )
    assert learning.reward_mean({"step": 1, "rewards/shuffled_rec_iou/mean": 0.1}) == 0.1
    assert learning.reward_mean({"step": 1, "loss": 0.0}) is None


def test_check_fails_when_any_claim_fails():
    arm = lambda acc: {  # noqa: E731
        "eval_acc": acc,
        "eval_ood_acc": 0.1,
        "eval_ood_pairs_acc": 0.2,
        "eval_warmup_acc": 0.2,
        "eval_unparsed": 0.0,
        "eval_ood_unparsed": 0.0,
    }

    def holds(sft, grpo, control, unparsed=0.0):
        results = [
            {
                "seed": s,
                "arms": {
                    "sft": arm(a),
                    "grpo": {**arm(b), "eval_unparsed": unparsed},
                    "grpo_shuffled": arm(c),
                    "sft_more": arm(0.5),
                },
            }
            for s, (a, b, c) in enumerate(zip(sft, grpo, control, strict=True))
        ]
        return learning.claims_hold(learning.summarise(results))

    assert holds([0.2, 0.4, 0.3], [0.35, 0.5, 0.4], [0.1, 0.35, 0.3])  # +11.7 mean, control below
    assert not holds([0.2, 0.4, 0.3], [0.28, 0.5, 0.4], [0.1, 0.35, 0.3])  # +9.3 mean: short of +10
    assert not holds([0.2, 0.4, 0.3], [0.5, 0.6, 0.29], [0.1, 0.35, 0.2])  # one seed loses
    assert not holds([0.2, 0.4, 0.3], [0.35, 0.5, 0.4], [0.3, 0.45, 0.3])  # the control gains
    assert not holds([0.2, 0.4, 0.3], [0.35, 0.5, 0.4], [0.1, 0.55, 0.3])  # control above GRPO once
    assert not holds(
        [0.2, 0.4, 0.3], [0.35, 0.5, 0.4], [0.1, 0.35, 0.3], unparsed=0.06
    )  # format lost


def test_compute_matched_sft_starts_at_the_warm_starts_final_rate():
    from vlmr1_cli.demo import DemoConfig
    from vlmr1_cli.recipes.loading import load_recipe

    cfg = DemoConfig()
    t = load_recipe("demo_shapes_sft").training
    floor = float(t.get("lr_scheduler_kwargs", {}).get("min_lr_rate", 0.0)) * float(
        t["learning_rate"]
    )
    assert learning.final_lr(cfg, []) == pytest.approx(floor or float(t["learning_rate"]) / 10)
    assert (
        learning.final_lr(
            cfg, ["training.lr_scheduler_type=constant", "training.learning_rate=3e-4"]
        )
        == 3e-4
    )
    assert (
        learning.final_lr(
            cfg,
            [
                "training.lr_scheduler_type=cosine_with_min_lr",
                "training.lr_scheduler_kwargs={min_lr: 1e-5}",
            ],
        )
        == 1e-5
    )


def test_control_is_the_plug_in_the_reward_registry_imports():
    from vlmr1_cli.rewards import get_reward

    assert get_reward(learning.CONTROLS["permuted"]) is controls.permuted_rec_iou
    assert get_reward(learning.CONTROLS["other-box"]) is controls.shuffled_rec_iou


def test_experiment_runs_as_a_module_from_any_folder(tmp_path):
    import subprocess

    from bench.child import child_env, module_command

    proc = subprocess.run(
        module_command("experiments.learning", "--help"),
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        proc.stdout.startswith("usage: python -m experiments.learning")
        and "--control {other-box,permuted}" in proc.stdout
    )
