"""`vlmr1 prepare-data validate`: check a JSONL file (schema v1) and its images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import JsonOpt, MaxImagePixelsOpt, count_option, flag


def validate(
    file: Annotated[
        Path, typer.Argument(help="JSONL file (schema v1) to check.", show_default=False)
    ],
    image_root: Annotated[
        Path | None,
        typer.Option(
            "--image-root", help="Image folder (default: the file's folder).", show_default=False
        ),
    ] = None,
    no_images: Annotated[bool, flag("--no-images", help="Skip the image checks.")] = False,
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, help="Pixels a box may overhang the image.")
    ] = 1.0,
    decode: Annotated[
        bool, flag("--decode", help="Decode every image fully (slower; catches truncated files).")
    ] = False,
    allow_absolute: Annotated[
        bool, flag("--allow-absolute", help="Accept absolute image paths inside the image root.")
    ] = False,
    max_lines: Annotated[
        int, count_option("--max-lines", "Problems printed one per line (all are counted).")
    ] = 200,
    max_image_pixels: MaxImagePixelsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every record: schema, images, sizes, boxes, labels. Exit 1 on any problem."""
    from vlmr1_cli.cli.output import print_json, print_table
    from vlmr1_cli.data.validate import validate_file

    root = None if no_images else (image_root if image_root is not None else file.parent)
    rep = validate_file(
        file,
        root,
        tolerance=tolerance,
        decode=decode,
        allow_absolute=allow_absolute,
        max_pixels=max_image_pixels,
    )
    if json_out:
        print_json(
            {
                "file": str(file),
                "ok": rep.ok,
                "records": rep.records,
                "records_with_problems": rep.bad_lines,
                "images_checked": rep.images_checked if root is not None else None,
                "problem_kinds": dict(sorted(rep.kinds.items())),
                "problems": [
                    {"line": line, "message": msg} for line, msg in rep.problems[:max_lines]
                ],
                "problems_not_listed": max(0, len(rep.problems) - max_lines),
            }
        )
        if not rep.ok:
            raise typer.Exit(1)
        return
    for line, msg in rep.problems[:max_lines]:
        typer.echo(f"{file}:{line}: {msg}")
    if len(rep.problems) > max_lines:
        typer.echo(
            f"... {len(rep.problems) - max_lines} more problems (raise --max-lines to see them)"
        )
    rows = [
        ("records", rep.records),
        ("records with problems", rep.bad_lines),
        ("images checked", rep.images_checked if root is not None else "skipped"),
    ]
    rows += [(f"problem: {k}", n) for k, n in sorted(rep.kinds.items())]
    print_table(f"validate {file}: {'OK' if rep.ok else 'FAILED'}", ["", "count"], rows)
    if not rep.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `validate` to the prepare-data app."""
    app.command("validate")(validate)
