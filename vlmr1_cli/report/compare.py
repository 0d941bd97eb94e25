"""Several evaluations of the same data side by side: one metrics table with a row per model
(per split or subset), the accuracy curves overlaid, and per sample each model's boxes on the
same image, with filters for the samples where the models disagree (some hit, some miss) and
for each model's hits and misses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.report.gallery import gallery_data
from vlmr1_cli.report.page import table_html, write_page


def model_names(folders: list[Path]) -> list[str]:
    """Short names that tell the folders apart: their paths without the parts all of them
    share at the start and at the end (demo-output/eval/base/eval, .../sft/eval -> base, sft)."""
    parts = [Path(f).resolve().parts for f in folders]
    shortest = min(len(p) for p in parts)
    head = 0
    while head < shortest - 1 and len({p[head] for p in parts}) == 1:
        head += 1
    tail = 0
    while tail < shortest - head - 1 and len({p[len(p) - 1 - tail] for p in parts}) == 1:
        tail += 1
    return ["/".join(p[head : len(p) - tail]) for p in parts]


def comparison_tables(runs: list[tuple[str, dict]]) -> str:
    """The CLI's summary table of each run, row by row, with the model's name in front."""
    from vlmr1_cli.report.tables import summary_table, threshold_table

    parts = []
    for table in (summary_table, threshold_table):
        made = [(name, t) for name, m in runs if (t := table(m)) is not None]
        if not made:
            continue
        title, cols, _ = made[0][1]
        n_rows = max(len(t[2]) for _, t in made)
        rows = [[name, *t[2][i]] for i in range(n_rows) for name, t in made if i < len(t[2])]
        parts.append(
            table_html("scores (x100)" if table is summary_table else title, ["model", *cols], rows)
        )
    return "\n".join(parts)


def write_comparison(
    given: Sequence[str | Path],
    output: str | Path,
    names: list[str] | None = None,
    image_root: str | None = None,
) -> Path:
    """Write `report.html` comparing evaluation folders of the same data; returns its path."""
    from vlmr1_cli.progress import track
    from vlmr1_cli.report.evaluation import accuracy_chart
    from vlmr1_cli.report.images import ImageStore
    from vlmr1_cli.report.samples import (
        SORTS,
        base_sample,
        prediction_entry,
        read_eval_folder,
        record_kind,
        score_sample,
    )

    folders = [Path(f) for f in given]
    if len({f.resolve() for f in folders}) != len(folders):
        raise UserError("the same evaluation folder is given twice")
    if names is None:
        names = model_names(folders)
    if len(names) != len(folders):
        raise UserError(f"--names gives {len(names)} names for {len(folders)} folders")
    runs = [read_eval_folder(f, image_root) for f in folders]
    kinds = {record_kind(r.metrics["task"]) for r in runs}
    tasks = {r.metrics["task"] for r in runs}
    if len(tasks) != 1:
        raise UserError(
            f"these evaluations score different tasks ({', '.join(sorted(tasks))}); "
            "compare evaluations of the same data"
        )
    datas = {str(Path(r.data).resolve()) for r in runs}
    if len(datas) != 1:
        raise UserError(
            f"these evaluations are of different data files ({', '.join(sorted(datas))}); "
            "compare evaluations of the same data"
        )
    kind = kinds.pop()
    common = set.intersection(*(set(r.preds) for r in runs))
    records = [rec for rec in runs[0].records if rec["id"] in common]
    if not records:
        raise UserError("these evaluations have no sample in common")
    out = Path(output)
    store = ImageStore(out)
    samples = []
    for rec in track(records, "report samples"):
        sample = base_sample(kind, rec, store)
        labels = set(sample["labels"])
        oks = []
        for i, run in enumerate(runs):
            pred = run.preds[rec["id"]]
            score = score_sample(kind, rec, pred)
            sample["preds"].append(prediction_entry(score, pred))
            sample["tags"] += [f"m{i}:{t}" for t in score.tags]
            sample["sort"].update({f"{k}{i}": v for k, v in score.sort.items()})
            labels |= set(score.labels)
            oks.append(score.ok)
            if not score.parsed and "unparsed" not in sample["tags"]:
                sample["tags"].append("unparsed")
        sample["tags"].append(
            "disagree" if len(set(oks)) > 1 else ("all-hit" if oks[0] else "all-miss")
        )
        sample["labels"] = sorted(labels)
        samples.append(sample)
    hit_word = "hits" if kind == "rec" else "all found"
    statuses = [
        ("disagree", "models disagree (some hit, some miss)"),
        ("all-hit", f"every model {hit_word}"),
        ("all-miss", "every model misses"),
        ("unparsed", "a format failure"),
    ]
    for i, name in enumerate(names):
        statuses += [(f"m{i}:hit", f"{name}: {hit_word}"), (f"m{i}:miss", f"{name}: misses")]
    sorts = [
        (f"{k}{i}", f"{label} of {name}")
        for i, name in enumerate(names)
        for k, label in SORTS[kind]
    ]
    pairs = list(zip(names, [r.metrics for r in runs], strict=True))
    body = [f'<section id="metrics"><h2>Metrics</h2>{comparison_tables(pairs)}</section>']
    chart = accuracy_chart(pairs)
    if chart:
        body.append(
            f'<section id="curves"><h2>Curves</h2><div class="charts">{chart}</div></section>'
        )
    models = table_html(
        "models",
        ["name", "model", "evaluation folder"],
        [(n, r.metrics.get("model"), str(r.folder)) for n, r in zip(names, runs, strict=True)],
        text_columns=(1, 2),
    )
    body.append(
        f'<section id="provenance"><h2>Models</h2>{models}'
        + (
            f'<p class="note">{len(records)} samples that every evaluation holds.</p>'
            if any(len(r.preds) != len(records) for r in runs)
            else ""
        )
        + "</section>"
    )
    data = gallery_data(
        samples,
        store.urls,
        names,
        statuses,
        sorts,
        group_name="subset" if any(r.get("subset") for r in records) else "split",
    )
    title = f"Comparison: {' vs '.join(names)} on {Path(runs[0].data).name}"
    return write_page(
        out,
        title,
        f"{runs[0].metrics['task']} · {len(samples)} samples · data {runs[0].data}",
        "\n".join(body),
        data,
    )
