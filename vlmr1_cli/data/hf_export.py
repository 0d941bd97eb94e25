"""`prepare-data to-hf`: schema-v1 JSONL -> a parquet dataset folder, optionally pushed to the Hub.

The folder is what the Hub and `datasets` expect: `data/<split>-00000-of-0000N.parquet` shards
and a README.md whose `configs` block names them. Columns:

| column | type | holds |
|---|---|---|
| `id`, `task`, `problem` | string | as in the record |
| `images` | list of `datasets.Image` | the image files' bytes, embedded (and their record path) |
| `image_sizes` | list of [int, int] | as in the record |
| `solution` | string | JSON text, so REC boxes, OVD object lists and text answers share one type |
| `labels` | list of string, or null | null when the record has no `labels` key |
| `extra` | string | JSON object of every other key of the record |

Each record is checked against schema v1 and its images read from the image root (paths
confined to it). Records stream into the shards (row groups of 100) through a staging folder
that is renamed into place at the end: an interrupted run leaves nothing half-written.
`prepare-data hf FOLDER` reads it back (layout `vlmr1`, detected) to the same records.

`push_folder` uploads exactly the folder's files in one commit (`HfApi.create_commit`),
replacing stale shards of the same split; the token comes from the usual places (HF_TOKEN,
`hf auth login`) and is never printed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.data.schema import REQUIRED_KEYS, check_record
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import iter_jsonl, make_temp_dir
from vlmr1_cli.progress import track

ROW_GROUP = 100  # rows per parquet row group: image rows are large, readers stream by group
DEFAULT_MAX_SHARD_BYTES = 500 * 1024 * 1024  # the Hub's usual parquet shard size
_COLUMN_KEYS = set(REQUIRED_KEYS) | {"labels"}


@dataclass
class ExportSummary:
    input: str
    folder: str
    split: str
    records: int = 0
    images: int = 0
    shards: list[str] = field(default_factory=list)
    pushed: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [
            ("records", self.records),
            ("images embedded", self.images),
            ("split", self.split),
            ("output: folder", self.folder),
        ]
        out += [("output: shard", s) for s in self.shards]
        out += [(f"hub: {k}", v) for k, v in self.pushed.items()]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "folder": self.folder,
            "split": self.split,
            "records": self.records,
            "images": self.images,
            "shards": self.shards,
            "pushed": self.pushed,
        }


def features():
    """The dataset's `datasets.Features` (the parquet schema carries them for every reader)."""
    from datasets import Features, Image, List, Value

    return Features(
        {
            "id": Value("string"),
            "task": Value("string"),
            "images": List(Image()),
            "image_sizes": List(List(Value("int64"))),
            "problem": Value("string"),
            "solution": Value("string"),
            "labels": List(Value("string")),
            "extra": Value("string"),
        }
    )


def _check_image(full: str, rel: str, loc: str, size: list[int]) -> None:
    """The image is under the pixel limit (vlmr1_cli.images), of the size the record states,
    and decodes to the end: a decompression bomb, a file that is no image, a truncated image
    or boxes measured on another image are not shipped in a dataset."""
    from vlmr1_cli.images import open_image

    try:
        with open_image(full) as im:
            if list(im.size) != [int(v) for v in size]:
                raise UserError(
                    f"{loc}: image {rel} is {im.size[0]}x{im.size[1]} but the "
                    f"record's image_sizes says {size[0]}x{size[1]}"
                )
            im.load()  # a truncated file fails here, not in the reader's hands
    except UserError as e:
        raise UserError(e.args[0] if str(e).startswith(loc) else f"{loc}: {e}") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UserError(
            f"{loc}: image {rel} is not readable, or truncated ({type(e).__name__}: {str(e)[:120]})"
        ) from None


def record_to_row(rec: dict, image_root: Path, loc: str) -> dict:
    """One schema-v1 record -> one row of the parquet dataset (images read from disk)."""
    images = []
    for rel, size in zip(rec["images"], rec["image_sizes"], strict=True):
        full = safe_join(image_root, rel, loc)
        if not os.path.isfile(full):
            raise UserError(f"{loc}: image not found: {rel} (image root {image_root})")
        _check_image(full, rel, loc, size)
        with open(full, "rb") as fh:
            images.append({"bytes": fh.read(), "path": rel})
    extra = {k: v for k, v in rec.items() if k not in _COLUMN_KEYS}
    return {
        "id": rec["id"],
        "task": rec["task"],
        "images": images,
        "image_sizes": [list(s) for s in rec["image_sizes"]],
        "problem": rec["problem"],
        "solution": json.dumps(rec["solution"], ensure_ascii=False),
        "labels": rec.get("labels"),
        "extra": json.dumps(extra, ensure_ascii=False),
    }


def _readme(split: str, source: str, records: int) -> str:
    return (
        "---\n"
        "configs:\n"
        "- config_name: default\n"
        "  data_files:\n"
        f"  - split: {split}\n"
        f"    path: data/{split}-*\n"
        "---\n\n"
        f"# {Path(source).stem}\n\n"
        f"{records} records in vlmr1's sample schema v1, written by `vlmr1 prepare-data to-hf` "
        f"from `{Path(source).name}`.\n\n"
        "Columns: `id`, `task`, `problem`; `images` (embedded image files) and `image_sizes` "
        "([width, height]); `solution` as JSON text (REC: `[x1, y1, x2, y2]`, OVD: "
        '`[{"bbox_2d": [...], "label": ...}]`, boxes in original-image pixels); `labels` '
        "(OVD queries, null otherwise); `extra`, JSON of the record's other keys.\n\n"
        "Back to JSONL: `vlmr1 prepare-data hf <this dataset> --image-root DIR -o out.jsonl`.\n"
    )


class _ShardWriter:
    """Parquet shards of at most `max_bytes` (image bytes + text), rows buffered per group."""

    def __init__(self, folder: Path, schema: Any, max_bytes: int):
        self.folder, self.schema, self.max_bytes = folder, schema, max_bytes
        self.paths: list[Path] = []
        self._writer: Any = None  # a pyarrow.parquet.ParquetWriter (pyarrow ships no types)
        self._bytes = 0
        self._buffer: list[dict] = []

    def add(self, row: dict) -> None:
        size = (
            sum(len(im["bytes"]) for im in row["images"])
            + len(row["solution"])
            + len(row["extra"])
            + len(row["problem"])
        )
        if self._writer is not None and self._bytes and self._bytes + size > self.max_bytes:
            self._close_shard()
        if self._writer is None:
            self._open_shard()
        self._buffer.append(row)
        self._bytes += size
        if len(self._buffer) >= ROW_GROUP:
            self._flush()

    def _open_shard(self) -> None:
        import pyarrow.parquet as pq

        path = self.folder / f"shard-{len(self.paths):05d}.parquet"
        self.paths.append(path)
        self._writer = pq.ParquetWriter(str(path), self.schema)
        self._bytes = 0

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            table = pa.Table.from_pylist(self._buffer, schema=self.schema)
            self._writer.write_table(table, row_group_size=ROW_GROUP)
            self._buffer = []

    def _close_shard(self) -> None:
        self._flush()
        self._writer.close()
        self._writer = None

    def close(self) -> list[Path]:
        if self._writer is not None:
            self._close_shard()
        return self.paths


def export_to_folder(
    input_jsonl: str | os.PathLike,
    output: str | os.PathLike,
    *,
    image_root: str | os.PathLike | None = None,
    split: str = "train",
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> ExportSummary:
    """Write the JSONL's records, images embedded, as a parquet dataset folder."""
    src = Path(input_jsonl)
    out = Path(output)
    if not src.is_file():
        raise UserError(f"{src}: file not found")
    root = Path(image_root) if image_root is not None else src.parent
    if not root.is_dir():
        raise UserError(f"{root}: image root is not a folder")
    if not split or not split.replace("_", "").replace("-", "").isalnum():
        raise UserError(f"--split '{split}': use letters, digits, '-' and '_' only")
    if max_shard_bytes <= 0:
        raise UserError("--max-shard-size must be positive")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder; choose a new --output")
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(input=str(src), folder=str(out), split=split)
    schema = features().arrow_schema
    staging = make_temp_dir(f".{out.name}.", out.parent)
    try:
        (staging / "data").mkdir()
        writer = _ShardWriter(staging / "data", schema, max_shard_bytes)
        seen: set[str] = set()
        for lineno, rec in track(iter_jsonl(src), f"to-hf {src.name}"):
            loc = f"{src}:{lineno}"
            check_record(rec, loc)
            if rec["id"] in seen:
                raise UserError(f"{loc}: duplicate record id '{rec['id']}'")
            seen.add(rec["id"])
            writer.add(record_to_row(rec, root, loc))
            summary.records += 1
            summary.images += len(rec["images"])
        shards = writer.close()
        if not summary.records:
            raise UserError(f"{src}: no records")
        n = len(shards)
        for i, path in enumerate(shards):
            final = path.with_name(f"{split}-{i:05d}-of-{n:05d}.parquet")
            path.rename(final)
            summary.shards.append(f"data/{final.name}")
        readme = _readme(split, str(src), summary.records)
        (staging / "README.md").write_text(readme, encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def folder_files(folder: Path) -> list[str]:
    """The files `to-hf` wrote (README.md and data/*.parquet), as repo paths."""
    files = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*.parquet"))
    return (["README.md"] if (folder / "README.md").is_file() else []) + files


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures as the Hub client raises them (its HTTP library's, and OSError)."""
    errors: list[type[BaseException]] = [OSError]
    for module in ("httpx2", "httpx"):  # huggingface_hub 2.x ships on httpx2; older on httpx
        try:
            errors.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    split: str,
    private: bool = False,
    revision: str | None = None,
) -> dict[str, str]:
    """Upload the folder's files in one commit; stale `data/<split>-*` shards are removed."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError

    root = Path(folder)
    files = folder_files(root)
    api = HfApi()
    where = f"push to Hub dataset '{repo_id}'"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private or None, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        present = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
        stale = [p for p in present if p.startswith(f"data/{split}-") and p not in files]
        ops: list[Any] = [
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(root / p)) for p in files
        ]
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        info = api.create_commit(
            repo_id,
            operations=ops,
            repo_type="dataset",
            revision=revision,
            commit_message=f"Upload {split} split with vlmr1 prepare-data to-hf",
        )
    except HFValidationError as e:
        raise UserError(f"{where}: {str(e).splitlines()[0]}") from None
    except RepositoryNotFoundError:
        raise UserError(f"{where}: repository not found or not writable with this token") from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status == 401:
            raise UserError(
                f"{where}: not authenticated (log in with `hf auth login` or set HF_TOKEN)"
            ) from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{where}: {first[:300]}") from None
    except _transport_errors() as e:
        raise UserError(f"{where}: cannot reach the Hub ({type(e).__name__})") from None
    return {
        "repo": repo_id,
        "revision": revision or "main",
        "commit": info.oid,
        "files": str(len(files)),
        "removed": str(len(stale)),
    }
