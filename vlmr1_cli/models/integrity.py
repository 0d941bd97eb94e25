"""Is a weights or checkpoint file whole? Checked from headers, without loading anything.

A run killed while saving, a full disk or an interrupted copy leaves weights that are
truncated, or files that are not what their name says. Loading them fails deep inside
safetensors or torch with a traceback that names neither the file nor the way out; these
checks read only the headers (a few kilobytes, however large the file) and say which file
is broken and why.

- `*.safetensors`: an 8-byte little-endian header length, a JSON header whose tensors'
  `data_offsets` must end exactly where the file does (as the safetensors library requires).
- torch files (`optimizer.pt`, `scheduler.pt`, `rng_state*.pth`, `training_args.bin`...):
  a zip archive (torch.save's format since torch 1.6) whose central directory, written
  last, must be there; a file in the older pickle format is accepted unchecked.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from vlmr1_cli.errors import UserError

SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit
TORCH_FILE_SUFFIXES = (".pt", ".pth", ".bin")
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # torch.save's legacy (non-zip) format starts with a pickle protocol


def safetensors_problem(path: str | Path) -> str | None:
    """Why `path` is not a whole safetensors file, or None."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"truncated ({size} bytes: not even the 8-byte header length)"
        (n,) = struct.unpack("<Q", head)
        if n > SAFETENSORS_MAX_HEADER:
            return "not a safetensors file (its header length is implausible)"
        if 8 + n > size:
            return (
                f"truncated (the header alone should take {8 + n:,} bytes; the file has {size:,})"
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return "not a safetensors file (its header is not a JSON object)"
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in offsets)
        ):
            return f"not a safetensors file (tensor '{name}' has no valid data_offsets)"
        end = max(end, offsets[1])
    data = size - 8 - n
    if end > data:
        return f"truncated (its tensors need {8 + n + end:,} bytes; the file has {size:,})"
    if end < data:
        return f"corrupt ({data - end:,} bytes after the last tensor)"
    return None


def torch_file_problem(path: str | Path) -> str | None:
    """Why `path`, written by torch.save, cannot be whole; None if it looks whole."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        return "empty"
    if head.startswith(_PICKLE_MAGIC):
        return None  # the legacy format has no index to check
    if head != _ZIP_MAGIC:
        return "not a file torch wrote"
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "truncated or corrupt (its zip index is missing or unreadable)"
    return None


def file_problem(path: Path) -> str | None:
    if path.suffix == ".safetensors":
        return safetensors_problem(path)
    if path.suffix in TORCH_FILE_SUFFIXES:
        return torch_file_problem(path)
    if path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return "not valid JSON (truncated?)"
    return None


def weight_files(folder: Path) -> list[Path]:
    """The folder's safetensors files, and a sharded index's shards (missing ones included)."""
    files = sorted(folder.glob("*.safetensors"))
    for index in sorted(folder.glob("*.safetensors.index.json")):
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        except (UnicodeDecodeError, ValueError, RecursionError, AttributeError):
            raise UserError(f"{index}: not valid JSON (truncated?)") from None
        files += [
            folder / name for name in sorted(set(weight_map.values())) if folder / name not in files
        ]
    return files


def check_model_files(folder: str | Path, label: str | None = None) -> None:
    """One line naming the first broken (or missing) weights file of a model folder."""
    folder = Path(folder)
    for path in weight_files(folder):
        if not path.is_file():
            raise UserError(
                f"{label or folder}: weights file {path.name} is missing "
                "(named by the sharded index)"
            )
        why = safetensors_problem(path)
        if why is not None:
            raise UserError(f"{path}: {why}; the weights cannot be loaded")


def checkpoint_problem(checkpoint: str | Path) -> tuple[Path, str] | None:
    """(file, why) of the first broken file a resume would read from `checkpoint`, or None.
    Only files at the checkpoint's top level (weights, optimizer, scheduler, RNG states,
    trainer state); DeepSpeed's own `global_step*` folders are DeepSpeed's to check."""
    folder = Path(checkpoint)
    for path in weight_files(folder):
        if not path.is_file():
            return path, "missing (named by the sharded index)"
    for path in sorted(folder.iterdir()):
        if path.is_file():
            why = file_problem(path)
            if why is not None:
                return path, why
    return None


def check_resume_checkpoint(complete: list[Path]) -> None:
    """The newest of the complete checkpoints (oldest first) is whole, or one line naming the
    broken file and the way out. A run killed while saving, or a full disk, leaves a truncated
    optimizer or weights file that torch would fail on deep inside the trainer. The folder is
    never deleted here: that is the user's call."""
    newest = complete[-1]
    broken = checkpoint_problem(newest)
    if broken is None:
        return
    path, why = broken
    then = (
        f"delete the folder {newest} to resume from {complete[-2].name}"
        if len(complete) > 1
        else f"it is the only checkpoint: delete the folder {newest} and train again without --resume"
    )
    raise UserError(f"--resume: {path} is {why}; {then}")
