"""`vlmr1 prepare-data <source>`: upstream formats -> JSONL schema v1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli import prepare_hf, prepare_shapes, prepare_validate
from vlmr1_cli.cli.options import (
    CONTEXT_SETTINGS,
    BoxRule,
    CocoVariant,
    Coords,
    ImagePrefixOpt,
    JsonOpt,
    KeepDrop,
    LabelMode,
    OutputFileOpt,
    RefcocoDataset,
    RefcocoSplit,
    SplitBy,
    TextField,
    TextMode,
    count_option,
    flag,
    seed_option,
    value,
)
from vlmr1_cli.cli.plugin_commands import PluginGroup

# PluginGroup: installed packages add `prepare-data <name>` commands (entry points `vlmr1.importers`)
app = typer.Typer(
    help="Convert upstream datasets (or generate synthetic ones) into JSONL schema v1.",
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
    cls=PluginGroup,
)

prepare_shapes.register(app)  # shapes: the synthetic dataset, first in the list


def _not_an_input(output: Path, inputs, flag: str = "--output") -> None:
    """Refuse an output that is one of the command's input files: writing it would replace
    the data it is made from (the conversion reads it first, then renames over it)."""
    from vlmr1_cli.errors import UserError

    if not output.is_file():
        return
    for src in inputs:
        if src is not None and Path(src).is_file() and output.samefile(src):
            raise UserError(
                f"{flag} {output}: is an input of this command; choose another output file"
            )


def _folder_inputs(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in suffixes] if folder.is_dir() else []


def _print_summary(title: str, summary, json_out: bool) -> None:
    from vlmr1_cli.cli.output import print_json, print_table

    if json_out:
        print_json(summary.to_dict())
        return
    print_table(title, ["", "count / value"], summary.rows())


@app.command("refcoco")
def refcoco(
    refer_root: Annotated[
        Path,
        typer.Option(
            "--refer-root",
            help="refer toolkit data folder (holds refcoco/, refcoco+/, refcocog/).",
            show_default=False,
        ),
    ],
    dataset: Annotated[
        RefcocoDataset,
        typer.Option("--dataset", help="Which dataset of the refer layout.", show_default=False),
    ],
    split_by: Annotated[
        SplitBy, typer.Option("--split-by", help="The refs(<splitBy>).p file.", show_default=False)
    ],
    split: Annotated[
        RefcocoSplit,
        typer.Option(
            "--split",
            help="Split, with the toolkit's semantics (test = every test split).",
            show_default=False,
        ),
    ],
    output: OutputFileOpt,
    text: Annotated[
        TextField,
        typer.Option(
            "--text",
            help="Sentence field used as the problem: raw (as written) or sent (toolkit-normalised).",
        ),
    ] = TextField.raw,
    image_prefix: ImagePrefixOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """RefCOCO / RefCOCO+ / RefCOCOg (refer layout) -> REC records, one per sentence."""
    from vlmr1_cli.data.refcoco import convert_refcoco

    _not_an_input(output, _folder_inputs(refer_root / dataset.value, (".json", ".p")))
    s = convert_refcoco(
        refer_root,
        dataset.value,
        split_by.value,
        split.value,
        output,
        text=text.value,
        image_prefix=image_prefix,
    )
    _print_summary(f"{dataset.value} ({split_by.value}) {split.value} -> {output}", s, json_out)


@app.command("vlmr1-rec")
def vlmr1_rec(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="VLM-R1 REC files: eval JSON arrays (refcoco_val.json...) or training JSONL.",
            show_default=False,
        ),
    ],
    output: OutputFileOpt,
    image_root: Annotated[
        Path | None,
        typer.Option(
            "--image-root",
            help="Image folder, to read sizes of records that state none (training JSONL).",
            show_default=False,
        ),
    ] = None,
    coords: Annotated[
        Coords,
        typer.Option(
            "--coords", help="abs (original pixels) or norm1000 (InternVL variant: 0-1000)."
        ),
    ] = Coords.abs,
    renumber: Annotated[
        bool, flag("--renumber", help="Number records by position instead of keeping upstream ids.")
    ] = False,
    image_prefix: ImagePrefixOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """VLM-R1's distributed REC files -> REC records (solution kept as is)."""
    from vlmr1_cli.data.vlmr1_rec import convert_vlmr1_rec

    _not_an_input(output, files)
    s = convert_vlmr1_rec(
        files,
        output,
        image_root=image_root,
        coords=coords.value,
        renumber=renumber,
        image_prefix=image_prefix,
    )
    _print_summary(f"vlmr1-rec -> {output}", s, json_out)


@app.command("d3")
def d3(
    output: OutputFileOpt,
    anno_dir: Annotated[
        Path | None,
        typer.Option(
            "--anno-dir",
            help="Folder with sentences/annotations/images/groups.pkl.",
            show_default=False,
        ),
    ] = None,
    annotations_json: Annotated[
        Path | None,
        typer.Option(
            "--annotations-json",
            help="Or: a D3 COCO-style JSON (d3_full_annotations.json...).",
            show_default=False,
        ),
    ] = None,
    gt: Annotated[
        Path | None,
        typer.Option(
            "--gt",
            help="With --anno-dir: the D3 COCO-style JSON to score against (recorded as gt_file).",
            show_default=False,
        ),
    ] = None,
    negatives: Annotated[
        int, count_option("--negatives", "Verified negative descriptions added per image.")
    ] = 13,
    seed: Annotated[int, seed_option("Sampling/shuffle seed; same seed, same bytes.")] = 0,
    prefer_group: Annotated[
        bool, flag("--prefer-group", help="Take negatives from the image's own group first.")
    ] = False,
    image_prefix: ImagePrefixOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """D3 (pickles or COCO-style JSON) -> OVD records with verified negatives."""
    from vlmr1_cli.data.d3 import convert_d3

    _not_an_input(
        output, [annotations_json, gt, *(_folder_inputs(anno_dir, (".pkl",)) if anno_dir else [])]
    )
    s = convert_d3(
        output,
        anno_dir=anno_dir,
        json_file=annotations_json,
        gt_file=gt,
        negatives=negatives,
        seed=seed,
        prefer_group=prefer_group,
        image_prefix=image_prefix,
    )
    _print_summary(f"d3 -> {output}", s, json_out)


@app.command("coco")
def coco(
    instances: Annotated[
        Path,
        typer.Option(
            "--instances",
            help="COCO instances JSON (e.g. instances_val2017.json).",
            show_default=False,
        ),
    ],
    output: OutputFileOpt,
    gt_output: Annotated[
        Path | None,
        typer.Option(
            "--gt-output",
            help="COCO GT file of the kept boxes (default: <output stem>_gt.json).",
            show_default=False,
        ),
    ] = None,
    max_boxes: Annotated[
        int | None,
        count_option(
            "--max-boxes-per-category",
            "Drop, per image, any category with more boxes (10 = COCO-filtered).",
            min=1,
        ),
    ] = None,
    max_image_boxes: Annotated[
        int | None,
        count_option(
            "--max-boxes-per-image", "Skip images with more boxes left (10 = COCO_pos_3).", min=1
        ),
    ] = None,
    variant: Annotated[
        CocoVariant | None,
        typer.Option(
            "--variant",
            help="The published COCO sets (fills the options above).",
            show_default=False,
        ),
    ] = None,
    labels: Annotated[
        LabelMode | None,
        typer.Option(
            "--labels",
            help="all: every category queried (default); positive: the present ones.",
            show_default=False,
        ),
    ] = None,
    crowd: Annotated[
        KeepDrop, typer.Option("--crowd", help="Keep or drop crowd boxes.")
    ] = KeepDrop.keep,
    empty: Annotated[
        KeepDrop, typer.Option("--empty", help="Keep or drop images left without boxes.")
    ] = KeepDrop.keep,
    seed: Annotated[
        int | None,
        seed_option("Shuffle each image's labels with this seed (default: category order)."),
    ] = None,
    image_prefix: ImagePrefixOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """COCO instances -> OVD records (+ COCO GT of the kept boxes); COCO-filtered with 10."""
    from vlmr1_cli.data.coco import convert_coco

    _not_an_input(output, [instances])
    if gt_output is not None:
        _not_an_input(gt_output, [instances], flag="--gt-output")
    s = convert_coco(
        instances,
        output,
        gt_output=gt_output,
        max_boxes_per_category=max_boxes,
        labels=value(labels),
        crowd=crowd.value,
        empty=empty.value,
        seed=seed,
        image_prefix=image_prefix,
        max_boxes_per_image=max_image_boxes,
        variant=value(variant),
    )
    _print_summary(f"coco -> {output}", s, json_out)


@app.command("ovdeval")
def ovdeval(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="OVDEval subset files (celebrity.json, negation.json...).", show_default=False
        ),
    ],
    output: OutputFileOpt,
    subset: Annotated[
        str | None,
        typer.Option(
            "--subset",
            help="Subset name of a single file (default: the file stem).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None, seed_option("Shuffle each image's labels (default: the official order).")
    ] = None,
    image_prefix: ImagePrefixOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """OVDEval subsets -> OVD records with the officially queried labels."""
    from vlmr1_cli.data.ovdeval import convert_ovdeval

    _not_an_input(output, files)
    s = convert_ovdeval(files, output, subset=subset, seed=seed, image_prefix=image_prefix)
    _print_summary(f"ovdeval -> {output}", s, json_out)


@app.command("lisa")
def lisa(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A ReasonSeg split folder (NAME.jpg + NAME.json), e.g. ReasonSeg/test.",
            show_default=False,
        ),
    ],
    output: OutputFileOpt,
    box_rule: Annotated[
        BoxRule,
        typer.Option(
            "--box-rule", help="targets: all target polygons; first-shape: the first polygon."
        ),
    ] = BoxRule.targets,
    texts: Annotated[
        TextMode,
        typer.Option("--texts", help="all: one record per instruction; first: the first only."),
    ] = TextMode.all,
    image_prefix: ImagePrefixOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """LISA ReasonSeg annotations -> REC records (box from the target polygons)."""
    from vlmr1_cli.data.lisa import convert_lisa

    _not_an_input(output, _folder_inputs(folder, (".json", ".jpg", ".jpeg", ".png")))
    s = convert_lisa(
        folder, output, box_rule=box_rule.value, texts=texts.value, image_prefix=image_prefix
    )
    _print_summary(f"lisa ({box_rule.value}) -> {output}", s, json_out)


prepare_validate.register(app)  # validate: checks what the importers wrote
prepare_hf.register(app)  # hf, to-hf: Hugging Face datasets in and out
