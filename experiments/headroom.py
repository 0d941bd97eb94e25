"""How much can GRPO gain? Greedy Acc@0.5 against sampled accuracy and pass@k, per checkpoint.

GRPO can only reinforce answers its policy already samples, and the greedy answer (what
evaluation scores) moves only when the mode of that policy moves. For each checkpoint, on the
first --n records of a REC file: greedy Acc@0.5; the mean Acc@0.5 of --k samples per prompt at
the training temperature; and pass@k (at least one of the first k samples hits), k = 1, 2, 4, ...
Comparing an SFT warm start with GRPO from it shows whether RL raised the sampled accuracy
(sharpening its distribution) and whether that reached the greedy answer. Writes headroom.json
and headroom.md to --out and prints the table.

    .venv/bin/python -m experiments.headroom --data bench-output/learning/seed0/data/task/eval.jsonl \\
        sft=bench-output/learning/seed0/sft grpo=bench-output/learning/seed0/grpo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def headroom(
    model: str,
    data: Path,
    image_root: str,
    template: str | None,
    n: int,
    k: int,
    temperature: float,
    seed: int,
    batch_size: int = 32,
    max_new_tokens: int = 40,
) -> dict:
    """Greedy accuracy, mean sampled accuracy and pass@k of one checkpoint (REC records)."""
    import torch

    from vlmr1_cli.evaluate.runner import EvalOptions, default_device, make_generator, prepare
    from vlmr1_cli.evaluate.tasks import RECORD_TASK, read_answer
    from vlmr1_cli.metrics.rec import rec_scores

    opts = EvalOptions(
        batch_size=batch_size, max_new_tokens=max_new_tokens, template=template, max_samples=n
    )
    with (
        tempfile.TemporaryDirectory() as tmp
    ):  # prepare() wants an output folder; nothing is written
        plan = prepare(model, data, tmp, image_root, opts)
    if RECORD_TASK[plan.task] != "rec":
        raise SystemExit(f"headroom: {data} holds '{plan.task}' records; this measures REC only")
    solution = {r["id"]: r["solution"] for r in plan.records}
    generator = make_generator(plan, default_device())  # CUDA where there is one

    def hit(text: str, row: dict) -> bool:  # Acc@0.5 of one answer, as `vlmr1 evaluate` scores it
        box = read_answer(plan.task, text, row, plan.family)["box"]
        return rec_scores([box], [solution[row["id"]]])["acc"] == 1.0

    greedy, samples = [], []
    for i, batch in enumerate(plan.batches):
        greedy += [hit(t, r) for t, r in zip(generator.generate(batch), batch, strict=True)]
        torch.manual_seed(seed + i)  # per batch: the same samples whatever ran before
        texts = generator.generate(batch, num_samples=k, temperature=temperature)
        samples += [[hit(t, r) for t in texts[j * k : (j + 1) * k]] for j, r in enumerate(batch)]
    n_rows = len(greedy)
    ks = [2**j for j in range(k.bit_length()) if 2**j <= k]
    return {
        "model": model,
        "n": n_rows,
        "k": k,
        "temperature": temperature,
        "greedy_acc": sum(greedy) / n_rows,
        "sampled_acc": sum(sum(s) for s in samples) / (n_rows * k),
        "pass_at": {str(j): sum(any(s[:j]) for s in samples) / n_rows for j in ks},
        # Prompts the greedy answer misses but some sample hits: what reinforcing hits could fix.
        "greedy_miss_sample_hit": sum(
            (not g) and any(s) for g, s in zip(greedy, samples, strict=True)
        )
        / n_rows,
    }


def table(rows: dict[str, dict]) -> str:
    first = next(iter(rows.values()))
    ks = list(first["pass_at"])
    lines = [
        f"Acc@0.5 ×100 on {first['n']} records; {first['k']} samples per prompt at T {first['temperature']}",
        "",
        "| checkpoint | greedy | sampled (mean) | "
        + " | ".join(f"pass@{j}" for j in ks)
        + " | greedy misses, a sample hits |",
        "|---|---|---|" + "---|" * len(ks) + "---|",
    ]
    for name, r in rows.items():
        cells = " | ".join(f"{100 * r['pass_at'][j]:.1f}" for j in ks)
        lines.append(
            f"| {name} | {100 * r['greedy_acc']:.1f} | {100 * r['sampled_acc']:.1f} | {cells} | "
            f"{100 * r['greedy_miss_sample_hit']:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.headroom", description=__doc__.splitlines()[0]
    )
    p.add_argument("models", nargs="+", metavar="NAME=CHECKPOINT")
    p.add_argument("--data", type=Path, required=True, help="a REC JSONL file")
    p.add_argument("--image-root", default=None, help="default: the data file's folder")
    p.add_argument("--template", default=None, help="default: the demo GRPO recipe's REC template")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--k", type=int, default=8)
    p.add_argument(
        "--temperature", type=float, default=None, help="default: the demo GRPO recipe's"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench-output" / "headroom")
    args = p.parse_args()
    os.environ.setdefault("VLMR1_NO_PROGRESS", "1")
    if args.template is None or args.temperature is None:
        from vlmr1_cli.recipes.loading import load_recipe

        recipe = load_recipe("demo_shapes_grpo")
        args.template = args.template or recipe.prompt.templates["rec"]
        args.temperature = (
            args.temperature
            if args.temperature is not None
            else float(recipe.training["temperature"])
        )
    specs = [m.split("=", 1) for m in args.models]
    if any(len(s) != 2 for s in specs):
        raise SystemExit("headroom: give each checkpoint as NAME=PATH")
    rows = {
        name: headroom(
            path,
            args.data,
            args.image_root or str(args.data.parent),
            args.template,
            args.n,
            args.k,
            args.temperature,
            args.seed,
        )
        for name, path in specs
    }
    text = table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "headroom.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "headroom.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
