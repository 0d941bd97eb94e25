"""Fixtures for the training tests: a small dataset with every kind of sample (REC, OVD,
text-only, multi-image), and helpers to run the CLI in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine spinning
    OpenMP threads make a 0.3 s step take 10 s. Subprocesses get OMP_NUM_THREADS=1 too."""
    import os

    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(old)


def _images(folder: Path, n: int) -> list[tuple[str, int, int]]:
    from PIL import Image, ImageDraw

    out = []
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = 64 + 8 * (i % 4), 48 + 4 * (i % 3)
        im = Image.new("RGB", (w, h), "white")
        d = ImageDraw.Draw(im)
        d.rectangle((4 + i % 5, 4, 24 + i % 5, 20), fill=(220, 40, 40))
        d.ellipse((30, 10 + i % 4, 50, 30 + i % 4), fill=(40, 80, 220))
        name = f"img/{i}.png"
        im.save(folder / name)
        out.append((name, w, h))
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="session")
def mixed_data(tmp_path_factory) -> Path:
    """rec.jsonl, ovd.jsonl, text.jsonl, multi.jsonl (two images each) under one image root."""
    root = tmp_path_factory.mktemp("mixed")
    imgs = _images(root, 8)
    rec, ovd, text, multi = [], [], [], []
    for i, (name, w, h) in enumerate(imgs):
        x = 4 + i % 5
        rec.append(
            {
                "id": f"r{i}",
                "task": "rec",
                "images": [name],
                "image_sizes": [[w, h]],
                "problem": "the red square",
                "solution": [x, 4, x + 21, 21],
                "source": "synthetic",
            }
        )
        objs = [
            {"bbox_2d": [x, 4, x + 21, 21], "label": "red square"},
            {"bbox_2d": [30, 10 + i % 4, 51, 31 + i % 4], "label": "blue circle"},
        ]
        ovd.append(
            {
                "id": f"o{i}",
                "task": "ovd",
                "images": [name],
                "image_sizes": [[w, h]],
                "problem": "",
                "labels": ["blue circle", "green star", "red square"],
                "solution": objs if i % 4 else [],
            }
        )
        text.append(
            {
                "id": f"t{i}",
                "task": "text",
                "images": [],
                "image_sizes": [],
                "problem": f"What is {i} plus 1?",
                "solution": str(i + 1),
            }
        )
        j = (i + 1) % len(imgs)
        multi.append(
            {
                "id": f"m{i}",
                "task": "rec",
                "images": [imgs[j][0], name],
                "image_sizes": [[imgs[j][1], imgs[j][2]], [w, h]],
                "box_image": 1,
                "problem": "the red square in the second image",
                "solution": [x, 4, x + 21, 21],
            }
        )
    for name, recs in (("rec", rec), ("ovd", ovd), ("text", text), ("multi", multi)):
        write_jsonl(root / f"{name}.jsonl", recs)
    return root


def source(data: Path, name: str, weight: float | None = None) -> str:
    w = "" if weight is None else f", weight: {weight}"
    return f"{{path: '{data / (name + '.jsonl')}', image_root: '{data}'{w}}}"


def data_override(data: Path, *names: str) -> str:
    return "data.train=[" + ", ".join(source(data, n) for n in names) + "]"


@pytest.fixture(scope="session")
def data_override_fn():
    """`data_override_fn(folder, "rec", "ovd")` -> a `data.train=[...]` override."""
    return data_override


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run `vlmr1 ARGS...` in this process: returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        from vlmr1_cli.cli.app import main

        monkeypatch.setattr(sys, "argv", ["vlmr1", *args])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
