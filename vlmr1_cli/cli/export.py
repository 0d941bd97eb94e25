"""`vlmr1 export` and `vlmr1 push`: parse options, call vlmr1_cli.export, print the outcome."""

from __future__ import annotations

from pathlib import Path

import typer


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        checkpoint: Path = typer.Option(..., "--checkpoint", help="Training output folder, or a checkpoint-N folder inside it."),
        output: Path = typer.Option(..., "--output", "-o", help="Folder to write the exported model into."),
        merge_lora: bool = typer.Option(False, "--merge-lora", help="Fold a LoRA adapter into its base (verified on a sample input)."),
        dtype: str = typer.Option(None, "--dtype", help="bfloat16, float16 or float32 (default: as stored)."),
        max_shard_size: str = typer.Option("5GB", "--max-shard-size", help="Largest safetensors shard, e.g. 5GB, 500MB."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing, non-empty output folder."),
        device: str = typer.Option(None, "--device", help="Device for loading and the merge check (default: cpu)."),
        tolerance: float = typer.Option(None, "--tolerance", help="Merge-check tolerance (relative max |Δlogit|); default per dtype: float32 1e-3, float16 2e-2, bfloat16 5e-2."),
    ) -> None:
        """Export a checkpoint: safetensors, config, processor, vlmr1.json, recipe, model card."""
        from vlmr1_cli.cli.output import info, print_table
        from vlmr1_cli.export.exporter import export_checkpoint

        info(f"exporting {checkpoint} ...")
        res = export_checkpoint(checkpoint, output, merge_lora=merge_lora, dtype=dtype,
                                max_shard_size=max_shard_size, overwrite=overwrite,
                                device=device, tolerance=tolerance)
        src = res.source
        info(f"source: {src.label} ({src.model_dir})")
        for c in res.checks:
            info(f"merge check {c.dtype}: relative max |Δlogit| {c.error:.2e} <= {c.tolerance:g}: ok")
        for m in src.metrics:
            info(f"metrics in model card: {m.label}")
        for note in res.notes:
            info(f"note: {note}")
        info(f"exported {res.weights} ({res.dtype or 'dtype as stored'}) to {res.output}")
        rows = [(name, _size(size)) for name, size in res.files]
        rows.append(("total", _size(sum(size for _, size in res.files))))
        print_table(str(res.output), ["file", "size"], rows)

    @app.command("push")
    def push(
        model_dir: Path = typer.Option(..., "--model-dir", help="An exported model folder (vlmr1 export)."),
        repo_id: str = typer.Option(..., "--repo-id", help="Hub repository, ORG/NAME."),
        private: bool = typer.Option(False, "--private", help="Create the repository as private."),
        revision: str = typer.Option(None, "--revision", help="Branch to push to (created if missing)."),
        commit_message: str = typer.Option(None, "--commit-message", help="Commit message."),
        dry_run: bool = typer.Option(False, "--dry-run", help="List the files and sizes; no network."),
    ) -> None:
        """Upload an exported model folder to the Hugging Face Hub (token: `hf auth login` or HF_TOKEN)."""
        from vlmr1_cli.cli.output import info, print_table
        from vlmr1_cli.export.hub import push as push_folder

        res = push_folder(model_dir, repo_id, private=private, revision=revision,
                          commit_message=commit_message, dry_run=dry_run)
        plan = res.plan
        for note in plan.notes:
            info(f"note: {note}")
        rows = [(name, _size(size)) for name, size in plan.files]
        rows.append(("total", _size(plan.total_bytes)))
        where = f"{repo_id}@{revision}" if revision else repo_id
        if res.dry_run:
            print_table(f"{where} (dry run, nothing sent)", ["file", "size"], rows)
            if plan.card_changed:
                info(f"README.md: the usage section would name {repo_id}")
            info("Hub token: found" if res.token_found else
                 "Hub token: not found (run `hf auth login` or set HF_TOKEN before pushing)")
            return
        print_table(f"{where} (uploaded)", ["file", "size"], rows)
        info(f"repository: {res.repo_url}")
        if res.commit_url:
            info(f"commit: {res.commit_url}")
