"""`pip install .` ships the recipes: build the wheel, install it into a fresh virtual
environment and train one step by recipe name from a folder outside the checkout.

No network: the wheel is built without build isolation (setuptools comes from this
environment), and the fresh environment sees this one's heavy dependencies through a `.pth`
file instead of downloading them. The editable install of vlmr1 in this environment is
not what runs: this environment's site-packages only holds its import hook, which a `.pth`
path entry does not activate, and the test checks where `vlmr1_cli` is imported from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (cmd, out.stdout[-2000:], out.stderr[-3000:])
    return out


@pytest.mark.slow
def test_the_wheel_ships_recipes_and_trains_by_name_outside_the_checkout(tmp_path, grpo_settings):
    # A copy of the project's sources: building in place would write build/ and *.egg-info
    # into the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "vlmr1_cli", src / "vlmr1_cli", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        VLMR1_NO_PROGRESS="1",
        HF_HUB_OFFLINE="1",
    )
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(src),
        ],
        cwd=tmp_path,
        env=env,
    )
    (wheel,) = wheels.glob("vlmr1-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    new_site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
            env=env,
        ).stdout.strip()
    )
    # torch, trl, typer, ... from this environment, after the new environment's own packages
    (new_site / "outer_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        cwd=tmp_path,
        env=env,
    )

    work = tmp_path / "work"  # outside the checkout: no recipes/ folder, no vlmr1_cli/ beside
    work.mkdir()
    where = _run(
        [str(python), "-c", "import vlmr1_cli; print(vlmr1_cli.__file__)"], cwd=work, env=env
    ).stdout
    assert Path(where.strip()).is_relative_to(venv), where
    vlmr1 = str(venv / "bin" / "vlmr1")

    listing = _run([vlmr1, "recipes", "list", "--json"], cwd=work, env=env).stdout
    listed = json.loads(listing)
    assert {"rec_refcoco", "ovd_d3", "demo_shapes_grpo"} <= {r["name"] for r in listed["recipes"]}
    assert {"ddp", "zero2", "zero3", "fsdp", "multi_node"} <= {
        c["name"] for c in listed["accelerate"]
    }
    assert all(Path(r["file"]).is_relative_to(venv) for r in listed["recipes"])
    assert "rec_refcoco" in _run([vlmr1, "recipes", "list"], cwd=work, env=env).stdout
    _run([vlmr1, "recipes", "cp", "rec_refcoco_lora", "."], cwd=work, env=env)
    assert (work / "rec_refcoco_lora.yaml").read_text().startswith("# rec_refcoco.yaml with LoRA")

    # One GRPO step by recipe name on a few shapes images, with the tiny preset.
    _run(
        [
            vlmr1,
            "prepare-data",
            "shapes",
            "-o",
            "data",
            "--train",
            "8",
            "--eval",
            "2",
            "--ood",
            "0",
        ],
        cwd=work,
        env=env,
    )
    overrides = [
        "model.path=preset:tiny-qwen2.5-vl",
        "data.train=[{path: data/train.jsonl, image_root: data}]",
        *grpo_settings(Path("run"), **{"training.max_steps": 1}),
    ]
    sets = [arg for item in overrides for arg in ("--set", item)]
    out = _run(
        [vlmr1, "train-grpo", "-r", "demo_shapes_grpo", *sets], cwd=work, env=env, timeout=300
    )
    assert "global_step" in out.stdout
    meta = json.loads((work / "run" / "vlmr1.json").read_text())
    assert meta["method"] == "grpo"
