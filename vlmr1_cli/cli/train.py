"""`vlmr1 train-grpo` and `vlmr1 train-sft`."""

from __future__ import annotations

from pathlib import Path

import typer


def _run(method: str, recipe_path: Path, overrides: list[str], print_config: bool, resume: bool,
         launch_opts: dict) -> None:
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
    from vlmr1_cli.train.launch import launch, needs_launcher

    if needs_launcher(recipe["launch"]):
        from vlmr1_cli.train.setup import prepare_run

        # Every check runs here once, so a bad recipe is one line, not one traceback per rank.
        prepare_run(recipe, resume=resume)
        code = launch(recipe, resume=resume)
        if code != 0:
            raise UserError(f"training workers exited with code {code} (see the log above)")
        info(f"done: {recipe['training'].get('output_dir')}")
        return
    from vlmr1_cli.train.run import train

    summary = train(recipe, resume=resume)
    print_kv(f"train-{method}", summary)


def _command(method: str):
    def command(
        recipe: Path = typer.Option(..., "--recipe", "-r", help="Recipe YAML."),
        set_: list[str] | None = typer.Option(None, "--set", help="Override: key=value (a.b=c; bare keys are training.*). Repeatable."),
        print_config: bool = typer.Option(False, "--print-config", help="Print the resolved recipe and exit."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in output_dir."),
        num_processes: int | None = typer.Option(None, "--num-processes", help="Processes (accelerate launch)."),
        num_machines: int | None = typer.Option(None, "--num-machines", help="Machines (accelerate launch)."),
        machine_rank: int | None = typer.Option(None, "--machine-rank", help="This machine's rank."),
        main_process_ip: str | None = typer.Option(None, "--main-process-ip", help="Rank-0 machine address."),
        main_process_port: int | None = typer.Option(None, "--main-process-port", help="Rank-0 port."),
        config_file: Path | None = typer.Option(None, "--config-file", help="accelerate config (DDP, ZeRO, FSDP)."),
    ) -> None:
        _run(method, recipe, list(set_ or []), print_config, resume, {
            "num_processes": num_processes, "num_machines": num_machines, "machine_rank": machine_rank,
            "main_process_ip": main_process_ip, "main_process_port": main_process_port,
            "config_file": str(config_file) if config_file else None,
        })

    command.__doc__ = {"grpo": "GRPO with rule-based rewards (TRL GRPOTrainer).",
                       "sft": "Supervised fine-tuning baseline on the same data (TRL SFTTrainer)."}[method]
    return command


def register(app: typer.Typer) -> None:
    app.command("train-grpo")(_command("grpo"))
    app.command("train-sft")(_command("sft"))
