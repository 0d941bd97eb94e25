"""Entry point of each process started by `accelerate launch` (see launch.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.recipes import load_recipe
    from vlmr1_cli.train.launch import ERROR_DIR_ENV
    from vlmr1_cli.train.run import train

    if not argv:
        sys.stderr.write("usage: python -m vlmr1_cli.train.worker RECIPE.yaml [--resume] [--overwrite]\n")
        return 2
    try:
        recipe = load_recipe(argv[0])
        # launched: the launcher holds the folder's lock and checked the folder already
        train(recipe, resume="--resume" in argv[1:], overwrite="--overwrite" in argv[1:], launched=True)
    except UserError as e:
        rank = os.environ.get("RANK", "0")
        folder = os.environ.get(ERROR_DIR_ENV)
        if folder:
            (Path(folder) / f"error-rank{rank}.txt").write_text(str(e), encoding="utf-8")
        sys.stderr.write(f"error: [rank {rank}] {e}\n")
        return 1
    finally:
        close_process_group()
    return 0


def close_process_group() -> None:
    """Tear torch.distributed down before the interpreter exits. Left to interpreter shutdown,
    gloo's worker threads can be destroyed while still joinable, and a rank that finished
    training aborts ("terminate called without an active exception", exit -6)."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
