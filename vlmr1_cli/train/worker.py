"""Entry point of each process started by `accelerate launch` (see launch.py)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.recipes import load_recipe
    from vlmr1_cli.train.run import train

    if not argv:
        sys.stderr.write("usage: python -m vlmr1_cli.train.worker RECIPE.yaml [--resume]\n")
        return 2
    try:
        recipe = load_recipe(argv[0])
        train(recipe, resume="--resume" in argv[1:])
    except UserError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
