"""`vlmr1 report`: an HTML page of an evaluation, a training run, or several evaluations side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import JsonOpt, output_option, refuse_file_output


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        folders: Annotated[
            list[Path],
            typer.Argument(
                help=(
                    "An evaluation folder, a training run folder, or several evaluation folders "
                    "of the same data (a comparison)."
                ),
                show_default=False,
            ),
        ],
        output: Annotated[
            Path | None,
            output_option(
                "folder",
                "where report.html and report_files/ go (default: the folder reported on; required for a comparison).",
            ),
        ] = None,
        names: Annotated[
            str | None,
            typer.Option(
                "--names",
                help="Comparison: the models' names, comma-separated (default: the folder names that differ).",
                show_default=False,
            ),
        ] = None,
        image_root: Annotated[
            Path | None,
            typer.Option(
                "--image-root",
                help="Evaluations: image root (default: the one evaluate used).",
                show_default=False,
            ),
        ] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Write report.html: metrics, curves and a gallery of samples with their boxes (opens offline)."""
        from vlmr1_cli.cli.output import info, print_json
        from vlmr1_cli.errors import UserError
        from vlmr1_cli.report.folders import write_report

        refuse_file_output(output, "report.html goes into")
        name_list = None
        if names is not None:
            name_list = [n.strip() for n in names.split(",")]
            if not all(name_list):
                raise UserError(f"--names '{names}': an empty name")
            if len(set(name_list)) != len(name_list):
                raise UserError(f"--names '{names}': a name given twice")
        kind, path = write_report(
            list(folders), output, name_list, str(image_root) if image_root else None
        )
        if json_out:
            print_json({"kind": kind, "report": str(path)})
            return
        info(f"{kind} report: {path}")
