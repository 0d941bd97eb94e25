"""Score finished predictions per evaluation task. Every number comes from vlmr1_cli.metrics.

- `rec`: Acc@0.5 (standard continuous IoU >= 0.5), the VLM-R1-compatible accuracy (its
  parser, discrete IoU > 0.5), mean IoU; per dataset split when a file holds several.
- `coco`, `d3`, `ovd`: COCO mAP (the 12 stats) and greedy precision/recall.
- `ovdeval`: NMS-AP per subset, each on its own GT file, and VLM-R1's 5-group average.

OVD predictions are written as a COCO results list (`results.json`, or one per subset) and
scored against the GT file through the same code as `vlmr1 evaluate --gt --results`; a GT
restricted to the evaluated images, or built from the records, is written beside it
(`gt.json`), so every figure can be recomputed from the output folder alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmr1_cli.data.ovdeval import SUBSETS as OVDEVAL_ORDER
from vlmr1_cli.evaluate.coco_results import coco_results, load_ground_truth
from vlmr1_cli.io import write_json


def score(task: str, records: list[dict], preds: dict[str, dict], out: Path, data: str | Path,
          options: dict) -> dict[str, Any]:
    if task == "rec":
        return score_rec(records, preds, options)
    if task == "ovdeval":
        return score_ovdeval(records, preds, out, data)
    return score_detection(task, records, preds, out, data)


# --------------------------------------------------------------------------- REC


def split_name(rec: dict) -> str:
    """The dataset split a REC record belongs to, e.g. 'refcoco+ val' or 'lisa'."""
    parts = [str(rec[k]) for k in ("source", "split") if rec.get(k) not in (None, "")]
    return " ".join(parts) or "all"


def _rec_block(records: list[dict], preds: dict[str, dict]) -> dict[str, Any]:
    from vlmr1_cli.metrics.rec import rec_scores

    gts = [r["solution"] for r in records]
    std = rec_scores([preds[r["id"]].get("box") for r in records], gts, compat=False)
    compat = rec_scores([preds[r["id"]].get("box_vlmr1") for r in records], gts, compat=True)
    return {"n": std["n"], "acc": std["acc"], "acc_vlmr1_compat": compat["acc"],
            "mean_iou": std["mean_iou"], "n_unparsed": std["n_unparsed"]}


def score_rec(records: list[dict], preds: dict[str, dict], options: dict) -> dict[str, Any]:
    m = _rec_block(records, preds)
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(split_name(r), []).append(r)
    if len(groups) > 1:
        m["by_split"] = {name: _rec_block(recs, preds) for name, recs in groups.items()}
    compat = bool(options.get("compat"))
    m.update({"iou_variant": "vlmr1-compat" if compat else "standard",
              "primary_name": "acc_vlmr1_compat" if compat else "acc"})
    m["primary"] = m[m["primary_name"]]
    return m


# --------------------------------------------------------------------------- OVD


def _score_files(gt_path: Path, results_path: Path, metric: str) -> dict[str, Any]:
    from vlmr1_cli.metrics.scoring import score_files

    return score_files(gt_path, results_path, metric)


def _write_coco_files(records: list[dict], preds: dict[str, dict], out: Path, data: str | Path,
                      suffix: str) -> tuple[Path, Path, dict[str, Any]]:
    """results{suffix}.json (+ gt{suffix}.json unless the GT file is used as it is)."""
    gt = load_ground_truth(records, data)
    res = coco_results(records, preds, gt)
    results_path = out / f"results{suffix}.json"
    write_json(results_path, res.results, indent=None)
    whole_file = gt.source != "built from the records" and len(gt.coco["images"]) == gt.total_images
    gt_path = Path(gt.source) if whole_file else out / f"gt{suffix}.json"
    if not whole_file:
        write_json(gt_path, gt.coco, indent=None)
    info = {
        "n": len(records),
        "n_unparsed": sum(1 for r in records if not preds[r["id"]].get("parsed")),
        "n_predicted_boxes": res.n_predicted,
        "n_dropped_unknown_label": sum(res.dropped_labels.values()),
        "unknown_labels": dict(res.dropped_labels.most_common(10)),
        "gt": gt.source,
        "gt_images": f"{len(gt.coco['images'])} of {gt.total_images}",
        "results_file": results_path.name,
    }
    return gt_path, results_path, info


def _stats_keys(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("stats", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
    return {k: metrics[k] for k in keys if k in metrics}


def score_detection(task: str, records: list[dict], preds: dict[str, dict], out: Path,
                    data: str | Path) -> dict[str, Any]:
    """COCO mAP and greedy P/R (coco, d3 and generic OVD data)."""
    gt_path, results_path, info = _write_coco_files(records, preds, out, data, "")
    m = _stats_keys(_score_files(gt_path, results_path, "coco"))
    greedy = _score_files(gt_path, results_path, "greedy-pr")
    m.update({k: v for k, v in greedy.items() if k.startswith("greedy_")})
    m.update(info)
    m.update({"primary_name": "AP", "primary": m["AP"]})
    return m


def score_ovdeval(records: list[dict], preds: dict[str, dict], out: Path, data: str | Path) -> dict[str, Any]:
    """NMS-AP of each subset on its own GT file, then VLM-R1's 5-group average."""
    from vlmr1_cli.metrics.ovdeval import five_group_average

    subsets: dict[str, list[dict]] = {}
    for r in records:
        subsets.setdefault(r["subset"], []).append(r)
    per: dict[str, dict] = {}
    for name in sorted(subsets, key=lambda s: (OVDEVAL_ORDER.index(s) if s in OVDEVAL_ORDER else 99, s)):
        gt_path, results_path, info = _write_coco_files(subsets[name], preds, out, data, f"-{name}")
        nms = _score_files(gt_path, results_path, "nms-ap")
        per[name] = {"nms_ap": nms["nms_ap"], **_stats_keys(nms), **info}
    values = {k: v["nms_ap"] for k, v in per.items()}
    m: dict[str, Any] = {
        "subsets": per,
        "nms_ap_mean": sum(values.values()) / len(values),
        "n": len(records),
        "n_unparsed": sum(v["n_unparsed"] for v in per.values()),
        "n_dropped_unknown_label": sum(v["n_dropped_unknown_label"] for v in per.values()),
    }
    if set(OVDEVAL_ORDER) <= set(values):
        m["nms_ap_5group"] = five_group_average(values)
        m["primary_name"] = "nms_ap_5group"
    else:
        m["primary_name"] = "nms_ap_mean"
        m["missing_subsets"] = [s for s in OVDEVAL_ORDER if s not in values]
    m["primary"] = m[m["primary_name"]]
    return m
