"""`vlmr1 train-grpo` and `vlmr1 train-sft`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vlmr1_cli.cli.options import count_option, flag

if TYPE_CHECKING:
    from vlmr1_cli.recipes.schema import Recipe


def _run(
    method: str,
    recipe_path: Path,
    overrides: list[str],
    print_config: bool,
    resume: bool,
    launch_opts: dict,
    overwrite: bool = False,
    plan_opts: dict | None = None,
    json_out: bool = False,
) -> None:
    from vlmr1_cli.cli.output import info, print_kv
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.recipes.launch_settings import needs_launcher
    from vlmr1_cli.recipes.loading import dump_recipe, load_recipe

    recipe = load_recipe(recipe_path, overrides, method=method, launch_options=launch_opts)
    if print_config:
        typer.echo(dump_recipe(recipe), nl=False)
        return
    plan_opts = plan_opts or {}
    if plan_opts.get("show"):
        _show_plan(recipe, plan_opts, json_out)
        return
    # (training logs go to stdout too, so only the plan has a JSON form)
    for option, given in (
        ("--device-memory", plan_opts.get("device_memory")),
        ("--image-size", plan_opts.get("image_size")),
        ("--json", json_out),
    ):
        if given:
            raise UserError(f"{option} goes with --plan")
    if needs_launcher(recipe.launch):
        from vlmr1_cli.train.run import train_launched

        # Every check runs here once, so a bad recipe is one line, not one traceback per rank.
        summary = train_launched(recipe, resume=resume, overwrite=overwrite)
        if summary.get("already_finished"):
            return
        if summary["exit_code"] != 0:
            raise UserError(
                f"training workers exited with code {summary['exit_code']} (see the log above)"
            )
        info(f"done: {recipe.output_dir}")
        return
    from vlmr1_cli.train.run import train

    summary = train(recipe, resume=resume, overwrite=overwrite)
    print_kv(f"train-{method}", summary)


def _show_plan(recipe: Recipe, options: dict, json_out: bool) -> None:
    """`--plan`: the memory plan as a table (or JSON), nothing trained, no weights loaded."""
    from rich.console import Console, JustifyMethod
    from rich.table import Table

    from vlmr1_cli.cli.output import print_json
    from vlmr1_cli.train.memory_plan import GIB
    from vlmr1_cli.train.plan_inputs import parse_image_size, parse_memory, plan_for_recipe

    memory = parse_memory(options["device_memory"]) if options.get("device_memory") else None
    size = parse_image_size(options["image_size"]) if options.get("image_size") else None
    plan = plan_for_recipe(recipe, memory, image_size=size)
    if json_out:
        print_json(plan.as_dict())
        return
    w = plan.workload
    title = (
        f"memory plan per device: {plan.model} ({plan.shape.params / 1e9:.2f} B parameters), "
        f"{recipe.method.upper()}{' + LoRA' if w.lora else ''}, {plan.parallelism.describe()}"
    )
    table = Table(title=title, title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("term", "left"),
        ("phase", "left"),
        ("GiB", "right"),
        ("note", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")
    for t in plan.terms:
        counted = t.phase in ("always", plan.peak_phase)
        style = None if counted else "dim"
        table.add_row(t.name, t.phase, f"{t.bytes / GIB:.2f}", t.note, style=style)
    console = Console(width=120)
    console.print(table)
    verdict = "fits" if plan.fits else "does NOT fit"
    lines = [
        f"peak: {plan.total / GIB:.1f} GiB per device (always + {plan.peak_phase}) of "
        f"{plan.device_memory / GIB:.1f} GiB ({plan.device_memory_source}; "
        f"{plan.usable / GIB:.1f} GiB usable): {verdict}"
    ]
    if plan.host_bytes:
        lines.append(
            f"CPU memory for offloaded states: {plan.host_bytes / GIB:.1f} GiB per process, "
            f"{plan.host_bytes_per_machine / GIB:.0f} GiB per machine"
        )
    if plan.suggestion:
        s = plan.suggestion
        lines.append(
            f"cheapest change that fits: {s['change']} ({s['gib']:.1f} GiB): {' '.join(s['arguments'])}"
        )
    elif not plan.fits:
        lines.append(
            "no change tried fits (activation checkpointing, LoRA, ZeRO-3, CPU offload, fewer pixels, "
            "a smaller batch): more GPUs or a smaller model"
        )
    lines += [f"note: {n}" for n in plan.notes]
    typer.echo("\n".join(lines))


def _command(method: str):
    def command(
        recipe: Annotated[
            Path,
            typer.Option(
                "--recipe",
                "-r",
                help="A recipe YAML file, or a packaged recipe's name (vlmr1 recipes list).",
                show_default=False,
            ),
        ],
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                help="Override: key=value (a.b=c; bare keys are training.*). Repeatable.",
                show_default=False,
            ),
        ] = None,
        print_config: Annotated[
            bool, flag("--print-config", help="Print the resolved recipe and exit.")
        ] = False,
        resume: Annotated[
            bool, flag("--resume", help="Continue from the last checkpoint in output_dir.")
        ] = False,
        overwrite: Annotated[
            bool,
            flag(
                "--overwrite",
                help="Replace the run already in output_dir (removes only what training wrote there).",
            ),
        ] = False,
        num_processes: Annotated[
            int | None, count_option("--num-processes", "Processes (accelerate launch).", min=1)
        ] = None,
        num_machines: Annotated[
            int | None, count_option("--num-machines", "Machines (accelerate launch).", min=1)
        ] = None,
        machine_rank: Annotated[
            int | None,
            count_option("--machine-rank", "This machine's rank (0 = the main machine).", min=0),
        ] = None,
        main_process_ip: Annotated[
            str | None,
            typer.Option("--main-process-ip", help="Rank-0 machine address.", show_default=False),
        ] = None,
        main_process_port: Annotated[
            int | None,
            typer.Option(
                "--main-process-port", min=1, max=65535, help="Rank-0 port.", show_default=False
            ),
        ] = None,
        config_file: Annotated[
            Path | None,
            typer.Option(
                "--config-file",
                help=(
                    "An accelerate config file, or a packaged one's name: ddp, zero2, zero3, "
                    "zero3_offload, fsdp, fsdp_offload, multi_node."
                ),
                show_default=False,
            ),
        ] = None,
        plan: Annotated[
            bool,
            flag(
                "--plan",
                help=(
                    "Print the memory plan (per-device memory from the model's config, no weights "
                    "loaded; the cheapest change that fits when it does not) and exit."
                ),
            ),
        ] = False,
        device_memory: Annotated[
            str | None,
            typer.Option(
                "--device-memory",
                help=(
                    "For --plan: the GPU memory to plan for, e.g. 80GB or 141GiB (default: this "
                    "machine's GPU, else 80 GiB)."
                ),
                show_default=False,
            ),
        ] = None,
        image_size: Annotated[
            str | None,
            typer.Option(
                "--image-size",
                help=(
                    "For --plan: a typical image size, WIDTHxHEIGHT (default: the training "
                    "data's; without it, one image at max_pixels)."
                ),
                show_default=False,
            ),
        ] = None,
        json_out: Annotated[
            bool, flag("--json", help="With --plan: print the plan as JSON on stdout.")
        ] = False,
    ) -> None:
        _run(
            method,
            recipe,
            list(set_ or []),
            print_config,
            resume,
            {
                "num_processes": num_processes,
                "num_machines": num_machines,
                "machine_rank": machine_rank,
                "main_process_ip": main_process_ip,
                "main_process_port": main_process_port,
                "config_file": str(config_file) if config_file else None,
            },
            overwrite=overwrite,
            plan_opts={"show": plan, "device_memory": device_memory, "image_size": image_size},
            json_out=json_out,
        )

    command.__doc__ = {
        "grpo": "GRPO with rule-based rewards (TRL GRPOTrainer).",
        "sft": "Supervised fine-tuning baseline on the same data (TRL SFTTrainer).",
    }[method]
    return command


def register(app: typer.Typer) -> None:
    app.command("train-grpo")(_command("grpo"))
    app.command("train-sft")(_command("sft"))
