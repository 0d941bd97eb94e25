"""One CLI grammar across every command: walked over the real command tree, so a command added
later is held to the same rules (-h, --model/-m, --output/-o, --json as a flag, listed choices,
ranged counts, hidden old names that still work)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.cli_runner import run_main
from vlmr1_cli.cli import options
from vlmr1_cli.cli.app import app

ROOT = typer.main.get_command(app)


def _leaves(group=ROOT, path=()):
    for name, cmd in sorted(group.commands.items()):
        if getattr(cmd, "commands", None):
            yield from _leaves(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = list(_leaves())
IDS = [" ".join(p) for p, _ in COMMANDS]
# The old names kept for one release: (command, old option, new option).
ALIASES = [
    (("export",), "--checkpoint", "--model"),
    (("push",), "--model-dir", "--model"),
    (("evaluate",), "--output-dir", "--output"),
    (("demo",), "--output-dir", "--output"),
]


def _help(path) -> str:
    r = CliRunner().invoke(app, [*path, "-h"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, (path, r.output)
    return r.stdout


@pytest.fixture
def cli(monkeypatch, capsys):
    """The real `main()` in-process (its UserError handling included): (exit code, stdout, stderr)."""

    def run(*args):
        return subprocess.CompletedProcess(args, *run_main(monkeypatch, capsys, *args))

    return run


def test_the_tree_holds_every_command():
    names = set(IDS)
    assert {
        "evaluate",
        "export",
        "push",
        "init-model",
        "list-presets",
        "demo",
        "train-grpo",
        "train-sft",
        "prepare-data shapes",
        "prepare-data d3",
        "prepare-data validate",
    } <= names


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_every_command_follows_the_grammar(path, cmd):
    text = _help(path)
    assert "Usage:" in text and "-h" in text
    visible = [p for p in cmd.params if not getattr(p, "hidden", False)]
    for p in visible:
        longs = [o for o in p.opts if o.startswith("--")]
        # what is read is --model/-m, what is written is --output/-o, and nothing else names them
        assert not {"--checkpoint", "--model-dir", "--model-path", "--output-dir"} & set(p.opts), (
            path,
            p.opts,
        )
        if "--model" in p.opts:
            assert "-m" in p.opts, (path, p.opts)
        if "--output" in p.opts:
            assert "-o" in p.opts, (path, p.opts)
            assert p.help.startswith(("Output file:", "Output folder:")), (path, p.help)
        if "--json" in p.opts:
            assert p.is_flag and p.metavar == "", (path, "--json must take no value")
        if getattr(p, "is_flag", False) and longs:
            # a flag's help row shows no value type (Typer would print `<bool>`)
            row = next(line for line in text.splitlines() if f"{longs[0]} " in line)
            assert "<bool>" not in row, (path, row)
        desc = p.type_descriptor
        if desc.is_choice:
            for choice in desc.choices:
                assert choice.value in text, (path, p.opts, choice.value)
        if desc.annotation is int and p.param_type_name == "option":
            assert p.min is not None, (path, p.opts, "a number needs its range")


@pytest.mark.parametrize(
    "path",
    [
        ("evaluate",),
        ("export",),
        ("push",),
        ("list-presets",),
        ("prepare-data", "shapes"),
        ("prepare-data", "d3"),
        ("prepare-data", "coco"),
        ("prepare-data", "refcoco"),
        ("prepare-data", "vlmr1-rec"),
        ("prepare-data", "ovdeval"),
        ("prepare-data", "lisa"),
        ("prepare-data", "validate"),
        ("demo",),
    ],
)
def test_commands_with_results_have_json(path):
    cmd = dict(COMMANDS)[path]
    assert any("--json" in p.opts for p in cmd.params), path


def test_h_works_on_groups_too():
    for path in ((), ("prepare-data",)):
        r = CliRunner().invoke(app, [*path, "-h"])
        assert r.exit_code == 0 and "Commands" in r.stdout


def test_completion_is_on():
    text = _help(())
    assert "--install-completion" in text and "--show-completion" in text


@pytest.mark.parametrize(("path", "old", "new"), ALIASES)
def test_old_names_are_hidden(path, old, new):
    text = _help(path)
    assert old not in text and new in text
    param = next(p for p in dict(COMMANDS)[path].params if old in p.opts)
    assert param.hidden


@pytest.mark.parametrize(
    ("path", "option", "bad"),
    [
        (("evaluate",), "--metric", "map"),
        (("evaluate",), "--task", "vqa"),
        (("evaluate",), "--backend", "tgi"),
        (("evaluate",), "--dtype", "float64"),
        (("export",), "--dtype", "int8"),
        (("init-model",), "--preset", "huge"),
        (("prepare-data", "coco"), "--crowd", "maybe"),
        (("prepare-data", "refcoco"), "--dataset", "refclef"),
        (("prepare-data", "lisa"), "--box-rule", "union"),
    ],
)
def test_a_bad_choice_exits_2_naming_the_choices(path, option, bad):
    r = CliRunner().invoke(app, [*path, option, bad], env={"COLUMNS": "250"})
    assert r.exit_code == 2, r.output
    assert f"Invalid value for '{option}'" in r.output and "is not one of" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ("prepare-data", "shapes", "-o", "x", "--train", "-5"),
        ("prepare-data", "shapes", "-o", "x", "--shapes", "50", "60"),
        ("prepare-data", "shapes", "-o", "x", "--canvas", "0", "0"),
        ("evaluate", "--batch-size", "0"),
        ("evaluate", "--max-new-tokens", "0"),
        ("evaluate", "--num-processes", "0"),
        ("export", "--tolerance", "-1"),
        ("prepare-data", "validate", "f.jsonl", "--tolerance", "-0.5"),
        ("prepare-data", "d3", "-o", "x", "--negatives", "-1"),
        ("demo", "--train", "0"),
        ("train-grpo", "-r", "r.yaml", "--main-process-port", "70000"),
    ],
)
def test_out_of_range_numbers_exit_2(args, tmp_path):
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert r.exit_code == 2, r.output
    assert "Invalid value for" in r.output
    assert not (Path.cwd() / "x").exists()


@pytest.mark.parametrize(
    ("option", "pair"),
    [("--shapes", ("5", "1")), ("--canvas", ("200", "100")), ("--ood-shapes", ("3", "2"))],
)
def test_shapes_pairs_must_be_ordered(tmp_path, option, pair):
    r = CliRunner().invoke(
        app,
        ["prepare-data", "shapes", "-o", str(tmp_path / "s"), option, *pair],
        env={"COLUMNS": "250"},
    )
    assert r.exit_code == 2, r.output
    assert f"Invalid value for '{option}': min {pair[0]} is above max {pair[1]}" in r.output
    assert not (tmp_path / "s").exists()


# -- evaluate: one mode per command line --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "scoring", "model"),
    [
        (("--gt", "g.json", "--model", "m"), "--gt", "--model"),
        (("--metric", "coco", "--batch-size", "4"), "--metric", "--batch-size"),
        (("-d", "d.jsonl", "--results", "r.json"), "--results", "--data"),
    ],
)
def test_evaluate_refuses_a_mix_of_modes(cli, args, scoring, model):
    r = cli("evaluate", *args)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"error: {scoring} (scoring files) and {model} (evaluating a model) are options of two modes; "
        "give one mode's options"
    ]


COCO_GT = {
    "images": [{"id": 1, "width": 32, "height": 24, "file_name": "a.png"}],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [4, 6, 16, 12],
            "area": 192,
            "iscrowd": 0,
        }
    ],
    "categories": [{"id": 1, "name": "cat"}],
}


@pytest.fixture
def coco_files(tmp_path):
    gt, results = tmp_path / "gt.json", tmp_path / "results.json"
    gt.write_text(json.dumps(COCO_GT))
    results.write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [4, 6, 16, 12], "score": 0.9}])
    )
    return gt, results


def test_scoring_writes_into_the_output_folder_and_json_prints(cli, coco_files, tmp_path):
    gt, results = coco_files
    r = cli(
        "evaluate",
        "--gt",
        gt,
        "--results",
        results,
        "--metric",
        "coco",
        "-o",
        tmp_path / "scores",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert json.loads((tmp_path / "scores" / "metrics.json").read_text()) == printed
    assert printed["metric"] == "coco" and printed["AP"] == pytest.approx(1.0)
    # the old `--output -` (stdout) is one line pointing at --json
    r = cli("evaluate", "--gt", gt, "--results", results, "--metric", "coco", "--output", "-")
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "error: --output -: --output names a folder now; use --json to print the metrics on stdout"
    ]
    # an existing file is not a folder
    r = cli("evaluate", "--gt", gt, "--results", results, "--metric", "coco", "-o", results)
    assert (
        r.returncode == 1
        and "is a file; --output names the folder metrics.json goes into" in r.stderr
    )


def test_old_names_still_work_with_a_note(cli, coco_files, tmp_path):
    gt, results = coco_files
    r = cli(
        "evaluate",
        "--gt",
        gt,
        "--results",
        results,
        "--metric",
        "coco",
        "--output-dir",
        tmp_path / "old",
    )
    assert r.returncode == 0, r.stderr
    assert "note: --output-dir is deprecated; use --output/-o" in r.stderr
    assert (tmp_path / "old" / "metrics.json").is_file()
    missing = tmp_path / "no-run"
    r = cli("export", "--checkpoint", missing, "-o", tmp_path / "e")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "note: --checkpoint is deprecated; use --model/-m",
        f"exporting {missing} ...",
        f"error: {missing}: checkpoint folder not found",
    ]
    r = cli("push", "--model-dir", missing, "--repo-id", "org/name", "--dry-run")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert (
        lines[0] == "note: --model-dir is deprecated; use --model/-m" and str(missing) in lines[-1]
    )


def test_an_old_and_a_new_name_together_are_refused(tmp_path):
    r = CliRunner().invoke(
        app,
        ["export", "--checkpoint", "a", "-m", "b", "-o", str(tmp_path / "o")],
        env={"COLUMNS": "250"},
    )
    assert (
        r.exit_code == 2 and "--checkpoint is the old name of --model/-m; give only one" in r.output
    )
    r = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "o")], env={"COLUMNS": "250"})
    assert r.exit_code == 2 and "Missing option '--model' / '-m'." in r.output


def test_d3_input_json_is_renamed(cli, tmp_path):
    r = CliRunner().invoke(
        app, ["prepare-data", "d3", "-o", str(tmp_path / "o.jsonl"), "--json", "x.json"]
    )
    assert r.exit_code == 2  # --json is the output flag now; a value after it is an extra argument
    r = cli("prepare-data", "d3", "-o", tmp_path / "o.jsonl")
    assert r.returncode == 1 and "--anno-dir (the pickles) or --annotations-json" in r.stderr


# -- --json on stdout, alone ---------------------------------------------------------------------


def test_prepare_data_and_validate_print_json(tmp_path):
    runner = CliRunner()
    out = tmp_path / "shapes"
    r = runner.invoke(
        app,
        [
            "prepare-data",
            "shapes",
            "-o",
            str(out),
            "--train",
            "3",
            "--eval",
            "2",
            "--ood",
            "0",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "output": str(out),
        "records": {"train.jsonl": 3, "eval.jsonl": 2},
    }
    r = runner.invoke(app, ["prepare-data", "validate", str(out / "eval.jsonl"), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["ok"] is True and report["records"] == 2 and report["images_checked"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    r = runner.invoke(app, ["prepare-data", "validate", str(bad), "--json", "--no-images"])
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert (
        report["ok"] is False
        and report["problems"][0]["line"] == 1
        and report["images_checked"] is None
    )


def test_an_importer_prints_its_summary_as_json(tmp_path):
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps(COCO_GT))
    out = tmp_path / "c.jsonl"
    r = CliRunner().invoke(
        app, ["prepare-data", "coco", "--instances", str(instances), "-o", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["written"] == 1 and summary["outputs"]["records"] == str(out)
    assert summary == json.loads(
        (tmp_path / "c.meta.json").read_text()
    )  # the recorded summary, whole


def test_push_dry_run_json(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    model = tmp_path / "exported"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    (model / "model.safetensors").write_bytes(b"\0" * 1234)
    r = CliRunner().invoke(
        app, ["push", "-m", str(model), "--repo-id", "org/name", "--dry-run", "--json"]
    )
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)  # stdout is the JSON alone
    assert plan["dry_run"] is True and plan["repo_url"] is None and plan["commit_url"] is None
    config_bytes = (model / "config.json").stat().st_size
    assert plan["files"] == [
        {"path": "config.json", "bytes": config_bytes},
        {"path": "model.safetensors", "bytes": 1234},
    ]
    assert plan["total_bytes"] == config_bytes + 1234 and any(
        "README.md" in n for n in plan["notes"]
    )


def test_list_presets_json():
    from vlmr1_cli.models.presets import PRESETS

    r = CliRunner().invoke(app, ["list-presets", "--json"])
    assert r.exit_code == 0
    assert [p["name"] for p in json.loads(r.stdout)] == list(PRESETS)


# -- the enums say what the library functions take -----------------------------------------------


def test_choices_match_the_library():
    from vlmr1_cli.data import coco, lisa, refcoco, vlmr1_rec
    from vlmr1_cli.evaluate import runner, tasks
    from vlmr1_cli.export import merge
    from vlmr1_cli.metrics import scoring

    def values(enum):
        return tuple(m.value for m in enum)

    assert values(options.Metric) == tuple(scoring.METRICS)
    assert values(options.EvalTask) == tuple(tasks.EVAL_TASKS)
    assert values(options.LabelMode) == tuple(tasks.LABEL_MODES) == tuple(coco.LABEL_MODES)
    assert values(options.Backend) == tuple(runner.BACKENDS)
    assert set(values(options.Dtype)) == set(merge.DTYPES)
    assert values(options.RefcocoDataset) == refcoco.DATASETS
    assert values(options.SplitBy) == refcoco.SPLIT_BYS
    assert values(options.RefcocoSplit) == refcoco.SPLITS
    assert values(options.TextField) == refcoco.TEXT_FIELDS
    assert values(options.Coords) == vlmr1_rec.COORDS
    assert values(options.CocoVariant) == tuple(coco.VARIANTS)
    assert values(options.KeepDrop) == coco.KEEP_DROP
    assert values(options.BoxRule) == lisa.BOX_RULES
    assert values(options.TextMode) == lisa.TEXT_MODES
