"""`vlmr1 export` and `vlmr1 push`: parse options, call vlmr1_cli.export, print the outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import (
    DtypeOpt,
    JsonOpt,
    alias_option,
    device_option,
    flag,
    model_option,
    output_option,
    take_alias,
    value,
)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _export_json(res) -> dict:
    """What `export --json` prints: where it went, what it holds, how it was checked."""
    return {
        "output": str(res.output),
        "source": {"label": res.source.label, "folder": str(res.source.model_dir)},
        "weights": res.weights,
        "dtype": res.dtype,
        "files": [{"path": name, "bytes": size} for name, size in res.files],
        "total_bytes": sum(size for _, size in res.files),
        "merge_checks": [
            {"dtype": c.dtype, "error": c.error, "tolerance": c.tolerance, "passed": c.passed}
            for c in res.checks
        ],
        "metrics_in_card": [m.label for m in res.source.metrics],
        "notes": list(res.notes),
    }


def _push_json(res, repo_id: str, revision: str | None) -> dict:
    plan = res.plan
    return {
        "repo_id": repo_id,
        "revision": revision,
        "dry_run": res.dry_run,
        "files": [{"path": name, "bytes": size} for name, size in plan.files],
        "total_bytes": plan.total_bytes,
        "card_changed": plan.card_changed,
        "token_found": res.token_found,
        "repo_url": res.repo_url,
        "commit_url": res.commit_url,
        "notes": list(plan.notes),
    }


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        ctx: typer.Context,
        *,  # keyword-only: a required option (no default) may follow optional ones
        model: Annotated[
            Path | None,
            model_option("Required: a training output folder, or a checkpoint-N folder inside it."),
        ] = None,
        output: Annotated[Path, output_option("folder", "where the exported model goes.")],
        merge_lora: Annotated[
            bool,
            flag(
                "--merge-lora",
                help="Fold a LoRA adapter into its base (verified on a sample input).",
            ),
        ] = False,
        dtype: DtypeOpt = None,
        max_shard_size: Annotated[
            str,
            typer.Option("--max-shard-size", help="Largest safetensors shard, e.g. 5GB, 500MB."),
        ] = "5GB",
        overwrite: Annotated[
            bool, flag("--overwrite", help="Replace an existing, non-empty output folder.")
        ] = False,
        device: Annotated[
            str | None, device_option("Device for loading and the merge check (default: cpu).")
        ] = None,
        tolerance: Annotated[
            float | None,
            typer.Option(
                "--tolerance",
                min=0.0,
                help=(
                    "Merge-check tolerance (relative max |Δlogit|); default per dtype: float32 "
                    "1e-3, float16 2e-2, bfloat16 5e-2."
                ),
                show_default=False,
            ),
        ] = None,
        revision: Annotated[
            str | None,
            typer.Option(
                "--revision",
                help=(
                    "Hub branch, tag or commit of a LoRA adapter's base given as ORG/NAME "
                    "(default: the adapter's, else main)."
                ),
                show_default=False,
            ),
        ] = None,
        json_out: JsonOpt = False,
        checkpoint: Annotated[Path | None, alias_option("--checkpoint")] = None,
    ) -> None:
        """Export a checkpoint: safetensors, config, processor, vlmr1.json, recipe, model card."""
        from vlmr1_cli.cli.output import info, print_json, print_table
        from vlmr1_cli.export.exporter import export_checkpoint

        model = take_alias(ctx, "model", model, "checkpoint", required=True)
        from vlmr1_cli.devices import check_device

        check_device(device)  # before any weights load
        info(f"exporting {model} ...")
        res = export_checkpoint(
            model,
            output,
            merge_lora=merge_lora,
            dtype=value(dtype),
            max_shard_size=max_shard_size,
            overwrite=overwrite,
            device=device,
            tolerance=tolerance,
            revision=revision,
        )
        if json_out:
            print_json(_export_json(res))
            return
        src = res.source
        info(f"source: {src.label} ({src.model_dir})")
        for c in res.checks:
            info(
                f"merge check {c.dtype}: relative max |Δlogit| {c.error:.2e} <= {c.tolerance:g}: ok"
            )
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
        ctx: typer.Context,
        *,  # keyword-only: a required option (no default) may follow optional ones
        model: Annotated[
            Path | None, model_option("Required: an exported model folder (vlmr1 export).")
        ] = None,
        repo_id: Annotated[
            str, typer.Option("--repo-id", help="Hub repository, ORG/NAME.", show_default=False)
        ],
        private: Annotated[
            bool, flag("--private", help="Create the repository as private.")
        ] = False,
        revision: Annotated[
            str | None,
            typer.Option(
                "--revision", help="Branch to push to (created if missing).", show_default=False
            ),
        ] = None,
        commit_message: Annotated[
            str | None, typer.Option("--commit-message", help="Commit message.", show_default=False)
        ] = None,
        dry_run: Annotated[
            bool, flag("--dry-run", help="List the files and sizes; no network.")
        ] = False,
        json_out: JsonOpt = False,
        model_dir: Annotated[Path | None, alias_option("--model-dir")] = None,
    ) -> None:
        """Upload an exported model folder to the Hugging Face Hub (token: `hf auth login` or HF_TOKEN)."""
        from vlmr1_cli.cli.output import info, print_json, print_table
        from vlmr1_cli.export.hub import push as push_folder

        model = take_alias(ctx, "model", model, "model_dir", required=True)
        res = push_folder(
            model,
            repo_id,
            private=private,
            revision=revision,
            commit_message=commit_message,
            dry_run=dry_run,
        )
        if json_out:
            print_json(_push_json(res, repo_id, revision))
            return
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
            info(
                "Hub token: found"
                if res.token_found
                else "Hub token: not found (run `hf auth login` or set HF_TOKEN before pushing)"
            )
            return
        print_table(f"{where} (uploaded)", ["file", "size"], rows)
        info(f"repository: {res.repo_url}")
        if res.commit_url:
            info(f"commit: {res.commit_url}")
