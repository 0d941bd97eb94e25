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
    ood: int = typer.Option(200, "--ood", help="Samples per out-of-domain split (held-out colour-shape pairs)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same bytes."),
    shapes: tuple[int, int] = typer.Option((1, 2), "--shapes", help="Min and max shapes per in-domain image."),
    ood_shapes: tuple[int, int] = typer.Option((2, 3), "--ood-shapes",
                                               help="Min and max shapes per eval_ood image (eval_ood_pairs uses --shapes)."),
    canvas: tuple[int, int] = typer.Option((56, 112), "--canvas", help="Min and max image side, pixels."),
) -> None:
    """Synthetic coloured-shapes REC data (offline; the demo's dataset)."""
    from vlmr1_cli.cli.output import print_table
    from vlmr1_cli.data.shapes import generate_shapes

    counts = generate_shapes(output, train=train, eval=eval, ood=ood, seed=seed, shapes=shapes,
                             ood_shapes=ood_shapes, canvas=canvas)
    print_table(f"shapes -> {output}", ["file", "records"], sorted(counts.items()))


def _print_summary(title: str, summary) -> None:
    from vlmr1_cli.cli.output import print_table

    print_table(title, ["", "count / value"], summary.rows())


@app.command("refcoco")
def refcoco(
    refer_root: Path = typer.Option(..., "--refer-root", help="refer toolkit data folder (holds refcoco/, refcoco+/, refcocog/)."),
    dataset: str = typer.Option(..., "--dataset", help="refcoco | refcoco+ | refcocog."),
    split_by: str = typer.Option(..., "--split-by", help="unc | umd | google (the refs(<splitBy>).p file)."),
    split: str = typer.Option(..., "--split", help="train | val | testA | testB | test (toolkit semantics)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    text: str = typer.Option("raw", "--text", help="Sentence field used as the problem: raw (as written) or sent (toolkit-normalised)."),
    image_prefix: str = typer.Option("", "--image-prefix", help="Prefix for image paths, e.g. 'train2014/'."),
) -> None:
    """RefCOCO / RefCOCO+ / RefCOCOg (refer layout) -> REC records, one per sentence."""
    from vlmr1_cli.data.refcoco import convert_refcoco

    s = convert_refcoco(refer_root, dataset, split_by, split, output, text=text, image_prefix=image_prefix)
    _print_summary(f"{dataset} ({split_by}) {split} -> {output}", s)


@app.command("vlmr1-rec")
def vlmr1_rec(
    files: list[Path] = typer.Argument(..., help="VLM-R1 REC files: eval JSON arrays (refcoco_val.json...) or training JSONL."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    image_root: Path = typer.Option(None, "--image-root", help="Image folder, to read sizes of records that state none (training JSONL)."),
    coords: str = typer.Option("abs", "--coords", help="abs (original pixels) or norm1000 (InternVL variant: 0-1000)."),
    renumber: bool = typer.Option(False, "--renumber", help="Number records by position instead of keeping upstream ids."),
    image_prefix: str = typer.Option("", "--image-prefix", help="Prefix for image paths."),
) -> None:
    """VLM-R1's distributed REC files -> REC records (solution kept as is)."""
    from vlmr1_cli.data.vlmr1_rec import convert_vlmr1_rec

    s = convert_vlmr1_rec(files, output, image_root=image_root, coords=coords, renumber=renumber,
                          image_prefix=image_prefix)
    _print_summary(f"vlmr1-rec -> {output}", s)


@app.command("d3")
def d3(
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    anno_dir: Path = typer.Option(None, "--anno-dir", help="Folder with sentences/annotations/images/groups.pkl."),
    json_file: Path = typer.Option(None, "--json", help="Or: a D3 COCO-style JSON (d3_full_annotations.json...)."),
    gt: Path = typer.Option(None, "--gt", help="With --anno-dir: the D3 COCO-style JSON to score against (recorded as gt_file)."),
    negatives: int = typer.Option(13, "--negatives", help="Verified negative descriptions added per image."),
    seed: int = typer.Option(0, "--seed", help="Sampling/shuffle seed; same seed, same bytes."),
    prefer_group: bool = typer.Option(False, "--prefer-group", help="Take negatives from the image's own group first."),
    image_prefix: str = typer.Option("", "--image-prefix", help="Prefix for image paths."),
) -> None:
    """D3 (pickles or COCO-style JSON) -> OVD records with verified negatives."""
    from vlmr1_cli.data.d3 import convert_d3

    s = convert_d3(output, anno_dir=anno_dir, json_file=json_file, gt_file=gt, negatives=negatives,
                   seed=seed, prefer_group=prefer_group, image_prefix=image_prefix)
    _print_summary(f"d3 -> {output}", s)


@app.command("coco")
def coco(
    instances: Path = typer.Option(..., "--instances", help="COCO instances JSON (e.g. instances_val2017.json)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    gt_output: Path = typer.Option(None, "--gt-output", help="COCO GT file of the kept boxes (default: <output stem>_gt.json)."),
    max_boxes: int = typer.Option(None, "--max-boxes-per-category", help="Drop, per image, any category with more boxes (10 = COCO-filtered)."),
    max_image_boxes: int = typer.Option(None, "--max-boxes-per-image", help="Skip images with more boxes left (10 = COCO_pos_3)."),
    variant: str = typer.Option(None, "--variant", help="filtered | pos2 | pos3: the published COCO sets (fills the options above)."),
    labels: str = typer.Option(None, "--labels", help="all (every category queried; default) or positive (present ones)."),
    crowd: str = typer.Option("keep", "--crowd", help="keep or drop crowd boxes."),
    empty: str = typer.Option("keep", "--empty", help="keep or drop images left without boxes."),
    seed: int = typer.Option(None, "--seed", help="Shuffle each image's labels with this seed (default: category order)."),
    image_prefix: str = typer.Option("", "--image-prefix", help="Prefix for image paths, e.g. 'val2017/'."),
) -> None:
    """COCO instances -> OVD records (+ COCO GT of the kept boxes); COCO-filtered with 10."""
    from vlmr1_cli.data.coco import convert_coco

    s = convert_coco(instances, output, gt_output=gt_output, max_boxes_per_category=max_boxes,
                     labels=labels, crowd=crowd, empty=empty, seed=seed, image_prefix=image_prefix,
                     max_boxes_per_image=max_image_boxes, variant=variant)
    _print_summary(f"coco -> {output}", s)


@app.command("ovdeval")
def ovdeval(
    files: list[Path] = typer.Argument(..., help="OVDEval subset files (celebrity.json, negation.json...)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    subset: str = typer.Option(None, "--subset", help="Subset name of a single file (default: the file stem)."),
    seed: int = typer.Option(None, "--seed", help="Shuffle each image's labels (default: the official order)."),
    image_prefix: str = typer.Option("", "--image-prefix", help="Prefix for image paths."),
) -> None:
    """OVDEval subsets -> OVD records with the officially queried labels."""
    from vlmr1_cli.data.ovdeval import convert_ovdeval

    s = convert_ovdeval(files, output, subset=subset, seed=seed, image_prefix=image_prefix)
    _print_summary(f"ovdeval -> {output}", s)


@app.command("lisa")
def lisa(
    folder: Path = typer.Argument(..., help="A ReasonSeg split folder (NAME.jpg + NAME.json), e.g. ReasonSeg/test."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    box_rule: str = typer.Option("targets", "--box-rule", help="targets (all target polygons) or first-shape (first polygon)."),
    texts: str = typer.Option("all", "--texts", help="all (one record per instruction) or first."),
    image_prefix: str = typer.Option("", "--image-prefix", help="Prefix for image paths."),
) -> None:
    """LISA ReasonSeg annotations -> REC records (box from the target polygons)."""
    from vlmr1_cli.data.lisa import convert_lisa

    s = convert_lisa(folder, output, box_rule=box_rule, texts=texts, image_prefix=image_prefix)
    _print_summary(f"lisa ({box_rule}) -> {output}", s)


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="JSONL file (schema v1) to check."),
    image_root: Path = typer.Option(None, "--image-root", help="Image folder (default: the file's folder)."),
    no_images: bool = typer.Option(False, "--no-images", help="Skip the image checks."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Pixels a box may overhang the image."),
    decode: bool = typer.Option(False, "--decode", help="Decode every image fully (slower; catches truncated files)."),
    allow_absolute: bool = typer.Option(False, "--allow-absolute", help="Accept absolute image paths inside the image root."),
    max_lines: int = typer.Option(200, "--max-lines", help="Problems printed one per line (all are counted)."),
) -> None:
    """Check every record: schema, images, sizes, boxes, labels. Exit 1 on any problem."""
    from vlmr1_cli.cli.output import print_table
    from vlmr1_cli.data.validate import validate_file

    root = None if no_images else (image_root if image_root is not None else file.parent)
    rep = validate_file(file, root, tolerance=tolerance, decode=decode, allow_absolute=allow_absolute)
    for line, msg in rep.problems[:max_lines]:
        typer.echo(f"{file}:{line}: {msg}")
    if len(rep.problems) > max_lines:
        typer.echo(f"... {len(rep.problems) - max_lines} more problems (raise --max-lines to see them)")
    rows = [("records", rep.records), ("records with problems", rep.bad_lines),
            ("images checked", rep.images_checked if root is not None else "skipped")]
    rows += [(f"problem: {k}", n) for k, n in sorted(rep.kinds.items())]
    print_table(f"validate {file}: {'OK' if rep.ok else 'FAILED'}", ["", "count"], rows)
    if not rep.ok:
        raise typer.Exit(1)
