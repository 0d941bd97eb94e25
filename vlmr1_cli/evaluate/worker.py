"""Entry point of each evaluation process started by `accelerate launch` (sharding.py); the
error protocol is the launcher's (launch/workers.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def run(plan_file: Path) -> None:
    from accelerate import PartialState

    from vlmr1_cli.evaluate.predictions import shard_path
    from vlmr1_cli.evaluate.runner import EvalOptions, generate_missing, prepare
    from vlmr1_cli.io import read_json

    args = read_json(plan_file)
    state = PartialState()
    opts = EvalOptions(**args["options"])
    plan = prepare(args["model"], args["data"], args["output_dir"], args["image_root"], opts)
    done = set(args["done"])
    rank, world = state.process_index, state.num_processes
    generate_missing(plan, done, rank, world, shard_path(plan.out, rank), device=str(state.device))
    state.wait_for_everyone()


def main(argv: list[str]) -> int:
    from vlmr1_cli.launch.workers import worker_main

    if len(argv) != 1:
        sys.stderr.write("usage: python -m vlmr1_cli.evaluate.worker PLAN.json\n")
        return 2
    return worker_main(lambda: run(Path(argv[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
