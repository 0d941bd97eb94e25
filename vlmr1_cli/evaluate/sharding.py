"""`--num-processes N`: N workers under `accelerate launch`, one shard of the batches each.

The launching process has already checked the data and the model's files (runner.prepare)
and resumed what was done; it writes the plan to a temporary folder and starts the workers
(`python -m vlmr1_cli.evaluate.worker PLAN`) through the launcher that training uses
(vlmr1_cli.launch: on CPU, MULTI_GPU with `use_cpu: true`, so torchrun really starts N
processes). Rank k takes batches k, k+N, ... of the fixed partition and appends to
`predictions-rank{k}.jsonl`; the launcher then merges and scores once.

The workers' output goes to `workers.log` in the output folder; a worker that meets bad
input writes its one-line message for the launcher (launch/workers.py), which raises it as
its own.

N is bounded before any worker starts (`check_num_processes`): the launcher gives each worker
a GPU of its own (CUDA), or runs them on the CPU cores, each with its own copy of the model,
so N is at most the GPUs this machine shows (CUDA_VISIBLE_DEVICES applies) or its CPU cores
(those this process may use); and at most the number of samples, since a worker without a
sample would load a model for nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.io import write_json
from vlmr1_cli.launch.accelerate import accelerate_command, free_port, write_default_config
from vlmr1_cli.launch.workers import run_workers

WORKER_LOG = "workers.log"
WORKER_MODULE = "vlmr1_cli.evaluate.worker"


def launch_command(config: Path, num_processes: int, plan_file: Path) -> list[str]:
    return accelerate_command(
        config,
        [("num_processes", num_processes), ("main_process_port", free_port())],
        WORKER_MODULE,
        [str(plan_file)],
    )


def worker_slots() -> tuple[int, str]:
    """(how many workers this machine can run, what they run on): one per visible GPU, or,
    without CUDA, one per CPU core this process may use."""
    import os

    import torch

    if torch.cuda.is_available():
        return torch.cuda.device_count(), "visible CUDA GPU(s)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1), "CPU core(s) (no CUDA GPU)"


def check_num_processes(num_processes: int, n_samples: int) -> None:
    """`--num-processes` within what the machine and the data can use, or one line why not."""
    if num_processes <= 1:
        return
    slots, what = worker_slots()
    if num_processes > slots:
        raise UserError(
            f"--num-processes {num_processes}: this machine has {slots} {what}, and "
            f"each worker needs one of its own; use --num-processes {slots} or fewer"
        )
    if num_processes > n_samples:
        raise UserError(
            f"--num-processes {num_processes}: more workers than the {n_samples} "
            f"sample(s) to evaluate; use --num-processes {max(1, n_samples)} or fewer"
        )


def run_sharded(plan_args: dict, done: dict[str, dict], num_processes: int, out: Path) -> None:
    """Run `num_processes` workers on the plan described by `plan_args` (runner.plan_args),
    skipping the ids in `done`; their log goes to `out/workers.log`."""
    log = out / WORKER_LOG
    with tempfile.TemporaryDirectory(prefix="vlmr1-eval-") as tmp:
        folder = Path(tmp)
        plan_file = folder / "plan.json"
        write_json(plan_file, {**plan_args, "done": sorted(done)})
        config = write_default_config(folder, num_processes)
        with open(log, "w", encoding="utf-8") as fh:
            code = run_workers(
                launch_command(config, num_processes, plan_file),
                folder,
                env={"VLMR1_NO_PROGRESS": "1"},
                log=fh,
            )
        if code != 0:
            raise UserError(f"evaluation workers failed (exit {code}); see {log}")
