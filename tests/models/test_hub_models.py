"""Hub model ids (ORG/NAME) download on first use, against the local Hub double (no internet).

The double (tests/hub_double.py, `hub` fixture) serves the files of a tiny preset, plus files
vlmr1 must never fetch (pickled weights, model code, a README)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError

# Served beside the model; none of them may be downloaded.
NOT_FETCHED = {
    "pytorch_model.bin": b"\x80\x02" + b"0" * 200_000,
    "extra/optimizer.pt": b"1" * 1000,
    "README.md": b"# tiny\n",
    "modeling_tiny.py": b"raise SystemExit('remote code ran')\n",
    "onnx/model.safetensors": b"0" * 1000,
}


def _model_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def served(hub, tiny_model):
    """`org/tiny` on the double: the tiny preset's files plus NOT_FETCHED; returns its sha."""
    return hub.add_repo("org/tiny", {**_model_files(tiny_model), **NOT_FETCHED})


def _snapshot_root() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / "models--org--tiny" / "snapshots"


def test_first_use_downloads_only_model_files_then_loads_from_cache(hub, served, tiny_model):
    from vlmr1_cli.models.loading import load_model, locate_model

    src = locate_model("org/tiny")
    assert Path(src.weights_dir) == _snapshot_root() / served
    assert src.processor_dir == src.weights_dir and not src.is_adapter
    fetched = sorted(hub.downloaded("org/tiny"))
    assert fetched == sorted(_model_files(tiny_model))  # config, weights, tokenizer, template...
    assert not set(fetched) & set(NOT_FETCHED)
    loaded = load_model(src, dtype="float32")
    assert loaded.family.name == "qwen2_5_vl" and loaded.base_path == src.weights_dir

    hub.stop()  # the Hub is gone: the cache serves the second run
    n_requests = len(hub.requests)
    again = load_model("org/tiny", dtype="float32")
    assert again.base_path == src.weights_dir
    assert len(hub.requests) == n_requests


def test_offline_mode_uses_the_cache_and_names_the_id_when_empty(hub, served, monkeypatch):
    from huggingface_hub import constants

    from vlmr1_cli.models.loading import locate_model

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as e:
        locate_model("org/tiny")
    assert str(e.value) == "model 'org/tiny': not in the local cache and HF_HUB_OFFLINE=1"
    assert hub.requests == []  # offline means no request at all

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    folder = locate_model("org/tiny").weights_dir
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.clear_requests()
    assert locate_model("org/tiny").weights_dir == folder
    assert hub.requests == []


def test_pinned_revision_gets_that_revisions_config(hub, served, tiny_model):
    from vlmr1_cli.models.loading import locate_model

    config = json.loads((tiny_model / "config.json").read_text())
    newer = hub.add_commit(
        "org/tiny", {"config.json": json.dumps({**config, "marker": 2}).encode()}
    )
    hub.add_tag("org/tiny", "v1", revision=served)

    def marker(folder: str) -> int | None:
        return json.loads((Path(folder) / "config.json").read_text()).get("marker")

    assert marker(locate_model("org/tiny").weights_dir) == 2
    assert Path(locate_model("org/tiny").weights_dir).name == newer
    pinned = locate_model("org/tiny", revision=served).weights_dir
    assert Path(pinned).name == served and marker(pinned) is None
    assert marker(locate_model("org/tiny", revision="v1").weights_dir) is None
    with pytest.raises(
        UserError, match=r"^model 'org/tiny@nope': revision 'nope' not found on the Hub$"
    ):
        locate_model("org/tiny", revision="nope")


def test_not_found_gated_and_unreachable_are_one_line_naming_the_id(
    hub, served, tiny_model, monkeypatch
):
    from vlmr1_cli.models.loading import locate_model

    hub.add_repo("org/gated", _model_files(tiny_model), gated=True)
    hub.add_repo("org/pickles", {"config.json": b"{}", "pytorch_model.bin": b"0" * 100})
    cases = {
        "org/missing": "model 'org/missing': no such local folder, and not found on the Hub",
        "org/gated": "model 'org/gated': gated on the Hub: accept its conditions",
        "org/pickles": "model 'org/pickles': the Hub repo has no .safetensors weights",
    }
    for repo_id, start in cases.items():
        with pytest.raises(UserError) as e:
            locate_model(repo_id)
        assert str(e.value).startswith(start) and "\n" not in str(e.value)
    statuses = {
        r.path.split("/")[4]: r.status
        for r in hub.requests
        if r.path.startswith("/api/models/org/") and r.method == "GET"
    }
    assert statuses["missing"] == 401  # as the Hub answers without a token
    assert hub.downloaded("org/pickles") == ["config.json"]  # the .bin was never fetched

    monkeypatch.setenv("HF_TOKEN", "hf_not_the_token")
    with pytest.raises(UserError) as e:
        locate_model("org/tiny")
    assert "refused the token" in str(e.value) and "hf_not_the_token" not in str(e.value)

    monkeypatch.delenv("HF_TOKEN")
    url = hub.url
    hub.stop()
    with pytest.raises(UserError) as e:
        locate_model("org/tiny")
    assert str(e.value).startswith(
        f"model 'org/tiny': cannot reach the Hub at {url} and it is not in the local cache"
    )


def test_disk_full_is_named(hub, served, monkeypatch):
    import huggingface_hub.file_download as file_download

    from vlmr1_cli.models.loading import locate_model

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_download, "http_get", full)
    with pytest.raises(UserError, match=r"^model 'org/tiny': disk full while downloading into "):
        locate_model("org/tiny")


def test_token_is_sent_for_a_gated_model(hub, tiny_model, monkeypatch):
    from vlmr1_cli.models.loading import locate_model

    hub.add_repo("org/gated", _model_files(tiny_model), gated=True)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    folder = locate_model("org/gated").weights_dir
    assert (Path(folder) / "model.safetensors").is_file()
    assert all(r.with_token for r in hub.requests)


def test_what_is_a_hub_id(tmp_path, monkeypatch):
    from vlmr1_cli.models.hub import hub_id_of_cache_path, is_hub_id
    from vlmr1_cli.models.loading import resolve_model

    monkeypatch.chdir(tmp_path)
    assert is_hub_id("Qwen/Qwen2.5-VL-3B-Instruct")
    for name in ("plain", "a/b/c", "./org/name", "/org/name", "org/", "org--x/name", "../name"):
        assert not is_hub_id(name), name
    (tmp_path / "org" / "local").mkdir(parents=True)
    assert not is_hub_id("org/local")  # an existing folder wins
    assert resolve_model("org/local") == "org/local"
    with pytest.raises(UserError, match=r"^model 'plain': folder not found$"):
        resolve_model("plain")
    with pytest.raises(UserError, match="a revision .* applies to a Hub id"):
        resolve_model("org/local", revision="v1")
    sha = "a" * 40
    assert hub_id_of_cache_path(f"/x/hub/models--org--tiny/snapshots/{sha}") == ("org/tiny", sha)
    assert hub_id_of_cache_path("/x/hub/tiny") is None


def test_adapter_with_a_hub_base_downloads_the_base(hub, served, tmp_path):
    from vlmr1_cli.models.loading import locate_model

    def adapter(name: str, base: str, **extra) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": base, "peft_type": "LORA", **extra})
        )
        return folder

    src = locate_model(str(adapter("lora", "org/tiny")))
    assert src.is_adapter and Path(src.weights_dir) == _snapshot_root() / served
    newer = hub.add_commit("org/tiny", {"README.md": b"# newer\n"})
    # the base as a snapshot folder of another machine's cache: fetched again at that commit
    moved = adapter("moved", f"/elsewhere/hub/models--org--tiny/snapshots/{served}")
    assert Path(locate_model(str(moved)).weights_dir).name == served
    pinned = adapter("pinned", "org/tiny", revision=served)
    assert Path(locate_model(str(pinned)).weights_dir).name == served
    assert Path(locate_model(str(pinned), revision="main").weights_dir).name == newer


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)  # the hub fixture's HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE=0
    env.update(OMP_NUM_THREADS="1", VLMR1_NO_PROGRESS="1")
    return env


def test_cli_evaluate_downloads_a_hub_id_and_never_prints_the_token(
    hub, tiny_model, shapes_data, tmp_path, monkeypatch
):
    hub.add_repo("org/gated", {**_model_files(tiny_model), **NOT_FETCHED}, gated=True)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert os.environ["HF_ENDPOINT"] == hub.url
    vlmr1 = [sys.executable, "-m", "vlmr1_cli"]
    out = tmp_path / "eval"
    done = subprocess.run(
        [
            *vlmr1,
            "evaluate",
            "--model",
            "org/gated",
            "--data",
            str(shapes_data / "eval.jsonl"),
            "--max-samples",
            "2",
            "--max-new-tokens",
            "4",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "metrics.json").is_file()
    assert hub.token not in done.stdout + done.stderr
    assert any(r.with_token for r in hub.requests)
    assert not set(hub.downloaded("org/gated")) & set(NOT_FETCHED)

    missing = subprocess.run(
        [
            *vlmr1,
            "evaluate",
            "--model",
            "org/missing",
            "--data",
            str(shapes_data / "eval.jsonl"),
            "--output",
            str(tmp_path / "e2"),
        ],
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=300,
    )
    assert missing.returncode == 1
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model 'org/missing': "), missing.stderr
    assert hub.token not in missing.stdout + missing.stderr


def test_train_grpo_one_step_on_a_hub_id(
    hub, served, shapes_data, grpo_settings, graded_reward, tmp_path, monkeypatch, capsys
):
    import torch

    from vlmr1_cli.cli.app import main

    out = tmp_path / "run"
    sets = [
        "model.path=org/tiny",
        f"model.revision={served}",
        f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
        f"rewards={{rec: [rec_iou, {{name: '{graded_reward}', weight: 1.0}}]}}",
        *grpo_settings(out, **{"training.max_steps": 1}),
    ]
    argv = ["vlmr1", "train-grpo", "-r", "demo_shapes_grpo"]
    for item in sets:
        argv += ["--set", item]
    monkeypatch.setattr(sys, "argv", argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main()
    except SystemExit as e:
        assert not e.code, capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    meta = json.loads((out / "vlmr1.json").read_text())
    assert meta["base_model"] == "org/tiny" and meta["base_model_revision"] == served
    assert (out / "model.safetensors").is_file()
    assert "model.safetensors" in hub.downloaded("org/tiny")


def test_lora_adapter_on_a_hub_base_loads(hub, served, tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.models.loading import load_model

    base = AutoModelForImageTextToText.from_pretrained(tiny_model, local_files_only=True)
    peft_model = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
    folder = tmp_path / "lora"
    peft_model.save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": "org/tiny"})
    )

    loaded = load_model(str(folder), dtype="float32")
    assert loaded.is_adapter and Path(loaded.base_path) == _snapshot_root() / served
    assert "model.safetensors" in hub.downloaded("org/tiny")
    assert any("lora_A" in name for name, _ in loaded.model.named_parameters())
