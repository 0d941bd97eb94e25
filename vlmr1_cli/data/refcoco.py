"""RefCOCO / RefCOCO+ / RefCOCOg from the refer toolkit layout -> REC records.

Layout (lichengunc/refer): `ROOT/<dataset>/refs(<splitBy>).p` (a Python 2 pickle: a list of
refs `{ref_id, ann_id, image_id, category_id, split, sent_ids, sentences, file_name}`) and
`ROOT/<dataset>/instances.json` (COCO-style). One record per sentence: `problem` is the
sentence (`raw` by default, or the toolkit's normalised `sent`), `solution` the referred
annotation's `[x, y, x+w, y+h]`, the image the COCO train2014 file named in instances.json
(the ref's own `file_name` carries a suffix and is not a real file).

Split selection follows the toolkit's `getRefIds`: `testA`/`testB`/`testC` also match the
combined `testAB`-style splits, `test` matches every split containing "test", and
`train`/`val`/`testAB`/`testBC`/`testAC` match exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

from vlmr1_cli.data.coco_json import is_id, load_coco, xyxy
from vlmr1_cli.data.paths import check_relpath
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.safe_pickle import load_pickle
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.progress import track

DATASETS = ("refcoco", "refcoco+", "refcocog")
SPLIT_BYS = ("unc", "umd", "google")
SPLITS = ("train", "val", "test", "testA", "testB", "testC", "testAB", "testBC", "testAC")
TEXT_FIELDS = ("raw", "sent")
_REF_KEYS = ("ref_id", "ann_id", "image_id", "split", "sentences")


def in_split(ref_split: str, split: str) -> bool:
    """The refer toolkit's split filter (REFER.getRefIds)."""
    if split in ("testA", "testB", "testC"):
        return split[-1] in ref_split
    if split == "test":
        return "test" in ref_split
    return ref_split == split


def _check_ref(ref: object, i: int, refs_file: Path) -> dict:
    loc = f"{refs_file}: ref #{i}"
    if not isinstance(ref, dict):
        raise UserError(f"{loc}: expected a dict, got {type(ref).__name__}")
    if "ref_id" in ref:
        loc += f" (ref_id={ref['ref_id']!r})"
    for key in _REF_KEYS:
        if key not in ref:
            raise UserError(f"{loc}: key '{key}' missing")
    if not isinstance(ref["split"], str):
        raise UserError(f"{loc}: key 'split' must be a string, got {ref['split']!r}")
    if not isinstance(ref["sentences"], list):
        raise UserError(f"{loc}: key 'sentences' must be a list")
    return ref


def convert_refcoco(
    refer_root: str | os.PathLike,
    dataset: str,
    split_by: str,
    split: str,
    output: str | os.PathLike,
    *,
    text: str = "raw",
    image_prefix: str = "",
    tolerance: float = BOX_TOLERANCE,
) -> Summary:
    """Convert one (dataset, splitBy, split) of a refer folder into a JSONL of REC records."""
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}' (choose from {', '.join(DATASETS)})")
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
    if text not in TEXT_FIELDS:
        raise UserError(f"unknown text field '{text}' (choose raw or sent)")
    folder = Path(refer_root) / dataset
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found (expected the refer layout ROOT/{dataset}/)")
    refs_file = folder / f"refs({split_by}).p"
    if not refs_file.is_file():
        have = sorted(p.name for p in folder.glob("refs(*).p"))
        raise UserError(
            f"{refs_file}: file not found (this folder has: {', '.join(have) or 'no refs(*).p'})"
        )
    summary = Summary(
        source=dataset,
        options={
            "dataset": dataset,
            "split_by": split_by,
            "split": split,
            "text": text,
            "image_prefix": image_prefix,
            "box_tolerance_px": tolerance,
        },
    )

    refs, encoding = load_pickle(refs_file)
    if encoding != "utf-8":
        summary.note(f"pickle strings decoded as {encoding} (not UTF-8)")
    if not isinstance(refs, list):
        raise UserError(f"{refs_file}: expected a list of refs, got {type(refs).__name__}")
    if not refs:
        raise UserError(f"{refs_file}: no refs (empty list)")
    selected, present = [], set()
    for i, ref in enumerate(refs):
        ref = _check_ref(ref, i, refs_file)
        present.add(ref["split"])
        if in_split(ref["split"], split):
            selected.append((i, ref))
    if not selected:
        raise UserError(
            f"{refs_file}: no refs in split '{split}' (splits present: {', '.join(sorted(present))})"
        )
    summary.note("refs in the split", len(selected))

    instances = folder / "instances.json"
    wanted = {ref["ann_id"] for _, ref in selected if is_id(ref["ann_id"])}
    coco = load_coco(instances, require_categories=False, ann_ids=wanted)
    anns = {a["id"]: a for a in coco.annotations}

    with RecordSink(output, summary) as sink:
        for i, ref in track(selected, f"{dataset} ({split_by}) {split}"):
            loc = f"{refs_file}: ref #{i} (ref_id={ref['ref_id']!r})"
            ann = anns.get(ref["ann_id"]) if is_id(ref["ann_id"]) else None
            if ann is None:
                raise UserError(f"{loc}: ann_id {ref['ann_id']!r} is not in {instances}")
            if ann["image_id"] != ref["image_id"]:
                raise UserError(
                    f"{loc}: image_id {ref['image_id']!r}, but its annotation "
                    f"{ref['ann_id']!r} is on image {ann['image_id']!r}"
                )
            img = coco.images_by_id[ann["image_id"]]
            rel = check_relpath(
                image_prefix + img["file_name"], f"{instances}: image {img['id']!r}"
            )
            box = xyxy(ann["bbox"])
            why = box_problem(box, img["width"], img["height"], tolerance)
            if why is not None:
                summary.skip(why, len(ref["sentences"]))
                continue
            for j, sent in enumerate(ref["sentences"]):
                if not isinstance(sent, dict) or "sent_id" not in sent:
                    raise UserError(f"{loc}: sentences[{j}] must be a dict with 'sent_id'")
                phrase = sent.get(text)
                if not isinstance(phrase, str):
                    raise UserError(f"{loc}: sentences[{j}]: key '{text}' missing or not a string")
                if not phrase.strip():
                    summary.skip("empty sentence")
                    continue
                sink.write(
                    {
                        "id": str(sent["sent_id"]),
                        "task": "rec",
                        "images": [rel],
                        "image_sizes": [[img["width"], img["height"]]],
                        "problem": phrase.strip(),
                        "solution": box,
                        "source": dataset,
                        "split": ref["split"],
                        "ref_id": ref["ref_id"],
                        "ann_id": ref["ann_id"],
                        "image_id": ref["image_id"],
                    }
                )
    return summary
