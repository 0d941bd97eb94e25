"""The worker protocol: how a process started by `accelerate launch` reports a user error to
the process that launched it.

The launcher names a folder in `VLMR1_ERROR_DIR`; a worker that meets bad input writes its
one-line message to `error-rank{RANK}.txt` there and exits 1; the launcher raises the lowest
rank's message as its own `UserError`, so a bad input is one line, not one traceback per rank.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open

ERROR_DIR_ENV = "VLMR1_ERROR_DIR"
_ERROR_FILE = re.compile(r"error-rank(\d+)\.txt")


def error_file(folder: Path, rank: int) -> Path:
    return folder / f"error-rank{rank}.txt"


def first_rank_error(folder: Path) -> str | None:
    """The message of the lowest rank that wrote one (ranks in numeric order), or None."""
    ranks = sorted(
        int(m.group(1)) for f in folder.iterdir() if (m := _ERROR_FILE.fullmatch(f.name))
    )
    if not ranks:
        return None
    return error_file(folder, ranks[0]).read_text(encoding="utf-8").strip()


def run_workers(
    cmd: list[str], folder: Path, env: dict[str, str] | None = None, log: IO[str] | None = None
) -> int:
    """Run the launch command with `folder` as the error folder and return its exit code; a
    worker's user error is raised here as the same one-line `UserError`. `env` is added to
    this process's environment; `log` (an open file) takes the workers' output."""
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")  # N ranks on one machine: no oversubscription
    full_env.update(env or {})
    full_env[ERROR_DIR_ENV] = str(folder)
    # No log: both streams are inherited (None); a log takes stdout with stderr merged into it.
    code = subprocess.call(
        cmd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=None if log is None else subprocess.STDOUT,
    )
    if code != 0:
        message = first_rank_error(folder)
        if message:
            raise UserError(message)
    return code


def report_rank_error(message: str) -> None:
    """On a worker: leave `message` for the launcher (when launched by vlmr1) and on stderr."""
    rank = int(os.environ.get("RANK", "0"))
    folder = os.environ.get(ERROR_DIR_ENV)
    if folder:
        with atomic_open(error_file(Path(folder), rank)) as fh:
            fh.write(message + "\n")
    sys.stderr.write(f"error: [rank {rank}] {message}\n")


def worker_main(body: Callable[[], object]) -> int:
    """Run one worker's work: 0 when it finished, 1 after a user error (reported for the
    launcher). The process group is torn down either way."""
    try:
        body()
    except UserError as e:
        report_rank_error(str(e))
        return 1
    finally:
        close_process_group()
    return 0


def close_process_group() -> None:
    """Tear torch.distributed down before the interpreter exits. Left to interpreter shutdown,
    gloo's worker threads can be destroyed while still joinable, and a rank that finished
    its work aborts ("terminate called without an active exception", exit -6)."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
