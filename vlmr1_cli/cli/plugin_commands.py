"""Commands added by installed plug-ins (`vlmr1 prepare-data <name>` from `vlmr1.importers`).

The group lists a plug-in's command from its entry point alone, so `vlmr1 prepare-data --help`
imports no plug-in; the plug-in's module is imported when its command runs (or shows its own
`--help`), as click's lazily loaded groups do. A name taken by a built-in command is refused
with a one-line note; a plug-in that does not load is one `error:` line when its command runs
and never affects the other commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

from vlmr1_cli import plugins
from vlmr1_cli.cli.options import CONTEXT_SETTINGS

if TYPE_CHECKING:
    # typer 0.29 vendors click: its commands and contexts are these classes, not pip click's
    from typer._click import Command, Context

PANEL = "Plug-ins"  # the help panel plug-in commands are listed under


def command_of(obj: object, plugin: plugins.Plugin) -> Command:
    """The command a plug-in's entry point names: a function written as a Typer command (its
    parameters are the options, as under `@app.command()`), or a `typer.Typer` app."""
    try:
        if isinstance(obj, typer.Typer):
            return typer.main.get_command(obj)
        if callable(obj):
            app = typer.Typer(context_settings=CONTEXT_SETTINGS)
            app.command(name=plugin.name)(obj)
            return typer.main.get_command(app)
    except Exception as e:
        raise plugins.PluginError(
            f"{plugin.describe()}: not a usable Typer command: {type(e).__name__}: {e}"
        ) from None
    raise plugins.PluginError(
        f"{plugin.describe()}: {type(obj).__name__} is not a command "
        "(a function with Typer options, or a typer.Typer)"
    )


class LazyPluginCommand(TyperCommand):
    """A plug-in's command, listed by name and imported only when it is run."""

    def __init__(self, plugin: plugins.Plugin) -> None:
        origin = f"plug-in {plugin.value} from {plugin.package}"
        summary = plugin.summary.strip().rstrip(".")
        super().__init__(
            plugin.name,
            help=f"{summary} ({origin})." if summary else f"From {origin}.",
            rich_help_panel=PANEL,
        )
        self.plugin = plugin
        self._command: Command | None = None

    def command(self) -> Command:
        if self._command is None:
            self._command = command_of(self.plugin.load(), self.plugin)
        return self._command

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        # The context belongs to the real command: the group then invokes that command.
        return self.command().make_context(info_name, args, parent=parent, **extra)


class PluginGroup(TyperGroup):
    """A Typer group that adds the commands of the plug-ins of one entry-point group."""

    plugin_group = plugins.IMPORTERS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, LazyPluginCommand] = {}

    def _plugins(self) -> dict[str, plugins.Plugin]:
        found = plugins.plugins(self.plugin_group)
        for name in sorted(set(found) & set(self.commands)):
            plugins.warn(
                f"{found[name].describe()}: '{self.name} {name}' is a built-in command; left out"
            )
        return {name: p for name, p in found.items() if name not in self.commands}

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *sorted(self._plugins())]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        if cmd_name not in self._lazy:
            plugin = self._plugins().get(cmd_name)
            if plugin is None:
                return None
            self._lazy[cmd_name] = LazyPluginCommand(plugin)
        return self._lazy[cmd_name]
