"""Plug-ins: a package installed beside vlmr1 adds a model family, a dataset importer and a
reward through entry points, without editing vlmr1 (docs/architecture.md, "Adding things").

Each test writes a toy distribution into tmp_path, outside the package: the module
`toy_vlmr1_plugin/` and `toy_vlmr1_plugin-0.1.dist-info/` with `METADATA` and
`entry_points.txt`, exactly what `pip install` leaves in site-packages. Subprocesses get that
folder on `PYTHONPATH`, where `importlib.metadata` finds the entry points as it finds those of
an installed package. The toy module writes a marker file when imported, so the tests can
check that listing commands does not import it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOY_INIT = '''
"""A toy vlmr1 plug-in package (written by tests/test_plugins.py)."""
import os

if os.environ.get("TOY_IMPORT_MARKER"):
    with open(os.environ["TOY_IMPORT_MARKER"], "a") as fh:
        fh.write("imported\\n")
'''

TOY_FAMILY = '''
from vlmr1_cli.models.qwen2_vl import Qwen2VL


class ToyQwen2VL(Qwen2VL):
    """Qwen2-VL's processor and frame, served for config.model_type 'toy_qwen2_vl'."""

    name = "toy_qwen2_vl"
    model_types = ("toy_qwen2_vl",)


class ClashingFamily(Qwen2VL):
    name = "clashing"
    model_types = ("qwen2_vl",)   # a built-in's model_type: refused


def not_a_family():
    return 42
'''

TOY_IMPORTER = '''
from pathlib import Path
from typing import Annotated

import typer

from vlmr1_cli.cli.options import JsonOpt, OutputFileOpt

NOT_A_COMMAND = 42


def toy(
    output: OutputFileOpt,
    count: Annotated[int, typer.Option("--count", min=1, help="Records to write.")] = 2,
    json_out: JsonOpt = False,
) -> None:
    """Toy REC records, one small image each."""
    from PIL import Image

    from vlmr1_cli.cli.output import print_json, print_table
    from vlmr1_cli.data.report import RecordSink, Summary

    summary = Summary(source="toy")
    summary.options["count"] = count
    images = output.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    with RecordSink(output, summary) as sink:
        for i in range(count):
            Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(images / f"toy-{i}.png")
            sink.write({"id": f"toy-{i}", "task": "rec", "images": [f"images/toy-{i}.png"],
                        "image_sizes": [[40, 30]], "problem": "the red square",
                        "solution": [2.0, 3.0, 20.0 + i, 25.0]})
    if json_out:
        print_json(summary.to_dict())
    else:
        print_table(f"toy -> {output}", ["", "count / value"], summary.rows())


TOY_APP = typer.Typer()  # the same command, declared as a Typer app
TOY_APP.command()(toy)
'''

TOY_REWARDS = '''
from vlmr1_cli.parsing import completion_text


def toy_reward(completions, solution, bonus=0.0, **kwargs):
    """1 for a completion that says anything, plus `bonus`."""
    return [float(bool(completion_text(c).strip())) + bonus for c in completions]
'''


def make_toy_dist(root: Path, entry_points: dict[str, dict[str, str]]) -> Path:
    """The toy package as pip installs it: module folder + dist-info, in `root`."""
    pkg = root / "toy_vlmr1_plugin"
    pkg.mkdir(parents=True)
    for name, source in (
        ("__init__", TOY_INIT),
        ("family", TOY_FAMILY),
        ("importer", TOY_IMPORTER),
        ("rewards", TOY_REWARDS),
    ):
        (pkg / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / "toy_vlmr1_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-vlmr1-plugin\nVersion: 0.1\n"
        "Summary: Toy records for the plug-in tests.\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
            for group, eps in entry_points.items()
        ),
        encoding="utf-8",
    )
    return root


GOOD = {
    "vlmr1.model_families": {"toy_qwen2_vl": "toy_vlmr1_plugin.family:ToyQwen2VL"},
    "vlmr1.importers": {
        "toy": "toy_vlmr1_plugin.importer:toy",
        "toy-app": "toy_vlmr1_plugin.importer:TOY_APP",
    },
    "vlmr1.rewards": {"toy_reward": "toy_vlmr1_plugin.rewards:toy_reward"},
}
BROKEN = {
    "vlmr1.model_families": {
        "toy_qwen2_vl": "toy_vlmr1_plugin.family:ToyQwen2VL",
        "missing_module": "toy_vlmr1_plugin.nowhere:Family",
        "not_a_family": "toy_vlmr1_plugin.family:not_a_family",
        "clashing": "toy_vlmr1_plugin.family:ClashingFamily",
    },
    "vlmr1.importers": {
        "toy": "toy_vlmr1_plugin.importer:toy",
        "coco": "toy_vlmr1_plugin.importer:toy",  # a built-in command's name
        "broken": "toy_vlmr1_plugin.nowhere:command",
        "notcmd": "toy_vlmr1_plugin.importer:NOT_A_COMMAND",
    },
    "vlmr1.rewards": {
        "toy_reward": "toy_vlmr1_plugin.rewards:toy_reward",
        "rec_iou": "toy_vlmr1_plugin.rewards:toy_reward",  # a built-in reward's name
        "broken_reward": "toy_vlmr1_plugin.nowhere:reward",
    },
}


class Env:
    """Runs `vlmr1` and Python snippets with the toy distribution on the path."""

    def __init__(self, root: Path):
        self.root = root
        self.marker = root / "imported.txt"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "TOY_IMPORT_MARKER": str(self.marker),
        }
        self.env.pop("VLMR1_DEBUG", None)

    def vlmr1(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "vlmr1_cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd or self.root,
            timeout=120,
        )

    def python(self, code: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=120,
        )

    @property
    def imported(self) -> bool:
        return self.marker.exists()


@pytest.fixture
def good(tmp_path) -> Env:
    return Env(make_toy_dist(tmp_path / "site", GOOD))


@pytest.fixture
def broken(tmp_path) -> Env:
    return Env(make_toy_dist(tmp_path / "site", BROKEN))


def _model_folder(path: Path, model_type: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    return path


def _one_line_notes(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("note: plug-in")]


# ---- model families ----------------------------------------------------------------------


def test_a_plugin_family_serves_its_model_type_with_qwen2_vl_frames(good, tmp_path):
    toy = _model_folder(tmp_path / "toy-model", "toy_qwen2_vl")
    builtin = _model_folder(tmp_path / "builtin-model", "qwen2_5_vl")
    out = good.python(f"""
        import sys
        from vlmr1_cli.models.registry import families, family_by_name, family_for_path

        builtin = family_for_path({str(builtin)!r})
        print("after built-in:", "toy_vlmr1_plugin" in sys.modules)
        fam = family_for_path({str(toy)!r})
        print("family:", type(fam).__module__, fam.name, fam.frame_name)
        box = (12.5, 31.0, 201.0, 151.0)
        model = fam.to_model_frame(box, (640, 480), (644, 476))
        back = fam.from_model_frame(model, (640, 480), (644, 476))
        print("model frame:", [round(v, 6) for v in model])
        print("round trip:", max(abs(a - b) for a, b in zip(box, back)) < 1e-9)
        print("by name:", family_by_name("toy_qwen2_vl") is fam, "listed:", "toy_qwen2_vl" in families())
        print("box text:", fam.box_text(model))
    """)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # a built-in model_type is served without importing any plug-in
    assert lines[0] == "after built-in: False"
    assert lines[1] == "family: toy_vlmr1_plugin.family toy_qwen2_vl rel1000"
    # Qwen2-VL's 0-1000 frame of the original image: x * 1000 / 640, y * 1000 / 480
    assert lines[2] == "model frame: [19.53125, 64.583333, 314.0625, 314.583333]"
    assert lines[3:5] == ["round trip: True", "by name: True listed: True"]
    assert lines[5] == "box text: <|box_start|>(20,65),(314,315)<|box_end|>"
    assert _one_line_notes(out.stderr) == []


def test_register_family_adds_a_class_in_process_and_refuses_a_clash(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        from vlmr1_cli.errors import UserError
        from vlmr1_cli.models.qwen2_vl import Qwen2VL
        from vlmr1_cli.models.registry import family_for_path, register_family

        @register_family
        class Mine(Qwen2VL):
            name = "mine"
            model_types = ("mine_vl",)

        print(type(family_for_path({str(_model_folder(tmp_path / "m", "mine_vl"))!r})).__name__)
        class Clash(Qwen2VL):
            name = "clash"
            model_types = ("qwen3_vl",)
        class NoTypes(Qwen2VL):
            name = "no_types"
            model_types = ()
        for bad in (Clash, NoTypes, object):
            try:
                register_family(bad)
            except UserError as e:
                print(e)
    """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "Mine",
        "register_family(Clash): model_type 'qwen3_vl' is served by the family 'qwen3_vl'",
        "register_family: NoTypes.model_types must be a non-empty tuple of config.model_type "
        "strings, got ()",
        "register_family: 'object' is not a ModelFamily subclass",
    ]


def test_broken_family_plugins_are_one_line_each_and_leave_the_others_working(broken, tmp_path):
    toy = _model_folder(tmp_path / "toy-model", "toy_qwen2_vl")
    out = broken.python(f"""
        from vlmr1_cli.errors import UserError
        from vlmr1_cli.models.registry import family_for_model_type, family_for_path

        print(family_for_path({str(toy)!r}).name, family_for_model_type("qwen2_vl").name)
        try:
            family_for_model_type("unknown_vl")
        except UserError as e:
            print(e)
    """)
    assert out.returncode == 0, out.stderr
    served, refused = out.stdout.splitlines()
    assert served == "toy_qwen2_vl qwen2_vl"  # the clashing plug-in did not take qwen2_vl
    assert refused.startswith("model type 'unknown_vl' is not supported (supported: ")
    assert "toy_qwen2_vl" in refused and refused.endswith(
        "; plug-ins left out: 3 (see the note above)"
    )
    notes = _one_line_notes(out.stderr)
    package = "(vlmr1.model_families, from toy-vlmr1-plugin 0.1)"
    assert sorted(notes) == sorted(
        [
            f"note: plug-in 'clashing = toy_vlmr1_plugin.family:ClashingFamily' {package}: "
            "model_type 'qwen2_vl' is served by the family 'qwen2_vl'; left out",
            f"note: plug-in 'missing_module = toy_vlmr1_plugin.nowhere:Family' {package}: cannot load: "
            "ModuleNotFoundError: No module named 'toy_vlmr1_plugin.nowhere'",
            f"note: plug-in 'not_a_family = toy_vlmr1_plugin.family:not_a_family' {package}: "
            "'not_a_family' is not a ModelFamily subclass",
        ]
    ), notes


# ---- dataset importers -------------------------------------------------------------------


def test_a_plugin_importer_is_listed_without_being_imported_and_its_records_validate(good):
    listing = good.vlmr1("prepare-data", "--help")
    assert listing.returncode == 0, listing.stderr
    assert "toy" in listing.stdout and "Plug-ins" in listing.stdout
    assert "Toy records for the plug-in tests" in listing.stdout  # the package's Summary
    top = good.vlmr1("--help")
    assert top.returncode == 0 and "prepare-data" in top.stdout
    assert not good.imported, "listing commands must not import a plug-in's module"

    own_help = good.vlmr1("prepare-data", "toy", "--help")
    assert (
        own_help.returncode == 0 and "--count" in own_help.stdout and "--output" in own_help.stdout
    )

    out = good.vlmr1("prepare-data", "toy", "-o", "data/out.jsonl", "--count", "3", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["written"] == 3
    records = [json.loads(line) for line in (good.root / "data/out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["toy-0", "toy-1", "toy-2"]
    assert (good.root / "data/out.meta.json").is_file()  # RecordSink's recorded summary

    check = good.vlmr1("prepare-data", "validate", "data/out.jsonl", "--decode", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["ok"] and report["records"] == 3 and report["images_checked"] == 3

    app = good.vlmr1("prepare-data", "toy-app", "--output", "app.jsonl")  # a typer.Typer plug-in
    assert app.returncode == 0, app.stderr
    assert len((good.root / "app.jsonl").read_text().splitlines()) == 2


def test_broken_or_clashing_importer_plugins_do_not_break_the_cli(broken):
    listing = broken.vlmr1("prepare-data", "--help")
    assert listing.returncode == 0, listing.stderr
    assert _one_line_notes(listing.stderr) == [
        "note: plug-in 'coco = toy_vlmr1_plugin.importer:toy' (vlmr1.importers, from "
        "toy-vlmr1-plugin 0.1): 'prepare-data coco' is a built-in command; left out"
    ]
    assert not broken.imported

    builtin = broken.vlmr1("prepare-data", "coco", "--help")  # still vlmr1's own coco
    assert builtin.returncode == 0 and "--instances" in builtin.stdout

    for name, why in (
        ("broken", "cannot load: ModuleNotFoundError: No module named 'toy_vlmr1_plugin.nowhere'"),
        ("notcmd", "int is not a command (a function with Typer options, or a typer.Typer)"),
    ):
        out = broken.vlmr1("prepare-data", name, "-o", "x.jsonl")
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr
        value = BROKEN["vlmr1.importers"][name]
        assert out.stderr.strip().splitlines()[-1] == (
            f"error: plug-in '{name} = {value}' (vlmr1.importers, from toy-vlmr1-plugin 0.1): {why}"
        )

    still = broken.vlmr1("prepare-data", "toy", "-o", "ok.jsonl")
    assert still.returncode == 0, still.stderr
    assert len((broken.root / "ok.jsonl").read_text().splitlines()) == 2


# ---- rewards -----------------------------------------------------------------------------

RECIPE = """\
extends: demo_shapes_grpo
rewards:
  rec:
    - {name: toy_reward, weight: 2.0, options: {bonus: 0.5}}
    - {name: rec_format, weight: 1.0}
"""


def test_a_plugin_reward_is_named_in_a_recipe(good):
    (good.root / "recipe.yaml").write_text(RECIPE, encoding="utf-8")
    shown = good.vlmr1("train-grpo", "--recipe", "recipe.yaml", "--print-config")
    assert shown.returncode == 0, shown.stderr
    assert "name: toy_reward" in shown.stdout and "bonus: 0.5" in shown.stdout
    assert not good.imported  # printing the recipe resolves no reward

    out = good.python("""
        from vlmr1_cli.recipes.loading import load_recipe
        from vlmr1_cli.rewards import get_reward
        from vlmr1_cli.train.reward_funcs import build_reward_funcs

        funcs, weights = build_reward_funcs(load_recipe("recipe.yaml"))
        print([f.__name__ for f in funcs], weights)
        fn = get_reward("toy_reward", bonus=0.5)
        print(fn(completions=[[{"role": "assistant", "content": "a box"}],
                              [{"role": "assistant", "content": " "}]], solution=[None, None]))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['toy_reward', 'rec_format'] [2.0, 1.0]", "[1.5, 0.5]"]
    assert _one_line_notes(out.stderr) == []


def test_broken_or_clashing_reward_plugins_are_one_line(broken):
    out = broken.python("""
        from vlmr1_cli.errors import UserError
        from vlmr1_cli.rewards import get_reward

        print(get_reward("rec_iou").__name__)  # the built-in, not the clashing plug-in
        for name in ("broken_reward", "toy_rewrd"):
            try:
                get_reward(name)
            except UserError as e:
                print(e)
    """)
    assert out.returncode == 0, out.stderr
    built_in, broken_line, typo = out.stdout.splitlines()
    assert built_in == "rec_iou"
    assert broken_line == (
        "plug-in 'broken_reward = toy_vlmr1_plugin.nowhere:reward' (vlmr1.rewards, from "
        "toy-vlmr1-plugin 0.1): cannot load: ModuleNotFoundError: No module named "
        "'toy_vlmr1_plugin.nowhere'"
    )
    assert typo.startswith("unknown reward 'toy_rewrd'; did you mean 'toy_reward'")
    assert "installed plug-ins: broken_reward, toy_reward;" in typo
    assert _one_line_notes(out.stderr) == [
        "note: plug-in 'rec_iou = toy_vlmr1_plugin.rewards:toy_reward' (vlmr1.rewards, from "
        "toy-vlmr1-plugin 0.1): 'rec_iou' is a built-in reward; left out"
    ]


@pytest.mark.slow
def test_a_one_step_grpo_run_scores_with_the_plugin_reward(
    good, tiny_model, shapes_data, grpo_settings
):
    (good.root / "recipe.yaml").write_text(RECIPE, encoding="utf-8")
    out = good.root / "grpo"
    run = good.vlmr1(
        "train-grpo",
        "--recipe",
        "recipe.yaml",
        "--set",
        f"model.path={tiny_model}",
        "--set",
        f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
        *[
            arg
            for setting in grpo_settings(out, **{"training.max_steps": 1})
            for arg in ("--set", setting)
        ],
    )
    assert run.returncode == 0, run.stderr[-3000:]
    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    means = [log["rewards/toy_reward/mean"] for log in logs if "rewards/toy_reward/mean" in log]
    # 1 per non-empty completion plus the recipe's bonus 0.5: the options reached the plug-in
    assert means and all(0.5 <= m <= 1.5 for m in means), means
    assert good.imported
