"""The accelerate side of launching: a free port, the default config, the command line.

Without a config file of the user's, vlmr1 writes one: `distributed_type: MULTI_GPU`, with
`use_cpu: true` on machines without CUDA. accelerate's own MULTI_CPU setting silently starts a
single process without an MPI hostfile (docs/environment.md §7), while this goes through
torchrun and gloo on CPUs and NCCL on GPUs.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from pathlib import Path

CONFIG_FILE = "accelerate_config.yaml"


def free_port() -> int:
    """A TCP port free right now on this machine: parallel runs must not share the default."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_default_config(
    folder: Path, num_processes: int, num_machines: int = 1, machine_rank: int = 0
) -> Path:
    """An accelerate config for plain data parallelism on this machine (CPU or GPU), written
    to `folder`; returns its path."""
    import torch

    cpu = not torch.cuda.is_available()
    lines = [
        "compute_environment: LOCAL_MACHINE",
        "distributed_type: MULTI_GPU",
        f"num_processes: {int(num_processes)}",
        f"num_machines: {int(num_machines)}",
        f"machine_rank: {int(machine_rank)}",
        "mixed_precision: 'no'",
        f"use_cpu: {'true' if cpu else 'false'}",
        "rdzv_backend: static",
        "same_network: true",
    ]
    path = folder / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def accelerate_command(
    config: str | Path, flags: Sequence[tuple[str, object]], module: str, args: Sequence[str]
) -> list[str]:
    """`python -m accelerate.commands.launch --config_file CONFIG [--flag value ...] -m MODULE
    ARGS...`: accelerate's own flags (`num_processes`, `main_process_port`, ...) in order."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    for name, value in flags:
        cmd += [f"--{name}", str(value)]
    return [*cmd, "-m", module, *args]
