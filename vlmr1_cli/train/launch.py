"""Training under `accelerate launch` (the launcher itself is `vlmr1_cli.launch`).

One process trains in-process. More processes (or machines, or an explicit accelerate
config) re-run `vlmr1_cli.train.worker` under `accelerate launch` with the resolved recipe;
`--num-processes`, `--num-machines`, `--machine-rank`, `--main-process-ip/-port` and
`--config-file` are forwarded as accelerate's own flags (set ones override the config file).
Without a config file vlmr1 writes its default one (launch/accelerate.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.launch.accelerate import accelerate_command, free_port, write_default_config
from vlmr1_cli.launch.workers import run_workers

WORKER_MODULE = "vlmr1_cli.train.worker"


def needs_launcher(launch: dict) -> bool:
    return (
        int(launch.get("num_processes") or 1) > 1
        or int(launch.get("num_machines") or 1) > 1
        or bool(launch.get("config_file"))
    )


def launch_command(
    launch: dict, recipe_path: Path, resume: bool, workdir: Path, overwrite: bool = False
) -> list[str]:
    cfg = launch.get("config_file")
    if cfg:  # a file, or a packaged accelerate config name (zero2, fsdp, ...)
        from vlmr1_cli.recipe_files import resolve_accelerate_config

        try:
            cfg = str(resolve_accelerate_config(cfg))
        except UserError as e:
            raise UserError(f"recipe: key 'launch.config_file': {e}") from None
    machines = int(launch.get("num_machines") or 1)
    if not cfg:
        cfg = write_default_config(
            workdir,
            int(launch.get("num_processes") or 1),
            machines,
            int(launch.get("machine_rank") or 0),
        )
    flags: list[tuple[str, object]] = []
    if launch.get("num_processes"):
        flags.append(("num_processes", int(launch["num_processes"])))
    if launch.get("num_machines"):
        flags.append(("num_machines", machines))
    if launch.get("machine_rank") is not None:
        flags.append(("machine_rank", int(launch["machine_rank"])))
    if machines > 1 and not launch.get("main_process_ip"):
        raise UserError("recipe: key 'launch.main_process_ip' is required with num_machines > 1")
    if launch.get("main_process_ip"):
        flags.append(("main_process_ip", launch["main_process_ip"]))
    port = launch.get("main_process_port")
    if not port and machines == 1 and not launch.get("config_file"):
        port = free_port()  # parallel runs on one machine must not share the default port
    if port:
        flags.append(("main_process_port", int(port)))
    args = [str(recipe_path)]
    if resume:
        args.append("--resume")
    if overwrite:  # rank 0 clears the earlier run once the model has loaded (run.py)
        args.append("--overwrite")
    return accelerate_command(cfg, flags, WORKER_MODULE, args)


def launch(recipe: dict, resume: bool = False, overwrite: bool = False) -> int:
    """Write the resolved recipe, run the workers, and return their exit code; a worker's
    configuration error is raised here as the same one-line UserError."""
    from vlmr1_cli.recipes.loading import dump_recipe
    from vlmr1_cli.secrets import hub_token_env

    with tempfile.TemporaryDirectory(prefix="vlmr1-launch-") as tmp:
        folder = Path(tmp)
        recipe_path = folder / "recipe.yaml"
        recipe_path.write_text(dump_recipe(recipe), encoding="utf-8")
        cmd = launch_command(recipe["launch"], recipe_path, resume, folder, overwrite)
        # the recipe file has the token redacted
        return run_workers(cmd, folder, env=hub_token_env(recipe))
