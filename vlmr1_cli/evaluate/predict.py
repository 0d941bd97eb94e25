"""`vlmr1 predict`: run a model on one image or a folder of images, with evaluation's own
prompt, generation, answer parser and frame mapping, so that what it shows for an image is
what `evaluate` would score.

A query becomes a record without an answer (`solution: None`): a REC record for a phrase,
an OVD record for a list of labels. From there the path is evaluation's: the checkpoint's
recipe prompt (`runner.prompt_config`, `--template`/`--system` on top), `build_rows` and
`add_prompt_texts` (images pre-resized to the model-input size), batches by prompt length,
greedy `HFGenerator`, and `tasks.read_answer` (the rewards' parser; boxes mapped back to
original pixels through the model family's frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.progress import track

# What a folder is searched for (one level, sorted by name); a file given by name is read whatever its suffix.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class PredictOptions:
    template: str | None = None  # overrides the checkpoint's prompt template for the task
    system: str | None = None
    batch_size: int = 8
    max_new_tokens: int = 256
    dtype: str | None = None
    device: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None  # Hub branch, tag or commit of a model given as ORG/NAME


def parse_labels(text: str) -> list[str]:
    """`--labels "cat, red car"` -> ["cat", "red car"] (order kept, repeats dropped)."""
    labels = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not labels:
        raise UserError(
            f"--labels '{text}': no label given (write them comma-separated, e.g. \"cat,dog\")"
        )
    return labels


def find_images(path: str | Path) -> list[Path]:
    """The image itself, or the images directly inside a folder, by name."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"--image {path}: no such file or folder")
    images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise UserError(f"--image {path}: the folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return images


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header, through vlmr1's one image opener (its pixel limit)."""
    from vlmr1_cli.images import image_size as header_size

    try:
        return header_size(path)
    except UserError:
        raise
    except (OSError, ValueError, SyntaxError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise UserError(f"{path}: unreadable image ({e})") from None


def query_records(images: list[Path], phrase: str | None, labels: list[str] | None) -> list[dict]:
    """One record per image asking for `phrase` (REC) or `labels` (OVD); no solution."""
    if (phrase is None) == (labels is None):
        raise UserError("predict needs exactly one of --phrase (REC) and --labels (OVD)")
    if phrase is not None and not phrase.strip():
        raise UserError("--phrase is empty")
    task = "rec" if phrase is not None else "ovd"
    records = []
    for i, path in enumerate(images):
        w, h = image_size(path)
        records.append(
            {
                "id": f"{i}:{path.name}",
                "task": task,
                "images": [str(path)],
                "_image_paths": [str(path)],
                "image_sizes": [[w, h]],
                "problem": phrase or "",
                "solution": None,
                "labels": list(labels or []),
            }
        )
    return records


def load_generator(src: Any, processor: Any, opts: PredictOptions) -> Any:
    """The greedy generator evaluation uses, on the located model (tests replace it)."""
    from vlmr1_cli.devices import check_device
    from vlmr1_cli.evaluate.generation import HFGenerator
    from vlmr1_cli.evaluate.runner import default_device
    from vlmr1_cli.models.loading import load_model

    if opts.device:
        check_device(opts.device)  # cuda without CUDA: one line, before any weights load
    loaded = load_model(
        src,
        dtype=opts.dtype,
        device=opts.device or default_device(),
        trust_remote_code=opts.trust_remote_code,
    )
    return HFGenerator(loaded.model, processor, opts.max_new_tokens)


def predict(
    model_ref: str,
    image: str | Path,
    phrase: str | None = None,
    labels: list[str] | None = None,
    opts: PredictOptions | None = None,
) -> dict[str, Any]:
    """Boxes (original pixels) and raw completion for every image; returns
    `{"model", "task", "prompt_source", "frame", "results": [...], "records": [...]}`."""
    from vlmr1_cli.data.loader import build_rows
    from vlmr1_cli.evaluate.generation import add_prompt_texts, plan_batches
    from vlmr1_cli.evaluate.runner import EvalOptions, prompt_config
    from vlmr1_cli.evaluate.tasks import read_answer
    from vlmr1_cli.models.loading import load_processor_for, locate_model

    opts = opts or PredictOptions()
    for name in ("batch_size", "max_new_tokens"):
        if getattr(opts, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(opts, name)}")
    records = query_records(find_images(image), phrase, labels)
    task = records[0]["task"]
    src = locate_model(model_ref, opts.revision)  # a Hub id downloads on first use
    processor, family, limits = load_processor_for(src.processor_dir, family_dir=src.weights_dir)
    prompt, prompt_source = prompt_config(
        src.meta, task, EvalOptions(template=opts.template, system=opts.system)
    )
    rows = build_rows(records, family, limits, prompt, with_answers=False)
    add_prompt_texts(rows, processor, limits.factor)
    generator = load_generator(src, processor, opts)
    answers: dict[str, dict] = {}
    for batch in track(plan_batches(rows, opts.batch_size), "predict"):
        texts = generator.generate(batch)
        for row, text in zip(batch, texts, strict=True):
            answers[row["id"]] = {
                "completion": text,
                **read_answer(task, text, row, family),
                "input_size": row["input_sizes"][0],
            }
    results = []
    for rec in records:
        answer = answers[rec["id"]]
        if task == "rec":
            boxes = (
                [{"bbox_2d": answer["box"], "label": phrase}] if answer["box"] is not None else []
            )
        else:
            boxes = answer["objects"]
        results.append(
            {
                "image": rec["images"][0],
                "query": phrase if task == "rec" else rec["labels"],
                "image_size": rec["image_sizes"][0],
                "input_size": answer["input_size"],
                "parsed": answer["parsed"],
                "boxes": boxes,
                "completion": answer["completion"],
                "answer": {
                    k: v for k, v in answer.items() if k not in ("completion", "input_size")
                },
            }
        )
    return {
        "model": str(model_ref),
        "task": task,
        "prompt_source": prompt_source,
        "frame": family.frame_name,
        "results": results,
        "records": records,
    }


def draw_results(out: Path, prediction: dict[str, Any]) -> list[str]:
    """The images with the predicted boxes drawn (evaluation's --visualize pictures), in `out`."""
    from vlmr1_cli.evaluate.pictures import draw_one, safe_name

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (rec, result) in enumerate(
        zip(prediction["records"], prediction["results"], strict=True)
    ):
        path = out / safe_name(i, Path(result["image"]).stem)
        draw_one(rec, result["answer"], path)
        written.append(str(path))
    return written
