"""`vlmr1 init-model`: build an offline, randomly initialised preset model folder."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("init-model")
    def init_model(
        output: Path = typer.Argument(..., help="Folder to write the model into."),
        preset: str = typer.Option("tiny-qwen2.5-vl", "--preset", help="Preset name (see --list)."),
        seed: int = typer.Option(0, "--seed", help="Initialisation seed."),
    ) -> None:
        """Create a small random VLM (no download); loadable with from_pretrained."""
        from vlmr1_cli.cli.output import info
        from vlmr1_cli.models.presets import build_preset

        path = build_preset(preset, output, seed=seed)
        info(f"wrote {preset} to {path}")

    @app.command("list-presets")
    def list_presets() -> None:
        """List the offline model presets."""
        from vlmr1_cli.cli.output import print_table
        from vlmr1_cli.models.presets import PRESETS

        print_table("presets", ["name", "family", "description"],
                    [(p.name, p.family, p.description) for p in PRESETS.values()])
