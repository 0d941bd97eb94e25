"""Bad configuration: one clear line naming the key, exit code 1, before any model loads."""

from __future__ import annotations

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipe_files import packaged_accelerate_dir
from vlmr1_cli.recipes.loading import load_recipe
from vlmr1_cli.recipes.schema import LaunchSettings

DEMO = "demo_shapes_grpo"  # the packaged recipe, by name


@pytest.fixture
def data_override(data_override_fn):
    return data_override_fn


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    """Any attempt to load weights fails the test: every check must come first."""
    from transformers import AutoModelForImageTextToText

    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the configuration error was reported")

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", refuse)


def _recipe(tiny_model, mixed_data, tmp_path, *extra, names=("rec",)):
    return load_recipe(
        DEMO,
        [
            f"model.path={tiny_model}",
            _source_list(mixed_data, names),
            f"training.output_dir={tmp_path / 'out'}",
            *extra,
        ],
    )


def _source_list(folder, names):
    items = ", ".join(
        f"{{path: '{folder / (n + '.jsonl')}', image_root: '{folder}'}}" for n in names
    )
    return f"data.train=[{items}]"


def _prepare(recipe, resume=False):
    from vlmr1_cli.train.setup import prepare_run

    return prepare_run(recipe, resume=resume)


def _one_line_error(run_cli, *args) -> str:
    code, out, err = run_cli(*args)
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_reward_typo_suggests_the_name(run_cli, tiny_model, mixed_data, tmp_path, data_override):
    line = _one_line_error(
        run_cli,
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tiny_model}",
        "--set",
        data_override(mixed_data, "rec"),
        "--set",
        "rewards={rec: [rec_iuo]}",
    )
    assert "rewards.rec[0]" in line and "rec_iou" in line


def test_missing_files_are_named(run_cli, tiny_model, mixed_data, tmp_path, data_override):
    line = _one_line_error(
        run_cli,
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tiny_model}",
        "--set",
        "data.train=[missing.jsonl]",
    )
    assert "data.train[0].path" in line and "missing.jsonl" in line
    line = _one_line_error(
        run_cli,
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tiny_model}",
        "--set",
        f"data.train=[{{path: '{mixed_data / 'rec.jsonl'}', image_root: nowhere}}]",
    )
    assert "data.train[0].image_root" in line
    line = _one_line_error(
        run_cli,
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tmp_path / 'no-model'}",
        "--set",
        data_override(mixed_data, "rec"),
    )
    assert "no-model" in line
    line = _one_line_error(run_cli, "train-grpo", "-r", str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in line
    line = _one_line_error(
        run_cli,
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tiny_model}",
        "--set",
        data_override(mixed_data, "rec"),
        "--config-file",
        str(tmp_path / "acc.yaml"),
    )
    assert "launch.config_file" in line


def test_frame_or_family_mismatch_fails_before_loading(tiny_model, mixed_data, tmp_path):
    with pytest.raises(UserError, match=r"model.frame.*rel1000.*qwen25_abs"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "model.frame=rel1000"))
    with pytest.raises(UserError, match=r"model.family.*qwen3_vl.*qwen2_5_vl"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "model.family=qwen3_vl"))
    # a folder whose vlmr1.json was written for another frame
    import shutil

    other = tmp_path / "copied"
    shutil.copytree(tiny_model, other)
    (other / "vlmr1.json").write_text('{"frame": "rel1000", "family": "qwen3_vl"}')
    with pytest.raises(UserError, match=r"vlmr1.json says frame 'rel1000'"):
        _prepare(_recipe(other, mixed_data, tmp_path))


def test_every_task_needs_a_reward_and_every_reward_a_task(tiny_model, mixed_data, tmp_path):
    with pytest.raises(UserError, match=r"task 'text' but no reward.*rewards.text"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, names=("rec", "text")))
    with pytest.raises(UserError, match=r"rewards.ovd.*no training record has task 'ovd'"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "rewards.ovd=[od_length]"))
    with pytest.raises(UserError, match=r"rewards.Rec.*did you mean: rec"):
        _prepare(
            _recipe(
                tiny_model, mixed_data, tmp_path, "rewards={Rec: [rec_iou]}", "rewards.rec=null"
            )
        )


def test_training_keys_and_modes(tiny_model, mixed_data, tmp_path):
    with pytest.raises(UserError, match=r"training.num_generatons.*num_generations"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "num_generatons=4"))
    with pytest.raises(UserError, match=r"training.max_steps.*expected int"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "max_steps=many"))
    with pytest.raises(UserError, match=r"multiple of num_generations \(8\)"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "per_device_train_batch_size=6"))
    with pytest.raises(UserError, match=r"freeze.*nothing to train"):
        _prepare(
            _recipe(tiny_model, mixed_data, tmp_path, "freeze.vision=true", "freeze.language=true")
        )
    with pytest.raises(UserError, match=r"freeze.*no effect with peft"):
        _prepare(
            _recipe(tiny_model, mixed_data, tmp_path, "freeze.vision=true", "peft.enabled=true")
        )
    with pytest.raises(UserError, match=r"model.dtype.*bfloat17"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path, "model.dtype=bfloat17"))


def test_mixed_text_and_image_logging_trap(tiny_model, mixed_data, tmp_path):
    recipe = _recipe(
        tiny_model,
        mixed_data,
        tmp_path,
        "log_multimodal=true",
        "rewards.text=[ovd_format]",
        "launch.num_processes=2",
        names=("rec", "text"),
    )
    with pytest.raises(UserError, match=r"log_multimodal.*several processes"):
        _prepare(recipe)


@pytest.mark.parametrize("config, kind", [("zero3.yaml", "ZeRO-3"), ("fsdp.yaml", "FSDP")])
def test_sharded_launch_trains_text_beside_images(tiny_model, mixed_data, tmp_path, config, kind):
    """ZeRO-3/FSDP with text-only beside image samples: no longer refused; every rank runs the
    vision tower (train/vision_keepalive.py, tests/train/test_sharded_mixed.py)."""
    from vlmr1_cli.train.checks import sharding_of

    cfg = packaged_accelerate_dir() / config
    assert sharding_of(LaunchSettings(config_file=str(cfg))) == kind
    recipe = _recipe(
        tiny_model,
        mixed_data,
        tmp_path,
        "rewards.text=[ovd_format]",
        f"launch.config_file={cfg}",
        names=("rec", "text"),
    )
    assert _prepare(recipe).vision_keepalive is True
    alone = _recipe(
        tiny_model,
        mixed_data,
        tmp_path,
        f"launch.config_file={cfg}",
        "launch.num_processes=1",
        names=("rec",),
    )
    assert _prepare(alone).vision_keepalive is False  # one process, image data only


def test_sharding_check_reads_the_launch(tmp_path, monkeypatch):
    from vlmr1_cli.train.checks import needs_vision_keepalive, sharding_of

    for var in ("WORLD_SIZE", "ACCELERATE_USE_FSDP", "ACCELERATE_DEEPSPEED_ZERO_STAGE"):
        monkeypatch.delenv(var, raising=False)
    acc = packaged_accelerate_dir()
    assert sharding_of(LaunchSettings(config_file=str(acc / "zero2.yaml"))) is None
    assert sharding_of(LaunchSettings(config_file=str(acc / "ddp.yaml"))) is None
    # ZeRO stage given in a DeepSpeed JSON file named by the accelerate config
    ds = tmp_path / "ds.json"
    ds.write_text('{"zero_optimization": {"stage": 3}}')
    cfg = tmp_path / "acc.yaml"
    cfg.write_text(
        f"distributed_type: DEEPSPEED\nnum_processes: 4\ndeepspeed_config:\n  deepspeed_config_file: {ds}\n"
    )
    assert sharding_of(LaunchSettings(config_file=str(cfg))) == "ZeRO-3"
    launch = LaunchSettings(config_file=str(cfg))
    assert needs_vision_keepalive(launch, n_text=3, n_image=5)
    assert not needs_vision_keepalive(launch, n_text=0, n_image=5)  # image data only
    assert not needs_vision_keepalive(launch, n_text=3, n_image=0)  # the tower never runs anywhere
    assert not needs_vision_keepalive(LaunchSettings(config_file=str(cfg), num_processes=1), 3, 5)
    # inside a launched worker, from accelerate's variables
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert sharding_of(LaunchSettings()) is None
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert sharding_of(LaunchSettings()) == "FSDP" and needs_vision_keepalive(
        LaunchSettings(), n_text=1, n_image=1
    )
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert sharding_of(LaunchSettings()) == "ZeRO-3"


def test_vllm_without_vllm_is_one_line(run_cli, tiny_model, mixed_data, data_override):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    line = _one_line_error(
        run_cli,
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tiny_model}",
        "--set",
        data_override(mixed_data, "rec"),
        "--set",
        "use_vllm=true",
        "--set",
        "vllm_mode=colocate",
    )
    assert "training.use_vllm" in line and "vlmr1[vllm]" in line


def test_vllm_rollouts_from_a_folder_without_video_config(
    tiny_model, mixed_data, tmp_path, monkeypatch
):
    """vLLM cannot build the processor of a folder an earlier vlmr1 saved without torchvision:
    one line naming the folder and `vlmr1 export`, before any model loads."""
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    cfg = json.loads((old / "processor_config.json").read_text())
    del cfg["video_processor"]
    (old / "processor_config.json").write_text(json.dumps(cfg))
    (tmp_path / "site" / "vllm").mkdir(parents=True)  # an importable `vllm`, for check_vllm
    (tmp_path / "site" / "vllm" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    recipe = _recipe(
        old, mixed_data, tmp_path, "training.use_vllm=true", "training.vllm_mode=colocate"
    )
    with pytest.raises(UserError, match=r"saved without a video-processor config") as err:
        _prepare(recipe)
    assert str(old) in str(err.value) and "vlmr1 export" in str(err.value)
    _prepare(_recipe(old, mixed_data, tmp_path))  # HF rollouts load it (image-only)


def test_output_dir_and_resume_states(tiny_model, mixed_data, tmp_path):
    recipe = _recipe(tiny_model, mixed_data, tmp_path)
    with pytest.raises(UserError, match=r"--resume: no complete checkpoint"):
        _prepare(recipe, resume=True)
    ckpt = tmp_path / "out" / "checkpoint-3"
    ckpt.mkdir(parents=True)
    with pytest.raises(
        UserError, match=r"--resume: no complete checkpoint"
    ):  # trainer_state.json missing
        _prepare(_recipe(tiny_model, mixed_data, tmp_path), resume=True)
    (ckpt / "trainer_state.json").write_text("{}")
    with pytest.raises(UserError, match=r"already holds checkpoint-3.*--resume"):
        _prepare(_recipe(tiny_model, mixed_data, tmp_path))
    ctx = _prepare(_recipe(tiny_model, mixed_data, tmp_path), resume=True)
    assert ctx.resume_from == str(ckpt)


def test_launch_settings_are_checked(run_cli, tiny_model, mixed_data, tmp_path, data_override):
    base = [
        "train-grpo",
        "-r",
        DEMO,
        "--set",
        f"model.path={tiny_model}",
        "--set",
        data_override(mixed_data, "rec"),
    ]
    line = _one_line_error(run_cli, *base, "--num-machines", "2", "--num-processes", "4")
    assert "main_process_ip" in line
    line = _one_line_error(
        run_cli,
        *base,
        "--num-machines",
        "2",
        "--machine-rank",
        "2",
        "--main-process-ip",
        "127.0.0.1",
    )
    assert "machine_rank" in line
    line = _one_line_error(run_cli, *base, "--config-file", "multi_node")
    assert "main_process_ip" in line
