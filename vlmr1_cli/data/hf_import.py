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

import os
from pathlib import Path

from vlmr1_cli.data.hf_images import ImageStore
from vlmr1_cli.data.hf_layouts import (
    COLUMNS_LAYOUT,
    LAYOUTS,
    PRESET_CONVENTIONS,
    VLMR1_COLUMNS,
    RowSkip,
    columns_suffice,
    detect_layout,
    resolve_columns,
)
from vlmr1_cli.data.hf_records import RowPlan, records_in_row, row_records
from vlmr1_cli.data.hf_source import open_source
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.validate import BOX_TOLERANCE
from vlmr1_cli.errors import UserError
from vlmr1_cli.progress import track

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
    plan = RowPlan(
        src.name, src.split, chosen, task, cols, fmt, units, tolerance, store, summary, texts
    )
    with RecordSink(output, summary) as sink:
        root.mkdir(parents=True, exist_ok=True)  # the records' image root, even if no row is kept
        summary.outputs["images"] = str(root)
        for index, row in enumerate(track(src.rows, f"hf {src.name}", total=src.total)):
            try:
                recs = row_records(plan, row, index)
            except RowSkip as why:  # counted per record the row would have given
                summary.skip(str(why), records_in_row(plan, row))
                continue
            for rec in recs:
                sink.write(rec)
    return summary
