"""Plug-ins: what packages installed beside vlmr1 add to it, found through entry points.

A package adds a model family, a dataset importer or a reward without editing vlmr1 by
declaring an entry point (in its `pyproject.toml`, `[project.entry-points."vlmr1.rewards"]`
and so on) in one of the groups below; `importlib.metadata` finds them in the `*.dist-info`
folders on `sys.path`, as pytest finds its plug-ins. Reading the entry points is cheap (no
plug-in module is imported); a plug-in's module is imported only when what it adds is used.

A broken plug-in (a module that does not import, an object of the wrong kind, a name that
clashes with a built-in) is one line naming its entry point and its package: `load` raises
it as a `PluginError` (a `UserError`), and the registries that skip a broken plug-in so the
others keep working print it once with `warn`. docs/architecture.md, "Adding things".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmr1_cli.errors import UserError
from vlmr1_cli.progress import note

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

FAMILIES = "vlmr1.model_families"  # name = "module:Class" (a ModelFamily subclass)
IMPORTERS = "vlmr1.importers"  # name = "module:function" (a Typer command)
REWARDS = "vlmr1.rewards"  # name = "module:function" (TRL's reward signature)
GROUPS = (FAMILIES, IMPORTERS, REWARDS)


class PluginError(UserError):
    """A plug-in that cannot be used; the message names its entry point and package."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of a vlmr1 group: `name = value`, declared by `package`."""

    group: str
    name: str
    value: str
    package: str  # "<distribution> <version>", as the user installed it
    summary: str  # the package's one-line description (METADATA Summary), or ""
    entry_point: EntryPoint

    def describe(self) -> str:
        return f"plug-in '{self.name} = {self.value}' ({self.group}, from {self.package})"

    def load(self) -> object:
        """The object the entry point names (importing its module now)."""
        try:
            return self.entry_point.load()
        except (Exception, SystemExit) as e:
            # a sys.exit() at import too; KeyboardInterrupt still interrupts
            detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise PluginError(
                f"{self.describe()}: cannot load: {type(e).__name__}"
                + (f": {detail}" if detail else "")
            ) from None


def _package_of(entry_point: EntryPoint) -> tuple[str, str]:
    """("<distribution> <version>", its Summary) of the package declaring `entry_point`."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown package", ""
    try:
        meta = dist.metadata
        return f"{meta.get('Name') or '?'} {dist.version or '?'}", str(meta.get("Summary") or "")
    except Exception:
        return "a package with unreadable metadata", ""


@functools.cache
def plugins(group: str) -> dict[str, Plugin]:
    """The entry points of `group` by name, in `sys.path` order. Read once per process
    (`plugins.cache_clear()` rereads them); a name declared twice keeps the first."""
    import importlib.metadata  # here: 10 ms that `vlmr1 --help` need not spend

    if group not in GROUPS:
        raise ValueError(f"unknown plug-in group {group!r}")
    try:
        found = importlib.metadata.entry_points(group=group)
    except Exception as e:
        warn(f"cannot read the installed plug-ins of {group}: {type(e).__name__}: {e}")
        return {}
    out: dict[str, Plugin] = {}
    for entry_point in found:
        plugin = Plugin(
            group, entry_point.name, entry_point.value, *_package_of(entry_point), entry_point
        )
        if plugin.name in out:
            if out[plugin.name].value != plugin.value:
                warn(
                    f"{plugin.describe()}: ignored, the name is taken by "
                    f"{out[plugin.name].describe()}"
                )
            continue
        out[plugin.name] = plugin
    return out


_WARNED: set[str] = set()


def warn(message: str) -> None:
    """Say once per process that a plug-in was left out, and why (one line on stderr)."""
    if message not in _WARNED:
        _WARNED.add(message)
        note(message)
