"""COCO instances -> OVD records, plus a COCO GT file of exactly the kept boxes.

"COCO-filtered" (VLM-R1's COCO evaluation set) is `--max-boxes-per-category 10` on
instances_val2017.json: for each image, any category with more than 10 boxes on that image
is dropped from that image (the rule applies per image-category pair; applied globally it
would leave almost nothing). The open points of the published description are options, and
the values that ran are recorded in the summary, the meta file and the GT file's `info`:

- `--labels all` (default; the paper's prompt lists all 80 categories) or `positive` (only
  the categories present on the image after filtering);
- `--crowd keep` (default: crowd boxes are boxes like any other, counted by the filter and
  kept in the GT with `iscrowd: 1`, which COCOeval treats as ignore regions) or `drop`;
- `--empty keep` (default: an image left without boxes stays, with solution `[]`, and its
  false positives still count in the mAP) or `drop`;
- `--max-boxes-per-image N`: images with more than N boxes left are skipped whole.

`--variant` names the published sets: `filtered` (COCO-filtered, the paper's), `pos2`
("each category has exactly one box in the image": positive labels, the per-pair filter at 1)
and `pos3` ("at most 10 boxes in the image in total": positive labels, images with more than
10 boxes skipped). A variant fills the options it implies; an explicit option that
contradicts it is an error.

Records carry `image_id` (the COCO image id) and `gt_file` (the GT JSON, relative to the
JSONL's folder), whose `categories` give the label -> category id mapping for scoring.
`vlmr1 evaluate` reads `gt_file` only in the JSONL's folder or below: with a `--gt-output`
elsewhere, the GT is written there and also beside the JSONL (`<output stem>_gt.json`),
which the records name.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, fields, replace
from pathlib import Path

from vlmr1_cli.data.coco_json import load_coco, xyxy
from vlmr1_cli.data.paths import check_relpath
from vlmr1_cli.data.report import RecordSink, Summary, relpath_inside
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.progress import track

LABEL_MODES = ("all", "positive")
KEEP_DROP = ("keep", "drop")


@dataclass(frozen=True)
class Selection:
    """The options a published variant fixes; None = not given (or not fixed)."""

    labels: str | None = None
    max_boxes_per_category: int | None = None
    max_boxes_per_image: int | None = None


VARIANTS: dict[str, Selection] = {
    "filtered": Selection(max_boxes_per_category=10),
    "pos2": Selection(labels="positive", max_boxes_per_category=1),
    "pos3": Selection(labels="positive", max_boxes_per_image=10),
}


def apply_variant(variant: str | None, given: Selection) -> Selection:
    """The options of a published variant merged with the given ones (None = not given)."""
    if variant is None:
        return given
    if variant not in VARIANTS:
        raise UserError(f"unknown --variant '{variant}' (choose {', '.join(VARIANTS)})")
    fixed = VARIANTS[variant]
    merged = {}
    for key in (f.name for f in fields(Selection)):
        mine, theirs = getattr(given, key), getattr(fixed, key)
        if theirs is None:
            continue
        if mine is not None and mine != theirs:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{flag} {mine} contradicts --variant {variant} ({flag} {theirs})")
        merged[key] = theirs
    return replace(given, **merged)


def default_gt_path(output: str | os.PathLike) -> Path:
    p = Path(output)
    return p.with_name(f"{p.stem}_gt.json")


def category_names(coco, path) -> dict:
    """category id -> name, refusing duplicate names (scoring maps names back to ids)."""
    names: dict = {}
    seen: dict[str, object] = {}
    for cat in coco.categories:
        name = cat["name"]
        if name in seen:
            raise UserError(
                f"{path}: categories {seen[name]!r} and {cat['id']!r} share the name "
                f"'{name}' (labels must map back to one category id)"
            )
        seen[name] = cat["id"]
        names[cat["id"]] = name
    return names


def convert_coco(
    instances: str | os.PathLike,
    output: str | os.PathLike,
    *,
    gt_output: str | os.PathLike | None = None,
    max_boxes_per_category: int | None = None,
    labels: str | None = None,
    crowd: str = "keep",
    empty: str = "keep",
    seed: int | None = None,
    image_prefix: str = "",
    tolerance: float = BOX_TOLERANCE,
    max_boxes_per_image: int | None = None,
    variant: str | None = None,
) -> Summary:
    """Convert a COCO instances file; write the records and the matching GT file."""
    chosen = apply_variant(variant, Selection(labels, max_boxes_per_category, max_boxes_per_image))
    labels = chosen.labels or "all"
    max_boxes_per_category, max_boxes_per_image = (
        chosen.max_boxes_per_category,
        chosen.max_boxes_per_image,
    )
    if labels not in LABEL_MODES:
        raise UserError(f"unknown --labels '{labels}' (choose all or positive)")
    if crowd not in KEEP_DROP or empty not in KEEP_DROP:
        raise UserError("--crowd and --empty take keep or drop")
    if max_boxes_per_category is not None and max_boxes_per_category < 1:
        raise UserError(f"--max-boxes-per-category must be >= 1, got {max_boxes_per_category}")
    if max_boxes_per_image is not None and max_boxes_per_image < 1:
        raise UserError(f"--max-boxes-per-image must be >= 1, got {max_boxes_per_image}")
    gt_path = Path(gt_output) if gt_output is not None else default_gt_path(output)
    if gt_path.resolve() == Path(output).resolve():
        raise UserError(f"{gt_path}: the GT file and the records file must differ")
    options = {
        "variant": variant,
        "max_boxes_per_category": max_boxes_per_category,
        "max_boxes_per_image": max_boxes_per_image,
        "labels": labels,
        "crowd": crowd,
        "empty": empty,
        "seed": seed,
        "image_prefix": image_prefix,
        "box_tolerance_px": tolerance,
    }
    summary = Summary(source="coco", options=options)
    coco = load_coco(instances)
    names = category_names(coco, instances)
    if not names:
        raise UserError(f"{instances}: no categories")
    cat_order = [c["id"] for c in coco.categories]
    by_image = coco.anns_by_image()
    gt_rel = relpath_inside(gt_path, output, written_here=True)
    copy_name = None if gt_rel is not None else default_gt_path(output).name
    gt_images, gt_anns = [], []
    with RecordSink(output, summary) as sink:
        for img in track(coco.images, "coco images"):
            kept = _kept_boxes(
                by_image.get(img["id"], []), img, max_boxes_per_category, crowd, tolerance, summary
            )
            if max_boxes_per_image is not None and len(kept) > max_boxes_per_image:
                summary.skip(f"image with > {max_boxes_per_image} boxes (--max-boxes-per-image)")
                continue
            if not kept and (empty == "drop" or labels == "positive"):
                summary.skip(
                    "image with no box left"
                    + (
                        " (nothing to query in positive mode)"
                        if labels == "positive" and empty == "keep"
                        else ""
                    )
                )
                continue
            present = {a["category_id"] for a in kept}
            queried = [names[c] for c in cat_order if labels == "all" or c in present]
            if seed is not None:
                random.Random(f"{seed}:{img['id']}").shuffle(queried)
            sink.write(
                {
                    "id": str(img["id"]),
                    "task": "ovd",
                    "images": [
                        check_relpath(
                            image_prefix + img["file_name"], f"{instances}: image {img['id']!r}"
                        )
                    ],
                    "image_sizes": [[img["width"], img["height"]]],
                    "problem": "",
                    "solution": [
                        {"bbox_2d": xyxy(a["bbox"]), "label": names[a["category_id"]]} for a in kept
                    ],
                    "labels": queried,
                    "source": "coco",
                    "image_id": img["id"],
                    "gt_file": gt_rel or copy_name,
                }
            )
            gt_images.append({k: img[k] for k in ("id", "file_name", "width", "height")})
            for a in kept:
                area = a.get("area")
                if area is None:
                    area = a["bbox"][2] * a["bbox"][3]
                    summary.note("GT area missing: w*h used")
                gt_anns.append(
                    {
                        "id": a["id"],
                        "image_id": a["image_id"],
                        "category_id": a["category_id"],
                        "bbox": a["bbox"],
                        "area": area,
                        "iscrowd": a["iscrowd"],
                    }
                )
        summary.note("GT boxes kept", len(gt_anns))
        gt = {
            "info": {
                "description": f"vlmr1 prepare-data coco from {Path(instances).name}",
                "vlmr1_options": options,
            },
            "images": gt_images,
            "annotations": gt_anns,
            "categories": coco.categories,
        }
        sink.add_json(gt_path, gt, role="gt")
        if copy_name is not None:
            sink.add_gt_copy(copy_name, gt, role="gt copy")
    return summary


def _kept_boxes(
    anns: list[dict], img: dict, max_per_cat: int | None, crowd: str, tol: float, summary: Summary
) -> list[dict]:
    kept = []
    for a in anns:
        if a["iscrowd"] and crowd == "drop":
            summary.skip("box: crowd (--crowd drop)")
            continue
        why = box_problem(xyxy(a["bbox"]), img["width"], img["height"], tol)
        if why is not None:
            summary.skip(f"box: {why}")
            continue
        kept.append(a)
    if max_per_cat is None:
        return kept
    counts = Counter(a["category_id"] for a in kept)
    over = {c for c, n in counts.items() if n > max_per_cat}
    if over:
        summary.skip(
            f"box: its category has > {max_per_cat} boxes on the image",
            sum(counts[c] for c in over),
        )
        summary.note("image-category pairs dropped by the filter", len(over))
    return [a for a in kept if a["category_id"] not in over]
