"""The training data's Arrow cache: each JSONL source becomes dataset rows once, written in
batches to an Arrow file that every later load memory-maps.

`datasets.Dataset.from_list` needs every record and every row in memory at once (tens of GB
for millions of records); here the records stream through the loader's checks
(`loader.iter_records`) and `loader.build_rows` a batch at a time into `datasets`'
`ArrowWriter`, so memory stays flat and the rows are exactly those `from_list` would hold.

Where: `$HF_DATASETS_CACHE/vlmr1/` (default `~/.cache/huggingface/datasets/vlmr1/`), the
cache `datasets` itself uses, rather than the run's output folder: the same files feed many
runs (sweeps, SFT then GRPO, evaluations of a recipe), which then share one cache, and output
folders that get copied around do not carry gigabytes of it. Deleting the folder is always
safe; the next load rebuilds what it needs.

Key: everything that changes a source's rows, so a changed file or setting never reuses a
stale cache: the file (resolved path, size, mtime in ns, inode), the image root (resolved),
the model family and frame, the pixel limits, the prompt config, whether SFT answers are
built, `max_samples`, the vlmr1 version and `CACHE_VERSION`. Weights and the seed are not in
it: they select rows from the cached ones (`dataset.build_dataset`), afresh on every load.

Images: a cached source is re-checked on every load, one `lstat` per distinct image (plus
one `realpath` per folder): an image that went missing, or a path that a new symlink now
leads out of the image root, rebuilds the source, which reports the record's line as a first
load would.

Several processes: `vlmr1 train-*` checks everything, the data included, in the launching
process before it starts any rank, so the ranks find the cache built and only memory-map it.
Whoever else loads the same source at the same moment (a rank of a run launched without
vlmr1, another run) waits on a lock file next to the entry while the first one builds it,
then loads it; each machine builds in its own cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open
from vlmr1_cli.models.base import ModelFamily, PixelLimits

# Bump when the rows built from the same inputs change (loader.build_rows, row_features).
CACHE_VERSION = 1
# Records per written batch (and rows per Arrow record batch in the file): large enough for
# Arrow's conversion to dominate and for few batch headers to read on a load, small enough
# that a batch's records and rows (a few MB) never matter.
BATCH_ROWS = 4096


def default_cache_dir() -> Path:
    """`$HF_DATASETS_CACHE/vlmr1`, read when called (tests and users may set it late)."""
    env = os.environ.get("HF_DATASETS_CACHE")
    if env:
        return Path(env).expanduser() / "vlmr1"
    from datasets import config

    return Path(config.HF_DATASETS_CACHE) / "vlmr1"


def source_key(
    path: str | Path,
    image_root: str | Path | None,
    family: ModelFamily,
    limits: PixelLimits,
    prompt_cfg: dict,
    with_answers: bool,
    max_samples: int | None,
) -> str:
    """The cache key of one source's rows (see the module docstring for what goes in)."""
    from vlmr1_cli import __version__

    try:
        st = os.stat(path)
    except OSError:
        raise UserError(f"{path}: file not found") from None
    root = image_root if image_root is not None else Path(path).parent
    fields = {
        "cache_version": CACHE_VERSION,
        "vlmr1": __version__,
        "file": [os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino],
        "image_root": os.path.realpath(root),
        "family": [
            f"{type(family).__module__}.{type(family).__qualname__}",
            family.name,
            family.frame_name,
        ],
        "limits": limits.as_dict(),
        "prompt": prompt_cfg,
        "with_answers": bool(with_answers),
        "max_samples": max_samples,
    }
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_rows(
    path: str | Path,
    image_root: str | Path | None,
    family: ModelFamily,
    limits: PixelLimits,
    prompt_cfg: dict,
    with_answers: bool,
    max_samples: int | None = None,
    check_images: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[Any, str]:
    """One source's rows as a memory-mapped `datasets.Dataset` (no transform), and its key.

    Built on the first load (errors are those of `loader.load_records`, naming FILE:LINE),
    memory-mapped on the next ones.
    """
    from datasets import Dataset
    from filelock import FileLock

    key = source_key(path, image_root, family, limits, prompt_cfg, with_answers, max_samples)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = folder / f"{Path(path).stem[:60]}-{key[:24]}.arrow"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(entry) + ".lock"):
            if entry.is_file():
                table = Dataset.from_file(str(entry))
                if images_still_valid(table, check_images):
                    return table, key
            write_rows(
                entry,
                path,
                image_root,
                family,
                limits,
                prompt_cfg,
                with_answers,
                max_samples,
                check_images,
            )
            return Dataset.from_file(str(entry)), key
    except OSError as e:  # an unwritable or full cache folder, an unreadable data file
        raise UserError(f"{e.filename or f'data cache {folder}'}: {e.strerror or e}") from None


def write_rows(
    entry: Path,
    path: str | Path,
    image_root: str | Path | None,
    family: ModelFamily,
    limits: PixelLimits,
    prompt_cfg: dict,
    with_answers: bool,
    max_samples: int | None,
    check_images: bool,
) -> int:
    """Validate `path` record by record and write its rows to the Arrow file `entry`
    (atomically: a failed or interrupted build leaves no entry). Returns the row count."""
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    from vlmr1_cli.data.loader import build_rows, iter_records, row_features

    records = iter_records(path, image_root, max_samples=max_samples, check_images=check_images)
    with atomic_open(entry, "wb") as fh:
        features = row_features(with_answers)
        # close_stream=False below: atomic_open flushes, syncs and renames the file itself.
        writer = ArrowWriter(
            features=features,
            stream=pa.PythonFile(fh, mode="w"),
            on_mixed_types=None,
            writer_batch_size=BATCH_ROWS,
        )
        for batch in _batches(records, BATCH_ROWS):
            rows = build_rows(batch, family, limits, prompt_cfg, with_answers)
            columns = {name: [row[name] for row in rows] for name in rows[0]}
            # `from_list` encodes every value through the features (str() for strings); only
            # `labels` can need it: the schema leaves a non-OVD record's labels unchecked, and
            # every other column is built from checked values of the right type already.
            columns["labels"] = features.encode_column(columns["labels"], "labels")
            writer.write_batch(columns)
        n_rows, _ = writer.finalize(close_stream=False)
    return n_rows


def images_still_valid(table: Any, check_images: bool) -> bool:
    """Whether the resolved image paths stored in a cached source still hold: each still
    resolves to itself (no folder or file on it became a symlink, so it cannot lead out of the
    image root) and, with `check_images`, is still a file. One `lstat` per distinct image."""
    import pyarrow.compute as pc

    paths = pc.unique(pc.list_flatten(table.data.column("image_paths"))).to_pylist()
    folders: dict[str, bool] = {}
    for p in paths:
        folder = os.path.dirname(p)
        if folder not in folders:
            folders[folder] = os.path.realpath(folder) == folder
        if not folders[folder]:
            return False
        try:
            mode = os.lstat(p).st_mode
        except OSError:
            if check_images:
                return False
            continue
        if stat.S_ISLNK(mode) or (check_images and not stat.S_ISREG(mode)):
            return False
    return True


def _batches(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
