"""`prepare-data hf`: a Hub dataset, or local parquet / JSON / JSONL / Arrow, -> schema v1.

The source is read with `datasets` (streaming, so memory stays bounded whatever its size):
a local file or folder as is, a Hub dataset id through `huggingface_hub.snapshot_download`
(then read from the local snapshot; `--revision` pins it, `--config` picks a README config or
a subfolder). Rows are mapped by a layout (`hf_layouts`): images given as bytes, decoded
images or paths are written once under the image root, named by their content's sha256
(`ab/ab12...ef.jpg`), and the records point at them relative to that root. Boxes are turned
into original-image pixels, xyxy, from the convention the user (or the row, for ms-swift)
states, using the image's real size; a row that cannot make a valid record is skipped and
counted by reason, never repaired. A problem cell holding a list of strings (the referring
expressions of one object) gives one record per text, ids `<row id>-<k>` (k: the text's index
in the list), or the first text only (`texts="first"`).

The JSONL is written atomically (with its `.meta.json`); images are written one by one,
each atomically, so an interrupted run leaves only complete images, which a rerun reuses.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.data.hf_layouts import (
    COLUMNS_LAYOUT,
    LAYOUTS,
    PRESET_CONVENTIONS,
    VLMR1_COLUMNS,
    ColumnMap,
    RowSkip,
    answer_payload,
    columns_suffice,
    detect_layout,
    is_box,
    parse_labels,
    parse_solution,
    parse_swift_objects,
    problem_text,
    problem_texts,
    resolve_columns,
    strip_image_tokens,
    to_xyxy_pixels,
)
from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.schema import REQUIRED_KEYS
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open
from vlmr1_cli.progress import track

DATA_SUFFIXES = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".arrow": "arrow"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_EXTENSIONS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "MPO": ".jpg",
}
_PROBE_CACHE = 4096  # images remembered by content hash (a bound, not a full index)


# -- reading the source ------------------------------------------------------------------------


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


# -- images ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbedImage:
    data: bytes
    digest: str
    size: tuple[int, int]
    ext: str

    @property
    def relpath(self) -> str:
        return f"{self.digest[:2]}/{self.digest}{self.ext}"


class ImageStore:
    """Content-addressed images under `root`: each distinct image is written once."""

    def __init__(self, root: Path, base_dir: Path | None, summary: Summary):
        self.root, self.base_dir, self.summary = root, base_dir, summary
        self._seen: OrderedDict[str, tuple[tuple[int, int], str] | str] = OrderedDict()

    def probe(self, value: Any, loc: str) -> ProbedImage:
        """Bytes, size and format of one image cell; RowSkip if it is not a usable image."""
        data = self._bytes(value, loc)
        digest = hashlib.sha256(data).hexdigest()
        known = self._seen.get(digest)
        if known is None:
            known = _probe_bytes(data)
            self._seen[digest] = known
            if len(self._seen) > _PROBE_CACHE:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(digest)
        if isinstance(known, str):
            raise RowSkip(known)
        size, ext = known
        return ProbedImage(data, digest, size, ext)

    def write(self, image: ProbedImage) -> str:
        rel = image.relpath
        full = self.root / rel
        if full.is_file() and full.stat().st_size == len(image.data):
            self.summary.note("image already under the image root (same content)")
        else:
            with atomic_open(full, "wb") as fh:
                fh.write(image.data)
            self.summary.note("images written")
        return rel

    def _bytes(self, value: Any, loc: str) -> bytes:
        if isinstance(value, dict):
            if value.get("bytes") is not None:
                return bytes(value["bytes"])
            if value.get("path"):
                return self._read(value["path"], loc)
            raise RowSkip("no image")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str):
            return self._read(value, loc)
        if _is_pil(value):
            buf = io.BytesIO()
            value.save(buf, format="PNG")  # decoded pixels: PNG keeps them exactly
            self.summary.note("decoded image re-encoded as PNG")
            return buf.getvalue()
        raise RowSkip("image cell is not bytes, a path or an image")

    def _read(self, rel: str, loc: str) -> bytes:
        if rel.startswith(("http://", "https://")):
            raise RowSkip("image is a URL (download the images, then pass --source-root)")
        if self.base_dir is None:
            raise UserError(
                f"{loc}: the row names an image path but the source has no folder; "
                "pass --source-root"
            )
        full = safe_join(self.base_dir, rel, loc)
        if not os.path.isfile(full):
            raise RowSkip("image file not found")
        with open(full, "rb") as fh:
            return fh.read()


def _is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def _probe_bytes(data: bytes) -> tuple[tuple[int, int], str] | str:
    """((width, height), extension) from the image header, or the reason it is unusable.

    vlmr1's pixel limit (vlmr1_cli.images) guards against decompression bombs: over it the
    row is skipped, never decoded.
    """
    from PIL import UnidentifiedImageError

    from vlmr1_cli.images import ImageTooLarge, open_image

    try:
        with open_image(io.BytesIO(data), name="image bytes") as im:
            size, fmt = im.size, im.format or ""
    except ImageTooLarge:
        return "image over the pixel limit (decompression bomb guard)"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return "image not readable"
    if size[0] <= 0 or size[1] <= 0:
        return "image not readable"
    return size, _EXTENSIONS.get(fmt, "." + fmt.lower() if fmt else ".img")


def _image_cells(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


# -- rows -> records ---------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything a row conversion needs, fixed before the first row."""

    name: str
    split: str
    layout: str
    task: str
    cols: ColumnMap
    box_format: str | None
    box_units: str | None
    tolerance: float
    store: ImageStore
    summary: Summary
    texts: str = "all"  # a list of problem texts: one record per text, or the first only


def _convention(plan: _Plan, loc: str, row_units: str | None = None) -> tuple[str, str]:
    units = plan.box_units
    if row_units is not None:
        if units is not None and units != row_units:
            raise UserError(
                f"{loc}: the row states bbox_type for {row_units} but --box-units is "
                f"{units}; drop --box-units or fix the data"
            )
        units = row_units
    if plan.box_format is None or units is None:
        stated = (("--box-format", plan.box_format), ("--box-units", units))
        missing = " and ".join(flag for flag, v in stated if v is None)
        raise UserError(
            f"{loc}: the rows hold boxes but their convention is not stated: pass "
            f"{missing} (xyxy|xywh|cxcywh; pixels|norm1|norm1000 of the original "
            "image)"
        )
    return plan.box_format, units


def _require_box(value: object, size: tuple[int, int], tol: float) -> None:
    why = box_problem(value, size[0], size[1], tol)
    if why is not None:
        raise RowSkip(why)


def _checked(box: list[float], size: tuple[int, int], tol: float) -> list[float]:
    _require_box(box, size, tol)
    return box


def _cleaned(plan: _Plan, raw: str) -> str:
    text, removed = strip_image_tokens(raw)
    if removed:
        plan.summary.note("<image> placeholders removed from the problem")
    return text


def _problem(plan: _Plan, row: dict) -> str:
    if plan.cols.problem is None:
        return ""
    return _cleaned(plan, problem_text(row.get(plan.cols.problem)))


def _problems(plan: _Plan, row: dict) -> tuple[list[str], bool]:
    """The row's problem texts, and whether the cell was a list (one record per text)."""
    if plan.cols.problem is None:
        return [""], False
    value = row.get(plan.cols.problem)
    texts = problem_texts(value)
    if texts is None:
        return [_cleaned(plan, problem_text(value))], False
    if not texts:
        raise RowSkip("problem is an empty list of texts")
    return [_cleaned(plan, t) for t in (texts if plan.texts == "all" else texts[:1])], True


def _records_in_row(plan: _Plan, row: dict) -> int:
    """How many records a row would give: what a skip of the whole row counts."""
    if plan.layout in ("swift", "vlmr1") or plan.cols.problem is None:
        return 1
    texts = problem_texts(row.get(plan.cols.problem))
    return len(texts) if texts and plan.texts == "all" else 1


def _labels(plan: _Plan, row: dict) -> list[str] | None:
    return parse_labels(row.get(plan.cols.labels)) if plan.cols.labels else None


def _ovd(
    objects: Sequence[tuple[list[float], str | None]], labels: list[str] | None
) -> tuple[list[dict], list[str]]:
    """Objects -> (solution, labels); the labels default to the solution's, in order."""
    if labels is None:
        if any(label is None for _, label in objects):
            raise RowSkip("ovd row: boxes without labels")
        labels = list(dict.fromkeys(label for _, label in objects if label is not None))
        if not labels:
            raise RowSkip("ovd row without labels")
    out = []
    for box, label in objects:
        if label is None:
            if len(labels) != 1:
                raise RowSkip("ovd row: boxes without labels")
            label = labels[0]
        if label not in labels:
            raise RowSkip("ovd row: a solution label is not among the labels")
        out.append({"bbox_2d": box, "label": label})
    return out, labels


def _single_image(plan: _Plan, row: dict, loc: str) -> ProbedImage:
    cells = _image_cells(row.get(plan.cols.image)) if plan.cols.image else []
    if not cells:
        raise RowSkip("no image")
    if len(cells) > 1:
        raise RowSkip("multi-image row (rec and ovd rows need exactly one image)")
    return plan.store.probe(cells[0], loc)


def _generic_row(plan: _Plan, row: dict, loc: str) -> dict:
    """trl / easyr1 / lmms-refcoco / user-mapped columns; `problems`: one record each."""
    problems, listed = _problems(plan, row)
    raw = row.get(plan.cols.solution)
    if plan.task == "text":
        if not isinstance(raw, str):
            raise RowSkip("solution is not text")
        images = (
            [plan.store.probe(c, loc) for c in _image_cells(row.get(plan.cols.image))]
            if plan.cols.image
            else []
        )
        return {
            "task": "text",
            "images": images,
            "problems": problems,
            "listed": listed,
            "solution": answer_payload(raw),
        }
    kind, value = parse_solution(raw)
    if kind == "text":
        raise RowSkip("solution is not a box or a list of objects (text answers: --task text)")
    labels = _labels(plan, row)
    task = plan.task
    if task == "auto":
        task = "rec" if labels is None and (kind == "box" or len(value) == 1) else "ovd"
    image = _single_image(plan, row, loc)
    fmt, units = _convention(plan, loc)
    size = image.size
    if task == "rec":
        if kind == "objects":
            if len(value) != 1:
                raise RowSkip("rec row: not exactly one box")
            value = value[0][0]
        box = _checked(to_xyxy_pixels(value, fmt, units, *size), size, plan.tolerance)
        return {
            "task": "rec",
            "images": [image],
            "problems": problems,
            "listed": listed,
            "solution": box,
        }
    objects = [(value, None)] if kind == "box" else value
    objects = [
        (_checked(to_xyxy_pixels(b, fmt, units, *size), size, plan.tolerance), label)
        for b, label in objects
    ]
    solution, labels = _ovd(objects, labels)
    return {
        "task": "ovd",
        "images": [image],
        "problems": problems,
        "listed": listed,
        "solution": solution,
        "labels": labels,
    }


def _swift_row(plan: _Plan, row: dict, loc: str) -> dict:
    parsed = parse_swift_objects(row.get(plan.cols.solution))
    fmt, units = _convention(plan, loc, parsed.units)
    image = _single_image(plan, row, loc)
    size = image.size
    objects = [
        (_checked(to_xyxy_pixels(b, fmt, units, *size), size, plan.tolerance), ref)
        for b, ref in parsed.objects
    ]
    task = plan.task if plan.task != "auto" else ("rec" if len(objects) == 1 else "ovd")
    problem = _problem(plan, row)
    if task == "rec":
        if len(objects) != 1:
            raise RowSkip("rec row: not exactly one box")
        box, ref = objects[0]
        problem = problem or ref.strip()
        if not problem:
            raise RowSkip("empty problem")
        return {"task": "rec", "images": [image], "problem": problem, "solution": box}
    solution, labels = _ovd(objects, _labels(plan, row))
    return {
        "task": "ovd",
        "images": [image],
        "problem": problem,
        "solution": solution,
        "labels": labels,
    }


def _vlmr1_row(plan: _Plan, row: dict, loc: str) -> dict:
    """A row written by `to-hf`: schema v1 as columns, solution and extra keys JSON-encoded."""
    task = row.get("task")
    if not isinstance(task, str) or not task:
        raise RowSkip("no task")
    if plan.task != "auto" and task != plan.task:
        raise RowSkip(f"task is not {plan.task}")
    try:
        solution = json.loads(row["solution"]) if isinstance(row.get("solution"), str) else None
        extra = json.loads(row["extra"]) if isinstance(row.get("extra"), str) else {}
    except json.JSONDecodeError:
        raise RowSkip("solution or extra is not JSON") from None
    if solution is None or not isinstance(extra, dict):
        raise RowSkip("solution or extra is not JSON")
    images = [plan.store.probe(c, loc) for c in _image_cells(row.get(plan.cols.image))]
    stated = row.get("image_sizes")
    if stated is not None and [list(s) for s in stated] != [list(i.size) for i in images]:
        raise RowSkip("stated image size differs from the image")
    k = extra.get("box_image", 0)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < max(1, len(images)):
        raise RowSkip("box_image is not an index into the images")
    size = images[k].size if images else None
    if task == "rec" and size is not None:
        _require_box(solution if is_box(solution) else [], size, plan.tolerance)
    if task == "ovd" and size is not None and isinstance(solution, list):
        for obj in solution:
            _require_box(obj.get("bbox_2d") if isinstance(obj, dict) else [], size, plan.tolerance)
    out: dict[str, Any] = {
        "task": task,
        "images": images,
        "problem": row.get("problem") or "",
        "solution": solution,
    }
    labels = row.get(plan.cols.labels) if plan.cols.labels else None
    if labels is not None:
        out["labels"] = list(labels)
    out["extra"] = {k: v for k, v in extra.items() if k not in REQUIRED_KEYS and k != "labels"}
    return out


def _row_id(plan: _Plan, row: dict, index: int) -> str:
    if plan.cols.id is None:
        return f"{plan.split}-{index}"
    value = row.get(plan.cols.id)
    if value is None or (isinstance(value, str) and not value):
        raise RowSkip("no id")
    return str(value)


def _records(plan: _Plan, row: dict, index: int) -> list[dict]:
    """The row's records: one, or one per problem text when the problem cell is a list."""
    loc = f"{plan.name} [{plan.split}] row {index}"
    rid = _row_id(plan, row, index)
    if plan.layout == "vlmr1":
        got = _vlmr1_row(plan, row, loc)
    elif plan.layout == "swift":
        got = _swift_row(plan, row, loc)
    else:
        got = _generic_row(plan, row, loc)
    listed = got.get("listed", False)
    texts = list(enumerate(got["problems"] if "problems" in got else [got["problem"]]))
    if got["task"] == "rec":
        for _, text in texts:
            if not text:
                plan.summary.skip("empty problem")
        texts = [(k, text) for k, text in texts if text]
    if not texts:
        return []
    if listed:
        plan.summary.note(
            "rows whose problem is a list of texts ("
            + ("one record per text)" if plan.texts == "all" else "first text only)")
        )
    images: list[ProbedImage] = got["images"]
    paths = [plan.store.write(im) for im in images]
    out = []
    for k, text in texts:
        rec: dict[str, Any] = {
            "id": f"{rid}-{k}" if listed else rid,
            "task": got["task"],
            "images": list(paths),
            "image_sizes": [list(im.size) for im in images],
            "problem": text,
            "solution": got["solution"],
        }
        if "labels" in got:
            rec["labels"] = got["labels"]
        if plan.layout == "vlmr1":
            rec.update(got["extra"])
        else:
            rec.update(
                {"source": "hf", "hf_dataset": plan.name, "hf_split": plan.split, "hf_row": index}
            )
            if listed:
                rec["hf_text_index"] = k  # the text's index in the row's problem list
        out.append(rec)
    return out


_CONVENTION_SOURCES = {
    "vlmr1": "the vlmr1 layout stores",
    "lmms-refcoco": "lmms-eval's RefCOCO datasets (lmms-refcoco layout) store",
}


def _fixed_convention(
    layout: str, box_format: str | None, box_units: str | None
) -> tuple[str | None, str | None]:
    stated = PRESET_CONVENTIONS.get(layout)
    if stated is not None:
        fmt, units = stated
        if box_format not in (None, fmt) or box_units not in (None, units):
            raise UserError(
                f"{_CONVENTION_SOURCES[layout]} {fmt} boxes in original-image "
                f"{units}: drop --box-format/--box-units (or pass --layout and "
                "the columns for another reading)"
            )
        return stated
    if layout == "swift" and box_format not in (None, "xyxy"):
        raise UserError(
            "ms-swift boxes are xyxy: --box-format must be xyxy for the swift layout "
            "(the unit comes from each row's bbox_type)"
        )
    if layout == "swift":
        return "xyxy", box_units
    return box_format, box_units


def convert_hf(
    source: str | os.PathLike,
    output: str | os.PathLike,
    image_root: str | os.PathLike,
    *,
    split: str | None = None,
    config: str | None = None,
    revision: str | None = None,
    layout: str = "auto",
    task: str = "auto",
    columns: dict[str, str | None] | None = None,
    box_format: str | None = None,
    box_units: str | None = None,
    source_root: str | os.PathLike | None = None,
    texts: str = "all",
    tolerance: float = BOX_TOLERANCE,
) -> Summary:
    """Convert one split of a Hub dataset or local data file/folder into schema-v1 JSONL."""
    if task not in ("auto", "rec", "ovd", "text"):
        raise UserError(f"unknown --task '{task}' (choose auto, rec, ovd or text)")
    if layout != "auto" and layout not in LAYOUTS:
        raise UserError(f"unknown --layout '{layout}' (choose auto, {', '.join(LAYOUTS)})")
    if texts not in ("all", "first"):
        raise UserError(f"unknown --texts '{texts}' (choose all or first)")
    if box_format not in (None, "xyxy", "xywh", "cxcywh"):
        raise UserError(f"unknown --box-format '{box_format}' (choose xyxy, xywh or cxcywh)")
    if box_units not in (None, "pixels", "norm1", "norm1000"):
        raise UserError(f"unknown --box-units '{box_units}' (choose pixels, norm1 or norm1000)")
    if source_root is not None and not Path(source_root).is_dir():
        raise UserError(f"{source_root}: --source-root is not a folder")
    src = open_source(source, split=split, config=config, revision=revision)
    columns = columns or {}
    chosen = layout
    if chosen == "auto":
        chosen = detect_layout(src.columns, columns.get("solution"))
        if not chosen and columns_suffice(columns, task):
            chosen = COLUMNS_LAYOUT  # the options name every column: no preset needed
        if not chosen:
            raise UserError(
                f"{src.name}: cannot tell the layout from the columns "
                f"({', '.join(src.columns) or 'none'}); pass --layout "
                f"({', '.join(LAYOUTS)}) or --image-column, --problem-column and "
                "--solution-column"
            )
    fitting = {
        "swift": (("auto", "rec", "ovd"), "its rows hold boxes"),
        "lmms-refcoco": (("auto", "rec"), "its rows hold one box each: rec"),
    }
    if chosen in fitting and task not in fitting[chosen][0]:
        raise UserError(f"--task {task} does not fit the {chosen} layout ({fitting[chosen][1]})")
    if chosen == "vlmr1":
        missing = [c for c in VLMR1_COLUMNS[:6] if c not in src.columns]
        if missing:
            raise UserError(
                f"{src.name}: not a vlmr1 dataset: no column {', '.join(missing)} "
                f"(columns: {', '.join(src.columns)})"
            )
    fmt, units = _fixed_convention(chosen, box_format, box_units)
    cols = resolve_columns(chosen, src.columns, columns, src.name, task)
    root = Path(image_root)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: --image-root is not a folder")
    if layout != "auto":
        shown_layout = chosen
    elif chosen == COLUMNS_LAYOUT:
        shown_layout = "none (columns given by the options)"
    else:
        shown_layout = f"{chosen} (detected from the columns)"
    summary = Summary(
        source=f"hf:{src.name}",
        options={
            "source": src.name,
            "split": src.split,
            "config": config,
            "revision": src.revision or revision,
            "layout": shown_layout,
            "task": task,
            "columns": cols.as_dict(),
            "texts": texts,
            "box_format": fmt,
            "box_units": units if units or chosen != "swift" else "per row (bbox_type)",
            "box_tolerance_px": tolerance,
            "image_root": str(root),
        },
    )
    base = Path(source_root) if source_root is not None else src.base_dir
    store = ImageStore(root, base, summary)
    plan = _Plan(
        src.name, src.split, chosen, task, cols, fmt, units, tolerance, store, summary, texts
    )
    with RecordSink(output, summary) as sink:
        root.mkdir(parents=True, exist_ok=True)  # the records' image root, even if no row is kept
        summary.outputs["images"] = str(root)
        for index, row in enumerate(track(src.rows, f"hf {src.name}", total=src.total)):
            try:
                recs = _records(plan, row, index)
            except RowSkip as why:  # counted per record the row would have given
                summary.skip(str(why), _records_in_row(plan, row))
                continue
            for rec in recs:
                sink.write(rec)
    return summary
