"""experiments/headroom.py: sampled generation (several completions per prompt, repeatable with a
seed) and the greedy / sampled / pass@k accounting, checked against scripted completions."""

from __future__ import annotations

import json

from experiments import headroom

TEMPLATE = 'Locate {problem}. Answer as <answer>{"bbox_2d": [x1, y1, x2, y2]}</answer>.'


def _plan(model, data):
    from vlmr1_cli.evaluate.runner import EvalOptions, prepare

    return prepare(
        str(model),
        data / "eval.jsonl",
        data / "unused",
        str(data),
        EvalOptions(batch_size=3, max_new_tokens=6, template=TEMPLATE, max_samples=3),
    )


def test_sampling_gives_k_completions_per_row_repeatable_with_the_seed(tiny_model, shapes_data):
    import torch

    from vlmr1_cli.evaluate.runner import make_generator

    plan = _plan(tiny_model, shapes_data)
    gen = make_generator(plan, "cpu")
    rows = plan.batches[0]
    assert len(rows) == 3
    greedy = gen.generate(rows)
    assert len(greedy) == 3 and gen.generate(rows) == greedy
    torch.manual_seed(7)
    sampled = gen.generate(rows, num_samples=4, temperature=1.0)
    torch.manual_seed(7)
    assert len(sampled) == 12 and gen.generate(rows, num_samples=4, temperature=1.0) == sampled
    # A random model at T 1 does not repeat its greedy answer in every sample.
    assert sampled != [g for g in greedy for _ in range(4)]


class Scripted:
    """Greedy hits on record 0 only; sample s of record i hits iff (i + s) % 4 == 3."""

    def generate(self, rows, num_samples=1, temperature=None):
        def answer(row, right):
            box = json.loads(row["solution_json"]) if right else [0, 0, 1, 1]
            return '<think></think> <answer>{"bbox_2d": ' + json.dumps(box) + "}</answer>"

        if temperature is None:
            return [answer(r, r["id"].endswith("000000")) for r in rows]
        return [
            answer(r, (int(r["id"][-6:]) + s) % 4 == 3) for r in rows for s in range(num_samples)
        ]


def test_headroom_counts_greedy_sampled_and_pass_at_k(tiny_model, shapes_data, monkeypatch):
    import vlmr1_cli.evaluate.runner as runner

    monkeypatch.setattr(runner, "make_generator", lambda plan, device: Scripted())
    r = headroom.headroom(
        str(tiny_model),
        shapes_data / "eval.jsonl",
        str(shapes_data),
        TEMPLATE,
        n=8,
        k=4,
        temperature=0.9,
        seed=0,
        batch_size=3,
    )
    assert r["n"] == 8 and r["k"] == 4
    assert r["greedy_acc"] == 1 / 8
    assert r["sampled_acc"] == 8 / 32  # one hit in every 4 samples
    # record i's first hit is sample (3 - i) % 4: records 3 and 7 hit first, then 2, 6, ...
    assert r["pass_at"] == {"1": 2 / 8, "2": 4 / 8, "4": 8 / 8}
    assert r["greedy_miss_sample_hit"] == 7 / 8
    text = headroom.table({"scripted": r})
    assert "| scripted | 12.5 | 25.0 | 25.0 | 50.0 | 100.0 | 87.5 |" in text
