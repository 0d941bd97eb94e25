"""The offline end-to-end demo: preset model -> shapes data -> SFT warm start -> GRPO ->
evaluation of the base, SFT and GRPO checkpoints, in domain and out of domain.

The stages are separate functions so the learning benchmark (bench/learning.py) can run the
same pipeline with controls. Every figure in the returned table comes from the run itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

# In domain, then the held-out colour-shape pairs among more distractors, then among as many
# as in training (vlmr1_cli.data.shapes).
EVAL_SPLITS = ("eval", "eval_ood", "eval_ood_pairs")


@dataclass
class DemoConfig:
    output_dir: Path = Path("demo-output")
    recipes_dir: Path = Path("recipes")
    seed: int = 0
    train: int = 28000  # one SFT epoch of 1750 steps: the warm start must be strong enough to sample hits
    eval: int = 200
    ood: int = 200
    sft_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)
    max_new_tokens: int = 40
    batch_size: int = 32


@dataclass
class Stage:
    path: str
    wall_s: float
    steps: int
    runtime_s: float


def data_source(data: Path) -> str:
    return f"data.train=[{{path: '{data / 'train.jsonl'}', image_root: '{data}'}}]"


def make_data(cfg: DemoConfig) -> Path:
    from vlmr1_cli.data.shapes import generate_shapes

    data = Path(cfg.output_dir) / "data"
    generate_shapes(data, train=cfg.train, eval=cfg.eval, ood=cfg.ood, seed=cfg.seed)
    return data


def run_stage(cfg: DemoConfig, recipe_name: str, data: Path, out: Path, overrides: list[str]) -> Stage:
    """Train one recipe on the demo data into `out`."""
    from vlmr1_cli.recipes import load_recipe
    from vlmr1_cli.train.run import train

    recipe = load_recipe(Path(cfg.recipes_dir) / recipe_name, [
        data_source(data), f"training.output_dir={out}", f"training.seed={cfg.seed}",
        f"data.seed={cfg.seed}", *overrides])
    t = time.perf_counter()
    summary = train(recipe)
    return Stage(str(out), time.perf_counter() - t, int(summary["global_step"]),
                 float(summary["train_runtime_s"]))


def evaluate_model(cfg: DemoConfig, model: str, data: Path, out: Path, template: str) -> dict:
    """Acc@0.5, mean IoU and unparsed rate on the in-domain and out-of-domain splits."""
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    row: dict = {}
    for split in EVAL_SPLITS:
        f = data / f"{split}.jsonl"
        if not f.is_file():
            continue
        m = evaluate(model, f, out / split, image_root=str(data),
                     opts=EvalOptions(batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                                      template=template))
        row[f"{split}_acc"] = m["acc"]
        row[f"{split}_miou"] = m["mean_iou"]
        row[f"{split}_unparsed"] = m["n_unparsed"] / max(1, m["n"])
    return row


def demo_template(cfg: DemoConfig) -> str:
    from vlmr1_cli.recipes import load_recipe

    return load_recipe(Path(cfg.recipes_dir) / "demo_shapes_grpo.yaml")["prompt"]["templates"]["rec"]


def run_demo(cfg: DemoConfig, log=print) -> dict:
    from vlmr1_cli.models.presets import resolve_model_path
    from vlmr1_cli.recipes import load_recipe

    out = Path(cfg.output_dir)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data = make_data(cfg)
    timings["data"] = time.perf_counter() - t
    log(f"[demo] data: {cfg.train} train / {cfg.eval} eval / {cfg.ood} + {cfg.ood} out-of-domain samples in {data}")
    base = resolve_model_path(str(load_recipe(Path(cfg.recipes_dir) / "demo_shapes_sft.yaml")["model"]["path"]))

    log("[demo] SFT warm start ...")
    sft = run_stage(cfg, "demo_shapes_sft.yaml", data, out / "sft", cfg.sft_overrides)
    timings["sft"] = sft.wall_s
    log(f"[demo] GRPO from {sft.path} ...")
    grpo = run_stage(cfg, "demo_shapes_grpo.yaml", data, out / "grpo", [f"model.path={sft.path}", *cfg.grpo_overrides])
    timings["grpo"] = grpo.wall_s

    template = demo_template(cfg)
    rows = []
    t = time.perf_counter()
    for name, path in (("base", base), ("sft", sft.path), ("grpo", grpo.path)):
        log(f"[demo] evaluate {name} ...")
        rows.append({"model": name, **evaluate_model(cfg, path, data, out / "eval" / name, template)})
    timings["evaluate"] = time.perf_counter() - t
    result = {"rows": rows, "timings_s": {k: round(v, 1) for k, v in timings.items()},
              "steps": {"sft": sft.steps, "grpo": grpo.steps}, "output_dir": str(out), "seed": cfg.seed}
    (out / "demo_result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
