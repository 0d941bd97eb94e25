"""The recipe's `launch` section: counts, ranks and the port checked, the accelerate config
resolved to a file."""

from __future__ import annotations

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.values import check_text, short

_LAUNCH_INTS = ("num_processes", "num_machines", "machine_rank", "main_process_port")
MAX_LAUNCH_INT = 2**31 - 1


def check_launch(launch: dict, where: str) -> None:
    """Launch settings, with `config_file` resolved to a file (a path, or a packaged accelerate
    config name: `vlmr1 recipes list` shows them)."""
    from vlmr1_cli.recipe_files import resolve_accelerate_config

    for key in _LAUNCH_INTS:
        value = launch.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise UserError(
                f"{where}: key 'launch.{key}': must be a non-negative integer, got {value!r}"
            )
        if value is not None and value > MAX_LAUNCH_INT:
            raise UserError(
                f"{where}: key 'launch.{key}': must be at most {MAX_LAUNCH_INT} "
                f"(torch.distributed ranks are 32-bit), got {short(value)}"
            )
    for key in ("num_processes", "num_machines"):
        if launch.get(key) == 0:
            raise UserError(f"{where}: key 'launch.{key}': must be at least 1")
    if (launch.get("main_process_port") or 0) > 65535:
        raise UserError(
            f"{where}: key 'launch.main_process_port': must be a port (1-65535), "
            f"got {launch['main_process_port']}"
        )
    if (launch.get("machine_rank") or 0) >= (launch.get("num_machines") or 1):
        raise UserError(
            f"{where}: key 'launch.machine_rank': {launch['machine_rank']} is not below "
            f"num_machines ({launch.get('num_machines') or 1})"
        )
    for key in ("main_process_ip", "config_file"):
        check_text(launch.get(key), f"launch.{key}", where)
    if launch.get("config_file"):
        try:
            launch["config_file"] = str(resolve_accelerate_config(launch["config_file"]))
        except UserError as e:
            raise UserError(f"{where}: key 'launch.config_file': {e}") from None
