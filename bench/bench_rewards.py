"""Benchmark: od_length over 512 completions against VLM-R1's per-completion pycocotools run.

Baseline = the paper's reward as written: regex parsing, then a COCO object, `loadRes`,
`COCOeval.evaluate/accumulate/summarize` per completion (pycocotools). Ours =
`get_reward("od_length")` on the same batch. Values must be identical (==).

    .venv/bin/python -m bench.bench_rewards [--n 512] [--seed 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time

from bench.summary import emit
from vlmr1_cli.metrics.pycoco import vlmr1_calculate_map
from vlmr1_cli.rewards import get_reward

LABELS = ["person", "car", "dog", "red car", "traffic light", "cup"]


def make_batch(n: int, seed: int):
    """n completions with 1-30 boxes each, like a grounding policy mid-training."""
    rng = random.Random(seed)
    comps, sols = [], []
    for _ in range(n):
        n_gt = rng.randint(1, 30)
        gt = []
        for _ in range(n_gt):
            x, y = rng.randint(0, 900), rng.randint(0, 900)
            w, h = rng.randint(4, 250), rng.randint(4, 250)
            gt.append({"bbox_2d": [x, y, x + w, y + h], "label": rng.choice(LABELS)})
        preds = []
        for g in gt:
            if rng.random() < 0.8:
                b = [v + rng.randint(-6, 6) for v in g["bbox_2d"]]
                preds.append(
                    {
                        "bbox_2d": b,
                        "label": g["label"] if rng.random() < 0.9 else rng.choice(LABELS),
                    }
                )
            if rng.random() < 0.15:  # duplicate
                preds.append({"bbox_2d": g["bbox_2d"], "label": g["label"]})
        for _ in range(rng.randint(0, 3)):  # false positives
            x, y = rng.randint(0, 900), rng.randint(0, 900)
            preds.append({"bbox_2d": [x, y, x + 50, y + 50], "label": rng.choice(LABELS)})
        rng.shuffle(preds)
        preds = preds[:30] or [{"bbox_2d": [0, 0, 10, 10], "label": LABELS[0]}]
        comps.append(
            f"<think>I see {len(preds)} objects.</think><answer>```json\n{json.dumps(preds)}\n```</answer>"
        )
        sols.append(gt)
    return comps, sols


def baseline_od_length(content: str, gt: list) -> float:
    """VLM-R1's odLength_reward with the real regexes and pycocotools."""
    m = re.findall(r"<answer>(.*?)</answer>", content, re.DOTALL)
    if not m:
        return 0.0
    answer = m[-1].strip()
    if not gt and answer == "None":
        return 1.0
    fences = re.findall(r"```json(.*?)```", answer, re.DOTALL)
    try:
        preds = [i for i in json.loads(fences[-1].strip())] if fences else []
    except Exception:
        preds = []
    if preds and gt:
        reward = vlmr1_calculate_map(preds, gt)[0]
    elif not preds and not gt:
        reward = 1.0
    else:
        reward = 0.0
    reward *= 1.0 if len(gt) >= len(preds) else len(gt) / len(preds)
    return min(1.0, max(0.0, reward))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_rewards", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of ours (median)")
    args = ap.parse_args(argv)
    comps, sols = make_batch(args.n, args.seed)
    reward = get_reward("od_length")
    reward(comps[:4], sols[:4])  # warm imports

    t0 = time.perf_counter()
    base = [baseline_od_length(c, s) for c, s in zip(comps, sols, strict=True)]
    t_base = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ours = reward(comps, sols)
        times.append(time.perf_counter() - t0)
    t_ours = statistics.median(times)
    identical = ours == base
    ratio = t_base / t_ours
    print(f"od_length over {args.n} completions (1-30 boxes each), seed {args.seed}")
    print(f"{'impl':<34}{'total s':>10}{'ms/completion':>15}")
    print(f"{'baseline: regex + pycocotools':<34}{t_base:>10.3f}{1e3 * t_base / args.n:>15.3f}")
    print(f"{'vlmr1 od_length':<34}{t_ours:>10.3f}{1e3 * t_ours / args.n:>15.3f}")
    print(f"{'ratio (baseline / ours)':<34}{ratio:>10.1f}x")
    print(f"identical values: {identical} (mean reward {sum(ours) / len(ours):.4f})")
    emit(
        f"od_length reward ({args.n} completions)",
        f"regex + pycocotools {t_base:.2f} s",
        f"vlmr1 {t_ours:.3f} s",
        ratio,
        ">= 20x",
        identical and ratio >= 20,
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
