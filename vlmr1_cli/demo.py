"""The offline end-to-end demo, the VLM-R1 set-up in miniature: a generalist SFT warm start,
then GRPO on a narrower task, evaluated in domain and out of domain.

- Warm start (the "base model"): SFT on shapes images with 1-2 shapes per image, every
  colour-shape pair but the held-out ones (`data/warmup`).
- The task (what GRPO trains on, like the paper's RefCOCO): one shape per image
  (`data/task`), a fresh seed's images.
- Evaluation: the task's held-out split (in domain); held-out colour-shape pairs among 1-2
  shapes and among 2-3 shapes (out of domain: wording never trained, and more distractors than
  the task ever shows); and the warm start's own split (1-2 shapes, seen pairs).

The stages are separate functions so the learning experiment (experiments/learning.py) can
run the same pipeline with controls. Every figure in the returned table comes from the run itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vlmr1_cli.recipe_files import packaged_recipes_dir

if TYPE_CHECKING:
    from vlmr1_cli.recipes.schema import Recipe

# The task's data are drawn with seed + TASK_SEED_OFFSET, so no image repeats the warm start's.
TASK_SEED_OFFSET = 1000
TASK_SHAPES = (1, 1)
# Result key -> (dataset, file): in domain, then out of domain (held-out colour-shape pairs
# among 1-2 shapes, then among 2-3), then the warm start's own split.
EVAL_SPLITS = {
    "eval": ("task", "eval.jsonl"),
    "eval_ood_pairs": ("warmup", "eval_ood_pairs.jsonl"),
    "eval_ood": ("warmup", "eval_ood.jsonl"),
    "eval_warmup": ("warmup", "eval.jsonl"),
}


@dataclass
class DemoConfig:
    output_dir: Path = Path("demo-output")
    # The packaged demo_shapes_{sft,grpo}.yaml, so `vlmr1 demo` runs from any folder.
    recipes_dir: Path = packaged_recipes_dir()
    seed: int = 0
    train: int = 28000  # the warm start: one SFT epoch of 1750 steps, strong enough to sample hits
    task_train: int = 16000  # the task: GRPO draws 1,200 prompts; compute-matched SFT about 14,000
    eval: int = 200
    ood: int = 200
    sft_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)
    max_new_tokens: int = 40
    batch_size: int = 32


@dataclass
class DemoData:
    warmup: Path  # SFT warm start: 1-2 shapes per image
    task: Path  # GRPO (and compute-matched SFT): one shape per image


@dataclass
class Stage:
    path: str
    wall_s: float
    steps: int
    runtime_s: float


def data_source(data: Path) -> str:
    return f"data.train=[{{path: '{data / 'train.jsonl'}', image_root: '{data}'}}]"


def make_data(cfg: DemoConfig) -> DemoData:
    from vlmr1_cli.data.shapes import generate_shapes

    root = Path(cfg.output_dir) / "data"
    data = DemoData(root / "warmup", root / "task")
    generate_shapes(data.warmup, train=cfg.train, eval=cfg.eval, ood=cfg.ood, seed=cfg.seed)
    generate_shapes(
        data.task,
        train=cfg.task_train,
        eval=cfg.eval,
        ood=0,
        seed=cfg.seed + TASK_SEED_OFFSET,
        shapes=TASK_SHAPES,
    )
    return data


def stage_recipe(
    cfg: DemoConfig, recipe_name: str, data: Path, out: Path, overrides: list[str]
) -> Recipe:
    """One stage's recipe: the packaged (or --recipes-dir) file, the demo's settings, then the
    user's overrides."""
    from vlmr1_cli.recipes.loading import load_recipe

    return load_recipe(
        Path(cfg.recipes_dir) / recipe_name,
        [
            data_source(data),
            f"training.output_dir={out}",
            f"training.seed={cfg.seed}",
            f"data.seed={cfg.seed}",
            *overrides,
        ],
    )


def check_stages(cfg: DemoConfig) -> None:
    """Both stages' recipes and overrides, checked before any data, model or training work: a
    typo in --grpo-set must not cost a whole SFT run first."""
    from vlmr1_cli.errors import UserError

    out = Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--output {out}: exists and is not a folder")
    root = out / "data"
    for name, data, stage, overrides in (
        ("demo_shapes_sft.yaml", root / "warmup", out / "sft", cfg.sft_overrides),
        (
            "demo_shapes_grpo.yaml",
            root / "task",
            out / "grpo",
            [f"model.path={out / 'sft'}", *cfg.grpo_overrides],
        ),
    ):
        stage_recipe(cfg, name, data, stage, overrides)  # loading checks every rule


def run_stage(
    cfg: DemoConfig, recipe_name: str, data: Path, out: Path, overrides: list[str]
) -> Stage:
    """Train one recipe on the demo data into `out`."""
    from vlmr1_cli.train.run import train

    recipe = stage_recipe(cfg, recipe_name, data, out, overrides)
    t = time.perf_counter()
    summary = train(recipe)
    return Stage(
        str(out),
        time.perf_counter() - t,
        int(summary["global_step"]),
        float(summary["train_runtime_s"]),
    )


def evaluate_model(cfg: DemoConfig, model: str, data: DemoData, out: Path, template: str) -> dict:
    """Acc@0.5, mean IoU and unparsed rate on every split of EVAL_SPLITS that exists."""
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    row: dict = {}
    for key, (dataset, name) in EVAL_SPLITS.items():
        root = getattr(data, dataset)
        if not (root / name).is_file():
            continue
        m = evaluate(
            model,
            root / name,
            out / key,
            image_root=str(root),
            opts=EvalOptions(
                batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens, template=template
            ),
        )
        row[f"{key}_acc"] = m["acc"]
        row[f"{key}_miou"] = m["mean_iou"]
        row[f"{key}_unparsed"] = m["n_unparsed"] / max(1, m["n"])
    return row


def write_comparison_report(out: Path, names: list[str]) -> Path:
    """report.html in `out/report`: the models' in-domain evaluations side by side."""
    from vlmr1_cli.report.compare import write_comparison

    return write_comparison([out / "eval" / name / "eval" for name in names], out / "report", names)


def demo_template(cfg: DemoConfig) -> str:
    from vlmr1_cli.recipes.loading import load_recipe

    template = load_recipe(Path(cfg.recipes_dir) / "demo_shapes_grpo.yaml").prompt.templates["rec"]
    assert template is not None  # the packaged recipe sets it
    return template


def run_demo(cfg: DemoConfig, log=print) -> dict:
    from vlmr1_cli.models.presets import resolve_model_path
    from vlmr1_cli.recipes.loading import load_recipe

    out = Path(cfg.output_dir)
    check_stages(cfg)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data = make_data(cfg)
    timings["data"] = time.perf_counter() - t
    log(
        f"[demo] data in {data.warmup.parent}: {cfg.train} warm-start and {cfg.task_train} task training samples; "
        f"{cfg.eval} in-domain, {cfg.ood} + {cfg.ood} out-of-domain and {cfg.eval} warm-start evaluation samples"
    )
    base = resolve_model_path(
        str(load_recipe(Path(cfg.recipes_dir) / "demo_shapes_sft.yaml").model.path)
    )

    log("[demo] SFT warm start (1-2 shapes per image) ...")
    sft = run_stage(cfg, "demo_shapes_sft.yaml", data.warmup, out / "sft", cfg.sft_overrides)
    timings["sft"] = sft.wall_s
    log(f"[demo] GRPO on the task (one shape per image) from {sft.path} ...")
    grpo = run_stage(
        cfg,
        "demo_shapes_grpo.yaml",
        data.task,
        out / "grpo",
        [f"model.path={sft.path}", *cfg.grpo_overrides],
    )
    timings["grpo"] = grpo.wall_s

    template = demo_template(cfg)
    rows = []
    t = time.perf_counter()
    for name, path in (("base", base), ("sft", sft.path), ("grpo", grpo.path)):
        log(f"[demo] evaluate {name} ...")
        rows.append(
            {"model": name, **evaluate_model(cfg, path, data, out / "eval" / name, template)}
        )
    timings["evaluate"] = time.perf_counter() - t
    log("[demo] comparison report: base, SFT and GRPO boxes on the in-domain images ...")
    report = write_comparison_report(out, [row["model"] for row in rows])
    result = {
        "rows": rows,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "steps": {"sft": sft.steps, "grpo": grpo.steps},
        "output_dir": str(out),
        "seed": cfg.seed,
        "report": str(report),
    }
    (out / "demo_result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
