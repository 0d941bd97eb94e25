"""The report of one evaluation: the metrics tables `vlmr1 evaluate` prints, the accuracy
against the IoU threshold (REC), per-group tables, how the numbers were made, and a gallery
of every sample with its ground truth, prediction, completion, IoU and hit or miss."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.report.gallery import MODEL_COLORS, gallery_data
from vlmr1_cli.report.page import kv_table, table_html, write_page

# How a metrics.json says it was made (shown under the tables when present).
PROVENANCE = (
    "model",
    "data",
    "image_root",
    "task",
    "n",
    "frame",
    "pixel_limits",
    "prompt_source",
    "max_new_tokens",
    "decoding",
    "backend",
    "dtype",
    "labels_mode",
    "sample",
    "iou_variant",
    "primary_name",
    "gt",
    "gt_images",
    "samples_per_s",
)


def metrics_tables(m: dict) -> str:
    """The CLI's tables (same rows, same x100 formatting) as HTML."""
    from vlmr1_cli.report.tables import summary_table, threshold_table

    parts = [table_html(*summary_table(m))]
    thresholds = threshold_table(m)
    if thresholds is not None:
        parts.append(table_html(*thresholds))
    return "\n".join(parts)


def accuracy_chart(runs: list[tuple[str, dict]]) -> str:
    """Acc@t against t = 0.1 ... 0.9 for each REC evaluation that has it ('' otherwise)."""
    from vlmr1_cli.report.charts import line_chart

    series = [
        (
            name,
            MODEL_COLORS[i % len(MODEL_COLORS)],
            [(float(t), 100 * v) for t, v in m["acc_at_iou"].items()],
        )
        for i, (name, m) in enumerate(runs)
        if m.get("acc_at_iou")
    ]
    if not series:
        return ""
    return line_chart("Acc@IoU threshold (x100)", series, x_label="IoU threshold", y_range=(0, 100))


def write_eval_report(
    folder: str | Path, output: str | Path | None = None, image_root: str | None = None
) -> Path:
    """Write `report.html` (and `report_files/`) for an evaluation folder; returns its path."""
    from vlmr1_cli.progress import track
    from vlmr1_cli.report.images import ImageStore
    from vlmr1_cli.report.samples import (
        SORTS,
        STATUSES,
        base_sample,
        group_table,
        prediction_entry,
        read_eval_folder,
        record_kind,
        score_sample,
    )

    run = read_eval_folder(folder, image_root)
    out = Path(output) if output is not None else run.folder
    m = run.metrics
    kind = record_kind(m["task"])
    store = ImageStore(out)
    samples, scores = [], []
    for rec in track(run.records, "report samples"):
        pred = run.preds[rec["id"]]
        score = score_sample(kind, rec, pred)
        sample = base_sample(kind, rec, store)
        sample.update(
            tags=score.tags,
            sort={f"{k}0": v for k, v in score.sort.items()},
            labels=sorted(set(sample["labels"]) | set(score.labels)),
            preds=[prediction_entry(score, pred)],
        )
        samples.append(sample)
        scores.append(score)
    body = [f'<section id="metrics"><h2>Metrics</h2>{metrics_tables(m)}</section>']
    chart = accuracy_chart([("accuracy", m)])
    if chart:
        body.append(
            f'<section id="curves"><h2>Curves</h2><div class="charts">{chart}</div></section>'
        )
    groups = group_table(kind, run.records, scores)
    if groups is not None:
        body.append(
            '<section id="groups"><h2>Per subset</h2>'
            + table_html(
                "samples per group (hit: IoU >= 0.5 / all found and nothing extra)", *groups
            )
            + "</section>"
        )
    body.append(
        '<section id="provenance"><h2>How it was made</h2>'
        + kv_table("metrics.json", [(k, m.get(k)) for k in PROVENANCE])
        + "</section>"
    )
    statuses = [(value, label) for value, label in STATUSES[kind]]
    sorts = [(f"{k}0", label) for k, label in SORTS[kind]]
    data = gallery_data(
        samples,
        store.urls,
        [Path(str(m.get("model", "model"))).name or "model"],
        statuses,
        sorts,
        group_name="subset" if any(r.get("subset") for r in run.records) else "split",
    )
    title = f"Evaluation: {Path(str(m['model'])).name} on {Path(run.data).name}"
    return write_page(
        out,
        title,
        f"{m['task']} · {len(samples)} samples · model {m['model']} · data {run.data}",
        "\n".join(body),
        data,
    )
