"""`vlmr1 prepare-data shapes`: the synthetic coloured-shapes REC data (the demo's dataset)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import JsonOpt, count_option, output_option, seed_option

# Shapes never overlap and are a quarter to half of the shorter image side: more than this
# rarely fit (placement is best effort, so a crowded image may still hold fewer).
MAX_SHAPES = 6
MIN_CANVAS = 16  # pixels: the smallest shape is 8 px wide
# Larger images only cost memory (60000 px a side is 10 GB each): every model downscales them
# (Qwen2.5-VL's default max_pixels is 12.8 M, about 3584 px a side).
MAX_CANVAS = 4096


def shapes(
    output: Annotated[Path, output_option("folder", "the JSONL files and images/.")],
    train: Annotated[int, count_option("--train", "Training samples.")] = 2000,
    eval: Annotated[int, count_option("--eval", "In-domain evaluation samples.")] = 200,
    ood: Annotated[
        int, count_option("--ood", "Samples per out-of-domain split (held-out colour-shape pairs).")
    ] = 200,
    seed: Annotated[int, seed_option("Random seed; same seed, same bytes.")] = 0,
    shapes: Annotated[
        tuple[int, int],
        typer.Option(
            "--shapes",
            min=1,
            max=MAX_SHAPES,
            help=f"Min and max shapes per in-domain image (1-{MAX_SHAPES}).",
        ),
    ] = (1, 2),
    ood_shapes: Annotated[
        tuple[int, int],
        typer.Option(
            "--ood-shapes",
            min=1,
            max=MAX_SHAPES,
            help=f"Min and max shapes per eval_ood image (1-{MAX_SHAPES}; eval_ood_pairs uses --shapes).",
        ),
    ] = (2, 3),
    canvas: Annotated[
        tuple[int, int],
        typer.Option(
            "--canvas",
            min=MIN_CANVAS,
            max=MAX_CANVAS,
            help=f"Min and max image side, pixels ({MIN_CANVAS}-{MAX_CANVAS}).",
        ),
    ] = (56, 112),
    json_out: JsonOpt = False,
) -> None:
    """Synthetic coloured-shapes REC data (offline; the demo's dataset)."""
    from vlmr1_cli.cli.output import print_json, print_table
    from vlmr1_cli.data.shapes import generate_shapes

    for flag_, (low, high) in (
        ("--shapes", shapes),
        ("--ood-shapes", ood_shapes),
        ("--canvas", canvas),
    ):
        if low > high:
            raise typer.BadParameter(f"min {low} is above max {high}", param_hint=f"'{flag_}'")
    counts = generate_shapes(
        output,
        train=train,
        eval=eval,
        ood=ood,
        seed=seed,
        shapes=shapes,
        ood_shapes=ood_shapes,
        canvas=canvas,
    )
    if json_out:
        print_json({"output": str(output), "records": counts})
        return
    print_table(f"shapes -> {output}", ["file", "records"], sorted(counts.items()))


def register(app: typer.Typer) -> None:
    """Add `shapes` to the prepare-data app."""
    app.command("shapes")(shapes)
