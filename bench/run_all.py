"""Run every benchmark of the project and print one table (BENCHMARKS.md explains each).

    .venv/bin/python bench/run_all.py            # all, about 10 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick    # smaller settings, about 2 minutes
    .venv/bin/python bench/run_all.py --with-learning   # also the learning proof (3 seeds, ~40 min)

Each benchmark runs in its own process and ends with a `SUMMARY {json}` line (summary.py);
the table shows what it compared, both figures, the ratio and whether its target held.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES = [
    ("bench_prepare.py", [], []),
    # 2,000,000 records (its default, the reported figure) take ~10 min and ~13 GB here.
    ("bench_data_loading.py", ["--records", "200000"], ["--records", "20000"]),
    ("bench_rewards.py", [], ["--n", "128", "--repeat", "1"]),
    ("bench_metrics.py", [], ["--images", "1000"]),
    ("bench_train_overhead.py", [], ["--steps", "5", "--repeats", "1"]),
    ("bench_eval.py", ["--threads", "1"], ["--threads", "1", "--samples", "64", "--repeat", "1"]),
]
# GPU step time: the 0.5B-class default on a CUDA machine, a tiny check on a CPU.
GPU_STEP_ON_CPU = ["--size", "tiny", "--image", "112x112", "--completion", "16", "--steps", "3"]


def gpu_step() -> tuple[str, list[str], list[str]]:
    import importlib.util

    cuda = False
    if importlib.util.find_spec("torch") is not None:
        import torch

        cuda = torch.cuda.is_available()
    return ("gpu_step.py", [] if cuda else GPU_STEP_ON_CPU, ["--steps", "3"] if cuda else GPU_STEP_ON_CPU)


def run(script: str, args: list[str]) -> tuple[list[dict], float, int, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True)
    rows = [json.loads(line[len("SUMMARY "):]) for line in proc.stdout.splitlines() if line.startswith("SUMMARY ")]
    return rows, time.perf_counter() - t, proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller settings (a smoke run, not the reported figures)")
    p.add_argument("--with-learning", action="store_true", help="also run bench/learning.py (3 seeds)")
    args = p.parse_args()
    benches = [*BENCHES, gpu_step()]
    if args.with_learning:
        benches.append(("learning.py", [], ["--seeds", "0", "--train", "500", "--task-train", "500",
                                            "--eval", "50", "--ood", "50"]))
    table = []
    failed = 0
    for script, full, quick in benches:
        print(f"running {script} ...", flush=True)
        rows, wall, code, tail = run(script, quick if args.quick else full)
        if code != 0 or not rows:
            failed += 1
            print(f"{script} failed (exit {code}):\n{tail}", file=sys.stderr)
            table.append({"benchmark": script, "baseline": "-", "ours": "-", "ratio": float("nan"),
                          "target": "-", "met": False, "wall_s": wall})
        for row in rows:
            table.append({**row, "wall_s": wall})
    widths = (40, 34, 30, 8, 30, 5)
    head = ("benchmark", "baseline", "vlmr1", "ratio", "target", "met")
    print("\n" + "".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in table:
        cells = (r["benchmark"], r["baseline"], r["ours"], f"{r['ratio']:.2f}", r["target"], "yes" if r["met"] else "NO")
        print("".join(str(c)[: w - 1].ljust(w) for c, w in zip(cells, widths, strict=True)))
    if args.quick:
        print("\n(--quick: smaller settings; the reported figures come from a full run)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
