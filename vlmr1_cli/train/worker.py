"""Entry point of each training process started by `accelerate launch` (train/launch.py); the
error protocol is the launcher's (launch/workers.py)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from vlmr1_cli.launch.workers import worker_main
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.run import train

    if not argv:
        sys.stderr.write(
            "usage: python -m vlmr1_cli.train.worker RECIPE.yaml [--resume] [--overwrite]\n"
        )
        return 2
    # launched: the launcher holds the folder's lock and checked the folder already
    return worker_main(
        lambda: train(
            load_recipe(argv[0]),
            resume="--resume" in argv[1:],
            overwrite="--overwrite" in argv[1:],
            launched=True,
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
