"""Training under `accelerate launch` (the launcher itself is `vlmr1_cli.launch`).

One process trains in-process. More processes (or machines, or an explicit accelerate
config) run `vlmr1_cli.train.worker` under `accelerate launch` on the run this process
prepared (setup.hand_over: the resolved recipe, the located model, the prepared data);
`--num-processes`, `--num-machines`, `--machine-rank`, `--main-process-ip/-port` and
`--config-file` are forwarded as accelerate's own flags (set ones override the config file).
Without a config file vlmr1 writes its default one (launch/accelerate.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vlmr1_cli.launch.accelerate import accelerate_command, free_port, write_default_config
from vlmr1_cli.launch.workers import run_workers
from vlmr1_cli.recipes.schema import LaunchSettings
from vlmr1_cli.train.setup import RunContext, hand_over

WORKER_MODULE = "vlmr1_cli.train.worker"


def launch_command(
    launch: LaunchSettings, handover: Path, workdir: Path, overwrite: bool = False
) -> list[str]:
    """The `accelerate launch` command of the ranks; the launch settings were checked when the
    recipe loaded (recipes/launch_settings.py)."""
    machines = int(launch.num_machines or 1)
    # resolved to a file (a packaged name or a path) when the recipe loaded
    cfg: str | Path = launch.config_file or write_default_config(
        workdir, int(launch.num_processes or 1), machines, int(launch.machine_rank or 0)
    )
    flags: list[tuple[str, object]] = []
    if launch.num_processes:
        flags.append(("num_processes", int(launch.num_processes)))
    if launch.num_machines:
        flags.append(("num_machines", machines))
    if launch.machine_rank is not None:
        flags.append(("machine_rank", int(launch.machine_rank)))
    if launch.main_process_ip:
        flags.append(("main_process_ip", launch.main_process_ip))
    port = launch.main_process_port
    if not port and machines == 1 and not launch.config_file:
        port = free_port()  # parallel runs on one machine must not share the default port
    if port:
        flags.append(("main_process_port", int(port)))
    args = [str(handover)]
    if overwrite:  # rank 0 clears the earlier run once the model has loaded (run.py)
        args.append("--overwrite")
    return accelerate_command(cfg, flags, WORKER_MODULE, args)


def launch(ctx: RunContext, overwrite: bool = False) -> int:
    """Hand the prepared run over (setup.hand_over), run the ranks, and return their exit code;
    a rank's configuration error is raised here as the same one-line UserError."""
    from vlmr1_cli.secrets import hub_token_env

    with tempfile.TemporaryDirectory(prefix="vlmr1-launch-") as tmp:
        folder = Path(tmp)
        handover = hand_over(ctx, folder)
        cmd = launch_command(ctx.recipe.launch, handover, folder, overwrite)
        # the hand-over file holds no token: the ranks read it from their environment
        return run_workers(cmd, folder, env=hub_token_env(ctx.recipe.training))
