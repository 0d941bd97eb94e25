"""`vlmr1 init-model`, `list-presets` and `demo`: offline preset models and the end-to-end demo."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import (
    JsonOpt,
    alias_option,
    count_option,
    flag,
    output_option,
    seed_option,
    take_alias,
)
from vlmr1_cli.demo import DemoConfig  # standard library only at import: --help stays instant
from vlmr1_cli.models.presets import PRESETS  # standard library only too

# The presets as a choice (help lists them, Typer refuses others); presets.py is standard library only.
# mypy reads an Enum's members only from a literal list; these come from PRESETS at run time.
PresetName = Enum("PresetName", [(name, name) for name in PRESETS], type=str)  # type: ignore[misc]


def register(app: typer.Typer) -> None:
    @app.command("init-model")
    def init_model(
        ctx: typer.Context,
        output: Annotated[
            Path | None,
            output_option(
                "folder", "where the model goes (required); a non-empty one only with --overwrite."
            ),
        ] = None,
        preset: Annotated[
            PresetName, typer.Option("--preset", help="Preset (see vlmr1 list-presets).")
        ] = PresetName("tiny-qwen2.5-vl"),
        seed: Annotated[int, seed_option("Initialisation seed.")] = 0,
        overwrite: Annotated[
            bool,
            flag(
                "--overwrite",
                help="Write into a non-empty folder: replace the preset's files there, keep every other file.",
            ),
        ] = False,
        output_arg: Annotated[
            Path | None, typer.Argument(hidden=True, metavar="OUTPUT", show_default=False)
        ] = None,
    ) -> None:
        """Create a small random VLM (no download); loadable with from_pretrained."""
        from vlmr1_cli.cli.output import info
        from vlmr1_cli.models.presets import build_preset

        output = take_alias(ctx, "output", output, "output_arg", required=True)
        path = build_preset(preset.value, output, seed=seed, overwrite=overwrite)
        info(f"wrote {preset.value} to {path}")

    @app.command("list-presets")
    def list_presets(json_out: JsonOpt = False) -> None:
        """List the offline model presets."""
        from vlmr1_cli.cli.output import print_json, print_table

        rows = [
            {"name": p.name, "family": p.family, "description": p.description}
            for p in PRESETS.values()
        ]
        if json_out:
            print_json(rows)
            return
        print_table("presets", ["name", "family", "description"], [tuple(r.values()) for r in rows])


def register_demo(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        output: Annotated[
            Path, output_option("folder", "data, checkpoints and evaluations.")
        ] = DemoConfig.output_dir,
        recipes_dir: Annotated[
            Path, typer.Option("--recipes-dir", help="Folder with demo_shapes_{sft,grpo}.yaml.")
        ] = DemoConfig.recipes_dir,
        seed: Annotated[
            int, seed_option("Seed for data, initialisation order and sampling.")
        ] = DemoConfig.seed,
        train: Annotated[
            int,
            count_option(
                "--train", "SFT warm-start training samples (1-2 shapes per image).", min=1
            ),
        ] = DemoConfig.train,
        task_train: Annotated[
            int,
            count_option(
                "--task-train", "GRPO task training samples (one shape per image).", min=1
            ),
        ] = DemoConfig.task_train,
        eval: Annotated[
            int, count_option("--eval", "In-domain (and warm-start) evaluation samples.", min=1)
        ] = DemoConfig.eval,
        ood: Annotated[
            int, count_option("--ood", "Samples per out-of-domain split.", min=1)
        ] = DemoConfig.ood,
        sft_set: Annotated[
            list[str] | None,
            typer.Option(
                "--sft-set",
                help="Override for the SFT recipe (key=value). Repeatable.",
                show_default=False,
            ),
        ] = None,
        grpo_set: Annotated[
            list[str] | None,
            typer.Option(
                "--grpo-set",
                help="Override for the GRPO recipe (key=value). Repeatable.",
                show_default=False,
            ),
        ] = None,
        json_out: JsonOpt = False,
        output_dir: Annotated[Path | None, alias_option("--output-dir")] = None,
    ) -> None:
        """Run the offline demo end to end: data, SFT warm start, GRPO, evaluation in and out of domain."""
        import contextlib
        import sys
        import time

        from vlmr1_cli.cli.output import info, print_json, print_table
        from vlmr1_cli.demo import run_demo

        output = take_alias(ctx, "output", output, "output_dir")
        t0 = time.perf_counter()
        # The trainers print their metrics to stdout; with --json, stdout is the JSON alone.
        with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
            cfg = DemoConfig(
                output_dir=output,
                recipes_dir=recipes_dir,
                seed=seed,
                train=train,
                task_train=task_train,
                eval=eval,
                ood=ood,
                sft_overrides=list(sft_set or []),
                grpo_overrides=list(grpo_set or []),
            )
            result = run_demo(cfg, log=info)
        result["wall_s"] = round(time.perf_counter() - t0, 1)
        if json_out:
            print_json(result)
            return
        cols = [
            "model",
            "Acc@0.5 in domain",
            "mIoU in domain",
            "Acc@0.5 unseen pairs",
            "Acc@0.5 unseen, 2-3 shapes",
            "Acc@0.5 warm-start split",
        ]
        rows = [
            (
                r["model"],
                r.get("eval_acc"),
                r.get("eval_miou"),
                r.get("eval_ood_pairs_acc"),
                r.get("eval_ood_acc"),
                r.get("eval_warmup_acc"),
            )
            for r in result["rows"]
        ]
        print_table(f"vlmr1 demo (shapes REC, seed {seed}) — wall {result['wall_s']} s", cols, rows)
        info("timings (s): " + ", ".join(f"{k} {v}" for k, v in result["timings_s"].items()))
        info(
            f"comparison report: {result['report']} (open it in a browser: every model's box on the same images)"
        )
