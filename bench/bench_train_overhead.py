"""GRPO step time of `vlmr1 train-grpo` against a bare TRL GRPOTrainer script.

Same tiny model (the offline `tiny-qwen2.5-vl` preset), same shapes data, seed, prompt,
rewards (rec_iou + rec_format) and GRPO settings in both arms:

- `vlmr1`: `vlmr1_cli.train.run.train` on the packaged demo_shapes_grpo recipe with `--set`
  overrides (what `vlmr1 train-grpo` runs in one process): pre-flight checks, the JSONL
  loader with lazily loaded, pre-resized images, per-task reward wrappers, the sample log,
  train_log.jsonl, checkpoint metadata, the curves PNG;
- `trl`: a script written directly against TRL: JSONL read by hand, images opened and
  resized to the same model-input size up front, `GRPOTrainer(model, [rec_iou, rec_format])`.

Each run is a fresh child process (so its peak RSS is its own); the arms alternate,
`--repeats` times each. TRL logs `step_time` for every step (generation, rewards, forward,
backward); the first `--warmup` steps of each run are dropped and the rest pooled per arm.
Reported: median step time per arm, their ratio vlmr1 / trl (target <= 1.03), wall time per
step, peak RSS.

    .venv/bin/python -m bench.bench_train_overhead [--steps 20] [--repeats 3] [--threads 1]

On a shared 2-core machine, keep `--threads 1`: spinning OpenMP threads of two busy
processes slow each other by 10x or more, which swamps any difference between the arms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.child import child_env, module_command
from bench.summary import emit

TEMPLATE = 'Locate {problem}. Answer as <answer>{"bbox_2d": [x1, y1, x2, y2]}</answer>.'


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def settings(args, out: Path) -> dict:
    """The GRPO settings both arms use (TRL field names): fp32 on CPU, bf16 on a GPU."""
    return {
        "output_dir": str(out),
        "max_steps": args.steps + args.warmup,
        "seed": 0,
        "per_device_train_batch_size": args.G * args.prompts,
        "num_generations": args.G,
        "gradient_accumulation_steps": 1,
        "num_iterations": 1,
        "max_completion_length": args.completion,
        "temperature": 1.0,
        "top_p": 1.0,
        "beta": args.beta,
        "epsilon": 0.2,
        "loss_type": "grpo",
        "scale_rewards": "group",
        "learning_rate": 5e-4,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "activation_checkpointing": False,
        "use_cpu": not cuda(),
        "bf16": cuda(),
        "fp16": False,
        "remove_unused_columns": False,
        "log_multimodal": False,
        "log_completions": False,
        "dataloader_num_workers": 0,
    }


def run_vlmr1(args, work: Path, out: Path) -> list[dict]:
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.run import train

    data = work / "data"
    overrides = [
        f"model.path={work / 'model'}",
        f"model.dtype={'bfloat16' if cuda() else 'float32'}",
        f"data.train=[{{path: '{data / 'train.jsonl'}', image_root: '{data}'}}]",
        "data.seed=0",
        f"prompt.templates.rec={TEMPLATE}",
        "rewards={rec: [rec_iou, rec_format]}",
    ]
    overrides += [f"training.{k}={json.dumps(v)}" for k, v in settings(args, out).items()]
    train(load_recipe("demo_shapes_grpo", overrides))
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def run_trl(args, work: Path, out: Path) -> list[dict]:
    import torch
    from datasets import Dataset
    from PIL import Image
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig, GRPOTrainer

    from vlmr1_cli.models.registry import family_for_path
    from vlmr1_cli.rewards import get_reward

    model_dir, data = work / "model", work / "data"
    fam = family_for_path(model_dir)
    proc = fam.load_processor(str(model_dir))
    limits = fam.pixel_limits(proc)
    rows = []
    for line in (data / "train.jsonl").read_text().splitlines():
        r = json.loads(line)
        w, h = r["image_sizes"][0]
        iw, ih = fam.input_size(w, h, limits)
        img = (
            Image.open(data / r["images"][0])
            .convert("RGB")
            .resize((iw, ih), Image.Resampling.BICUBIC)
        )
        text = TEMPLATE.replace("{problem}", r["problem"].strip().rstrip("."))
        rows.append(
            {
                "prompt": [{"role": "user", "content": text}],
                "images": [img],
                "solution": list(fam.to_model_frame(r["solution"], (w, h), (iw, ih))),
            }
        )
    model = AutoModelForImageTextToText.from_pretrained(
        model_dir, dtype=torch.bfloat16 if cuda() else torch.float32, local_files_only=True
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[get_reward("rec_iou"), get_reward("rec_format")],
        args=GRPOConfig(**settings(args, out), reward_weights=[1.0, 1.0]),
        train_dataset=Dataset.from_list(rows),
        processing_class=proc,
    )
    trainer.train()
    return [{"step": h.get("step"), **h} for h in trainer.state.log_history]


def child(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    out = work / f"out-{args.child}-{args.run}"
    t = time.perf_counter()
    history = (run_vlmr1 if args.child == "vlmr1" else run_trl)(args, work, out)
    wall = time.perf_counter() - t
    steps = [h["step_time"] for h in history if "step_time" in h]
    runtime = next((h["train_runtime"] for h in history if "train_runtime" in h), None)
    print(
        "RESULT "
        + json.dumps(
            {
                "arm": args.child,
                "step_times": steps[args.warmup :],
                "train_runtime_s": runtime,
                "process_wall_s": round(wall, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        ),
        flush=True,
    )
    return 0


def prepare(work: Path, n: int) -> None:
    from vlmr1_cli.data.shapes import generate_shapes
    from vlmr1_cli.models.presets import build_preset

    build_preset("tiny-qwen2.5-vl", work / "model")
    generate_shapes(work / "data", train=n, eval=1, ood=0, seed=0)


def main() -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_train_overhead", description=__doc__.splitlines()[0]
    )
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed first steps per run")
    p.add_argument("--repeats", type=int, default=3, help="runs per arm (alternating)")
    p.add_argument("--G", type=int, default=4, help="generations per prompt")
    p.add_argument("--prompts", type=int, default=2, help="prompts per step")
    p.add_argument("--completion", type=int, default=32, help="max completion tokens")
    p.add_argument(
        "--beta", type=float, default=0.04, help="KL coefficient (> 0 adds the reference pass)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--json", type=Path, help="also write the result here")
    p.add_argument("--child", choices=("vlmr1", "trl"), help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    results: dict[str, list[dict]] = {"vlmr1": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="vlmr1-bench-train-") as tmp:
        work = Path(tmp)
        prepare(work, (args.steps + args.warmup) * args.prompts + 8)
        env = child_env(
            OMP_NUM_THREADS=str(args.threads),
            VLMR1_NO_PROGRESS="1",
            TOKENIZERS_PARALLELISM="false",
            HF_HUB_OFFLINE="1",
        )
        common = [
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--G",
            str(args.G),
            "--prompts",
            str(args.prompts),
            "--completion",
            str(args.completion),
            "--beta",
            str(args.beta),
            "--threads",
            str(args.threads),
            "--work",
            str(work),
        ]
        for run in range(args.repeats):
            for arm in ("vlmr1", "trl") if run % 2 == 0 else ("trl", "vlmr1"):
                proc = subprocess.run(
                    module_command(
                        "bench.bench_train_overhead", "--child", arm, "--run", str(run), *common
                    ),
                    env=env,
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                )
                line = next(
                    (ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None
                )
                if proc.returncode != 0 or line is None:
                    sys.stderr.write(proc.stderr[-4000:])
                    return 1
                res = json.loads(line[len("RESULT ") :])
                results[arm].append(res)
                print(
                    f"run {run} {arm:5s}: median step {statistics.median(res['step_times']):.4f} s, "
                    f"peak RSS {res['peak_rss_mb']:.0f} MB",
                    flush=True,
                )

    def summary(arm: str) -> dict:
        runs = results[arm]
        pooled = [t for r in runs for t in r["step_times"]]
        return {
            "median_step_s": round(statistics.median(pooled), 4),
            "run_medians_s": [round(statistics.median(r["step_times"]), 4) for r in runs],
            "wall_per_step_s": round(
                statistics.median(r["train_runtime_s"] / (args.steps + args.warmup) for r in runs),
                4,
            ),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "steps_timed": len(pooled),
        }

    ours, bare = summary("vlmr1"), summary("trl")
    import torch

    device = torch.cuda.get_device_name(0) if cuda() else f"cpu ({os.cpu_count()} cores)"
    result = {
        "setup": {
            "device": device,
            "model": "tiny-qwen2.5-vl",
            "completions_per_step": args.G * args.prompts,
            "G": args.G,
            "max_completion_tokens": args.completion,
            "beta": args.beta,
            "threads": args.threads,
            "timed_steps_per_run": args.steps,
            "repeats": args.repeats,
        },
        "vlmr1": ours,
        "trl": bare,
        "ratio_step_time": round(ours["median_step_s"] / bare["median_step_s"], 3),
        "ratio_wall_per_step": round(ours["wall_per_step_s"] / bare["wall_per_step_s"], 3),
        "ratio_peak_rss": round(ours["peak_rss_mb"] / bare["peak_rss_mb"], 3),
    }
    print(json.dumps(result, indent=2))
    print(
        f"median step time vlmr1 / bare TRL = {result['ratio_step_time']:.3f} (target <= 1.03); "
        f"peak RSS {ours['peak_rss_mb']:.0f} MB vs {bare['peak_rss_mb']:.0f} MB"
    )
    emit(
        "GRPO step overhead (tiny model)",
        f"bare TRL {bare['median_step_s']:.3f} s/step",
        f"vlmr1 {ours['median_step_s']:.3f} s/step",
        result["ratio_step_time"],
        "<= 1.03",
        result["ratio_step_time"] <= 1.03,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
