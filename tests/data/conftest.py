"""Shared helpers for the prepare-data tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture
def cli():
    """Run the real `vlmr1` entry point in a subprocess (exit codes, stderr lines)."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, VLMR1_NO_PROGRESS="1")
        env.pop("VLMR1_DEBUG", None)
        return subprocess.run(
            [sys.executable, "-m", "vlmr1_cli", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=120,
        )

    return run
