"""OVD predictions as COCO files: the ground truth to score against and the results list.

The ground truth is the COCO file the importer names in the records' `gt_file` (the official
OVDEval subset file, the COCO GT the coco importer writes, D3's JSON), restricted to the
evaluated images when a run covers only part of it; records without `gt_file` get a GT built
from their own solutions (`coco_gt_from_records`). `RecordsCoco` holds that COCO object with
the records' ids; the metrics read it through `metrics.cocodata.load_ground_truth`, the one
ground-truth loader.

Results follow the paper: a predicted label maps to the category whose name equals it
(unknown labels are dropped and counted), every box scores 1.0, and the file order of the
predictions is kept, since COCOeval and OVDEval's NMS break score ties by it. An inverted box
(x2 < x1 or y2 < y1) is no COCO box (w, h >= 0): it is dropped and counted like a box of an
unknown label, so `results.json` stays a valid results file that re-scores to the same mAP
(pycocotools would ignore such a box anyway, its area being negative, unless both sides are
inverted); greedy P/R still counts it as a prediction that is never right.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.data.paths import UnsafePathError, safe_join
from vlmr1_cli.errors import UserError


@dataclass
class RecordsCoco:
    """The COCO ground truth of evaluated records, tied to them (not the metrics' validated
    arrays, `metrics.cocodata.GroundTruth`, which are built from `coco`)."""

    coco: dict  # {"images", "annotations", "categories"}
    image_ids: dict[str, object]  # record id -> COCO image id
    source: str  # the GT file, or "built from the records"
    total_images: int  # images in the GT file (before restricting to the evaluated ones)
    name_to_id: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cat in self.coco["categories"]:
            self.name_to_id.setdefault(cat["name"], cat["id"])


def coco_gt_from_records(records: list[dict]) -> RecordsCoco:
    """A COCO GT of the records' own solutions: image ids 1..N in record order, categories
    = every label the records query or annotate (first seen), annotation ids from 1 (never
    0: COCOeval reads a match on GT id 0 as no match), area = w*h, no crowd."""
    names: dict[str, int] = {}
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    image_ids: dict[str, object] = {}
    for r in records:
        for label in [*(r.get("labels") or []), *(o["label"] for o in r["solution"])]:
            names.setdefault(label, len(names) + 1)
    for i, r in enumerate(records, start=1):
        w, h = r["image_sizes"][0]
        images.append({"id": i, "width": int(w), "height": int(h), "file_name": r["images"][0]})
        image_ids[r["id"]] = i
        for o in r["solution"]:
            x1, y1, x2, y2 = o["bbox_2d"]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": names[o["label"]],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    cats = [{"id": cid, "name": name} for name, cid in names.items()]
    return RecordsCoco(
        {"images": images, "annotations": anns, "categories": cats},
        image_ids,
        "built from the records",
        len(images),
    )


def gt_file_of(records: list[dict], data: str | Path) -> Path | None:
    """The one GT file the records name (relative to the data file's folder), or None.

    Confined like image paths: the file must lie in the data file's folder or below it, after
    symlinks are resolved, so a record cannot make evaluation read any file on the machine.
    """
    files = {r.get("gt_file") for r in records}
    if files == {None}:
        return None
    if None in files or len(files) != 1:
        first = next(r for r in records if r.get("gt_file") != records[0].get("gt_file"))
        raise UserError(
            f"{data}:{first['_line']}: key 'gt_file': records scored together must name "
            f"one GT file ({records[0].get('gt_file')!r} and {first.get('gt_file')!r})"
        )
    rel = files.pop()
    if not isinstance(rel, str) or not rel:
        raise UserError(f"{data}:{records[0]['_line']}: key 'gt_file' must be a path, got {rel!r}")
    line = records[0]["_line"]
    folder = Path(data).parent
    try:
        path = Path(safe_join(folder, rel))
    except UnsafePathError:
        raise UserError(
            f"{data}:{line}: key 'gt_file': '{rel}' is not a file inside the data "
            f"file's folder {folder.resolve()} (the GT file must be in it or below it, "
            "not linked from elsewhere)"
        ) from None
    if not path.is_file():
        raise UserError(f"{data}:{line}: key 'gt_file': file not found: {path}")
    return path


def records_coco(records: list[dict], data: str | Path) -> RecordsCoco:
    """The GT for these records: their `gt_file` restricted to their images, or built."""
    path = gt_file_of(records, data)
    if path is None:
        return coco_gt_from_records(records)
    from vlmr1_cli.data.coco_json import load_coco

    gt = load_coco(path)
    image_ids: dict[str, object] = {}
    for r in records:
        if "image_id" not in r:
            raise UserError(
                f"{data}:{r['_line']}: key 'image_id' missing (needed to score against {path})"
            )
        if r["image_id"] not in gt.images_by_id:
            raise UserError(f"{data}:{r['_line']}: image_id {r['image_id']!r} is not in {path}")
        image_ids[r["id"]] = r["image_id"]
    keep = set(image_ids.values())
    images = [img for img in gt.images if img["id"] in keep]
    anns = [a for a in gt.annotations if a["image_id"] in keep]
    coco = {"images": images, "annotations": anns, "categories": gt.categories}
    return RecordsCoco(coco, image_ids, str(path), len(gt.images))


@dataclass
class Results:
    every: list[dict]  # every predicted box in emission order; unknown labels: category_id None
    dropped_labels: Counter  # label -> boxes whose label names no category
    dropped_inverted: int = 0  # boxes of a known label left out because x2 < x1 or y2 < y1

    @property
    def results(self) -> list[dict]:
        """The COCO results list: the boxes whose label names a category."""
        return [d for d in self.every if d["category_id"] is not None]


def coco_results(records: list[dict], preds: dict[str, dict], gt: RecordsCoco) -> Results:
    """Every predicted box as a COCO detection (record order, then emission order), score 1.0."""
    every: list[dict] = []
    dropped: Counter = Counter()
    inverted = 0
    for r in records:
        image_id = gt.image_ids[r["id"]]
        for o in preds[r["id"]].get("objects") or []:
            cat = gt.name_to_id.get(o["label"])
            if cat is None:
                dropped[o["label"]] += 1
            x1, y1, x2, y2 = o["bbox_2d"]
            if x2 < x1 or y2 < y1:
                # no category: out of the results file and the mAP; the corners sorted only so
                # the entry is a valid box for greedy P/R, which counts it as never right
                if cat is not None:
                    inverted += 1
                cat = None
                x1, x2 = sorted((x1, x2))
                y1, y2 = sorted((y1, y2))
            every.append(
                {
                    "image_id": image_id,
                    "category_id": cat,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": 1.0,
                }
            )
    return Results(every, dropped, inverted)
