"""The summary tables of a metrics dict, as data (title, columns, rows): the CLI prints them
(`vlmr1 evaluate`), the report pages render them.

Scores are shown ×100 with two decimals, as the paper's tables print them; metrics.json
keeps fractions.
"""

from __future__ import annotations

from typing import Any

SHORT = {
    "celebrity": "celeb",
    "landmark": "landm",
    "material": "mater",
    "position": "posit",
    "relationship": "relat",
    "negation": "negat",
}


def pct(v: Any) -> str:
    if v is None:
        return ""
    return "-1" if v == -1 else f"{100 * v:.2f}"


def summary_table(m: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    title = f"{m['task']}: {m['data']} ({m['n']} samples; scores x100)"
    if m["task"] == "rec":
        cols = [
            "split",
            "n",
            "Acc@0.5",
            "Acc@0.5 VLM-R1",
            "Acc@0.5:0.95",
            "centre acc",
            "mean IoU",
            "unparsed",
        ]
        blocks = [("all", m), *(m.get("by_split") or {}).items()]
        # .get: metrics.json of earlier versions has no Acc@0.5:0.95 nor centre accuracy
        rows = [
            [
                name,
                b["n"],
                pct(b["acc"]),
                pct(b["acc_vlmr1_compat"]),
                pct(b.get("acc_at_iou_50_95")),
                pct(b.get("center_acc")),
                pct(b["mean_iou"]),
                b["n_unparsed"],
            ]
            for name, b in blocks
        ]
        return title, cols, rows
    if m["task"] == "ovdeval":
        names = list(m["subsets"])
        cols = ["", *(SHORT.get(s, s) for s in names), "mean (8)"]
        ap = ["NMS-AP", *(pct(m["subsets"][s]["nms_ap"]) for s in names), pct(m["nms_ap_mean"])]
        if "nms_ap_5group" in m:
            cols.append("overall (5-group)")
            ap.append(pct(m["nms_ap_5group"]))
        pad = [""] * (len(cols) - len(names) - 1)
        rows = [
            ap,
            ["samples", *(m["subsets"][s]["n"] for s in names), *pad],
            ["unparsed", *(m["subsets"][s]["n_unparsed"] for s in names), *pad],
            ["unknown labels", *(m["subsets"][s]["n_dropped_unknown_label"] for s in names), *pad],
        ]
        return title, cols, rows
    cols = ["", "n", "mAP", "AP50", "AP75", "greedy P", "greedy R", "unparsed", "unknown labels"]
    rows = [
        [
            m["task"],
            m["n"],
            pct(m["AP"]),
            pct(m["AP50"]),
            pct(m["AP75"]),
            pct(m.get("greedy_precision")),
            pct(m.get("greedy_recall")),
            m["n_unparsed"],
            m["n_dropped_unknown_label"],
        ]
    ]
    return title, cols, rows


def threshold_table(m: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]] | None:
    """REC accuracy at each IoU threshold 0.1 ... 0.9 (x100), one row per split; None for
    other tasks and for metrics.json of versions that did not compute it."""
    if m["task"] != "rec" or "acc_at_iou" not in m:
        return None
    thresholds = list(m["acc_at_iou"])
    blocks = [("all", m), *(m.get("by_split") or {}).items()]
    rows = [[name, *(pct(b["acc_at_iou"][t]) for t in thresholds)] for name, b in blocks]
    return "Acc@IoU (x100)", ["split", *(f"@{t}" for t in thresholds)], rows
