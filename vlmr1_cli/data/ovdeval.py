"""OVDEval subset files -> OVD records with the officially queried labels.

Each `{subset}.json` is COCO-like (absolute xywh boxes, ids from 0) with two extra fields per
image, `text` (positives) and `neg_text` (hard negatives). The queried labels follow the
official script (om-ai-lab/OVDEval `eval_glip.py`): for `celebrity`, `logo`, `landmark` (and
`coco`) every category name of the file, in file order; for the other subsets the image's
`text + neg_text`, in that order. The subset is the file's stem unless `--subset` says
otherwise (the official script also takes it from the file name).

The subset file itself stays the GT for NMS-AP: it is not rewritten, and each record carries
`gt_file` (relative to the JSONL's folder), `image_id` (the file's image id) and `subset`.
`vlmr1 evaluate` reads `gt_file` only in the JSONL's folder or below, so a subset file that
lies elsewhere is copied beside the JSONL as `<output stem>_gt.json` (one file) or
`<output stem>_<subset>_gt.json` (several), and the records name the copy.
A GT box whose category is not among the image's queried labels cannot be asked for; it is
left out of `solution` (counted) but still scores as a miss, as in the official protocol.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from vlmr1_cli.data.coco import category_names
from vlmr1_cli.data.coco_json import load_coco, xyxy
from vlmr1_cli.data.paths import check_relpath
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.metrics.ovdeval import OVDEVAL_SUBSETS
from vlmr1_cli.progress import track

SUBSETS = OVDEVAL_SUBSETS  # the 8 annotation files an OVDEval release names
ALL_CATEGORY_SUBSETS = ("celebrity", "logo", "landmark", "coco")


def _texts(img: dict, key: str, loc: str) -> list[str]:
    v = img.get(key)
    if v is None:
        raise UserError(f"{loc}: key '{key}' missing (needed to build the queried labels)")
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(t, str) and t.strip() for t in v):
        raise UserError(f"{loc}: key '{key}' must be a list of non-empty strings, got {v!r}")
    return v


def convert_ovdeval(
    files: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike,
    *,
    subset: str | None = None,
    image_prefix: str = "",
    seed: int | None = None,
    tolerance: float = BOX_TOLERANCE,
) -> Summary:
    """Convert one or more OVDEval subset files into one JSONL (ids `<subset>-<image id>`)."""
    if not files:
        raise UserError("give at least one OVDEval subset file")
    if subset is not None and len(files) > 1:
        raise UserError("--subset names a single file's subset; give one file with it")
    summary = Summary(
        source="ovdeval",
        options={
            "image_prefix": image_prefix,
            "seed": seed,
            "box_tolerance_px": tolerance,
            "label_rule": "all category names for celebrity/logo/landmark/coco; text + neg_text otherwise",
        },
    )
    subsets = []
    with RecordSink(output, summary) as sink:
        for f in files:
            name = subset or Path(f).stem
            if name in subsets:
                raise UserError(f"{f}: subset '{name}' given twice")
            subsets.append(name)
            if name not in SUBSETS and name != "coco":
                summary.note(
                    f"subset '{name}' is not one of the 8 OVDEval names (labels: text + neg_text)"
                )
            # a copy's name, should the file lie outside the output's folder
            copy = (
                (f"{Path(output).stem}_gt.json", "gt")
                if len(files) == 1
                else (f"{Path(output).stem}_{name}_gt.json", f"gt {name}")
            )
            _convert_one(Path(f), name, sink, summary, copy, image_prefix, seed, tolerance)
    summary.options["subsets"] = subsets
    return summary


def _convert_one(
    path: Path,
    subset: str,
    sink: RecordSink,
    summary: Summary,
    copy: tuple[str, str],
    image_prefix: str,
    seed: int | None,
    tol: float,
) -> None:
    coco = load_coco(path)
    names = category_names(coco, path)
    all_names = [c["name"] for c in coco.categories]
    by_image = coco.anns_by_image()
    gt_rel = sink.gt_file_for(path, *copy)
    for i, img in enumerate(track(coco.images, f"ovdeval {subset}")):
        loc = f"{path}: images[{i}] (id={img['id']!r})"
        if subset in ALL_CATEGORY_SUBSETS:
            labels = list(all_names)
        else:
            labels = _texts(img, "text", loc) + _texts(img, "neg_text", loc)
        queried = set(labels)
        solution = []
        for ann in by_image.get(img["id"], []):
            label = names[ann["category_id"]]
            box = xyxy(ann["bbox"])
            why = box_problem(box, img["width"], img["height"], tol)
            if why is not None:
                summary.skip(f"box: {why} (still in the GT file)")
            elif label not in queried:
                summary.skip("box: category not among the queried labels (still in the GT file)")
            else:
                solution.append({"bbox_2d": box, "label": label})
        if seed is not None:
            random.Random(f"{seed}:{subset}:{img['id']}").shuffle(labels)
        sink.write(
            {
                "id": f"{subset}-{img['id']}",
                "task": "ovd",
                "images": [check_relpath(image_prefix + img["file_name"], loc)],
                "image_sizes": [[img["width"], img["height"]]],
                "problem": "",
                "solution": solution,
                "labels": labels,
                "source": "ovdeval",
                "subset": subset,
                "image_id": img["id"],
                "gt_file": gt_rel,
            }
        )
    summary.note(f"images in {subset}", len(coco.images))
