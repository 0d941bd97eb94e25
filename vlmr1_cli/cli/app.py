"""The `vlmr1` root command. Sub-commands import their heavy modules lazily, inside the
command body, so `vlmr1 --help` answers without torch/transformers/trl."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from vlmr1_cli import __version__
from vlmr1_cli.cli import evaluate as evaluate_cli
from vlmr1_cli.cli import export as export_cli
from vlmr1_cli.cli import models as models_cli
from vlmr1_cli.cli import predict as predict_cli
from vlmr1_cli.cli import prepare as prepare_cli
from vlmr1_cli.cli import recipes as recipes_cli
from vlmr1_cli.cli import report as report_cli
from vlmr1_cli.cli import train as train_cli
from vlmr1_cli.cli.options import CONTEXT_SETTINGS, flag

app = typer.Typer(
    name="vlmr1",
    help="R1-style GRPO for vision-language grounding: prepare data, train, evaluate, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (typer's own, no heavy import)
    context_settings=CONTEXT_SETTINGS,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vlmr1 {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, flag("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            metavar="",
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    if debug:
        os.environ["VLMR1_DEBUG"] = "1"


app.add_typer(prepare_cli.app, name="prepare-data")
app.add_typer(recipes_cli.app, name="recipes")
train_cli.register(app)
evaluate_cli.register(app)
predict_cli.register(app)
report_cli.register(app)
export_cli.register(app)
models_cli.register(app)
models_cli.register_demo(app)


def main() -> None:
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.io import os_error_line

    try:
        app()
    except UserError as e:
        if os.environ.get("VLMR1_DEBUG") == "1":
            raise
        from vlmr1_cli.cli.output import error_line

        error_line(str(e))
        sys.exit(1)
    except OSError as e:
        # Safety net: a full disk, a read-only or unwritable folder met where no code worded it
        # (atomic_open does, naming the output) is still one line, not a traceback.
        from vlmr1_cli.io import FS_ERRNOS

        if e.errno not in FS_ERRNOS or os.environ.get("VLMR1_DEBUG") == "1":
            raise
        from vlmr1_cli.cli.output import error_line

        error_line(os_error_line(e))
        sys.exit(1)
    except Exception as e:
        # safetensors words its I/O errors itself ("... (os error 28)"), as no OSError
        from vlmr1_cli.io import wrapped_os_error

        inner = wrapped_os_error(e)
        if inner is None or os.environ.get("VLMR1_DEBUG") == "1":
            raise
        from vlmr1_cli.cli.output import error_line

        error_line(f"cannot save the weights: {os_error_line(inner)}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except SystemExit as e:
        # Typer (standalone mode) turns a Ctrl-C inside a command into a silent exit 130
        # (`raise Exit(130) from KeyboardInterrupt`, then `sys.exit`): say it, as above.
        if e.code == 130 and _caused_by_interrupt(e):
            sys.stderr.write("interrupted\n")
        raise


def _caused_by_interrupt(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the exceptions that led to `error`."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
