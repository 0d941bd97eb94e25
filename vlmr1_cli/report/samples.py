"""An evaluation folder read back, and each sample scored on its own for the gallery.

The folder holds what `vlmr1 evaluate` wrote: `metrics.json`, `predictions.jsonl` (boxes in
original pixels) and `run.json` (the resolved data path). The records come from the data
file again (images, ground truth), only those that were evaluated, in file order.

Per sample, with the definitions of the metrics (metrics/rec.py): REC, the IoU of the box
(0 when the answer has none), a hit at IoU >= 0.5, the centre inside the GT box; OVD, greedy
matching at IoU 0.5 as greedy P/R does it (pairs by decreasing IoU, a pair is a true positive
when the labels agree), and a hit when every GT object is found and nothing else is
predicted (an image with no GT and no prediction is a hit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

OVD_IOU = 0.5


@dataclass
class EvalFolder:
    folder: Path
    metrics: dict
    records: list[dict]  # the evaluated records, file order, with `_image_paths`
    preds: dict[str, dict]  # by record id
    data: str


@dataclass
class SampleScore:
    parsed: bool
    ok: bool  # hit (REC) / perfect (OVD)
    boxes: list[list]  # [x1, y1, x2, y2, label], original pixels
    lines: list[str]  # what the card says
    tags: list[str]  # what the status filter selects on
    sort: dict[str, float] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)


def read_eval_folder(folder: str | Path, image_root: str | None = None) -> EvalFolder:
    from vlmr1_cli.data.loader import load_records
    from vlmr1_cli.evaluate.predictions import PREDICTIONS
    from vlmr1_cli.evaluate.runner import METRICS, RUN_FILE
    from vlmr1_cli.io import iter_jsonl, read_json_object

    folder = Path(folder)
    metrics_file = folder / METRICS
    if not metrics_file.is_file() or not (folder / PREDICTIONS).is_file():
        raise UserError(
            f"{folder}: not an evaluation folder (needs {METRICS} and {PREDICTIONS} "
            "written by `vlmr1 evaluate --model ...`)"
        )
    metrics = read_json_object(metrics_file)
    for key in ("task", "data"):
        if key not in metrics:
            raise UserError(
                f"{metrics_file}: no '{key}' (scoring mode's metrics.json has no samples to show)"
            )
    run = read_json_object(folder / RUN_FILE) if (folder / RUN_FILE).is_file() else {}
    data = str(run.get("data") or metrics["data"])  # run.json's path is resolved
    if not Path(data).is_file():
        raise UserError(f"{folder}: the evaluated data file {data} is not there any more")
    preds: dict[str, dict] = {}
    for _, obj in iter_jsonl(folder / PREDICTIONS):
        if "id" in obj:
            preds[str(obj["id"])] = obj
    root = image_root or metrics.get("image_root")
    records = [r for r in load_records(data, root, check_images=False) if r["id"] in preds]
    if not records:
        raise UserError(f"{folder}: no prediction in {PREDICTIONS} matches a record of {data}")
    return EvalFolder(folder, metrics, records, preds, data)


def record_kind(task: str) -> str:
    """rec | ovd: the kind of record an evaluation task scores."""
    from vlmr1_cli.evaluate.tasks import RECORD_TASK

    if task not in RECORD_TASK:
        raise UserError(
            f"evaluation task '{task}' has no samples to show (known: {', '.join(RECORD_TASK)})"
        )
    return RECORD_TASK[task]


def score_rec(rec: dict, pred: dict) -> SampleScore:
    from vlmr1_cli.geometry import iou
    from vlmr1_cli.metrics.rec import center_inside, is_hit

    gt, box = rec["solution"], pred.get("box")
    parsed = box is not None
    value = iou(box, gt) if box is not None else 0.0
    ok = is_hit(value, 0.5, compat=False)
    centre = box is not None and center_inside(box, gt)
    lines = [f"IoU {value:.3f}", "hit" if ok else "miss"]
    lines.append(
        "centre inside" if centre else ("centre outside" if parsed else "UNPARSEABLE answer")
    )
    tags = (
        ["hit" if ok else "miss"]
        + (["center"] if centre else [])
        + ([] if parsed else ["unparsed"])
    )
    boxes = [[*_round(box), "prediction"]] if parsed else []
    return SampleScore(parsed, ok, boxes, lines, tags, {"iou": value})


def match_objects(gt: list[dict], pred: list[dict]) -> int:
    """True positives of greedy matching at IoU 0.5 (greedy P/R's rule, one image)."""
    from vlmr1_cli.geometry import iou

    pairs = []
    for i, p in enumerate(pred):
        for j, g in enumerate(gt):
            v = iou(p["bbox_2d"], g["bbox_2d"])
            if v >= OVD_IOU:
                pairs.append((-v, i, j))
    used_p: set[int] = set()
    used_g: set[int] = set()
    tp = 0
    for _, i, j in sorted(pairs):
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        tp += pred[i].get("label") == gt[j].get("label")
    return tp


def score_ovd(rec: dict, pred: dict) -> SampleScore:
    gt, objects = rec["solution"], pred.get("objects") or []
    parsed = bool(pred.get("parsed"))
    tp = match_objects(gt, objects)
    fp, fn = len(objects) - tp, len(gt) - tp
    ok = fp == 0 and fn == 0
    lines = [f"TP {tp}", f"FP {fp}", f"FN {fn}"] + ([] if parsed else ["UNPARSEABLE answer"])
    tags = (
        ["hit" if ok else "miss"]
        + (["fp"] if fp else [])
        + (["fn"] if fn else [])
        + ([] if parsed else ["unparsed"])
    )
    boxes = [[*_round(o["bbox_2d"]), str(o.get("label") or "?")] for o in objects]
    recall = tp / len(gt) if gt else None
    sort = {"fp": float(fp), **({"recall": recall} if recall is not None else {})}
    return SampleScore(
        parsed, ok, boxes, lines, tags, sort, sorted({str(o.get("label") or "") for o in objects})
    )


def score_sample(kind: str, rec: dict, pred: dict) -> SampleScore:
    return score_rec(rec, pred) if kind == "rec" else score_ovd(rec, pred)


STATUSES = {
    "rec": [
        ("hit", "hits (IoU >= 0.5)"),
        ("miss", "misses"),
        ("unparsed", "format failures"),
        ("center", "centre inside the GT"),
    ],
    "ovd": [
        ("hit", "all found, nothing extra"),
        ("miss", "with errors"),
        ("fn", "with missed objects"),
        ("fp", "with false positives"),
        ("unparsed", "format failures"),
    ],
}
SORTS = {"rec": [("iou", "IoU")], "ovd": [("recall", "recall"), ("fp", "false positives")]}


def _round(box) -> list[float]:
    return [round(float(v), 1) for v in box]


def group_of(rec: dict) -> str:
    """The subset (OVDEval) or the dataset split (REC: source + split) a sample belongs to."""
    from vlmr1_cli.evaluate.scoring import split_name

    return str(rec["subset"]) if rec.get("subset") else split_name(rec)


def base_sample(kind: str, rec: dict, store: Any) -> dict[str, Any]:
    """A gallery sample without predictions: image, size, query, group, ground truth."""
    k = int(rec.get("box_image") or 0)
    paths = rec["_image_paths"]
    w, h = rec["image_sizes"][k] if rec["image_sizes"] else (1, 1)
    if kind == "rec":
        query = rec["problem"]
        gt = [[*_round(rec["solution"]), "ground truth"]]
        labels: list[str] = []
    else:
        query = "labels: " + ", ".join(rec.get("labels") or [])
        gt = [[*_round(o["bbox_2d"]), str(o["label"])] for o in rec["solution"]]
        labels = sorted({str(o["label"]) for o in rec["solution"]})
    return {
        "id": str(rec["id"]),
        "img": store.add(paths[k]) if len(paths) > k else None,
        "w": w,
        "h": h,
        "query": query,
        "group": group_of(rec),
        "labels": labels,
        "gt": gt,
        "info": [],
        "tags": [],
        "sort": {},
        "preds": [],
    }


def prediction_entry(score: SampleScore, pred: dict) -> dict[str, Any]:
    return {
        "boxes": score.boxes,
        "text": str(pred.get("completion", "")),
        "lines": score.lines,
        "ok": score.ok,
    }


def group_table(
    kind: str, records: list[dict], scores: list[SampleScore]
) -> tuple[list[str], list[list]] | None:
    """Per group (subset / split): samples, hits, format failures, and mean IoU (REC); None
    when every sample is in one group."""
    groups: dict[str, list[SampleScore]] = {}
    for rec, score in zip(records, scores, strict=True):
        groups.setdefault(group_of(rec), []).append(score)
    if len(groups) < 2:
        return None
    cols = ["group", "samples", "hits", "hit rate", "format failures"] + (
        ["mean IoU"] if kind == "rec" else []
    )
    rows = []
    for name, items in groups.items():
        hits = sum(s.ok for s in items)
        row = [
            name,
            len(items),
            hits,
            f"{100 * hits / len(items):.2f}",
            sum(not s.parsed for s in items),
        ]
        if kind == "rec":
            row.append(f"{100 * sum(s.sort['iou'] for s in items) / len(items):.2f}")
        rows.append(row)
    return cols, rows
