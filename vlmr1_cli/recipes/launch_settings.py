"""The recipe's `launch` section, every rule in one place: counts, ranks and the port checked,
the accelerate config resolved to a file and read, and the settings accelerate will use (the
config file's, overridden by those set) checked together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import LaunchSettings
from vlmr1_cli.recipes.values import check_text, short

_LAUNCH_INTS = ("num_processes", "num_machines", "machine_rank", "main_process_port")
_EFFECTIVE_KEYS = (*_LAUNCH_INTS, "main_process_ip")
MAX_LAUNCH_INT = 2**31 - 1


def check_launch(launch: dict, where: str) -> None:
    """Launch settings (a recipe's mapping, checked in place), with `config_file` resolved to
    a file (a path, or a packaged accelerate config name: `vlmr1 recipes list` shows them) and
    the effective settings checked: more than one machine needs the main machine's address,
    and a machine's rank is below the number of machines."""
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
    for key in ("main_process_ip", "config_file"):
        check_text(launch.get(key), f"launch.{key}", where)
    if launch.get("config_file"):
        try:
            launch["config_file"] = str(resolve_accelerate_config(launch["config_file"]))
        except UserError as e:
            raise UserError(f"{where}: key 'launch.config_file': {e}") from None
    eff = effective_launch(LaunchSettings(**launch))
    machines = int(eff.get("num_machines") or 1)
    if int(eff.get("machine_rank") or 0) >= machines:
        raise UserError(
            f"{where}: key 'launch.machine_rank': {eff['machine_rank']} is not below "
            f"num_machines ({machines})"
        )
    if machines > 1 and not eff.get("main_process_ip"):
        raise UserError(
            f"{where}: key 'launch.main_process_ip' (--main-process-ip) is required with "
            f"{machines} machines"
        )


def accelerate_config(launch: LaunchSettings) -> dict[str, Any]:
    """The accelerate config file named by `launch.config_file`, as a mapping ({} if none)."""
    cfg = launch.config_file
    if not (cfg and Path(cfg).is_file()):
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(cfg).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{cfg}: invalid YAML: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{cfg}: cannot read the accelerate config: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{cfg}: an accelerate config must be a YAML mapping")
    return data


def effective_launch(launch: LaunchSettings) -> dict[str, Any]:
    """The launch settings accelerate will use: the config file's, overridden by those set."""
    data = accelerate_config(launch)
    out = {k: data.get(k) for k in _EFFECTIVE_KEYS} if data else {}
    out.update({k: v for k, v in launch.as_mapping().items() if v is not None})
    return out


def needs_launcher(launch: LaunchSettings) -> bool:
    """Whether training runs under `accelerate launch`: several processes or machines, or an
    accelerate config named (one process in-process otherwise)."""
    return (
        int(launch.num_processes or 1) > 1
        or int(launch.num_machines or 1) > 1
        or bool(launch.config_file)
    )
