"""Synthetic REC data: coloured shapes with referring expressions, fully offline.

Each image holds a few shapes with distinct (colour, shape) pairs; the expression names the
target ("the red circle"), so the box can only be found by looking at the image. Some
colour-shape combinations are held out of training altogether, and two out-of-domain splits
ask for exactly those, to test generalisation rather than recall: `eval_ood` among more
distractors than training ever shows, `eval_ood_pairs` among as many as in domain (the
unseen wording alone).
Deterministic for a seed: the same arguments give byte-identical files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from vlmr1_cli.io import write_jsonl
from vlmr1_cli.progress import track

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 190),
    "orange": (245, 130, 30),
}
SHAPES = ("circle", "square", "triangle", "diamond")
# Never drawn in train or in-domain eval; the out-of-domain split targets them.
HELD_OUT = frozenset(
    {("purple", "triangle"), ("orange", "circle"), ("green", "diamond"), ("yellow", "square")}
)


@dataclass(frozen=True)
class SplitSpec:
    name: str
    count: int
    min_shapes: int
    max_shapes: int
    held_out_targets: bool  # target drawn from HELD_OUT combos
    canvas: tuple[int, int] = (56, 112)  # image side range, pixels
    size: tuple[float, float] = (0.25, 0.5)  # shape side as a fraction of the shorter image side


def _draw(draw, shape: str, box: tuple[int, int, int, int], color) -> None:
    x1, y1, x2, y2 = box
    if shape == "circle":
        draw.ellipse((x1, y1, x2 - 1, y2 - 1), fill=color)
    elif shape == "square":
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=color)
    elif shape == "triangle":
        draw.polygon([((x1 + x2) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=color)
    else:  # diamond
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        draw.polygon([(cx, y1), (x2 - 1, cy), (cx, y2 - 1), (x1, cy)], fill=color)


def _place(
    rng: random.Random, w: int, h: int, n: int, size: tuple[float, float]
) -> list[tuple[int, int, int, int]]:
    """Up to n non-overlapping boxes (rejection sampling with a bounded number of tries)."""
    boxes: list[tuple[int, int, int, int]] = []
    lo = max(8, int(min(w, h) * size[0]))
    hi = max(lo + 1, int(min(w, h) * size[1]))
    for _ in range(200):
        if len(boxes) == n:
            break
        s = rng.randint(lo, hi)
        x, y = rng.randint(0, w - s), rng.randint(0, h - s)
        b = (x, y, x + s, y + s)
        if all(
            b[2] + 2 <= o[0] or o[2] + 2 <= b[0] or b[3] + 2 <= o[1] or o[3] + 2 <= b[1]
            for o in boxes
        ):
            boxes.append(b)
    return boxes


def _sample(
    rng: random.Random, spec: SplitSpec, idx: int, image_dir: Path, rel_prefix: str
) -> dict:
    from PIL import Image, ImageDraw

    w, h = rng.randint(*spec.canvas), rng.randint(*spec.canvas)
    boxes = _place(rng, w, h, rng.randint(spec.min_shapes, spec.max_shapes), spec.size)
    allowed = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in HELD_OUT]
    if spec.held_out_targets:
        target = rng.choice(sorted(HELD_OUT))
        others = rng.sample([p for p in allowed if p != target], len(boxes) - 1)
        pairs = [target, *others]
    else:
        pairs = rng.sample(allowed, len(boxes))
        target = pairs[0]
    order = list(range(len(boxes)))
    rng.shuffle(order)
    bg = tuple(rng.randint(225, 250) for _ in range(3))
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    for i, (color, shape) in enumerate(pairs):
        _draw(draw, shape, boxes[order[i]], COLORS[color])
    name = f"{spec.name}_{idx:06d}.png"
    img.save(image_dir / name, compress_level=1)  # fast: the demo writes 28k images
    tb = boxes[order[0]]
    return {
        "id": f"shapes-{spec.name}-{idx:06d}",
        "task": "rec",
        "images": [f"{rel_prefix}{name}"],
        "image_sizes": [[w, h]],
        "problem": f"the {target[0]} {target[1]}",
        "solution": [float(v) for v in tb],
        "source": "shapes",
        "split": spec.name,
        "num_shapes": len(boxes),
    }


def generate_shapes(
    output: str | Path,
    train: int,
    eval: int,
    ood: int = 0,
    seed: int = 0,
    shapes: tuple[int, int] = (1, 2),
    ood_shapes: tuple[int, int] = (2, 3),
    canvas: tuple[int, int] = (56, 112),
) -> dict[str, int]:
    """Write `train.jsonl`, `eval.jsonl` (and, if ood > 0, `eval_ood.jsonl` and
    `eval_ood_pairs.jsonl`, `ood` records each) plus `images/`.

    `shapes` is the (min, max) number of shapes per in-domain image (and per `eval_ood_pairs`
    image), `ood_shapes` the same for `eval_ood`; both out-of-domain splits target held-out
    colour-shape pairs. Returns the number of records per split file.

    Everything is built in a staging folder, then put in place: a failure (a full disk, an
    interrupt) leaves no half-written dataset. A new `output` is the staging folder renamed;
    into an existing one, the files are moved (same-named files replaced, others kept).
    """
    import shutil

    from vlmr1_cli.errors import UserError
    from vlmr1_cli.io import staging_dir, write_problem

    out = Path(output)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    # Inside an existing folder (its parent may not be writable), beside a new one.
    staging = (
        staging_dir(out, "shapes-staging") if out.is_dir() else staging_dir(out.parent, out.name)
    )
    try:
        try:
            counts = _generate(staging, train, eval, ood, seed, shapes, ood_shapes, canvas)
        except OSError as e:  # an image write
            raise UserError(write_problem(out, e)) from None
        except UserError as e:  # a JSONL write: name the file where it was going, not the staging
            raise UserError(str(e).replace(str(staging), str(out))) from None
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts


def _publish(staging: Path, out: Path) -> None:
    """Put the built files in place: rename the folder, or move its files into `out`."""
    import os

    from vlmr1_cli.errors import UserError
    from vlmr1_cli.io import write_problem

    try:
        if not out.exists():
            os.replace(staging, out)
            return
        for path in sorted(staging.rglob("*")):
            dest = out / path.relative_to(staging)
            if path.is_dir():
                dest.mkdir(exist_ok=True)
            else:
                os.replace(path, dest)
    except OSError as e:
        raise UserError(write_problem(out, e)) from None


def _generate(
    out: Path,
    train: int,
    eval: int,
    ood: int,
    seed: int,
    shapes: tuple[int, int],
    ood_shapes: tuple[int, int],
    canvas: tuple[int, int],
) -> dict[str, int]:
    image_dir = out / "images"
    image_dir.mkdir()
    specs = [
        SplitSpec("train", train, *shapes, False, canvas),
        SplitSpec("eval", eval, *shapes, False, canvas),
        SplitSpec("eval_ood", ood, *ood_shapes, True, canvas),
        # Last, so adding it left the other splits' random streams (and files) unchanged.
        SplitSpec("eval_ood_pairs", ood, *shapes, True, canvas),
    ]
    counts: dict[str, int] = {}
    for k, spec in enumerate(specs):
        if spec.count <= 0:
            continue
        rng = random.Random(f"{seed}:{spec.name}:{k}")  # str seeds hash deterministically
        records = (
            _sample(rng, spec, i, image_dir, "images/")
            for i in track(range(spec.count), f"shapes {spec.name}")
        )
        counts[f"{spec.name}.jsonl"] = write_jsonl(out / f"{spec.name}.jsonl", records)
    return counts
