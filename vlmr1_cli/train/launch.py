"""Multi-process and multi-node launch through `accelerate launch`.

One process trains in-process. More processes (or machines, or an explicit accelerate
config) re-run `vlmr1_cli.train.worker` under `accelerate launch` with the resolved recipe;
`--num-processes`, `--num-machines`, `--machine-rank`, `--main-process-ip/-port` and
`--config-file` are forwarded as accelerate's own flags (set ones override the config file).

Without a config file vlmr1 writes one: `distributed_type: MULTI_GPU`, with `use_cpu: true`
on machines without CUDA. accelerate's own MULTI_CPU setting silently starts a single
process without an MPI hostfile (docs/environment.md §7), while this goes through torchrun and
gloo on CPUs and NCCL on GPUs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from vlmr1_cli.errors import UserError

ERROR_DIR_ENV = "VLMR1_ERROR_DIR"


def needs_launcher(launch: dict) -> bool:
    return int(launch.get("num_processes") or 1) > 1 or int(launch.get("num_machines") or 1) > 1 \
        or bool(launch.get("config_file"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_config(launch: dict, folder: Path) -> Path:
    """An accelerate config for plain data parallelism on this machine (CPU or GPU)."""
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


def launch_command(launch: dict, recipe_path: Path, resume: bool, workdir: Path,
                   overwrite: bool = False) -> list[str]:
    cfg = launch.get("config_file")
    if cfg:  # a file, or a packaged accelerate config name (zero2, fsdp, ...)
        from vlmr1_cli.recipe_files import resolve_accelerate_config

        try:
            cfg = str(resolve_accelerate_config(cfg))
        except UserError as e:
            raise UserError(f"recipe: key 'launch.config_file': {e}") from None
    cmd = [sys.executable, "-m", "accelerate.commands.launch",
           "--config_file", str(cfg or default_config(launch, workdir))]
    machines = int(launch.get("num_machines") or 1)
    if launch.get("num_processes"):
        cmd += ["--num_processes", str(int(launch["num_processes"]))]
    if launch.get("num_machines"):
        cmd += ["--num_machines", str(machines)]
    if launch.get("machine_rank") is not None:
        cmd += ["--machine_rank", str(int(launch["machine_rank"]))]
    if machines > 1 and not launch.get("main_process_ip"):
        raise UserError("recipe: key 'launch.main_process_ip' is required with num_machines > 1")
    if launch.get("main_process_ip"):
        cmd += ["--main_process_ip", str(launch["main_process_ip"])]
    port = launch.get("main_process_port")
    if not port and machines == 1 and not cfg:
        port = free_port()  # parallel runs on one machine must not share the default port
    if port:
        cmd += ["--main_process_port", str(int(port))]
    cmd += ["-m", "vlmr1_cli.train.worker", str(recipe_path)]
    if resume:
        cmd.append("--resume")
    if overwrite:  # rank 0 clears the earlier run once the model has loaded (run.py)
        cmd.append("--overwrite")
    return cmd


def launch(recipe: dict, resume: bool = False, overwrite: bool = False) -> int:
    """Write the resolved recipe, run the workers, and return their exit code; a worker's
    configuration error is raised here as the same one-line UserError."""
    from vlmr1_cli.recipes import dump_recipe
    from vlmr1_cli.secrets import hub_token_env

    with tempfile.TemporaryDirectory(prefix="vlmr1-launch-") as tmp:
        folder = Path(tmp)
        recipe_path = folder / "recipe.yaml"
        recipe_path.write_text(dump_recipe(recipe), encoding="utf-8")
        cmd = launch_command(recipe["launch"], recipe_path, resume, folder, overwrite)
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env[ERROR_DIR_ENV] = str(folder)
        env.update(hub_token_env(recipe))  # the recipe file has the token redacted
        code = subprocess.call(cmd, env=env, stdin=subprocess.DEVNULL)
        if code != 0:
            errors = sorted(folder.glob("error-rank*.txt"))
            if errors:
                raise UserError(errors[0].read_text(encoding="utf-8").strip())
        return code
