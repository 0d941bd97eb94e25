"""`vlmr1 init-model`: build an offline, randomly initialised preset model folder."""

from __future__ import annotations

from pathlib import Path

import typer

from vlmr1_cli.demo import DemoConfig  # standard library only at import: --help stays instant


def register(app: typer.Typer) -> None:
    @app.command("init-model")
    def init_model(
        output: Path = typer.Argument(..., help="Folder to write the model into."),
        preset: str = typer.Option("tiny-qwen2.5-vl", "--preset", help="Preset name (see --list)."),
        seed: int = typer.Option(0, "--seed", help="Initialisation seed."),
    ) -> None:
        """Create a small random VLM (no download); loadable with from_pretrained."""
        from vlmr1_cli.cli.output import info
        from vlmr1_cli.models.presets import build_preset

        path = build_preset(preset, output, seed=seed)
        info(f"wrote {preset} to {path}")

    @app.command("list-presets")
    def list_presets() -> None:
        """List the offline model presets."""
        from vlmr1_cli.cli.output import print_table
        from vlmr1_cli.models.presets import PRESETS

        print_table("presets", ["name", "family", "description"],
                    [(p.name, p.family, p.description) for p in PRESETS.values()])


def register_demo(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        output_dir: Path = typer.Option(DemoConfig.output_dir, "--output-dir", "-o", help="Where data, checkpoints and evaluations go."),
        recipes_dir: Path = typer.Option(DemoConfig.recipes_dir, "--recipes-dir", help="Folder with demo_shapes_{sft,grpo}.yaml."),
        seed: int = typer.Option(DemoConfig.seed, "--seed", help="Seed for data, initialisation order and sampling."),
        train: int = typer.Option(DemoConfig.train, "--train", help="SFT warm-start training samples (1-2 shapes per image)."),
        task_train: int = typer.Option(DemoConfig.task_train, "--task-train", help="GRPO task training samples (one shape per image)."),
        eval: int = typer.Option(DemoConfig.eval, "--eval", help="In-domain (and warm-start) evaluation samples."),
        ood: int = typer.Option(DemoConfig.ood, "--ood", help="Samples per out-of-domain split."),
        sft_set: list[str] = typer.Option([], "--sft-set", help="Override for the SFT recipe (key=value)."),
        grpo_set: list[str] = typer.Option([], "--grpo-set", help="Override for the GRPO recipe (key=value)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Run the offline demo end to end: data, an SFT warm start, GRPO on a narrower task, and
        evaluation of all three models in and out of domain."""
        import contextlib
        import sys
        import time

        from vlmr1_cli.cli.output import info, print_json, print_table
        from vlmr1_cli.demo import run_demo

        t0 = time.perf_counter()
        # The trainers print their metrics to stdout; with --json, stdout is the JSON alone.
        with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
            cfg = DemoConfig(output_dir=output_dir, recipes_dir=recipes_dir, seed=seed, train=train,
                             task_train=task_train, eval=eval, ood=ood, sft_overrides=sft_set, grpo_overrides=grpo_set)
            result = run_demo(cfg, log=info)
        result["wall_s"] = round(time.perf_counter() - t0, 1)
        if json_out:
            print_json(result)
            return
        cols = ["model", "Acc@0.5 in domain", "mIoU in domain", "Acc@0.5 unseen pairs", "Acc@0.5 unseen, 2-3 shapes",
                "Acc@0.5 warm-start split"]
        rows = [(r["model"], r.get("eval_acc"), r.get("eval_miou"), r.get("eval_ood_pairs_acc"), r.get("eval_ood_acc"),
                 r.get("eval_warmup_acc")) for r in result["rows"]]
        print_table(f"vlmr1 demo (shapes REC, seed {seed}) — wall {result['wall_s']} s", cols, rows)
        info("timings (s): " + ", ".join(f"{k} {v}" for k, v in result["timings_s"].items()))
