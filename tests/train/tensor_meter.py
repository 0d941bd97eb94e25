"""The measured peak of a CPU run: live tensor storage, counted exactly.

On CPU there is no allocator counter like CUDA's `max_memory_allocated()`, and RSS mixes in
the Python heap, libraries and freed pages the allocator keeps. The memory plan estimates
tensor memory, so the measurement counts tensors: the storages of the tensors it is given
when it starts (the trainer's models), plus every CPU storage an operator creates while it
runs (seen by a `TorchDispatchMode`), each counted once however many views share it and
released when the storage is freed (a `weakref` finalizer). The peak is the largest sum
over the run. Storages made outside the dispatcher (`torch.from_numpy` in the image
processor) are not seen: pixel inputs, small here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class TensorMeter(TorchDispatchMode):
    """`with TensorMeter(model.parameters()) as meter: ...`; then `meter.peak` (bytes)."""

    def __init__(self, start: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.live: dict[int, int] = {}  # storage address -> bytes
        self.now = 0
        self.peak = 0
        self._start = list(start)

    def _count(self, storage: torch.UntypedStorage) -> None:
        size, key = storage.nbytes(), storage.data_ptr()
        if size == 0 or key in self.live:
            return
        self.live[key] = size
        self.now += size
        self.peak = max(self.peak, self.now)
        weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        self.now -= self.live.pop(key, 0)

    def __enter__(self) -> TensorMeter:
        for t in self._start:
            self._count(t.untyped_storage())
        self._start = []
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                self._count(t.untyped_storage())
        return out
