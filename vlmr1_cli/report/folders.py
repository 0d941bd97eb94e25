"""Which report a folder gets, and writing it: an evaluation folder (metrics.json and
predictions.jsonl), a training run folder (train_log.jsonl, samples.jsonl or
vlmr1_recipe.yaml), or several evaluation folders of the same data (a comparison)."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.errors import UserError


def folder_kind(folder: Path) -> str:
    """ "evaluation" or "training"; a one-line error for anything else."""
    from vlmr1_cli.evaluate.predictions import PREDICTIONS
    from vlmr1_cli.evaluate.runner import METRICS
    from vlmr1_cli.report.training import is_run_folder

    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    if (folder / METRICS).is_file() and (folder / PREDICTIONS).is_file():
        return "evaluation"
    if is_run_folder(folder):
        return "training"
    raise UserError(
        f"{folder}: neither an evaluation folder ({METRICS} + {PREDICTIONS}) nor a training "
        "run folder (train_log.jsonl, samples.jsonl, vlmr1_recipe.yaml)"
    )


def write_report(
    folders: list[Path],
    output: Path | None = None,
    names: list[str] | None = None,
    image_root: str | None = None,
) -> tuple[str, Path]:
    """Write the report of `folders`; returns (kind, path of report.html). One folder: its own
    report, in the folder unless `output` names another; several: a comparison in `output`."""
    if not folders:
        raise UserError("report needs at least one folder")
    kinds = [folder_kind(Path(f)) for f in folders]
    if len(folders) == 1:
        if names:
            raise UserError(
                "--names labels the models of a comparison (several evaluation folders)"
            )
        if kinds[0] == "evaluation":
            from vlmr1_cli.report.evaluation import write_eval_report

            return "evaluation", write_eval_report(folders[0], output, image_root)
        if image_root is not None:
            raise UserError(
                "--image-root applies to evaluation folders; a training run reads its recipe's"
            )
        from vlmr1_cli.report.training import write_training_report

        return "training", write_training_report(folders[0], output)
    for folder, kind in zip(folders, kinds, strict=True):
        if kind != "evaluation":
            raise UserError(
                f"{folder}: a comparison takes evaluation folders only; this is a {kind} run folder"
            )
    if output is None:
        raise UserError(
            "comparing several evaluations needs --output FOLDER (where report.html goes)"
        )
    from vlmr1_cli.report.compare import write_comparison

    return "comparison", write_comparison(folders, output, names, image_root)
