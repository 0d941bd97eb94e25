"""`vlmr1 evaluate`: score a model on a JSONL file, or score standard COCO-format files."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        model: str | None = typer.Option(None, "--model", "-m", help="Checkpoint folder, LoRA adapter folder, preset, or cached Hub id."),
        data: Path | None = typer.Option(None, "--data", "-d", help="JSONL (schema v1) to evaluate on."),
        output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Where predictions.jsonl and metrics.json go (default: <model>/eval-<data name>)."),
        image_root: Path | None = typer.Option(None, "--image-root", help="Image root (default: the JSONL's folder)."),
        task: str | None = typer.Option(None, "--task", help="rec | coco | ovdeval | d3 | ovd (default: from the records)."),
        labels: str | None = typer.Option(None, "--labels", help="coco: query all categories or only those present (all | positive; default: as the records list them)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Samples per generate call."),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per sample."),
        template: str | None = typer.Option(None, "--template", help="Prompt template ({problem}, {labels}); default: the checkpoint's recipe."),
        system: str | None = typer.Option(None, "--system", help="System message (default: the checkpoint's recipe)."),
        vlmr1_compat: bool = typer.Option(False, "--vlmr1-compat", help="REC headline uses VLM-R1's parser and discrete IoU > 0.5."),
        max_samples: int | None = typer.Option(None, "--max-samples", help="Evaluate only the first N samples."),
        sample: int | None = typer.Option(None, "--sample", help="VLM-R1's protocol: shuffle with --seed, keep the first N (e.g. 2000)."),
        seed: int = typer.Option(42, "--seed", help="Shuffle seed for --sample."),
        backend: str = typer.Option("hf", "--backend", help="hf (transformers generate) | vllm (needs the vllm extra: pip install 'vlmr1\\[vllm]')."),
        num_processes: int = typer.Option(1, "--num-processes", help="Shard samples across N processes (accelerate)."),
        dtype: str | None = typer.Option(None, "--dtype", help="Model dtype (default: as stored), e.g. bfloat16."),
        device: str | None = typer.Option(None, "--device", help="Device for one process (default: cuda if available, else cpu)."),
        trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the checkpoint."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Discard earlier predictions in the output folder instead of resuming."),
        visualize: int = typer.Option(0, "--visualize", help="Write N pictures with GT and predicted boxes."),
        json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON on stdout."),
        gt: Path | None = typer.Option(None, "--gt", help="Scoring mode: COCO-format ground truth."),
        results: Path | None = typer.Option(None, "--results", help="Scoring mode: COCO results list."),
        metric: str | None = typer.Option(None, "--metric", help="Scoring mode: coco | nms-ap | greedy-pr."),
        output: str | None = typer.Option(None, "--output", help="Scoring mode: metrics.json path ('-' = stdout)."),
    ) -> None:
        """Evaluate a checkpoint on JSONL data, or score COCO-format files (--gt/--results/--metric)."""
        from vlmr1_cli.cli.output import info, print_json, print_kv, print_table
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
        from vlmr1_cli.evaluate.report import summary_table
        from vlmr1_cli.evaluate.runner import EvalOptions
        from vlmr1_cli.evaluate.runner import evaluate as run_eval

        out = output_dir or (Path(model) if Path(model).is_dir() else Path(".")) / f"eval-{data.stem}"
        opts = EvalOptions(batch_size=batch_size, max_new_tokens=max_new_tokens, template=template,
                           system=system, compat=vlmr1_compat, task=task, labels=labels,
                           max_samples=max_samples, sample=sample, seed=seed, dtype=dtype, device=device,
                           backend=backend, num_processes=num_processes, visualize=visualize,
                           overwrite=overwrite, trust_remote_code=trust_remote_code)
        metrics = run_eval(model, data, out, image_root=str(image_root) if image_root else None, opts=opts)
        if json_out:
            print_json(metrics)
            return
        print_table(*summary_table(metrics))
        if metrics.get("discarded_earlier_predictions"):
            info(f"earlier predictions discarded: {metrics['discarded_earlier_predictions']}")
        info(f"{metrics['generated_now']} generated, {metrics['resumed']} resumed; outputs in {out}"
             + (f"; {len(metrics['pictures'])} pictures in {out / 'pictures'}" if metrics.get("pictures") else ""))
