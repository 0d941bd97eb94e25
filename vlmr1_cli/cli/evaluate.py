"""`vlmr1 evaluate`: score a model on a JSONL file, or score standard COCO-format files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import (
    Backend,
    DtypeOpt,
    EvalTask,
    JsonOpt,
    LabelMode,
    MaxImagePixelsOpt,
    Metric,
    ModelOpt,
    RevisionOpt,
    SystemOpt,
    TemplateOpt,
    TrustRemoteCodeOpt,
    alias_option,
    count_option,
    device_option,
    flag,
    flag_name,
    given,
    output_option,
    refuse_file_output,
    seed_option,
    take_alias,
    value,
)

# Scoring mode's options; every other option of the command, except the shared ones, is model mode's.
SCORING = ("gt", "results", "metric")
SHARED = ("output", "output_dir", "json_out")


def _refuse_mixed_modes(ctx: typer.Context) -> None:
    """`--gt/--results/--metric` score files; the rest evaluates a model: never both at once."""
    from vlmr1_cli.errors import UserError

    scoring = [p.name for p in ctx.command.params if p.name in SCORING and given(ctx, p.name)]
    model = [
        p.name for p in ctx.command.params if p.name not in SCORING + SHARED and given(ctx, p.name)
    ]
    if scoring and model:
        raise UserError(
            f"{flag_name(ctx, scoring[0])} (scoring files) and {flag_name(ctx, model[0])} "
            "(evaluating a model) are options of two modes; give one mode's options"
        )


def _score(gt: Path, results: Path, metric: Metric, output: Path | None, json_out: bool) -> None:
    from vlmr1_cli.cli.output import info, print_json, print_kv
    from vlmr1_cli.io import write_json
    from vlmr1_cli.metrics.scoring import score_files

    refuse_file_output(output, "metrics.json goes into")
    metrics = score_files(gt, results, metric.value)
    if output is not None:
        write_json(output / "metrics.json", metrics)
        info(f"metrics in {output / 'metrics.json'}")
    if json_out:
        print_json(metrics)
    else:
        print_kv(
            f"{metric.value}: {results}",
            {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
        )


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        ctx: typer.Context,
        model: ModelOpt = None,
        revision: RevisionOpt = None,
        data: Annotated[
            Path | None,
            typer.Option(
                "--data", "-d", help="JSONL (schema v1) to evaluate on.", show_default=False
            ),
        ] = None,
        output: Annotated[
            Path | None,
            output_option(
                "folder",
                "predictions.jsonl and metrics.json (default: <model>/eval-<data name>); "
                "scoring mode: metrics.json, written only when given.",
            ),
        ] = None,
        image_root: Annotated[
            Path | None,
            typer.Option(
                "--image-root", help="Image root (default: the JSONL's folder).", show_default=False
            ),
        ] = None,
        task: Annotated[
            EvalTask | None,
            typer.Option(
                "--task", help="Task to score as (default: from the records).", show_default=False
            ),
        ] = None,
        labels: Annotated[
            LabelMode | None,
            typer.Option(
                "--labels",
                help="coco: query all categories or only those present (default: as the records list them).",
                show_default=False,
            ),
        ] = None,
        batch_size: Annotated[
            int, count_option("--batch-size", "Samples per generate call.", min=1)
        ] = 16,
        max_new_tokens: Annotated[
            int, count_option("--max-new-tokens", "Generation budget per sample.", min=1)
        ] = 256,
        template: TemplateOpt = None,
        system: SystemOpt = None,
        vlmr1_compat: Annotated[
            bool,
            flag(
                "--vlmr1-compat", help="REC headline uses VLM-R1's parser and discrete IoU > 0.5."
            ),
        ] = False,
        max_samples: Annotated[
            int | None, count_option("--max-samples", "Evaluate only the first N samples.", min=1)
        ] = None,
        sample: Annotated[
            int | None,
            count_option(
                "--sample",
                "VLM-R1's protocol: shuffle with --seed, keep the first N (e.g. 2000).",
                min=1,
            ),
        ] = None,
        seed: Annotated[int, seed_option("Shuffle seed for --sample.")] = 42,
        backend: Annotated[
            Backend,
            typer.Option(
                "--backend",
                help="hf: transformers generate; vllm: needs the vllm extra (pip install 'vlmr1\\[vllm]').",
            ),
        ] = Backend.hf,
        num_processes: Annotated[
            int,
            count_option(
                "--num-processes",
                "Shard samples across N processes (accelerate): at most one per GPU (CPU core "
                "without CUDA) and per sample.",
                min=1,
            ),
        ] = 1,
        dtype: DtypeOpt = None,
        device: Annotated[
            str | None,
            device_option("Device for one process (default: cuda if available, else cpu)."),
        ] = None,
        max_image_pixels: MaxImagePixelsOpt = None,
        trust_remote_code: TrustRemoteCodeOpt = False,
        overwrite: Annotated[
            bool,
            flag(
                "--overwrite",
                help="Discard earlier predictions in the output folder instead of resuming.",
            ),
        ] = False,
        visualize: Annotated[
            int, count_option("--visualize", "Write N pictures with GT and predicted boxes.")
        ] = 0,
        report: Annotated[
            bool,
            flag(
                "--report",
                help=(
                    "Also write report.html into the output folder: metrics, curves, a gallery of "
                    "every sample (vlmr1 report)."
                ),
            ),
        ] = False,
        json_out: JsonOpt = False,
        gt: Annotated[
            Path | None,
            typer.Option(
                "--gt", help="Scoring mode: COCO-format ground truth.", show_default=False
            ),
        ] = None,
        results: Annotated[
            Path | None,
            typer.Option("--results", help="Scoring mode: COCO results list.", show_default=False),
        ] = None,
        metric: Annotated[
            Metric | None,
            typer.Option("--metric", help="Scoring mode: the metric.", show_default=False),
        ] = None,
        output_dir: Annotated[Path | None, alias_option("--output-dir")] = None,
    ) -> None:
        """Evaluate a model on JSONL data (--model/--data), or score COCO-format files (--gt/--results/--metric)."""
        from vlmr1_cli.cli.output import info, print_json, print_table
        from vlmr1_cli.errors import UserError

        output = take_alias(ctx, "output", output, "output_dir")
        if output is not None and str(output) == "-":
            raise UserError(
                "--output -: --output names a folder now; use --json to print the metrics on stdout"
            )
        _refuse_mixed_modes(ctx)
        if gt or results or metric:
            if not (gt and results and metric):
                raise UserError("scoring mode needs --gt, --results and --metric together")
            _score(gt, results, metric, output, json_out)
            return
        if not model or not data:
            raise UserError(
                "evaluate needs --model and --data (or --gt, --results and --metric to score files)"
            )
        if template is not None:
            from vlmr1_cli.recipes.values import check_template

            check_template(
                template, "--template", value(task)
            )  # names the query, before any weights load
        from vlmr1_cli.evaluate.runner import EvalOptions
        from vlmr1_cli.evaluate.runner import evaluate as run_eval
        from vlmr1_cli.report.tables import summary_table, threshold_table

        if max_image_pixels is not None:
            from vlmr1_cli.images import use_max_image_pixels

            use_max_image_pixels(max_image_pixels)  # every image opened, sharded workers' too
        out = output or (Path(model) if Path(model).is_dir() else Path(".")) / f"eval-{data.stem}"
        opts = EvalOptions(
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            template=template,
            system=system,
            compat=vlmr1_compat,
            task=value(task),
            labels=value(labels),
            max_samples=max_samples,
            sample=sample,
            seed=seed,
            dtype=value(dtype),
            device=device,
            backend=backend.value,
            num_processes=num_processes,
            visualize=visualize,
            overwrite=overwrite,
            trust_remote_code=trust_remote_code,
            revision=revision,
        )
        metrics = run_eval(
            model, data, out, image_root=str(image_root) if image_root else None, opts=opts
        )
        if report:
            from vlmr1_cli.report.evaluation import write_eval_report

            metrics["report"] = str(write_eval_report(out))
        if json_out:
            print_json(metrics)
            return
        print_table(*summary_table(metrics))
        thresholds = threshold_table(metrics)
        if thresholds is not None:
            print_table(*thresholds)
        if metrics.get("discarded_earlier_predictions"):
            info(f"earlier predictions discarded: {metrics['discarded_earlier_predictions']}")
        info(
            f"{metrics['generated_now']} generated, {metrics['resumed']} resumed; outputs in {out}"
            + (
                f"; {len(metrics['pictures'])} pictures in {out / 'pictures'}"
                if metrics.get("pictures")
                else ""
            )
        )
        if metrics.get("report"):
            info(f"report: {metrics['report']}")
