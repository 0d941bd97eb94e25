"""Benchmark `vlmr1 evaluate` against a one-sample-at-a-time Hugging Face `generate` loop.

Same tiny model (the offline `tiny-qwen2.5-vl` preset), same 256 shapes samples, same
prompt, same greedy decoding and token budget, measured in one process, one after the other:

- `vlmr1`: `vlmr1_cli.evaluate.runner.evaluate` (what `vlmr1 evaluate` runs): reads and
  checks the data, loads processor and model, generates in length-sorted left-padded batches,
  appends predictions.jsonl, scores, writes metrics.json;
- `baseline`: load the same model and processor, then for each sample: chat template, image,
  processor, `model.generate(max_new_tokens=N, do_sample=False)`, decode (the loop a one-off
  script writes).

Both timings include model loading; each side runs `--repeat` times, alternating, and the
medians are reported. Throughput = samples / wall seconds; the ratio is vlmr1 / baseline
(target >= 5x). Also printed: how many completions are identical between
the two (left padding must not change what a greedy model says).

    .venv/bin/python -m bench.bench_eval [--samples 256] [--batch-size 32] [--max-new-tokens 32] [--threads N]

On a shared 2-core machine, other busy processes slow torch's multi-threaded kernels (the
batched ones) far more than the single-sample ones, which are too small to be split across
threads: compare runs at the same load, or pin `--threads 1`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.summary import emit


def baseline(
    model_dir: str, data: Path, max_new_tokens: int, template: str
) -> tuple[float, dict[str, str]]:
    import torch

    from vlmr1_cli.data.loader import build_rows, load_image, load_records
    from vlmr1_cli.evaluate.generation import chat_text
    from vlmr1_cli.evaluate.runner import default_device
    from vlmr1_cli.models.loading import load_model

    t0 = time.perf_counter()
    loaded = load_model(model_dir, device=default_device())
    records = load_records(data)
    prompt = {"system": None, "templates": {"rec": template}}
    rows = build_rows(records, loaded.family, loaded.limits, prompt, with_answers=False)
    tok = loaded.processor.tokenizer
    out = {}
    for row in rows:
        text = chat_text(loaded.processor, row["prompt"], 1)
        image = load_image(row["image_paths"][0], row["input_sizes"][0])
        inputs = loaded.processor(text=[text], images=[image], return_tensors="pt").to(
            loaded.model.device
        )
        with torch.inference_mode():
            ids = loaded.model.generate(
                **inputs,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        out[row["id"]] = tok.decode(
            ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.bench_eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measure each side N times, alternating; report medians",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for both runs (default: torch's own choice)",
    )
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    args = ap.parse_args()
    os.environ.setdefault("VLMR1_NO_PROGRESS", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from vlmr1_cli.data.shapes import generate_shapes
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
    from vlmr1_cli.models.presets import build_preset

    tmp = tempfile.TemporaryDirectory(prefix="vlmr1-bench-eval-")
    work = args.work or Path(tmp.name)
    model_dir = str(build_preset("tiny-qwen2.5-vl", work / "model"))
    generate_shapes(work / "data", train=1, eval=args.samples, seed=0)
    data = work / "data" / "eval.jsonl"
    template = "Locate {problem}. Answer with a JSON bbox_2d."
    opts = EvalOptions(
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        template=template,
        overwrite=True,
    )
    # Warm-up (lazy imports and first-call initialisation), not timed.
    evaluate(
        model_dir,
        data,
        work / "warmup",
        opts=EvalOptions(batch_size=2, max_new_tokens=2, max_samples=2, template=template),
    )

    ours_t, base_t = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        metrics = evaluate(model_dir, data, work / "eval", opts=opts)
        ours_t.append(time.perf_counter() - t0)
        base_s, base_out = baseline(model_dir, data, args.max_new_tokens, template)
        base_t.append(base_s)
    vlmr1_s, base_s = statistics.median(ours_t), statistics.median(base_t)

    ours = {}
    for line in (work / "eval" / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        ours[p["id"]] = p["completion"]
    same = sum(ours[k] == v for k, v in base_out.items())
    n = metrics["n"]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(
        f"machine: {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__} threads={torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"samples: {n}, max_new_tokens: {args.max_new_tokens}, batch size: {args.batch_size}")
    print(
        f"command: vlmr1 evaluate --model {model_dir} --data {data} --template '{template}' "
        f"--batch-size {args.batch_size} --max-new-tokens {args.max_new_tokens}"
    )
    print(
        f"vlmr1 evaluate : {vlmr1_s:7.2f} s  {n / vlmr1_s:7.2f} samples/s (end to end: load, generate, score;"
        f" runs: {', '.join(f'{t:.2f}' for t in ours_t)} s)"
    )
    print(
        f"HF 1-at-a-time : {base_s:7.2f} s  {n / base_s:7.2f} samples/s (load + loop;"
        f" runs: {', '.join(f'{t:.2f}' for t in base_t)} s)"
    )
    print(f"ratio          : {base_s / vlmr1_s:.2f}x (target >= 5x)")
    print(f"identical completions: {same}/{n}")
    emit(
        f"evaluate throughput ({n} samples)",
        f"HF 1-at-a-time {n / base_s:.1f} samples/s",
        f"vlmr1 evaluate {n / vlmr1_s:.1f} samples/s",
        base_s / vlmr1_s,
        ">= 5x",
        base_s / vlmr1_s >= 5 and same == n,
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
