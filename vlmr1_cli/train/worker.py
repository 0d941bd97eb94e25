"""Entry point of each training process started by `accelerate launch` (train/launch.py): it
trains the run its launcher prepared (the hand-over file); the error protocol is the
launcher's (launch/workers.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from vlmr1_cli.launch.workers import worker_main
    from vlmr1_cli.train.run import train_rank

    if not argv:
        sys.stderr.write("usage: python -m vlmr1_cli.train.worker RUN.json [--overwrite]\n")
        return 2
    return worker_main(lambda: train_rank(Path(argv[0]), overwrite="--overwrite" in argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
