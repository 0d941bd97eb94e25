"""Reading the source of `prepare-data hf`: a Hub dataset or local files -> rows.

The source is read with `datasets` (streaming, so memory stays bounded whatever its size):
a local file or folder as is, a Hub dataset id through `huggingface_hub.snapshot_download`
(then read from the local snapshot; `--revision` pins it, `--config` picks a README config or
a subfolder). Images are left undecoded: `hf_images` hashes and writes them as given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

DATA_SUFFIXES = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".arrow": "arrow"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class Source:
    """An opened dataset split: its rows (images undecoded), columns and where paths start."""

    name: str
    split: str
    rows: Iterable[dict]
    columns: list[str]
    base_dir: Path | None  # relative image paths in the rows are resolved here
    total: int | None
    revision: str | None = None  # the Hub commit that was read


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _read_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa
    from datasets.exceptions import DatasetsError

    return (OSError, ValueError, KeyError, DatasetsError, pa.ArrowException)


def _pick_split(splits: list[str], split: str | None, name: str) -> str:
    if split is not None:
        if split not in splits:
            raise UserError(f"{name}: no split '{split}' (splits: {', '.join(splits) or 'none'})")
        return split
    if "train" in splits:
        return "train"
    if len(splits) == 1:
        return splits[0]
    raise UserError(f"{name}: pass --split (splits: {', '.join(splits)})")


def _readme_configs(folder: Path) -> list[str]:
    readme = folder / "README.md"
    if not readme.is_file():
        return []
    from huggingface_hub.repocard import metadata_load

    try:
        meta = metadata_load(readme) or {}
    except Exception:
        return []
    configs = meta.get("configs") or []
    return [c.get("config_name", "default") for c in configs if isinstance(c, dict)]


def _open_folder(folder: Path, name: str, split: str | None, config: str | None) -> tuple[Any, str]:
    """(IterableDataset of the split, split name) for a local folder."""
    import datasets

    errors = _read_errors()
    if (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file():
        if config:
            raise UserError(f"{name}: --config does not apply to a save_to_disk folder")
        try:
            loaded = datasets.load_from_disk(str(folder))
        except errors as e:
            raise UserError(f"{name}: cannot read the dataset: {_first_line(e)}") from None
        if isinstance(loaded, datasets.DatasetDict):
            chosen = _pick_split(list(loaded), split, name)
            return loaded[chosen].to_iterable_dataset(), chosen
        return loaded.to_iterable_dataset(), split or "train"
    kwargs: dict[str, Any] = {}
    if config:
        configs = _readme_configs(folder)
        if config in configs:
            kwargs["name"] = config
        elif (folder / config).is_dir():
            kwargs["data_dir"] = config
        else:
            subfolders = sorted(
                p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
            raise UserError(
                f"{name}: no config or subfolder '{config}' (configs: "
                f"{', '.join(configs) or 'none'}; "
                f"subfolders: {', '.join(subfolders) or 'none'})"
            )
    try:
        loaded = datasets.load_dataset(str(folder), streaming=True, **kwargs)
    except errors as e:
        raise UserError(f"{name}: cannot read the dataset: {_first_line(e)}") from None
    chosen = _pick_split(list(loaded), split, name)
    return loaded[chosen], chosen


def _open_file(path: Path, split: str | None) -> tuple[Any, str]:
    import datasets

    builder = DATA_SUFFIXES.get(path.suffix.lower())
    if builder is None:
        raise UserError(f"{path}: not a data file (expected {', '.join(sorted(DATA_SUFFIXES))})")
    chosen = split or "train"
    try:
        loaded = datasets.load_dataset(
            builder, data_files={chosen: str(path)}, split=chosen, streaming=True
        )
    except StopIteration:  # the JSON builder peeks at the first rows of an empty file
        raise UserError(f"{path}: no rows (the file is empty)") from None
    except _read_errors() as e:
        raise UserError(f"{path}: cannot read the dataset: {_first_line(e)}") from None
    return loaded, chosen


def _download(repo_id: str, revision: str | None) -> tuple[Path, str | None]:
    """The Hub dataset's files, in the Hub cache; errors name the id."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"Hub dataset '{repo_id}'"
    try:
        local = snapshot_download(repo_id, repo_type="dataset", revision=revision)
    except GatedRepoError:
        raise UserError(
            f"{where} is gated: accept its conditions on the Hub and log in "
            "(`hf auth login` or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise UserError(
            f"{where} not found (or private: log in with `hf auth login` or set HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise UserError(f"{where}: revision '{revision}' not found") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        from huggingface_hub import constants

        why = (
            "the Hub is off (HF_HUB_OFFLINE=1)"
            if constants.HF_HUB_OFFLINE
            else "cannot reach the Hub"
        )
        raise UserError(f"{where}: {why} and it is not in the local cache") from None
    except HfHubHTTPError as e:
        raise UserError(f"{where}: the Hub refused the download: {_first_line(e)}") from None
    local_path = Path(local)
    return local_path, local_path.name  # snapshots/<commit sha>: the exact revision read


def looks_like_repo_id(text: str) -> bool:
    return bool(_REPO_ID.match(text)) and Path(text).suffix.lower() not in DATA_SUFFIXES


def open_source(
    source: str | os.PathLike,
    split: str | None = None,
    config: str | None = None,
    revision: str | None = None,
) -> Source:
    """Open one split of a local file/folder or a Hub dataset, images left undecoded."""
    text = str(source)
    path = Path(text)
    revision_read = None
    if path.exists():
        if revision:
            raise UserError(f"{text}: --revision applies to Hub datasets, not local files")
        if path.is_file():
            if config:
                raise UserError(f"{text}: --config applies to folders and Hub datasets, not a file")
            dataset, chosen = _open_file(path, split)
            base = path.parent
        else:
            dataset, chosen = _open_folder(path, text, split, config)
            base = path
    elif looks_like_repo_id(text):
        base, revision_read = _download(text, revision)
        dataset, chosen = _open_folder(base, text, split, config)
    else:
        raise UserError(f"{text}: no such file or folder, and not a Hub dataset id")
    if getattr(dataset, "features", None) is not None:
        # images stay bytes/paths: hashed and written as given. A JSON array file streams with
        # unknown features (read whole, on first use): nothing there is decoded anyway.
        dataset = dataset.decode(False)
    total = None
    info = getattr(dataset, "info", None)
    splits = getattr(info, "splits", None) or {}
    if chosen in splits:
        total = splits[chosen].num_examples or None
    rows, columns = _peek_columns(_guarded(dataset, text, chosen), dataset)
    return Source(
        name=text,
        split=chosen,
        rows=rows,
        columns=columns,
        base_dir=base,
        total=total,
        revision=revision_read,
    )


def _guarded(dataset: Iterable[dict], name: str, split: str) -> Iterator[dict]:
    """Rows, with read failures (a corrupt shard) turned into one line naming the source."""
    errors = _read_errors()
    it = iter(dataset)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except errors as e:
            raise UserError(f"{name}: reading split '{split}' failed: {_first_line(e)}") from None
        yield row


def _peek_columns(rows: Iterator[dict], dataset: Any) -> tuple[Iterable[dict], list[str]]:
    names = getattr(dataset, "column_names", None)
    if names:
        return rows, list(names)
    first = next(rows, None)  # JSON read by streaming: columns known from the first row
    if first is None:
        return iter(()), []
    return _chain(first, rows), list(first)


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest
