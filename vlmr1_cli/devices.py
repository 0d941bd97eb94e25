"""`--device`: which spellings vlmr1 accepts, and whether the device is there.

`parse_device` checks the spelling only (no torch import: it runs as the option is parsed);
`check_device` asks torch whether the device exists, before any weights load, so a machine
without CUDA answers `--device cuda` in one line instead of a traceback minutes later.
"""

from __future__ import annotations

import re

from vlmr1_cli.errors import UserError

DEVICE_FORMS = "cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def parse_device(text: str, option: str = "--device") -> str:
    """The device name, normalised (`CUDA:0` -> `cuda:0`), or a UserError naming `option`."""
    name = text.strip().lower()
    if not _DEVICE.match(name):
        raise UserError(f"{option} '{text}': not a device (use {DEVICE_FORMS})")
    return name


def check_device(device: str | None, option: str = "--device") -> None:
    """One line if `device` (already parsed) does not exist on this machine; None passes."""
    if device is None:
        return
    device = parse_device(device, option)
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            why = (
                "this torch is built without CUDA"
                if torch.version.cuda is None
                else "no CUDA GPU is visible (driver, CUDA_VISIBLE_DEVICES)"
            )
            raise UserError(f"{option} {device}: CUDA is not available ({why}); use {option} cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise UserError(
                f"{option} {device}: this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    elif device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError(
                f"{option} mps: Apple's MPS backend is not available here; use {option} cpu"
            )
