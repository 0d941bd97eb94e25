"""Multi-process and multi-node launch through `accelerate launch`.

One process trains in-process. More processes (or machines, or an explicit accelerate
config) re-run `vlmr1_cli.train.worker` under `accelerate launch` with the resolved recipe.
On CPU-only machines the generated config uses `distributed_type: MULTI_GPU` with
`use_cpu: true`: accelerate's own MULTI_CPU setting silently starts a single process
without an MPI hostfile (environment.md §7), while this goes through torchrun and gloo.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from vlmr1_cli.errors import UserError


def needs_launcher(launch: dict) -> bool:
    return int(launch.get("num_processes") or 1) > 1 or int(launch.get("num_machines") or 1) > 1 \
        or bool(launch.get("config_file"))


def _default_config(launch: dict, folder: Path) -> Path:
    import torch

    cpu = not torch.cuda.is_available()
    lines = [
        "compute_environment: LOCAL_MACHINE",
        "distributed_type: MULTI_GPU",
        f"num_processes: {int(launch.get('num_processes') or 1)}",
        f"num_machines: {int(launch.get('num_machines') or 1)}",
        f"machine_rank: {int(launch.get('machine_rank') or 0)}",
        "mixed_precision: 'no'",
        f"use_cpu: {'true' if cpu else 'false'}",
        "rdzv_backend: static",
        "same_network: true",
    ]
    path = folder / "accelerate_config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def launch_command(launch: dict, recipe_path: Path, resume: bool, workdir: Path) -> list[str]:
    cfg = launch.get("config_file")
    if cfg and not Path(cfg).is_file():
        raise UserError(f"recipe: key 'launch.config_file': file not found: {cfg}")
    cmd = [sys.executable, "-m", "accelerate.commands.launch",
           "--config_file", str(cfg or _default_config(launch, workdir))]
    if launch.get("num_processes"):
        cmd += ["--num_processes", str(int(launch["num_processes"]))]
    if launch.get("num_machines"):
        cmd += ["--num_machines", str(int(launch["num_machines"]))]
    if int(launch.get("num_machines") or 1) > 1:
        cmd += ["--machine_rank", str(int(launch.get("machine_rank") or 0))]
        if not launch.get("main_process_ip"):
            raise UserError("recipe: key 'launch.main_process_ip' is required with num_machines > 1")
    if launch.get("main_process_ip"):
        cmd += ["--main_process_ip", str(launch["main_process_ip"])]
    if launch.get("main_process_port"):
        cmd += ["--main_process_port", str(int(launch["main_process_port"]))]
    cmd += ["-m", "vlmr1_cli.train.worker", str(recipe_path)]
    if resume:
        cmd.append("--resume")
    return cmd


def launch(recipe: dict, resume: bool = False) -> int:
    """Write the resolved recipe, then run the workers; returns their exit code."""
    from vlmr1_cli.recipes import dump_recipe

    with tempfile.TemporaryDirectory(prefix="vlmr1-launch-") as tmp:
        folder = Path(tmp)
        recipe_path = folder / "recipe.yaml"
        recipe_path.write_text(dump_recipe(recipe), encoding="utf-8")
        cmd = launch_command(recipe["launch"], recipe_path, resume, folder)
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        return subprocess.call(cmd, env=env)
