"""One CLI grammar: the option types every command shares, their choices and their ranges.

A concept has one name everywhere: `--model/-m` is what a command reads (a checkpoint, an
adapter, a preset or a Hub id), `--output/-o` what it writes (its help says file or folder),
`--json` a flag that prints the results as JSON on stdout, `-h` is `--help`. Choices are
enums, so help lists them and Typer refuses anything else (exit 2); counts carry their
range. Old names live on as hidden options merged by `take_alias`, with a note on stderr.

Standard library and typer only: `vlmr1 --help` imports this module.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

# Every app and sub-app: `-h` works wherever `--help` does.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

MODEL_HELP = (
    "What to read: a checkpoint folder, a LoRA adapter folder, a preset name or a Hub id "
    "(ORG/NAME, downloaded on first use)."
)


def flag(*names: str, help: str) -> Any:
    """A boolean flag. metavar "" because Typer would show `<bool>`, as if it took a value."""
    return typer.Option(*names, metavar="", help=help)


def model_option(help: str = MODEL_HELP) -> Any:
    return typer.Option("--model", "-m", help=help, show_default=False)


def output_option(kind: str, help: str) -> Any:
    """`--output/-o`; `kind` ("file" or "folder") opens the help so nobody has to guess."""
    if kind not in ("file", "folder"):
        raise ValueError(f"output kind must be 'file' or 'folder', not {kind!r}")
    return typer.Option("--output", "-o", help=f"Output {kind}: {help}", show_default=False)


# numpy's seed range, which training (recipes.values.SEED) and torch initialisation also keep to: a
# larger --seed would be refused deep inside a run (or overflow torch's C long) instead.
SEED_MAX = 2**32 - 1


def seed_option(help: str) -> Any:
    return typer.Option("--seed", min=0, max=SEED_MAX, help=help)


def count_option(name: str, help: str, min: int = 0) -> Any:
    """A number of things (samples, processes, lines): an integer of at least `min`."""
    return typer.Option(name, min=min, help=help)


def alias_option(name: str) -> Any:
    """An old option name kept for one release: hidden from help, merged by `take_alias`."""
    return typer.Option(name, hidden=True, show_default=False)


# --- choices (values as the library functions take them; tests pin them to those) -------------


class Metric(str, Enum):
    coco = "coco"
    nms_ap = "nms-ap"
    greedy_pr = "greedy-pr"


class EvalTask(str, Enum):
    rec = "rec"
    coco = "coco"
    ovdeval = "ovdeval"
    d3 = "d3"
    ovd = "ovd"


class LabelMode(str, Enum):
    all = "all"
    positive = "positive"


class Backend(str, Enum):
    hf = "hf"
    vllm = "vllm"


class Dtype(str, Enum):
    bfloat16 = "bfloat16"
    float16 = "float16"
    float32 = "float32"


class RefcocoDataset(str, Enum):
    refcoco = "refcoco"
    refcoco_plus = "refcoco+"
    refcocog = "refcocog"


class SplitBy(str, Enum):
    unc = "unc"
    umd = "umd"
    google = "google"


class RefcocoSplit(str, Enum):
    train = "train"
    val = "val"
    test = "test"
    testA = "testA"
    testB = "testB"
    testC = "testC"
    testAB = "testAB"
    testBC = "testBC"
    testAC = "testAC"


class TextField(str, Enum):
    raw = "raw"
    sent = "sent"


class Coords(str, Enum):
    abs = "abs"
    norm1000 = "norm1000"


class CocoVariant(str, Enum):
    filtered = "filtered"
    pos2 = "pos2"
    pos3 = "pos3"


class KeepDrop(str, Enum):
    keep = "keep"
    drop = "drop"


class BoxRule(str, Enum):
    targets = "targets"
    first_shape = "first-shape"


class TextMode(str, Enum):
    all = "all"
    first = "first"


def value(choice: Enum | None) -> Any:
    """The plain value the library functions take (None stays None)."""
    return None if choice is None else choice.value


# --- shared option types ---------------------------------------------------------------------

ModelOpt = Annotated[str | None, model_option()]
JsonOpt = Annotated[
    bool, flag("--json", help="Print the results as JSON on stdout (progress stays on stderr).")
]
DtypeOpt = Annotated[
    Dtype | None,
    typer.Option("--dtype", help="Weights dtype (default: as stored).", show_default=False),
]
ImagePrefixOpt = Annotated[
    str,
    typer.Option(
        "--image-prefix", help="Prefix for the image paths in the records, e.g. 'train2014/'."
    ),
]
OutputFileOpt = Annotated[
    Path, output_option("file", "the JSONL to write (written whole or not at all).")
]
# The environment variable and default live in vlmr1_cli/images.py (not imported here: PIL-free).
MaxImagePixelsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-image-pixels",
        min=1,
        show_default=False,
        help="Refuse images of more pixels (decompression-bomb guard; default: $VLMR1_MAX_IMAGE_PIXELS, "
        "else 178956970).",
    ),
]

# What a command that runs a model reads besides --model (evaluate, predict).
RevisionOpt = Annotated[
    str | None,
    typer.Option(
        "--revision",
        help="Hub branch, tag or commit of a --model given as ORG/NAME (default: main).",
        show_default=False,
    ),
]
TemplateOpt = Annotated[
    str | None,
    typer.Option(
        "--template",
        help="Prompt template ({problem}, {labels}); default: the checkpoint's recipe.",
        show_default=False,
    ),
]
SystemOpt = Annotated[
    str | None,
    typer.Option(
        "--system", help="System message (default: the checkpoint's recipe).", show_default=False
    ),
]
TrustRemoteCodeOpt = Annotated[
    bool, flag("--trust-remote-code", help="Allow model code from the checkpoint.")
]


def refuse_file_output(output: Path | None, holds: str) -> None:
    """An --output folder that is an existing file: one line saying what the folder `holds`."""
    if output is not None and output.exists() and not output.is_dir():
        from vlmr1_cli.errors import UserError

        raise UserError(f"--output {output}: is a file; --output names the folder {holds}")


def _device_syntax(text: str | None) -> str | None:
    """--device at parse time: cpu, cuda, cuda:N or mps (whether it exists is checked later,
    before any weights load). A UserError, not BadParameter: one line, exit 1."""
    if text is None:
        return None
    from vlmr1_cli.devices import parse_device

    return parse_device(text)


def device_option(help: str) -> Any:
    """`--device`: its spelling is checked as it is parsed (a typo fails before any work)."""
    return typer.Option(
        "--device",
        callback=_device_syntax,
        show_default=False,
        help=f"{help} One of cpu, cuda, cuda:N, mps.",
    )


# --- merging hidden aliases ------------------------------------------------------------------


def given(ctx: typer.Context, name: str) -> bool:
    """True when the user set parameter `name` (command line or environment), not a default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


def flag_name(ctx: typer.Context, name: str) -> str:
    """How a user knows parameter `name`: its long option (`--model`) or `positional ARG`."""
    param = _param(ctx, name)
    if param.param_type_name == "argument":
        return f"the positional {param.metavar or param.name.upper()}"
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0] if longs else param.opts[0]


def _param(ctx: typer.Context, name: str) -> Any:
    for param in ctx.command.params:
        if param.name == name:
            return param
    raise KeyError(f"command {ctx.command.name!r} has no parameter {name!r}")


class MissingOption(typer.BadParameter):
    """A required option left out (exit 2, as Typer reports its own required options)."""

    def format_message(self) -> str:
        return f"Missing option {self.param_hint}."


def take_alias(
    ctx: typer.Context, name: str, current: Any, alias: str, required: bool = False
) -> Any:
    """Merge the hidden old-name parameter `alias` into parameter `name` (value `current`).

    The old name still works, with a one-line note on stderr; giving both names is refused;
    `required` turns "neither given" into Typer's missing-option error (exit 2).
    """
    new_names = "/".join(_param(ctx, name).opts)
    if given(ctx, alias):
        old = flag_name(ctx, alias)
        if given(ctx, name):
            raise typer.BadParameter(
                f"{old} is the old name of {new_names}; give only one", ctx=ctx
            )
        from vlmr1_cli.cli.output import note

        note(f"{old} is deprecated; use {new_names}")
        return ctx.params[alias]
    if required and current is None:
        hint = " / ".join(f"'{o}'" for o in _param(ctx, name).opts)
        raise MissingOption("", ctx=ctx, param_hint=hint)
    return current
