"""`evaluate --num-processes N` is bounded before any worker starts: one worker per visible
GPU (or CPU core without CUDA), and no more workers than samples."""

from __future__ import annotations

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate import sharding
from vlmr1_cli.evaluate.sharding import check_num_processes


def test_one_process_is_always_fine(monkeypatch):
    monkeypatch.setattr(sharding, "worker_slots", lambda: pytest.fail("not consulted for N = 1"))
    check_num_processes(1, 0)


def test_bounded_by_the_machine_then_the_samples(monkeypatch):
    monkeypatch.setattr(sharding, "worker_slots", lambda: (4, "visible CUDA GPU(s)"))
    check_num_processes(4, 10)
    with pytest.raises(
        UserError,
        match=r"^--num-processes 5: this machine has 4 visible CUDA GPU\(s\), and "
        r"each worker needs one of its own; use --num-processes 4 or fewer$",
    ):
        check_num_processes(5, 10)
    with pytest.raises(
        UserError,
        match=r"^--num-processes 3: more workers than the 2 sample\(s\) to "
        r"evaluate; use --num-processes 2 or fewer$",
    ):
        check_num_processes(3, 2)


def test_slots_are_this_machines():
    import os

    import torch

    slots, what = sharding.worker_slots()
    if torch.cuda.is_available():
        assert (slots, what) == (torch.cuda.device_count(), "visible CUDA GPU(s)")
    else:
        assert slots == len(os.sched_getaffinity(0)) and "CPU core" in what
