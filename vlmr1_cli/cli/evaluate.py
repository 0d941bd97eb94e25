"""`vlmr1 evaluate`: score a model on a JSONL file, or score standard COCO-format files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Checkpoint folder, LoRA adapter folder, preset, or cached Hub id."),
        data: Optional[Path] = typer.Option(None, "--data", "-d", help="JSONL (schema v1) to evaluate on."),
        output_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o", help="Where predictions.jsonl and metrics.json go (default: <model>/eval-<data name>)."),
        image_root: Optional[Path] = typer.Option(None, "--image-root", help="Image root (default: the JSONL's folder)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Samples per generate call."),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per sample."),
        template: Optional[str] = typer.Option(None, "--template", help="Prompt template ({problem}, {labels}); default: the checkpoint's recipe."),
        vlmr1_compat: bool = typer.Option(False, "--vlmr1-compat", help="REC headline uses VLM-R1's discrete IoU > 0.5."),
        max_samples: Optional[int] = typer.Option(None, "--max-samples", help="Evaluate only the first N samples."),
        visualize: int = typer.Option(0, "--visualize", help="Write N pictures with GT and predicted boxes."),
        json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON on stdout."),
        gt: Optional[Path] = typer.Option(None, "--gt", help="Scoring mode: COCO-format ground truth."),
        results: Optional[Path] = typer.Option(None, "--results", help="Scoring mode: COCO results list."),
        metric: Optional[str] = typer.Option(None, "--metric", help="Scoring mode: coco | nms-ap | greedy-pr."),
        output: Optional[str] = typer.Option(None, "--output", help="Scoring mode: metrics.json path ('-' = stdout)."),
    ) -> None:
        """Evaluate a checkpoint on JSONL data, or score COCO-format files (--gt/--results/--metric)."""
        from vlmr1_cli.cli.output import print_json, print_kv
        from vlmr1_cli.errors import UserError

        if gt or results or metric:
            if not (gt and results and metric):
                raise UserError("scoring mode needs --gt, --results and --metric together")
            from vlmr1_cli.io import write_json
            from vlmr1_cli.metrics.scoring import score_files

            metrics = score_files(gt, results, metric)
            if output == "-":
                print_json(metrics)
                return
            if output:
                write_json(output, metrics)
            if json_out:
                print_json(metrics)
            else:
                print_kv(f"{metric}: {results}", {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))})
            return
        if not model or not data:
            raise UserError("evaluate needs --model and --data (or --gt, --results and --metric to score files)")
        from vlmr1_cli.evaluate.runner import EvalOptions
        from vlmr1_cli.evaluate.runner import evaluate as run_eval

        out = output_dir or Path(model) / f"eval-{data.stem}"
        opts = EvalOptions(batch_size=batch_size, max_new_tokens=max_new_tokens, template=template,
                           compat=vlmr1_compat, max_samples=max_samples, visualize=visualize)
        metrics = run_eval(model, data, out, image_root=str(image_root) if image_root else None, opts=opts)
        if json_out:
            print_json(metrics)
        else:
            print_kv(f"evaluate {data} -> {out}", {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))})
