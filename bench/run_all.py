"""Run every benchmark of the project and print one table (BENCHMARKS.md explains each).

    .venv/bin/python -m bench.run_all            # all, about 10 minutes on 2 cores
    .venv/bin/python -m bench.run_all --quick    # smaller settings, about 2 minutes
    .venv/bin/python -m bench.run_all --with-learning   # also experiments.learning (3 seeds, ~40 min)

Each benchmark runs in its own process (`python -m bench.<name>`) and ends with a
`SUMMARY {json}` line (bench/summary.py);
the table shows what it compared, both figures, the ratio and whether its target held.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.child import child_env, module_command

BENCHES = [
    ("bench.bench_prepare", [], []),
    # 2,000,000 records (its default, the reported figure) take ~10 min and ~13 GB here.
    ("bench.bench_data_loading", ["--records", "200000"], ["--records", "20000"]),
    ("bench.bench_rewards", [], ["--n", "128", "--repeat", "1"]),
    ("bench.bench_metrics", [], ["--images", "1000"]),
    ("bench.bench_train_overhead", [], ["--steps", "5", "--repeats", "1"]),
    (
        "bench.bench_eval",
        ["--threads", "1"],
        ["--threads", "1", "--samples", "64", "--repeat", "1"],
    ),
]
# GPU step time: the 0.5B-class default on a CUDA machine, a tiny check on a CPU.
GPU_STEP_ON_CPU = ["--size", "tiny", "--image", "112x112", "--completion", "16", "--steps", "3"]


def gpu_step() -> tuple[str, list[str], list[str]]:
    import importlib.util

    cuda = False
    if importlib.util.find_spec("torch") is not None:
        import torch

        cuda = torch.cuda.is_available()
    return (
        "bench.gpu_step",
        [] if cuda else GPU_STEP_ON_CPU,
        ["--steps", "3"] if cuda else GPU_STEP_ON_CPU,
    )


def run(module: str, args: list[str]) -> tuple[list[dict], float, int, str]:
    t = time.perf_counter()
    proc = subprocess.run(
        module_command(module, *args), capture_output=True, text=True, env=child_env()
    )
    rows = [
        json.loads(line[len("SUMMARY ") :])
        for line in proc.stdout.splitlines()
        if line.startswith("SUMMARY ")
    ]
    return rows, time.perf_counter() - t, proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller settings (a smoke run, not the reported figures)",
    )
    p.add_argument(
        "--with-learning", action="store_true", help="also run experiments.learning (3 seeds)"
    )
    args = p.parse_args()
    benches = [*BENCHES, gpu_step()]
    if args.with_learning:
        benches.append(
            (
                "experiments.learning",
                [],
                [
                    "--seeds",
                    "0",
                    "--train",
                    "500",
                    "--task-train",
                    "500",
                    "--eval",
                    "50",
                    "--ood",
                    "50",
                ],
            )
        )
    table = []
    failed = 0
    for module, full, quick in benches:
        print(f"running {module} ...", flush=True)
        rows, wall, code, tail = run(module, quick if args.quick else full)
        if code != 0 or not rows:
            failed += 1
            print(f"{module} failed (exit {code}):\n{tail}", file=sys.stderr)
            table.append(
                {
                    "benchmark": module,
                    "baseline": "-",
                    "ours": "-",
                    "ratio": float("nan"),
                    "target": "-",
                    "met": False,
                    "wall_s": wall,
                }
            )
        for row in rows:
            table.append({**row, "wall_s": wall})
    widths = (40, 34, 30, 8, 30, 5)
    head = ("benchmark", "baseline", "vlmr1", "ratio", "target", "met")
    print("\n" + "".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in table:
        cells = (
            r["benchmark"],
            r["baseline"],
            r["ours"],
            f"{r['ratio']:.2f}",
            r["target"],
            "yes" if r["met"] else "NO",
        )
        print("".join(str(c)[: w - 1].ljust(w) for c, w in zip(cells, widths, strict=True)))
    if args.quick:
        print("\n(--quick: smaller settings; the reported figures come from a full run)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
