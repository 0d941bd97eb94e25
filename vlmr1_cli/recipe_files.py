"""Where recipes and accelerate configs come from: a user's file, or one shipped in the package.

The package carries its recipes in `vlmr1_cli/configs/*.yaml` and its accelerate configs in
`vlmr1_cli/configs/accelerate/*.yaml` (package data, found with `importlib.resources`), so
`vlmr1 train-grpo -r rec_refcoco --config-file zero2` works from any folder after
`pip install`. One rule everywhere: an argument naming an existing file is that file;
otherwise a packaged name (`rec_refcoco`, also `rec_refcoco.yaml`) is the packaged file;
otherwise a one-line error with the closest names.

Standard library only: the CLI's --help imports this module.
"""

from __future__ import annotations

import difflib
import os
from importlib import resources
from pathlib import Path

from vlmr1_cli.errors import UserError

RECIPE_SUFFIX = ".yaml"


def packaged_recipes_dir() -> Path:
    """The folder of packaged recipes. pip installs wheels unpacked, so this is a real folder
    (accelerate and the demo need file paths, not only readable resources)."""
    folder = resources.files("vlmr1_cli").joinpath("configs")
    if not isinstance(folder, Path):  # a zip import: no file paths to hand to accelerate
        raise UserError(
            f"vlmr1_cli's recipes are not a folder on disk ({folder}): install "
            "vlmr1 with pip (which unpacks it) rather than importing it from a zip"
        )
    return folder


def packaged_accelerate_dir() -> Path:
    return packaged_recipes_dir() / "accelerate"


def _catalog(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        p.name[: -len(RECIPE_SUFFIX)]: p
        for p in sorted(folder.glob(f"*{RECIPE_SUFFIX}"))
        if p.is_file()
    }


def packaged_recipes() -> dict[str, Path]:
    """Packaged recipe name (file name without .yaml) -> file, sorted by name."""
    return _catalog(packaged_recipes_dir())


def packaged_accelerate_configs() -> dict[str, Path]:
    """Packaged accelerate config name (ddp, zero2, ...) -> file, sorted by name."""
    return _catalog(packaged_accelerate_dir())


def packaged_name(arg: str | os.PathLike) -> str:
    """`rec_refcoco.yaml` -> `rec_refcoco`; other text is returned as given."""
    text = os.fspath(arg)
    return text[: -len(RECIPE_SUFFIX)] if text.endswith(RECIPE_SUFFIX) else text


def _lookup(arg: str | os.PathLike, catalog: dict[str, Path]) -> Path | None:
    text = os.fspath(arg)
    if "/" in text or os.sep in text:
        return None  # a path is a path: `recipes/x.yaml` never silently means the packaged x
    return catalog.get(packaged_name(text))


def _hint(arg: str | os.PathLike, catalog: dict[str, Path]) -> str:
    stem = packaged_name(Path(os.fspath(arg)).name)
    if stem in catalog:  # e.g. an old `recipes/rec_refcoco.yaml` path
        return f"; did you mean the packaged '{stem}'?"
    close = difflib.get_close_matches(stem, list(catalog), n=3, cutoff=0.5)
    return f"; did you mean: {', '.join(close)}?" if close else ""


def resolve(arg: str | os.PathLike, kind: str, catalog: dict[str, Path], listing: str) -> Path:
    """An existing file as given, else the packaged file of that name, else a UserError
    `<kind> 'X': no such file, and no packaged <kind> of that name` with suggestions."""
    given = Path(os.fspath(arg))
    if given.is_file():
        return given
    found = _lookup(arg, catalog)
    if found is not None:
        return found
    if given.is_dir():
        raise UserError(f"{kind} '{arg}': is a folder, not a file ({listing})")
    raise UserError(
        f"{kind} '{arg}': no such file, and no packaged {kind} of that name"
        f"{_hint(arg, catalog)} ({listing})"
    )


def resolve_recipe(arg: str | os.PathLike) -> Path:
    return resolve(arg, "recipe", packaged_recipes(), "vlmr1 recipes list")


def resolve_accelerate_config(arg: str | os.PathLike) -> Path:
    return resolve(arg, "accelerate config", packaged_accelerate_configs(), "vlmr1 recipes list")


def resolve_extends(base: str, extending: Path) -> Path | None:
    """`extends: X` in `extending`: the file X beside it first, then the packaged recipe X
    (so a copied recipe that extends a packaged one keeps working); None when neither."""
    beside = extending.parent / base
    if beside.is_file():
        return beside
    return _lookup(base, packaged_recipes())
