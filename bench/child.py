"""How a benchmark starts a script of this repository in a fresh interpreter."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_command(module: str, *args: str) -> list[str]:
    """`python -m <module> <args>` with the running interpreter."""
    return [sys.executable, "-m", module, *args]


def child_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (default: this process's environment) plus `extra`, with the repository root
    first on PYTHONPATH: `python -m bench.x` finds `bench` through the current folder, and a
    child started from any other folder finds it through this variable (set for the child
    only; this process's import path is left alone)."""
    env = dict(os.environ if base is None else base, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env
