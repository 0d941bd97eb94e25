"""`vlmr1 recipes list|show|cp`: the recipes and accelerate configs shipped in the package.

Modelled on torchtune's `tune ls` / `tune cp`: list what ships, print one, or copy one to
edit. `--recipe NAME` and `--config-file NAME` take these names directly, from any folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import CONTEXT_SETTINGS, JsonOpt, flag

app = typer.Typer(
    help="The packaged recipes and accelerate configs: list them, show one, copy one to edit.",
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
)

NameArg = Annotated[
    str,
    typer.Argument(
        help="A packaged recipe (rec_refcoco) or accelerate config (zero2); "
        "see vlmr1 recipes list.",
        show_default=False,
    ),
]


def _description(path: Path) -> str:
    """The first sentence of the file's opening comment: what the recipe or config is."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text.startswith("#") or (words and not text.lstrip("#").strip()):
            break
        words.append(text.lstrip("#").strip())
    first = " ".join(w for w in words if w)
    return first.split(". ", 1)[0].rstrip(".") + "." if ". " in first else first


def _recipe_row(name: str, path: Path) -> dict:
    import yaml

    from vlmr1_cli.recipes.loading import load_recipe

    recipe = load_recipe(path, check_trl_fields=False)  # a listing: no need to import trl
    tasks = sorted(recipe.rewards)
    data = [src.path for src in recipe.data.train]
    # GRPO names its tasks in its rewards; an SFT recipe names none, so its data files say
    # what it trains on.
    task = ", ".join(tasks) if tasks else "data: " + ", ".join(data)
    extends = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("extends")
    return {
        "name": name,
        "method": recipe.method,
        "task": task,
        "tasks": tasks,
        "model": recipe.model.path,
        "data": data,
        "extends": extends,
        "description": _description(path),
        "file": str(path),
    }


def _accelerate_row(name: str, path: Path) -> dict:
    import yaml

    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    kind = str(cfg.get("distributed_type", ""))
    stage = (cfg.get("deepspeed_config") or {}).get("zero_stage")
    if stage is not None:
        kind += f" ZeRO-{stage}"
    return {
        "name": name,
        "distributed_type": kind,
        "num_machines": cfg.get("num_machines"),
        "num_processes": cfg.get("num_processes"),
        "description": _description(path),
        "file": str(path),
    }


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List the packaged recipes (name, method, task, model) and accelerate configs."""
    from vlmr1_cli.cli.output import print_json, print_table
    from vlmr1_cli.recipe_files import packaged_accelerate_configs, packaged_recipes

    recipes = [_recipe_row(name, path) for name, path in packaged_recipes().items()]
    configs = [_accelerate_row(name, path) for name, path in packaged_accelerate_configs().items()]
    if json_out:
        print_json({"recipes": recipes, "accelerate": configs})
        return
    print_table(
        "recipes (vlmr1 train-grpo|train-sft -r NAME)",
        ["name", "method", "task", "model"],
        [(r["name"], r["method"], r["task"], r["model"]) for r in recipes],
    )
    print_table(
        "accelerate configs (--config-file NAME)",
        ["name", "type", "machines", "processes", "description"],
        [
            (
                c["name"],
                c["distributed_type"],
                c["num_machines"],
                c["num_processes"],
                c["description"],
            )
            for c in configs
        ],
    )


def _packaged(name: str) -> tuple[str, Path]:
    """("recipe" | "accelerate config", file) for a packaged name; else a one-line error."""
    import difflib

    from vlmr1_cli.errors import UserError
    from vlmr1_cli.recipe_files import packaged_accelerate_configs, packaged_name, packaged_recipes

    recipes, configs = packaged_recipes(), packaged_accelerate_configs()
    key = packaged_name(name)
    if key in recipes:
        return "recipe", recipes[key]
    if key in configs:
        return "accelerate config", configs[key]
    close = difflib.get_close_matches(key, [*recipes, *configs], n=3, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}?" if close else ""
    raise UserError(
        f"'{name}': no packaged recipe or accelerate config of that name{hint} (vlmr1 recipes list)"
    )


@app.command("show")
def show(
    name: NameArg,
    resolved: Annotated[
        bool,
        flag(
            "--resolved",
            help="Print the recipe after extends and defaults "
            "(as train-grpo --print-config) instead of the file.",
        ),
    ] = False,
) -> None:
    """Print a packaged recipe or accelerate config to stdout, as shipped (comments included)."""
    from vlmr1_cli.errors import UserError

    kind, path = _packaged(name)
    if resolved:
        if kind != "recipe":
            raise UserError(
                f"--resolved: '{name}' is an accelerate config, not a recipe (it has no extends)"
            )
        from vlmr1_cli.recipes.loading import dump_recipe, load_recipe

        typer.echo(dump_recipe(load_recipe(path)), nl=False)
        return
    typer.echo(path.read_text(encoding="utf-8"), nl=False)


@app.command("cp")
def cp(
    name: NameArg,
    dest: Annotated[
        Path,
        typer.Argument(
            help="File to write, or an existing folder (the copy is then FOLDER/NAME.yaml).",
            show_default=False,
        ),
    ],
    overwrite: Annotated[bool, flag("--overwrite", help="Replace an existing file.")] = False,
    resolved: Annotated[
        bool,
        flag(
            "--resolved",
            help="Write the recipe after extends and defaults: one "
            "self-contained file, without the comments.",
        ),
    ] = False,
) -> None:
    """Copy a packaged recipe or accelerate config to edit it.

    The copy is the shipped file, comments included, like `tune cp`. A recipe that extends
    another (the LoRA and OVD recipes) keeps its `extends: NAME.yaml` line: that reads the
    file NAME.yaml beside the copy if there is one, else the packaged recipe, so the copy
    runs as it is and a copied base is picked up. --resolved writes the merged recipe instead.
    """
    from vlmr1_cli.cli.output import info
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.io import atomic_open

    kind, path = _packaged(name)
    target = dest / path.name if dest.is_dir() else dest
    if target.is_dir():
        raise UserError(f"{target}: is a folder; name a file or a folder without {path.name} in it")
    if not target.parent.is_dir():
        raise UserError(f"{target.parent}: folder not found (create it first)")
    if target.exists() and not overwrite:
        raise UserError(f"{target}: file exists (pass --overwrite to replace it)")
    if resolved and kind != "recipe":
        raise UserError(f"--resolved: '{name}' is an accelerate config, not a recipe")
    if resolved:
        from vlmr1_cli.recipes.loading import dump_recipe, load_recipe

        text = dump_recipe(load_recipe(path))
    else:
        text = path.read_text(encoding="utf-8")
    with atomic_open(target) as fh:
        fh.write(text)
    info(f"copied {kind} {path.stem} to {target}")
