"""Folders vlmr1 saves without torchvision load where torchvision works (processor_compat.py).

The stock Qwen-VL and SmolVLM processors refuse a folder with no video-processor config; a
model trained on a CPU then failed to load on a GPU machine ("Can't load video processor").
These tests check what the stock loader reads, without torchvision: the entry is there and
names a real transformers class, AutoVideoProcessor's config lookup finds it, and folders saved
before the fix load with the image-only class where torchvision works.
"""

from __future__ import annotations

import json
import shutil

import pytest

from vlmr1_cli.models import processor_compat
from vlmr1_cli.models.registry import family_for_path

# preset -> the video processor its stock processor is built with
VIDEO_FAMILIES = {
    "tiny-qwen2.5-vl": "Qwen2VLVideoProcessor",
    "tiny-qwen2-vl": "Qwen2VLVideoProcessor",
    "tiny-qwen3-vl": "Qwen3VLVideoProcessor",
    "tiny-smolvlm2": "SmolVLMVideoProcessor",
    "tiny-internvl": "InternVLVideoProcessor",
}


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    from vlmr1_cli.models.presets import build_preset

    root = tmp_path_factory.mktemp("compat-presets")
    return {name: build_preset(name, root / name) for name in VIDEO_FAMILIES}


@pytest.fixture
def torchvision(monkeypatch):
    """`torchvision(True|False)`: pretend torchvision does or does not import."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

    # AutoProcessor registrations made while pretending are undone afterwards.
    monkeypatch.setattr(PROCESSOR_MAPPING, "_extra_content", dict(PROCESSOR_MAPPING._extra_content))

    def set_usable(usable: bool) -> None:
        monkeypatch.setattr(processor_compat, "torchvision_usable", lambda: usable)

    return set_usable


def _without_video_entry(src, dst):
    """The folder as vlmr1 saved it before the fix: no video processor named anywhere."""
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "processor_config.json").read_text())
    del cfg["video_processor"]
    (dst / "processor_config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("preset", list(VIDEO_FAMILIES))
def test_saved_folder_names_the_stock_video_processor(preset, presets):
    import transformers
    from transformers.video_processing_utils import BaseVideoProcessor

    folder = presets[preset]
    cfg = json.loads((folder / "processor_config.json").read_text())
    name = VIDEO_FAMILIES[preset]
    assert cfg["video_processor"] == {"video_processor_type": name}
    assert hasattr(transformers, name)  # a class transformers builds where torchvision works
    # The lookup AutoVideoProcessor.from_pretrained starts with: it finds the entry.
    found, _ = BaseVideoProcessor.get_video_processor_dict(str(folder), local_files_only=True)
    assert found["video_processor_type"] == name
    assert processor_compat.has_video_config(folder)


@pytest.mark.parametrize("preset", list(VIDEO_FAMILIES))
def test_a_reloaded_and_resaved_processor_keeps_the_entry(preset, presets, tmp_path):
    """Trainer checkpoints and `export` save a processor that was loaded, not built."""
    fam = family_for_path(presets[preset])
    fam.load_processor(str(presets[preset])).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "processor_config.json").read_text())
    # Here the placeholder; where torchvision works, the stock class's full settings.
    assert cfg["video_processor"]["video_processor_type"] == VIDEO_FAMILIES[preset]


@pytest.mark.parametrize("preset", list(VIDEO_FAMILIES))
def test_stock_class_where_torchvision_works_image_only_elsewhere(preset, presets, torchvision):
    fam = family_for_path(presets[preset])
    _, stock = fam.stock_processor()
    torchvision(True)
    assert fam.processor_class() is stock
    assert "video_processor" in stock.get_attributes()
    assert fam.processor_class_for(str(presets[preset])) is stock
    torchvision(False)
    image_only = fam.processor_class()
    assert issubclass(image_only, stock) and image_only is not stock
    assert image_only.__name__ == stock.__name__  # what processor_config.json records
    assert "video_processor" not in image_only.get_attributes()


@pytest.mark.parametrize("preset", list(VIDEO_FAMILIES))
def test_folder_without_video_entry_loads_image_only_where_torchvision_works(
    preset, presets, torchvision, tmp_path
):
    old = _without_video_entry(presets[preset], tmp_path / "old")
    assert not processor_compat.has_video_config(old)
    fam = family_for_path(old)
    limits = fam.pixel_limits(fam.load_processor(str(presets[preset])))
    torchvision(True)
    cls = fam.processor_class_for(str(old))
    assert cls is fam.image_only_processor_class()
    proc = fam.load_processor(str(old))
    assert type(proc) is cls and not hasattr(proc, "video_processor")
    assert fam.pixel_limits(proc) == limits


def test_video_config_detection(tmp_path):
    assert processor_compat.has_video_config("Qwen/Qwen2.5-VL-3B-Instruct")  # Hub ids: as published
    folder = tmp_path / "ckpt"
    folder.mkdir()
    assert not processor_compat.has_video_config(folder)
    (folder / "processor_config.json").write_text(json.dumps({"image_processor": {}}))
    assert not processor_compat.has_video_config(folder)
    (folder / "preprocessor_config.json").write_text("{}")  # legacy: the video processor reads it
    assert processor_compat.has_video_config(folder)
    (folder / "preprocessor_config.json").unlink()
    (folder / "video_preprocessor_config.json").write_text("{}")
    assert processor_compat.has_video_config(folder)


def test_families_without_a_video_processor_have_no_image_only_class(presets, tmp_path):
    from vlmr1_cli.models.presets import build_preset

    fam = family_for_path(build_preset("tiny-idefics3", tmp_path / "idefics3"))
    assert fam.stock_processor() is None
    with pytest.raises(TypeError, match="no video processor"):
        fam.image_only_processor_class()
