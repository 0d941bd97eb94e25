"""`vlmr1 predict`: the boxes a model gives for a phrase (REC) or labels (OVD) on images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vlmr1_cli.cli.options import (
    DtypeOpt,
    JsonOpt,
    MaxImagePixelsOpt,
    ModelOpt,
    RevisionOpt,
    SystemOpt,
    TemplateOpt,
    TrustRemoteCodeOpt,
    count_option,
    device_option,
    flag,
    output_option,
    refuse_file_output,
    value,
)


def _box_text(box: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in box)


def _table_rows(results: list[dict[str, Any]]) -> list[list[Any]]:
    from rich.markup import escape  # labels are model output: never rich markup

    rows: list[list[Any]] = []
    for r in results:
        name = escape(Path(r["image"]).name)
        if not r["boxes"]:
            rows.append([name, "no box" if r["parsed"] else "UNPARSEABLE", "", ""])
        for b in r["boxes"]:
            rows.append([name, "box", escape(str(b["label"])), _box_text(b["bbox_2d"])])
    return rows


def register(app: typer.Typer) -> None:
    @app.command("predict")
    def predict(
        model: ModelOpt = None,
        image: Annotated[
            Path | None,
            typer.Option(
                "--image",
                "-i",
                help="An image, or a folder of images (its files directly inside).",
                show_default=False,
            ),
        ] = None,
        phrase: Annotated[
            str | None,
            typer.Option(
                "--phrase",
                help='REC: the phrase to ground, e.g. "the red circle".',
                show_default=False,
            ),
        ] = None,
        labels: Annotated[
            str | None,
            typer.Option(
                "--labels",
                help='OVD: the labels to detect, comma-separated, e.g. "cat,red car".',
                show_default=False,
            ),
        ] = None,
        template: TemplateOpt = None,
        system: SystemOpt = None,
        output: Annotated[
            Path | None,
            output_option(
                "folder", "the images with the predicted boxes drawn (NNNN-<image name>.png)."
            ),
        ] = None,
        show_completion: Annotated[
            bool, flag("--show-completion", help="Print each raw completion under the table.")
        ] = False,
        batch_size: Annotated[
            int, count_option("--batch-size", "Images per generate call.", min=1)
        ] = 8,
        max_new_tokens: Annotated[
            int, count_option("--max-new-tokens", "Generation budget per image.", min=1)
        ] = 256,
        revision: RevisionOpt = None,
        dtype: DtypeOpt = None,
        device: Annotated[
            str | None, device_option("Device (default: cuda if available, else cpu).")
        ] = None,
        trust_remote_code: TrustRemoteCodeOpt = False,
        max_image_pixels: MaxImagePixelsOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Run a model on images: boxes for a phrase (REC) or labels (OVD), in original pixels."""
        import sys

        from vlmr1_cli.cli.output import info, print_json, print_table
        from vlmr1_cli.errors import UserError
        from vlmr1_cli.evaluate.predict import PredictOptions, draw_results, parse_labels
        from vlmr1_cli.evaluate.predict import predict as run_predict

        if not model or image is None:
            raise UserError("predict needs --model and --image (and --phrase or --labels)")
        refuse_file_output(output, "the pictures go into")
        if template is not None:
            from vlmr1_cli.recipes.values import check_template

            # names the query (as evaluate --template), before any weights load
            task = "rec" if phrase is not None else "ovd" if labels is not None else None
            check_template(template, "--template", task)
        if max_image_pixels is not None:
            from vlmr1_cli.images import use_max_image_pixels

            use_max_image_pixels(max_image_pixels)
        opts = PredictOptions(
            template=template,
            system=system,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            dtype=value(dtype),
            device=device,
            trust_remote_code=trust_remote_code,
            revision=revision,
        )
        label_list = parse_labels(labels) if labels is not None else None
        result = run_predict(model, image, phrase=phrase, labels=label_list, opts=opts)
        pictures = draw_results(output, result) if output is not None else []
        for r, picture in zip(result["results"], pictures, strict=False):
            r["picture"] = picture
        summary = {k: result[k] for k in ("model", "task", "prompt_source", "frame")}
        results = [{k: v for k, v in r.items() if k != "answer"} for r in result["results"]]
        if json_out:
            print_json({**summary, "results": results})
            return
        query = phrase if phrase is not None else ", ".join(label_list or [])
        print_table(
            f"{result['task']}: {query} ({len(results)} images; boxes in original pixels x1, y1, x2, y2)",
            ["image", "answer", "label", "box"],
            _table_rows(results),
        )
        if show_completion:
            for r in results:
                sys.stdout.write(f"--- {r['image']}\n{r['completion']}\n")
        info(
            f"model {result['model']}, prompt: {result['prompt_source']}, frame {result['frame']}"
            + (f"; {len(pictures)} pictures in {output}" if pictures else "")
        )
