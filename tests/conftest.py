"""Shared fixtures: one tiny preset model per test run, and small shapes datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("VLMR1_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _preset_cache(tmp_path_factory):
    """Presets are cached per test session, never in the user's home."""
    cache = tmp_path_factory.mktemp("presets")
    old = os.environ.get("VLMR1_PRESET_CACHE")
    os.environ["VLMR1_PRESET_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("VLMR1_PRESET_CACHE", None)
    else:
        os.environ["VLMR1_PRESET_CACHE"] = old


@pytest.fixture(scope="session", autouse=True)
def _datasets_cache(tmp_path_factory):
    """The training data's Arrow cache lives per test session, never in the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A saved tiny random Qwen2.5-VL folder (built once per session)."""
    from vlmr1_cli.models.presets import build_preset

    return build_preset("tiny-qwen2.5-vl", tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory) -> Path:
    from vlmr1_cli.data.shapes import generate_shapes

    out = tmp_path_factory.mktemp("shapes")
    generate_shapes(out, train=24, eval=8, ood=8, seed=0)
    return out


@pytest.fixture(scope="session")
def grpo_settings():
    """A function giving --set overrides that make a GRPO run take seconds on a CPU."""
    return tiny_grpo_settings


def tiny_grpo_settings(output_dir: Path, **over) -> list[str]:
    base = {
        "training.output_dir": str(output_dir),
        "training.max_steps": 2,
        "training.per_device_train_batch_size": 4,
        "training.num_generations": 4,
        "training.max_completion_length": 12,
        "training.logging_steps": 1,
        "training.report_to": "none",
        "training.save_strategy": "no",
        # one pass per batch, so every step generates and logs (the demo recipe makes two)
        "training.num_iterations": 1,
        # a fixed rate: the demo's warm-up and cosine decay leave a 1-2 step run at lr ~0,
        # and these tests check that the steps change the weights
        "training.lr_scheduler_type": "constant",
        "training.warmup_steps": 0,
    }
    base.update(over)
    return [f"{k}={v}" for k, v in base.items()]


GRADED_REWARD_MODULE = "vlmr1_test_graded_reward"
GRADED_REWARD_SOURCE = """
def variety(completions, solution=None, **kwargs):
    # A graded signal for random models: the built-in rewards are all 0 at initialisation,
    # which makes every advantage 0 and the gradient exactly 0 (docs/environment.md §5).
    from vlmr1_cli.parsing import completion_text
    return [len(set(completion_text(c))) / 20.0 for c in completions]
"""


@pytest.fixture(scope="session")
def graded_reward(tmp_path_factory):
    """`module:function` of a reward with a spread of values, importable for the session."""
    import sys

    folder = tmp_path_factory.mktemp("reward-module")
    (folder / f"{GRADED_REWARD_MODULE}.py").write_text(GRADED_REWARD_SOURCE, encoding="utf-8")
    sys.path.insert(0, str(folder))
    yield f"{GRADED_REWARD_MODULE}:variety"
    sys.path.remove(str(folder))
    sys.modules.pop(GRADED_REWARD_MODULE, None)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running local double of the Hugging Face Hub (tests/hub_double.py), with
    huggingface_hub (and datasets) pointed at it, online, and a private cache under tmp_path;
    everything is restored after the test."""
    from huggingface_hub import HfFileSystem

    from tests.hub_double import HubDouble, use_hub_double

    with HubDouble() as double:
        use_hub_double(monkeypatch, double.url, tmp_path / "hf-home")
        yield double
    HfFileSystem.clear_instance_cache()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.gpu` tests skip where CUDA is absent. Checked as such a test starts, not
    at collection, so collecting the suite does not import torch."""
    if item.get_closest_marker("gpu") is None:
        return
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
