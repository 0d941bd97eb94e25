"""`vlmr1 prepare-data hf` and `prepare-data to-hf`: Hugging Face datasets in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import JsonOpt, OutputFileOpt, flag, output_option, value
from vlmr1_cli.data.hf_layouts import BoxFormat, BoxUnits, Layout, Task, TextsPerRow


def hf(
    source: Annotated[
        str,
        typer.Argument(
            help="A Hub dataset id (owner/name), or a local parquet / "
            "JSON / JSONL / Arrow file or folder.",
            show_default=False,
        ),
    ],
    output: OutputFileOpt,
    image_root: Annotated[
        Path,
        typer.Option(
            "--image-root",
            show_default=False,
            help="Folder the images are written to (content-addressed "
            "names); record paths are relative to it.",
        ),
    ],
    split: Annotated[
        str | None,
        typer.Option(
            "--split", show_default=False, help="Split to read (default: train, or the only one)."
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", show_default=False, help="Dataset config (README configs) or subfolder."
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option("--revision", show_default=False, help="Hub branch, tag or commit to read."),
    ] = None,
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help="Column layout: trl (image/problem/solution), "
            "easyr1 (images/problem/answer), swift "
            "(images/objects), vlmr1 (to-hf output), "
            "lmms-refcoco (lmms-lab/RefCOCO: image/answer/"
            "bbox, xywh pixels); auto picks from the "
            "column names, or uses the --*-column "
            "options alone.",
        ),
    ] = Layout.auto,
    task: Annotated[
        Task,
        typer.Option(
            "--task",
            help="Record task; auto: rec for one box, ovd for "
            "labelled objects; text keeps text answers.",
        ),
    ] = Task.auto,
    box_format: Annotated[
        BoxFormat | None,
        typer.Option(
            "--box-format",
            show_default=False,
            help="How the dataset's boxes are written (required when rows hold boxes, except for the "
            "swift, vlmr1 and lmms-refcoco layouts, which state theirs).",
        ),
    ] = None,
    box_units: Annotated[
        BoxUnits | None,
        typer.Option(
            "--box-units",
            show_default=False,
            help="Units of the dataset's boxes, relative to the original image (swift rows state "
            "theirs in bbox_type).",
        ),
    ] = None,
    image_column: Annotated[
        str | None,
        typer.Option("--image-column", show_default=False, help="Column of the image(s)."),
    ] = None,
    problem_column: Annotated[
        str | None,
        typer.Option("--problem-column", show_default=False, help="Column of the problem text."),
    ] = None,
    solution_column: Annotated[
        str | None,
        typer.Option(
            "--solution-column", show_default=False, help="Column of the solution (swift: objects)."
        ),
    ] = None,
    texts: Annotated[
        TextsPerRow,
        typer.Option(
            "--texts",
            help="A problem cell holding a list of texts (e.g. referring expressions): "
            "all: one record per text (ids <id>-<k>); first: the first only.",
        ),
    ] = TextsPerRow.all,
    labels_column: Annotated[
        str | None,
        typer.Option(
            "--labels-column", show_default=False, help="Column of the OVD labels to query."
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            show_default=False,
            help="Column of the record ids (default: id if present, else <split>-<row>).",
        ),
    ] = None,
    source_root: Annotated[
        Path | None,
        typer.Option(
            "--source-root",
            show_default=False,
            help="Folder that image paths in the rows are relative to (default: the dataset's folder).",
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, help="Pixels a box may overhang its image.")
    ] = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """A Hub dataset or local parquet/JSON/Arrow data (TRL, EasyR1, ms-swift, lmms-eval RefCOCO) -> schema v1."""
    from vlmr1_cli.data.hf_import import convert_hf

    s = convert_hf(
        source,
        output,
        image_root,
        split=split,
        config=config,
        revision=revision,
        layout=layout.value,
        task=task.value,
        columns={
            "image": image_column,
            "problem": problem_column,
            "solution": solution_column,
            "labels": labels_column,
            "id": id_column,
        },
        box_format=value(box_format),
        box_units=value(box_units),
        source_root=source_root,
        texts=texts.value,
        tolerance=tolerance,
    )
    if json_out:
        from vlmr1_cli.cli.output import print_json

        print_json(s.to_dict())
        return
    from vlmr1_cli.cli.output import print_table

    print_table(f"hf {source} -> {output}", ["", "count / value"], s.rows())


def to_hf(
    input_file: Annotated[
        Path, typer.Argument(help="Schema-v1 JSONL to export.", show_default=False)
    ],
    output: Annotated[
        Path, output_option("folder", "the parquet dataset (must not exist, or be empty).")
    ],
    image_root: Annotated[
        Path | None,
        typer.Option(
            "--image-root",
            show_default=False,
            help="Folder the record image paths are relative to (default: the JSONL's folder).",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split name of the shards.")] = "train",
    max_shard_size: Annotated[
        int, typer.Option("--max-shard-size", min=1, help="Largest shard, in MB.")
    ] = 500,
    push_to_hub: Annotated[
        str | None,
        typer.Option(
            "--push-to-hub",
            show_default=False,
            help="Also upload the folder to this Hub dataset "
            "repo (token: HF_TOKEN or `hf auth login`).",
        ),
    ] = None,
    private: Annotated[
        bool, flag("--private", help="Create the Hub repo private (if it is new).")
    ] = False,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision", show_default=False, help="Hub branch to commit to (created if missing)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Schema-v1 JSONL -> a parquet dataset with the images embedded (and, optionally, the Hub)."""
    from vlmr1_cli.data.hf_export import export_to_folder, push_folder
    from vlmr1_cli.errors import UserError

    if (private or revision) and not push_to_hub:
        raise UserError("--private and --revision apply to --push-to-hub")
    s = export_to_folder(
        input_file,
        output,
        image_root=image_root,
        split=split,
        max_shard_bytes=max_shard_size * 1024 * 1024,
    )
    if push_to_hub:
        s.pushed = push_folder(output, push_to_hub, split=split, private=private, revision=revision)
    if json_out:
        from vlmr1_cli.cli.output import print_json

        print_json(s.to_dict())
        return
    from vlmr1_cli.cli.output import print_table

    print_table(f"to-hf {input_file} -> {output}", ["", "value"], s.rows())


def register(app: typer.Typer) -> None:
    """Add `hf` and `to-hf` to the prepare-data app."""
    app.command("hf")(hf)
    app.command("to-hf")(to_hf)
