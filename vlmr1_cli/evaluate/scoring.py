"""Score finished predictions per evaluation task. Every number comes from vlmr1_cli.metrics.

- `rec`: Acc@0.5 (standard continuous IoU >= 0.5), the VLM-R1-compatible accuracy (its
  parser, discrete IoU > 0.5), Acc@0.1 ... 0.9 and @0.5:0.95, centre accuracy, mean IoU,
  format-failure rate; per dataset split when a file holds several.
- `coco`, `d3`, `ovd`: COCO mAP (the 12 stats) and greedy precision/recall.
- `ovdeval`: NMS-AP per subset, each on its own GT file, and VLM-R1's 5-group average.

OVD predictions become a COCO results list, written as `results.json` (one per OVDEval
subset) and scored against the GT file; a GT restricted to the evaluated images, or built
from the records, is written beside it (`gt.json`), so `vlmr1 evaluate --gt --results
--metric coco|nms-ap` recomputes the mAP and NMS-AP from the output folder alone. The GT and
the predictions are validated into arrays once (`metrics.cocodata`) and every metric runs
on those (`metrics.scoring.score_arrays`, as scoring mode does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmr1_cli.evaluate.coco_results import coco_results, records_coco
from vlmr1_cli.io import write_json


def score(
    task: str,
    records: list[dict],
    preds: dict[str, dict],
    out: Path,
    data: str | Path,
    options: dict,
) -> dict[str, Any]:
    if task == "rec":
        return score_rec(records, preds, options)
    if task == "ovdeval":
        return score_ovdeval(records, preds, out, data)
    return score_detection(records, preds, out, data)


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
    return {
        "n": std["n"],
        "acc": std["acc"],
        "acc_vlmr1_compat": compat["acc"],
        "acc_at_iou": std["acc_at_iou"],
        "acc_at_iou_50_95": std["acc_at_iou_50_95"],
        "center_acc": std["center_acc"],
        "mean_iou": std["mean_iou"],
        "format_failure_rate": std["format_failure_rate"],
        "n_unparsed": std["n_unparsed"],
    }


def score_rec(records: list[dict], preds: dict[str, dict], options: dict) -> dict[str, Any]:
    m = _rec_block(records, preds)
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(split_name(r), []).append(r)
    if len(groups) > 1:
        m["by_split"] = {name: _rec_block(recs, preds) for name, recs in groups.items()}
    compat = bool(options.get("compat"))
    m.update(
        {
            "iou_variant": "vlmr1-compat" if compat else "standard",
            "primary_name": "acc_vlmr1_compat" if compat else "acc",
        }
    )
    m["primary"] = m[m["primary_name"]]
    return m


# --------------------------------------------------------------------------- OVD


def _coco_inputs(
    records: list[dict], preds: dict[str, dict], out: Path, data: str | Path, suffix: str
) -> tuple[Any, Any, dict[str, Any]]:
    """The validated GT and detections of these records (every predicted box; an unknown
    label has no category), read once; writes results{suffix}.json, and gt{suffix}.json when
    the GT is not a file used as it is."""
    from vlmr1_cli.metrics.cocodata import load_detections, load_ground_truth

    gt = records_coco(records, data)
    res = coco_results(records, preds, gt)
    write_json(out / f"results{suffix}.json", res.results, indent=None)
    info = {
        "n": len(records),
        "n_unparsed": sum(1 for r in records if not preds[r["id"]].get("parsed")),
        "n_predicted_boxes": len(res.every),
        "n_dropped_unknown_label": sum(res.dropped_labels.values()),
        "unknown_labels": dict(res.dropped_labels.most_common(10)),
        "n_dropped_inverted_box": res.dropped_inverted,
        "gt": gt.source,
        "gt_images": f"{len(gt.coco['images'])} of {gt.total_images}",
        "results_file": f"results{suffix}.json",
    }
    if gt.source == "built from the records" or len(gt.coco["images"]) != gt.total_images:
        write_json(out / f"gt{suffix}.json", gt.coco, indent=None)
        info["gt_file"] = f"gt{suffix}.json"
    arrays = load_ground_truth(gt.coco, name=gt.source)
    return arrays, load_detections(res.every, arrays, name="predictions"), info


def _stats_keys(metrics: dict[str, Any]) -> dict[str, Any]:
    from vlmr1_cli.metrics.ap import STAT_NAMES

    return {k: metrics[k] for k in ("stats", *STAT_NAMES) if k in metrics}


def score_detection(
    records: list[dict], preds: dict[str, dict], out: Path, data: str | Path
) -> dict[str, Any]:
    """COCO mAP (boxes whose label names no category are dropped) and greedy P/R (every
    predicted box counts; one with an unknown label is never right)."""
    from vlmr1_cli.metrics.scoring import score_arrays

    gt, dets, info = _coco_inputs(records, preds, out, data, "")
    # COCOeval ignores the boxes of unknown categories; greedy P/R counts them as wrong
    m = _stats_keys(score_arrays(gt, dets, "coco"))
    greedy = score_arrays(gt, dets, "greedy-pr")
    m.update({k: greedy[k] for k in ("greedy_precision", "greedy_recall")})
    m["greedy_counts"] = {k: greedy[k] for k in ("tp", "n_pred", "n_gt", "matching", "average")}
    m.update(info)
    m.update({"primary_name": "AP", "primary": m["AP"]})
    return m


def score_ovdeval(
    records: list[dict], preds: dict[str, dict], out: Path, data: str | Path
) -> dict[str, Any]:
    """NMS-AP of each subset on its own GT file, then VLM-R1's 5-group average."""
    from vlmr1_cli.metrics.ovdeval import OVDEVAL_SUBSETS, ovdeval_average, ovdeval_mean8
    from vlmr1_cli.metrics.scoring import score_arrays

    subsets: dict[str, list[dict]] = {}
    for r in records:
        subsets.setdefault(r["subset"], []).append(r)
    order = {s: i for i, s in enumerate(OVDEVAL_SUBSETS)}
    per: dict[str, dict] = {}
    for name in sorted(subsets, key=lambda s: (order.get(s, len(order)), s)):
        gt, dets, info = _coco_inputs(subsets[name], preds, out, data, f"-{name}")
        # the results file's boxes: those whose label names a category
        nms = score_arrays(gt, dets.subset(dets.det_cat >= 0), "nms-ap")
        per[name] = {"nms_ap": nms["nms_ap"], **_stats_keys(nms), **info}
    values = {k: v["nms_ap"] for k, v in per.items()}
    m: dict[str, Any] = {
        "subsets": per,
        "n": len(records),
        "n_unparsed": sum(v["n_unparsed"] for v in per.values()),
        "n_dropped_unknown_label": sum(v["n_dropped_unknown_label"] for v in per.values()),
        "n_dropped_inverted_box": sum(v["n_dropped_inverted_box"] for v in per.values()),
    }
    missing = [s for s in OVDEVAL_SUBSETS if s not in values]
    if missing:
        m["missing_subsets"] = missing
        m["nms_ap_mean"] = sum(values.values()) / len(values)
        m["primary_name"] = "nms_ap_mean"
    else:
        m["nms_ap_mean"] = ovdeval_mean8(values)
        m["nms_ap_5group"] = ovdeval_average(values)
        m["primary_name"] = "nms_ap_5group"
    m["primary"] = m[m["primary_name"]]
    return m
