"""The offline end-to-end demo: preset model -> shapes data -> SFT warm start -> GRPO ->
evaluation of the base, SFT and GRPO checkpoints, in domain and out of domain.

Every figure in the returned table comes from this run; nothing is downloaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DemoConfig:
    output_dir: Path = Path("demo-output")
    recipes_dir: Path = Path("recipes")
    seed: int = 0
    train: int = 2000
    eval: int = 200
    ood: int = 200
    sft_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)
    max_new_tokens: int = 40
    batch_size: int = 32


def _source(path: Path, root: Path) -> str:
    return f"data.train=[{{path: '{path}', image_root: '{root}'}}]"


def run_demo(cfg: DemoConfig, log=print) -> dict:
    from vlmr1_cli.data.shapes import generate_shapes
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
    from vlmr1_cli.models.presets import resolve_model_path
    from vlmr1_cli.recipes import load_recipe
    from vlmr1_cli.train.run import train

    out = Path(cfg.output_dir)
    data = out / "data"
    timings: dict[str, float] = {}
    t = time.perf_counter()
    generate_shapes(data, train=cfg.train, eval=cfg.eval, ood=cfg.ood, seed=cfg.seed)
    timings["data"] = time.perf_counter() - t
    log(f"[demo] data: {cfg.train} train / {cfg.eval} eval / {cfg.ood} out-of-domain samples in {data}")

    sft_recipe = load_recipe(cfg.recipes_dir / "demo_shapes_sft.yaml", [
        _source(data / "train.jsonl", data), f"training.output_dir={out / 'sft'}", f"training.seed={cfg.seed}",
        f"data.seed={cfg.seed}", *cfg.sft_overrides])
    base_model = resolve_model_path(str(sft_recipe["model"]["path"]))
    t = time.perf_counter()
    log("[demo] SFT warm start ...")
    train(sft_recipe)
    timings["sft"] = time.perf_counter() - t

    grpo_recipe = load_recipe(cfg.recipes_dir / "demo_shapes_grpo.yaml", [
        _source(data / "train.jsonl", data), f"model.path={out / 'sft'}", f"training.output_dir={out / 'grpo'}",
        f"training.seed={cfg.seed}", f"data.seed={cfg.seed}", *cfg.grpo_overrides])
    t = time.perf_counter()
    log("[demo] GRPO ...")
    train(grpo_recipe)
    timings["grpo"] = time.perf_counter() - t

    rows = []
    t = time.perf_counter()
    models = {"base": base_model, "sft": str(out / "sft"), "grpo": str(out / "grpo")}
    prompt = grpo_recipe["prompt"]["templates"]["rec"]
    for name, path in models.items():
        row = {"model": name}
        for split in ("eval", "eval_ood"):
            f = data / f"{split}.jsonl"
            if not f.is_file():
                continue
            log(f"[demo] evaluate {name} on {split} ...")
            m = evaluate(path, f, out / "eval" / f"{name}-{split}", image_root=str(data),
                         opts=EvalOptions(batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                                          template=prompt))
            row[f"{split}_acc"] = m["acc"]
            row[f"{split}_miou"] = m["mean_iou"]
            row[f"{split}_unparsed"] = m["n_unparsed"] / max(1, m["n"])
        rows.append(row)
    timings["evaluate"] = time.perf_counter() - t
    return {"rows": rows, "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "output_dir": str(out)}
