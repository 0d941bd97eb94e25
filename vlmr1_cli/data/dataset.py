"""The training `datasets.Dataset`: one or more JSONL sources, each read through its Arrow
cache (arrow_cache.py), mixed by weight and interleaved; images load lazily (loader.py).

`prepare_mix` checks and caches the sources and computes the mix (a `PreparedMix`: the Arrow
files and the row order); `open_mix` opens it without checking again. The training launcher
prepares once and hands the `PreparedMix` to its ranks (`save`/`load`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.data.arrow_cache import cached_rows
from vlmr1_cli.data.loader import _materialise, interleave_order, weighted_indices
from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily, PixelLimits


@dataclass
class PreparedMix:
    """A mixed dataset ready to open: its sources' Arrow files (in order), the row order over
    their concatenation (None: every row once, in order) and the fingerprint of the mix."""

    entries: list[str]
    indices: Any = None  # a numpy integer array
    fingerprint: str | None = None

    def save(self, folder: Path, name: str) -> dict:
        """Write the row order to `folder/<name>.npy`; the rest is returned as JSON-ready."""
        import numpy as np

        order = None
        if self.indices is not None:
            order = str(folder / f"{name}.npy")
            with open(order, "wb") as fh:
                np.save(fh, self.indices, allow_pickle=False)
        return {"entries": self.entries, "indices": order, "fingerprint": self.fingerprint}

    @classmethod
    def load(cls, saved: dict) -> PreparedMix:
        import numpy as np

        order = saved["indices"]
        return cls(
            list(saved["entries"]),
            None if order is None else np.load(order, allow_pickle=False),
            saved["fingerprint"],
        )


def open_mix(mix: PreparedMix):
    """The `datasets.Dataset` of a prepared mix (memory-mapped; images load when read)."""
    from datasets import Dataset, concatenate_datasets

    tables = [Dataset.from_file(entry) for entry in mix.entries]
    ds = tables[0] if len(tables) == 1 else concatenate_datasets(tables)
    if mix.indices is not None:
        ds = ds.select(mix.indices.tolist(), new_fingerprint=mix.fingerprint)
    return ds.with_transform(_materialise)


def build_dataset(
    sources: list[dict],
    family: ModelFamily,
    limits: PixelLimits,
    prompt_cfg: dict,
    with_answers: bool = False,
    seed: int = 0,
    max_samples: int | None = None,
    check_images: bool = True,
    cache_dir: str | Path | None = None,
):
    """One `datasets.Dataset` from one or more JSONL sources (`prepare_mix`, then `open_mix`)."""
    return open_mix(
        prepare_mix(
            sources,
            family,
            limits,
            prompt_cfg,
            with_answers,
            seed,
            max_samples,
            check_images,
            cache_dir,
        )
    )


def prepare_mix(
    sources: list[dict],
    family: ModelFamily,
    limits: PixelLimits,
    prompt_cfg: dict,
    with_answers: bool = False,
    seed: int = 0,
    max_samples: int | None = None,
    check_images: bool = True,
    cache_dir: str | Path | None = None,
) -> PreparedMix:
    """The mix of one or more JSONL sources with image roots and weights.

    A source's `weight` says how many times each of its records is used per epoch (1: once,
    2: twice, 0.5: a seeded half), so weights set both the mix and the epoch size. Sources are
    interleaved evenly (the trainer shuffles on top unless told not to). Images load lazily,
    at the model-input size, when a row is read.

    Each source's rows come from its Arrow cache (`arrow_cache`: built on the first load,
    memory-mapped), so memory stays flat however large the files; the mix is an index array
    over them (`Dataset.select`), computed afresh on every load from the weights and seed.
    """
    import hashlib

    import numpy as np

    tables, picks, keys = [], [], []
    for k, src in enumerate(sources):
        table, key = cached_rows(
            src["path"],
            src.get("image_root"),
            family,
            limits,
            prompt_cfg,
            with_answers,
            max_samples=src.get("max_samples") or max_samples,
            check_images=check_images,
            cache_dir=cache_dir,
        )
        weight = float(src.get("weight", 1.0))
        taken = weighted_indices(len(table), weight, seed + k)
        if not len(taken):
            raise UserError(f"{src['path']}: weight {src.get('weight')} leaves no records")
        tables.append(table)
        picks.append(taken)
        keys.append([key, weight])
    offsets = np.cumsum([0] + [len(t) for t in tables[:-1]])
    if len(picks) == 1:
        indices = picks[0]
    else:
        source, item = interleave_order([len(p) for p in picks])
        starts = np.cumsum([0] + [len(p) for p in picks[:-1]])
        indices = (np.concatenate(picks) + np.repeat(offsets, [len(p) for p in picks]))[
            starts[source] + item
        ]
    entries = [table.cache_files[0]["filename"] for table in tables]
    rows = sum(len(t) for t in tables)
    if len(indices) == rows and np.array_equal(indices, np.arange(rows)):
        return PreparedMix(entries)
    # The fingerprint names the mix, so datasets need not hash millions of indices.
    mix = hashlib.sha256(json.dumps([keys, seed]).encode()).hexdigest()[:32]
    return PreparedMix(entries, indices, mix)


def dataset_composition(ds) -> tuple[set[str], int, int]:
    """(tasks, text-only rows, rows with images) of a built dataset, read in Arrow batches:
    iterating rows in Python would take minutes on millions of records."""
    import pyarrow.compute as pc

    tasks: set[str] = set()
    n_text = 0
    columns = ds.select_columns(["task", "image_paths"]).with_format("arrow")
    for batch in columns.iter(batch_size=1 << 16):
        tasks.update(pc.unique(batch["task"]).to_pylist())
        n_text += pc.sum(pc.equal(pc.list_value_length(batch["image_paths"]), 0)).as_py() or 0
    return tasks, n_text, len(ds) - n_text
