"""Scoring mode, docs/metrics.md §7: `vlmr1 evaluate --gt GT.json --results RES.json --metric …`.

`score_files` reads and validates both files, runs the metric and returns a JSON-ready dict
with a "metric" key; the CLI prints it and writes it atomically. `score_arrays` runs a metric
on a ground truth and detections already loaded (evaluation scores its own predictions with
it, reading each input once).
"""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING, Any

from vlmr1_cli.errors import UserError

if TYPE_CHECKING:
    from vlmr1_cli.metrics.cocodata import Detections, GroundTruth

METRICS = ("coco", "nms-ap", "greedy-pr")
_OPTIONS = {
    "coco": set(),
    "nms-ap": {"iou_threshold"},
    "greedy-pr": {"iou_threshold", "per_label", "average"},
}


def score_files(
    gt_path: str | os.PathLike, results_path: str | os.PathLike, metric: str, **options: Any
) -> dict[str, Any]:
    """Score a COCO results file against a COCO ground truth with `metric`.

    - `coco`: {"stats": [12], "AP", "AP50", …, "ARl"} equal to pycocotools' COCOeval.
    - `nms-ap`: OVDEval's GT-anchored NMS then COCOeval: {"nms_ap", "stats", …}.
    - `greedy-pr`: {"greedy_precision", "greedy_recall", …} (options `per_label`,
      `average`, `iou_threshold`).
    Bad files raise `UserError` naming the file and the item.
    """
    from vlmr1_cli.metrics.cocodata import load_detections, load_ground_truth

    name = metric_name(metric, options)
    gt = load_ground_truth(gt_path)
    dets = load_detections(results_path, gt)
    return {
        "metric": name,
        **score_arrays(gt, dets, name, **options),
        "gt_file": str(gt_path),
        "results_file": str(results_path),
    }


def metric_name(metric: str, options: dict[str, Any]) -> str:
    """The metric's canonical name (`nms_ap` -> `nms-ap`); an unknown metric or option is a
    UserError."""
    name = str(metric).strip().lower().replace("_", "-")
    if name not in METRICS:
        close = difflib.get_close_matches(name, METRICS, n=1, cutoff=0.4)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"unknown metric '{metric}'{hint} (choose from {', '.join(METRICS)})")
    unknown = set(options) - _OPTIONS[name]
    if unknown:
        raise UserError(f"metric '{name}' has no option {', '.join(sorted(unknown))}")
    return name


def score_arrays(gt: GroundTruth, dets: Detections, metric: str, **options: Any) -> dict[str, Any]:
    """`metric` (a canonical name, see `metric_name`) on validated arrays."""
    if metric == "coco":
        from vlmr1_cli.metrics.coco import evaluate_arrays_safe, stats_dict

        out = stats_dict(evaluate_arrays_safe(gt, dets)["stats"], gt, dets)
    elif metric == "nms-ap":
        from vlmr1_cli.metrics.nms_ap import nms_ap_arrays

        out = nms_ap_arrays(gt, dets, float(options.get("iou_threshold", 0.5)))
    else:
        from vlmr1_cli.metrics.greedy import greedy_pr

        try:
            out = greedy_pr(gt, dets, **options)
        except ValueError as e:
            raise UserError(f"metric 'greedy-pr': {e}") from None
        out["counts"] = {"images": len(gt.img_ids), **gt.counts, **dets.counts}
    return out
