"""`--num-processes N`: N workers under `accelerate launch`, one shard of the batches each.

The launching process has already checked the data and the model's files (runner.prepare)
and resumed what was done; it writes the plan to a temporary folder and starts the workers
(`python -m vlmr1_cli.evaluate.worker PLAN`) with the accelerate config that training uses
(launch.py: on CPU, MULTI_GPU with `use_cpu: true`, so torchrun really starts N processes).
Rank k takes batches k, k+N, ... of the fixed partition and appends to
`predictions-rank{k}.jsonl`; the launcher then merges and scores once.

The workers' output goes to `workers.log` in the output folder; a worker that meets bad
input writes its one-line message for the launcher, which raises it as its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from vlmr1_cli.errors import UserError
from vlmr1_cli.io import write_json

if TYPE_CHECKING:
    from vlmr1_cli.evaluate.runner import Plan

WORKER_LOG = "workers.log"


def error_file(folder: Path, rank: int) -> Path:
    return folder / f"error-rank{rank}.txt"


def launch_command(config: Path, num_processes: int, plan_file: Path) -> list[str]:
    from vlmr1_cli.train.launch import free_port

    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
            "--num_processes", str(num_processes), "--main_process_port", str(free_port()),
            "-m", "vlmr1_cli.evaluate.worker", str(plan_file)]


def run_sharded(plan: Plan, done: dict[str, dict]) -> None:
    from vlmr1_cli.evaluate.runner import plan_args
    from vlmr1_cli.train.launch import default_config

    n = plan.opts.num_processes
    log = plan.out / WORKER_LOG
    with tempfile.TemporaryDirectory(prefix="vlmr1-eval-") as tmp:
        folder = Path(tmp)
        plan_file = folder / "plan.json"
        write_json(plan_file, {**plan_args(plan), "done": sorted(done)})
        config = default_config({"num_processes": n}, folder)
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env["VLMR1_NO_PROGRESS"] = "1"
        with open(log, "w", encoding="utf-8") as fh:
            code = subprocess.call(launch_command(config, n, plan_file), env=env, stdout=fh,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if code != 0:
            for rank in range(n):
                f = error_file(folder, rank)
                if f.is_file():
                    raise UserError(f.read_text(encoding="utf-8").strip())
            raise UserError(f"evaluation workers failed (exit {code}); see {log}")
