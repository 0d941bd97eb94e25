"""`vlmr1 train-grpo` and `vlmr1 train-sft`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import count_option, flag


def _run(method: str, recipe_path: Path, overrides: list[str], print_config: bool, resume: bool,
         launch_opts: dict, overwrite: bool = False) -> None:
    from vlmr1_cli.cli.output import info, print_kv
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.recipes import check_launch, dump_recipe, load_recipe

    recipe = load_recipe(recipe_path, overrides)
    if recipe["method"] != method:
        if "method" in (recipe.get("_raw_keys") or ()):
            raise UserError(f"{recipe_path}: key 'method' is {recipe['method']!r}; use train-{recipe['method']}")
        recipe["method"] = method
    for key, value in launch_opts.items():
        if value is not None:
            recipe["launch"][key] = value
    check_launch(recipe["launch"], "command line")
    if print_config:
        from vlmr1_cli.recipes import validate_training

        validate_training(recipe)
        typer.echo(dump_recipe(recipe), nl=False)
        return
    from vlmr1_cli.train.launch import needs_launcher

    if needs_launcher(recipe["launch"]):
        from vlmr1_cli.train.run import train_launched

        # Every check runs here once, so a bad recipe is one line, not one traceback per rank.
        summary = train_launched(recipe, resume=resume, overwrite=overwrite)
        if summary.get("already_finished"):
            return
        if summary["exit_code"] != 0:
            raise UserError(f"training workers exited with code {summary['exit_code']} (see the log above)")
        info(f"done: {recipe['training'].get('output_dir')}")
        return
    from vlmr1_cli.train.run import train

    summary = train(recipe, resume=resume, overwrite=overwrite)
    print_kv(f"train-{method}", summary)


def _command(method: str):
    def command(
        recipe: Annotated[Path, typer.Option("--recipe", "-r", help="A recipe YAML file, or a packaged recipe's name (vlmr1 recipes list).", show_default=False)],
        set_: Annotated[list[str] | None, typer.Option("--set", help="Override: key=value (a.b=c; bare keys are training.*). Repeatable.", show_default=False)] = None,
        print_config: Annotated[bool, flag("--print-config", help="Print the resolved recipe and exit.")] = False,
        resume: Annotated[bool, flag("--resume", help="Continue from the last checkpoint in output_dir.")] = False,
        overwrite: Annotated[bool, flag("--overwrite", help="Replace the run already in output_dir (removes only what training wrote there).")] = False,
        num_processes: Annotated[int | None, count_option("--num-processes", "Processes (accelerate launch).", min=1)] = None,
        num_machines: Annotated[int | None, count_option("--num-machines", "Machines (accelerate launch).", min=1)] = None,
        machine_rank: Annotated[int | None, count_option("--machine-rank", "This machine's rank (0 = the main machine).", min=0)] = None,
        main_process_ip: Annotated[str | None, typer.Option("--main-process-ip", help="Rank-0 machine address.", show_default=False)] = None,
        main_process_port: Annotated[int | None, typer.Option("--main-process-port", min=1, max=65535, help="Rank-0 port.", show_default=False)] = None,
        config_file: Annotated[Path | None, typer.Option("--config-file", help="An accelerate config file, or a packaged one's name: ddp, zero2, zero3, fsdp, multi_node.", show_default=False)] = None,
    ) -> None:
        _run(method, recipe, list(set_ or []), print_config, resume, {
            "num_processes": num_processes, "num_machines": num_machines, "machine_rank": machine_rank,
            "main_process_ip": main_process_ip, "main_process_port": main_process_port,
            "config_file": str(config_file) if config_file else None,
        }, overwrite=overwrite)

    command.__doc__ = {"grpo": "GRPO with rule-based rewards (TRL GRPOTrainer).",
                       "sft": "Supervised fine-tuning baseline on the same data (TRL SFTTrainer)."}[method]
    return command


def register(app: typer.Typer) -> None:
    app.command("train-grpo")(_command("grpo"))
    app.command("train-sft")(_command("sft"))
