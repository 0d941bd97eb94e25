"""`vlmr1 prepare-data <source>`: upstream formats -> JSONL schema v1."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Convert upstream datasets (or generate synthetic ones) into JSONL schema v1.",
                  no_args_is_help=True)


@app.command("shapes")
def shapes(
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (JSONL files + images/)."),
    train: int = typer.Option(2000, "--train", help="Training samples."),
    eval: int = typer.Option(200, "--eval", help="In-domain evaluation samples."),
    ood: int = typer.Option(200, "--ood", help="Out-of-domain samples (held-out colour-shape pairs)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same bytes."),
) -> None:
    """Synthetic coloured-shapes REC data (offline; the demo's dataset)."""
    from vlmr1_cli.cli.output import print_table
    from vlmr1_cli.data.shapes import generate_shapes

    counts = generate_shapes(output, train=train, eval=eval, ood=ood, seed=seed)
    print_table(f"shapes -> {output}", ["file", "records"], sorted(counts.items()))
