"""D3 (Description Detection Dataset) -> OVD records, one per image.

Two inputs, the two forms the d-cube toolkit distributes:
- the pickles (`--anno-dir`: sentences.pkl, annotations.pkl, images.pkl, groups.pkl; dicts
  keyed by int id; `bbox` a numpy array, read as `bbox[0]` when 2-D like the toolkit does),
  loaded through the restricted unpickler with numpy admitted;
- the COCO-style JSON (`--json`: d3_full/pres/abs_annotations.json; `category_id` is the
  `sent_id`, the category `name` the description), which also serves as the GT file.

Per image: `labels` = its positive descriptions + `negatives` verified negatives (descriptions
with no instance on this image: D3 is annotated exhaustively, so every description is
checked on every image), optionally taken from the image's own group first, then shuffled.
`solution` = one `{bbox_2d, label}` per (instance, matching description). Randomness comes
from `random.Random(f"{seed}:{image_id}")`: the same seed gives byte-identical output,
whatever the order the upstream dicts come in.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from vlmr1_cli.data.coco_json import load_coco, positive_int, xyxy
from vlmr1_cli.data.paths import check_relpath
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.safe_pickle import load_pickle
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import is_number
from vlmr1_cli.progress import track

PICKLES = ("sentences", "annotations", "images", "groups")


class _Image:
    __slots__ = ("id", "file_name", "width", "height", "group_id", "instances")

    def __init__(self, id, file_name, width, height, group_id):
        self.id, self.file_name, self.width, self.height = id, file_name, width, height
        self.group_id = group_id
        self.instances: list[tuple[Any, list[float], list[Any]]] = []  # (ann id, xywh, sent ids)


class _D3:
    """The part of D3 the conversion needs, from either input form."""

    def __init__(self) -> None:
        self.sentences: dict[Any, str] = {}
        self.images: dict[Any, _Image] = {}
        self.group_sents: dict[Any, list[Any]] = {}


def _plain(v: Any) -> Any:
    """numpy scalars (ids, sizes) -> Python numbers; anything else unchanged."""
    import numpy as np

    return v.item() if isinstance(v, np.generic) else v


def _pkl_dict(folder: Path, name: str) -> dict:
    path = folder / f"{name}.pkl"
    obj, _ = load_pickle(path, allow_numpy=True, encodings=("latin1",))
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a dict keyed by id, got {type(obj).__name__}")
    out = {}
    for key, val in obj.items():
        if not isinstance(val, dict):
            raise UserError(f"{path}: entry {key!r}: expected a dict, got {type(val).__name__}")
        key = _plain(key)
        if not _is_id(key):
            raise UserError(f"{path}: entry key {key!r} is not an integer or string id")
        out[key] = {k: _plain(v) for k, v in val.items()}
    return out


def _is_id(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


def _need(entry: dict, key: str, loc: str) -> Any:
    if key not in entry:
        raise UserError(f"{loc}: key '{key}' missing")
    return entry[key]


def _id_list(v: Any, loc: str, key: str) -> list:
    import numpy as np

    if isinstance(v, np.ndarray):
        v = v.tolist()
    if _is_id(v):
        return [v]
    if not isinstance(v, (list, tuple, set)):
        raise UserError(f"{loc}: key '{key}' must be a list of ids, got {type(v).__name__}")
    out = [_plain(x) for x in v]
    if not all(_is_id(x) for x in out):
        raise UserError(f"{loc}: key '{key}' must hold integer or string ids, got {v!r}")
    return sorted(out, key=_sort_key) if isinstance(v, set) else out


def pkl_bbox(v: Any, loc: str) -> list[float]:
    """D3's bbox: numpy (1, 4) / (4,) or a list; a 2-D value is read as row 0 (toolkit)."""
    import numpy as np

    arr = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
    if arr.ndim == 2 and arr.shape[0] >= 1:
        arr = arr[0]
    vals = arr.tolist() if arr.ndim == 1 else None
    if not vals or len(vals) != 4 or not all(is_number(x) for x in vals):
        raise UserError(f"{loc}: key 'bbox' must be [x, y, w, h] finite numbers, got {v!r}")
    if vals[2] < 0 or vals[3] < 0:
        raise UserError(f"{loc}: key 'bbox' has a negative size {vals!r}")
    return [float(x) for x in vals]


def _from_pickles(folder: Path, summary: Summary) -> _D3:
    data = {name: _pkl_dict(folder, name) for name in PICKLES}
    d3 = _D3()
    for sid, s in data["sentences"].items():
        loc = f"{folder / 'sentences.pkl'}: sentence {sid!r}"
        text = _need(s, "raw_sent", loc)
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{loc}: key 'raw_sent' must be a non-empty string")
        d3.sentences[sid] = text.strip()
    for gid, g in data["groups"].items():
        loc = f"{folder / 'groups.pkl'}: group {gid!r}"
        d3.group_sents[gid] = _id_list(_need(g, "inner_sent_id", loc), loc, "inner_sent_id")
    for iid, im in data["images"].items():
        loc = f"{folder / 'images.pkl'}: image {iid!r}"
        w, h = positive_int(_need(im, "width", loc)), positive_int(_need(im, "height", loc))
        if w is None or h is None:
            raise UserError(
                f"{loc}: width/height must be positive integers, got {im['width']!r}x{im['height']!r}"
            )
        gid = im.get("group_id")
        if gid is not None and not _is_id(gid):
            raise UserError(f"{loc}: key 'group_id' must be an integer or string id, got {gid!r}")
        d3.images[iid] = _Image(iid, check_relpath(_need(im, "file_name", loc), loc), w, h, gid)
    anns = data["annotations"]
    for iid, im in data["images"].items():
        loc = f"{folder / 'images.pkl'}: image {iid!r}"
        for aid in _id_list(im.get("anno_id", []), loc, "anno_id"):
            if aid not in anns:
                raise UserError(f"{loc}: anno_id {aid!r} is not in annotations.pkl")
    for aid, a in anns.items():
        loc = f"{folder / 'annotations.pkl'}: annotation {aid!r}"
        iid = _need(a, "image_id", loc)
        img = d3.images.get(iid) if _is_id(iid) else None
        if img is None:
            raise UserError(f"{loc}: image_id {a['image_id']!r} is not in images.pkl")
        sids = _id_list(_need(a, "sent_id", loc), loc, "sent_id")
        for sid in sids:
            if sid not in d3.sentences:
                raise UserError(f"{loc}: sent_id {sid!r} is not in sentences.pkl")
        img.instances.append((aid, pkl_bbox(_need(a, "bbox", loc), loc), sids))
    for img in d3.images.values():
        if img.group_id is not None and img.group_id not in d3.group_sents:
            raise UserError(
                f"{folder / 'images.pkl'}: image {img.id!r}: group_id {img.group_id!r} "
                "is not in groups.pkl"
            )
    summary.note("sentences (descriptions)", len(d3.sentences))
    return d3


def _from_json(path: Path, summary: Summary) -> _D3:
    coco = load_coco(path)
    d3 = _D3()
    for cat in coco.categories:
        if not cat["name"].strip():
            raise UserError(f"{path}: category {cat['id']!r}: empty name")
        d3.sentences[cat["id"]] = cat["name"].strip()
    for img in coco.images:
        d3.images[img["id"]] = _Image(
            img["id"], img["file_name"], img["width"], img["height"], img.get("group_id")
        )
    for ann in coco.annotations:
        d3.images[ann["image_id"]].instances.append((ann["id"], ann["bbox"], [ann["category_id"]]))
    summary.note("categories (descriptions)", len(d3.sentences))
    return d3


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, int) else (1, 0, str(v))


def convert_d3(
    output: str | os.PathLike,
    *,
    anno_dir: str | os.PathLike | None = None,
    json_file: str | os.PathLike | None = None,
    gt_file: str | os.PathLike | None = None,
    negatives: int = 13,
    seed: int = 0,
    prefer_group: bool = False,
    image_prefix: str = "",
    tolerance: float = BOX_TOLERANCE,
) -> Summary:
    """Convert D3 (pickles in `anno_dir`, or the COCO-style `json_file`) to OVD records.

    `gt_file` (pickle input only) names the COCO-style JSON to score against; with `json_file`
    input that file is the GT. Records then carry `gt_file` and `image_id`; a GT outside the
    output's folder is copied beside the output (`<output stem>_gt.json`) and named instead.
    """
    if (anno_dir is None) == (json_file is None):
        raise UserError("give exactly one D3 input: --anno-dir (the pickles) or --annotations-json")
    if negatives < 0:
        raise UserError(f"--negatives must be >= 0, got {negatives}")
    summary = Summary(
        source="d3",
        options={
            "input": "pickles" if anno_dir is not None else "json",
            "negatives": negatives,
            "seed": seed,
            "prefer_group": prefer_group,
            "image_prefix": image_prefix,
            "box_tolerance_px": tolerance,
        },
    )
    if anno_dir is not None:
        folder = Path(anno_dir)
        if not folder.is_dir():
            raise UserError(f"{folder}: folder not found (expected the D3 pickles)")
        d3 = _from_pickles(folder, summary)
    else:
        if prefer_group:
            raise UserError("--prefer-group needs the pickles (--anno-dir): the JSON has no groups")
        assert json_file is not None  # exactly one of the two inputs, checked above
        d3 = _from_json(Path(json_file), summary)
        gt_file = json_file
    if gt_file is not None:
        gt_ids = set(load_coco(gt_file).images_by_id) if json_file is None else set(d3.images)
        missing = [i for i in d3.images if i not in gt_ids]
        if missing:
            raise UserError(
                f"{gt_file}: image id {missing[0]!r} of the D3 input is not in this GT file"
            )
    if not d3.images:
        raise UserError(f"{anno_dir or json_file}: no images")
    all_sids = sorted(d3.sentences, key=_sort_key)
    with RecordSink(output, summary) as sink:
        # a GT outside the output's folder is copied beside it (evaluate reads gt_file only there)
        gt_rel = (
            sink.gt_file_for(gt_file, f"{Path(output).stem}_gt.json", "gt")
            if gt_file is not None
            else None
        )
        for iid in track(sorted(d3.images, key=_sort_key), "d3 images"):
            sink.write(
                _record(
                    d3,
                    d3.images[iid],
                    all_sids,
                    negatives,
                    seed,
                    prefer_group,
                    image_prefix,
                    tolerance,
                    gt_rel,
                    summary,
                )
            )
    return summary


def _record(
    d3: _D3,
    img: _Image,
    all_sids: list,
    n_neg: int,
    seed: int,
    prefer_group: bool,
    image_prefix: str,
    tol: float,
    gt_rel: str | None,
    summary: Summary,
) -> dict:
    solution, pos_sids = [], []
    for _aid, xywh, sids in sorted(img.instances, key=lambda t: _sort_key(t[0])):
        box = xyxy(xywh)
        why = box_problem(box, img.width, img.height, tol)
        for sid in sids:
            if sid not in pos_sids:
                pos_sids.append(sid)  # still a positive: the description is present here
            if why is not None:
                summary.skip(f"box: {why}")
                continue
            solution.append({"bbox_2d": box, "label": d3.sentences[sid]})
    positives = list(dict.fromkeys(d3.sentences[s] for s in pos_sids))
    pos_text = set(positives)
    rng = random.Random(f"{seed}:{img.id}")
    pos_set = set(pos_sids)
    pool = [s for s in all_sids if s not in pos_set and d3.sentences[s] not in pos_text]
    chosen: list = []
    if prefer_group and img.group_id is not None:
        pool_set = set(pool)
        inner = list(dict.fromkeys(s for s in d3.group_sents[img.group_id] if s in pool_set))
        rng.shuffle(inner)
        chosen = inner[:n_neg]
    taken = set(chosen)
    rest = [s for s in pool if s not in taken]
    chosen += rng.sample(rest, min(n_neg - len(chosen), len(rest)))
    negs = list(dict.fromkeys(d3.sentences[s] for s in chosen))
    if len(negs) < n_neg:
        summary.note("images with fewer verified negatives than requested")
    if not positives:
        summary.note("images with no positive description (solution [])")
    labels = positives + negs
    rng.shuffle(labels)
    rec = {
        "id": str(img.id),
        "task": "ovd",
        "images": [check_relpath(image_prefix + img.file_name)],
        "image_sizes": [[img.width, img.height]],
        "problem": "",
        "solution": solution,
        "labels": labels,
        "negatives": negs,
        "source": "d3",
        "image_id": img.id,
    }
    if img.group_id is not None:
        rec["group_id"] = img.group_id
    if gt_rel is not None:
        rec["gt_file"] = gt_rel
    return rec
