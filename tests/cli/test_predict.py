"""`vlmr1 predict`: evaluation's prompt, parser and frame mapping on a single image or a
folder; the box it reports and draws is the box `evaluate` reports for the same sample."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmr1_cli.cli.app import app

# A box in the model's frame (Qwen2.5-VL: pixels of the resized input) that every scripted answer gives.
MODEL_BOX = [10, 12, 30, 40]


class Scripted:
    """Stands in for the model: one answer per row, prompts remembered."""

    def __init__(self, answer):
        self.answer = answer
        self.batches: list[list[str]] = []
        self.texts: dict[str, str] = {}

    def generate(self, rows):
        self.batches.append([r["id"] for r in rows])
        self.texts.update({r["id"]: r["text"] for r in rows})
        return [self.answer(r) for r in rows]


def rec_answer(row) -> str:
    return '<think>t</think> <answer>{"bbox_2d": ' + json.dumps(MODEL_BOX) + "}</answer>"


def ovd_answer(row) -> str:
    objs = [
        {"bbox_2d": MODEL_BOX, "label": "cat"},
        {"bbox_2d": [0, 0, 8, 8], "label": "<b>dog</b>"},
    ]
    return "<answer>```json\n" + json.dumps(objs) + "\n```</answer>"


@pytest.fixture
def scripted_predict(monkeypatch):
    import vlmr1_cli.evaluate.predict as predict_mod

    def install(answer) -> Scripted:
        gen = Scripted(answer)
        monkeypatch.setattr(predict_mod, "load_generator", lambda src, processor, opts: gen)
        return gen

    return install


def _invoke(*args):
    return CliRunner().invoke(app, ["predict", *map(str, args)], env={"COLUMNS": "200"})


def _shapes_record(shapes_data: Path, k: int = 0) -> dict:
    return json.loads((shapes_data / "eval.jsonl").read_text().splitlines()[k])


def test_box_and_picture_match_evaluate(
    tiny_model, shapes_data, tmp_path, scripted_predict, monkeypatch
):
    """The same answer read by predict and by evaluate gives the same box in original pixels,
    and the picture shows it there."""
    import vlmr1_cli.evaluate.runner as runner
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    rec = _shapes_record(shapes_data)
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps(rec) + "\n")
    monkeypatch.setattr(runner, "make_generator", lambda plan, device: Scripted(rec_answer))
    evaluate(
        str(tiny_model), data, tmp_path / "eval", image_root=str(shapes_data), opts=EvalOptions()
    )
    evaluated = json.loads((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()[0])

    gen = scripted_predict(rec_answer)
    image = shapes_data / rec["images"][0]
    r = _invoke(
        "-m", tiny_model, "-i", image, "--phrase", rec["problem"], "-o", tmp_path / "pics", "--json"
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    result = out["results"][0]
    assert out["task"] == "rec" and out["frame"] == "qwen25_abs" and result["parsed"] is True
    assert result["boxes"] == [{"bbox_2d": evaluated["box"], "label": rec["problem"]}]
    assert result["completion"] == rec_answer(None)
    # original pixels: the model-frame box scaled by original / input size, per axis
    (w, h), (wi, hi) = result["image_size"], result["input_size"]
    assert [w, h] == rec["image_sizes"][0] and (wi, hi) != (w, h)
    expected = [
        MODEL_BOX[0] * w / wi,
        MODEL_BOX[1] * h / hi,
        MODEL_BOX[2] * w / wi,
        MODEL_BOX[3] * h / hi,
    ]
    assert result["boxes"][0]["bbox_2d"] == pytest.approx(expected, abs=1e-3)
    # the prompt is evaluation's (the paper's REC template here) with the phrase in it
    assert f"this sentence describes: {rec['problem']}." in next(iter(gen.texts.values()))

    from PIL import Image

    from vlmr1_cli.evaluate.pictures import MIN_SIDE, PRED_COLOR

    picture = Path(result["picture"])
    assert picture.parent == tmp_path / "pics" and picture.is_file()
    with Image.open(picture) as im:
        rgb = im.convert("RGB")
    scale = MIN_SIDE / max(w, h)
    assert rgb.height > round(h * scale)  # the caption strip under the upscaled image
    x1, y1, x2, y2 = (v * scale for v in evaluated["box"])
    # the red outline runs along the box's left edge, halfway down (within a pixel of rounding)
    row = round((y1 + y2) / 2)
    assert PRED_COLOR in [rgb.getpixel((x, row)) for x in range(int(x1) - 1, int(x1) + 3)]
    assert PRED_COLOR not in [rgb.getpixel((x, row)) for x in range(int(x1) + 4, int(x2) - 3)]


def test_real_model_gives_evaluates_completion(tiny_model, shapes_data, tmp_path):
    """No scripting: the preset-built model answers predict exactly as it answers evaluate."""
    from vlmr1_cli.evaluate.predict import PredictOptions, predict
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    rec = _shapes_record(shapes_data, 1)
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps(rec) + "\n")
    evaluate(
        str(tiny_model),
        data,
        tmp_path / "eval",
        image_root=str(shapes_data),
        opts=EvalOptions(max_new_tokens=6, device="cpu"),
    )
    evaluated = json.loads((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()[0])
    got = predict(
        str(tiny_model),
        shapes_data / rec["images"][0],
        phrase=rec["problem"],
        opts=PredictOptions(max_new_tokens=6, device="cpu"),
    )
    result = got["results"][0]
    assert result["completion"] == evaluated["completion"]
    assert result["answer"]["box"] == evaluated["box"] and result["parsed"] == evaluated["parsed"]


def test_preset_json_prints_boxes_and_completion(shapes_data):
    """The issue's command on a preset: JSON with the parsed boxes and the raw completion."""
    import subprocess

    image = shapes_data / "images" / "eval_000000.png"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "predict",
            "--model",
            "preset:tiny-qwen2.5-vl",
            "--image",
            str(image),
            "--phrase",
            "the red circle",
            "--json",
            "--max-new-tokens",
            "5",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    (result,) = out["results"]
    assert result["image"] == str(image) and isinstance(result["completion"], str)
    assert isinstance(result["boxes"], list) and result["parsed"] == bool(result["boxes"])
    assert result["image_size"] == list(
        json.loads((shapes_data / "eval.jsonl").read_text().splitlines()[0])["image_sizes"][0]
    )


def test_ovd_labels_on_a_folder_in_batches(tiny_model, shapes_data, tmp_path, scripted_predict):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("b.png", "a.png", "c.png"):
        shutil.copy(shapes_data / "images" / "eval_000002.png", folder / name)
    (folder / "notes.txt").write_text("not an image")
    gen = scripted_predict(ovd_answer)
    r = _invoke(
        "-m", tiny_model, "-i", folder, "--labels", "cat, dog ,cat", "--batch-size", "2", "--json"
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["task"] == "ovd"
    assert [Path(x["image"]).name for x in out["results"]] == ["a.png", "b.png", "c.png"]
    assert sorted(len(b) for b in gen.batches) == [1, 2]
    first = out["results"][0]
    assert first["query"] == ["cat", "dog"] and [b["label"] for b in first["boxes"]] == [
        "cat",
        "<b>dog</b>",
    ]
    assert "detect the following objects: ['cat', 'dog']" in next(iter(gen.texts.values()))
    # the table shows every box, the label as written (no markup), completions on request
    r = _invoke(
        "-m", tiny_model, "-i", folder / "a.png", "--labels", "cat,dog", "--show-completion"
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.count("a.png") >= 2 and "<b>dog</b>" in r.stdout and "```json" in r.stdout


def test_template_and_checkpoint_recipe_prompt(tiny_model, shapes_data, tmp_path, scripted_predict):
    model = tmp_path / "ckpt"
    shutil.copytree(tiny_model, model)
    meta = {
        "family": "qwen2_5_vl",
        "prompt": {"system": None, "templates": {"rec": "Find: {problem}"}},
    }
    (model / "vlmr1.json").write_text(json.dumps(meta))
    image = shapes_data / "images" / "eval_000000.png"
    gen = scripted_predict(lambda row: "no box here")
    r = _invoke("-m", model, "-i", image, "--phrase", "the red circle", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["prompt_source"] == "checkpoint recipe" and "Find: the red circle" in next(
        iter(gen.texts.values())
    )
    assert out["results"][0]["parsed"] is False and out["results"][0]["boxes"] == []
    r = _invoke(
        "-m", model, "-i", image, "--phrase", "the red circle", "--template", "Where is {problem}?"
    )
    assert r.exit_code == 0 and "UNPARSEABLE" in r.stdout
    assert "Where is the red circle?" in gen.texts[next(reversed(gen.texts))]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--phrase", "x", "--labels", "a"],
            "predict needs exactly one of --phrase (REC) and --labels (OVD)",
        ),
        ([], "predict needs exactly one of --phrase (REC) and --labels (OVD)"),
        (["--labels", " , "], "--labels ' , ': no label given"),
        (["--phrase", " "], "--phrase is empty"),
        (
            ["--phrase", "x", "--template", "Look."],
            "--template: the template must contain {problem} (where the sample's query goes), got 'Look.'",
        ),
        (
            ["--labels", "cat", "--template", "Find {phrase}."],
            "--template: the template must contain {labels} or {problem}",
        ),
    ],
)
def test_bad_queries_are_one_line(tiny_model, shapes_data, args, message, capsys, monkeypatch):
    _expect_error(
        ["-m", tiny_model, "-i", shapes_data / "images" / "eval_000000.png", *args],
        message,
        capsys,
        monkeypatch,
    )


def test_bad_images_are_one_line(tiny_model, tmp_path, capsys, monkeypatch):
    _expect_error(
        ["-m", tiny_model, "-i", tmp_path / "nope.png", "--phrase", "x"],
        f"--image {tmp_path / 'nope.png'}: no such file or folder",
        capsys,
        monkeypatch,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect_error(
        ["-m", tiny_model, "-i", empty, "--phrase", "x"],
        f"--image {empty}: the folder holds no image",
        capsys,
        monkeypatch,
    )
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    _expect_error(
        ["-m", tiny_model, "-i", broken, "--phrase", "x"],
        f"{broken}: unreadable image",
        capsys,
        monkeypatch,
    )
    _expect_error(
        ["-i", broken, "--phrase", "x"], "predict needs --model and --image", capsys, monkeypatch
    )


def _expect_error(args, message, capsys, monkeypatch):
    from vlmr1_cli.cli.app import main

    monkeypatch.setattr(sys, "argv", ["vlmr1", "predict", *map(str, args)])
    monkeypatch.delenv("VLMR1_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:") or "Traceback" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), err


def test_hub_id_and_lora_adapter_are_model_sources(hub, tiny_model, shapes_data, tmp_path):
    """The sources evaluate takes beyond folders and presets: a Hub id (downloaded from the
    local Hub double on first use) and a LoRA adapter (its base, then the adapter, with the
    adapter's recipe prompt)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.evaluate.predict import PredictOptions, predict

    image = shapes_data / "images" / "eval_000000.png"
    opts = PredictOptions(max_new_tokens=3, device="cpu")
    hub.add_repo(
        "org/tiny",
        {
            p.relative_to(tiny_model).as_posix(): p.read_bytes()
            for p in sorted(tiny_model.rglob("*"))
            if p.is_file()
        },
    )
    from_hub = predict("org/tiny", image, phrase="the red circle", opts=opts)
    local = predict(str(tiny_model), image, phrase="the red circle", opts=opts)
    assert from_hub["results"][0]["completion"] == local["results"][0]["completion"]
    assert hub.downloaded("org/tiny")

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForImageTextToText.from_pretrained(tiny_model, local_files_only=True),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    adapter = tmp_path / "lora"
    model.save_pretrained(adapter)
    (adapter / "vlmr1.json").write_text(
        json.dumps(
            {
                "family": "qwen2_5_vl",
                "prompt": {"system": None, "templates": {"rec": "Find: {problem}"}},
            }
        )
    )
    got = predict(str(adapter), image, phrase="the red circle", opts=opts)
    assert got["prompt_source"] == "checkpoint recipe" and isinstance(
        got["results"][0]["completion"], str
    )
