"""The launched run's hand-over: the parent checks and prepares the run once; a rank opens
what it prepared (the resolved recipe, the located model, the prepared data) without reading
the recipe or the data files again."""

from __future__ import annotations

import json
import shutil

from tests.train.conftest import data_override
from vlmr1_cli.recipes.loading import load_recipe
from vlmr1_cli.recipes.schema import Recipe
from vlmr1_cli.train import setup


def _recipe(tiny_model, mixed_data, out, *extra):
    return load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={tiny_model}",
            data_override(mixed_data, "rec", "ovd"),
            "rewards={rec: [rec_iou, {name: rec_format, weight: 0.5}], ovd: [od_ap]}",
            f"training.output_dir={out}",
            "training.hub_token=hf_secret_handover_token",
            "model.max_pixels=4096",
            *extra,
        ],
    )


def _rows(ds) -> list[tuple]:
    columns = ds.with_format(None).select_columns(["id", "task", "solution_json", "image_paths"])
    return [(r["id"], r["task"], r["solution_json"], tuple(r["image_paths"])) for r in columns]


def test_a_rank_trains_what_the_parent_prepared_without_reading_the_sources(
    tiny_model, mixed_data, tmp_path
):
    work = tmp_path / "data"
    shutil.copytree(mixed_data, work)
    recipe = _recipe(tiny_model, work, tmp_path / "out", "data.seed=3")
    parent = setup.prepare_run(recipe)
    handover = setup.hand_over(parent, tmp_path)
    # The data files go: a rank that read or checked them again would fail now.
    shutil.rmtree(work)
    rank = setup.take_over(handover)

    assert rank.recipe == Recipe.from_mapping(
        {
            **recipe.as_mapping(),
            "training": {k: v for k, v in recipe.training.items() if k != "hub_token"},
        }
    )
    assert rank.model_path == parent.model_path and rank.family.name == parent.family.name
    assert rank.limits == parent.limits and rank.limits.max_pixels == 4096
    assert rank.resume_from is None and rank.vision_keepalive == parent.vision_keepalive
    assert rank.output_dir == parent.output_dir
    # the same rows in the same order (the weighted, seeded mix of two sources)
    assert _rows(rank.train_dataset) == _rows(parent.train_dataset)
    assert len(rank.train_dataset) == len(parent.train_dataset) > 0
    # the rewards a rank builds are the parent's (names, weights)
    from vlmr1_cli.train.reward_funcs import build_reward_funcs

    assert build_reward_funcs(rank.recipe)[1] == [1.0, 0.5, 1.0]


def test_the_handover_file_holds_no_token(tiny_model, mixed_data, tmp_path):
    recipe = _recipe(tiny_model, mixed_data, tmp_path / "out")
    handover = setup.hand_over(setup.prepare_run(recipe), tmp_path)
    text = handover.read_text(encoding="utf-8")
    assert "hf_secret_handover_token" not in text
    assert "hub_token" not in json.loads(text)["recipe"]["training"]
    # the parent hands it to the ranks through their environment instead
    from vlmr1_cli.secrets import hub_token_env

    assert hub_token_env(recipe.training) == {"HF_TOKEN": "hf_secret_handover_token"}


def test_a_rank_does_not_redo_the_parents_checks(tiny_model, mixed_data, tmp_path, monkeypatch):
    """Every check of prepare_run is the parent's: take_over calls none of them."""
    from vlmr1_cli.train import checks, run_folder

    recipe = _recipe(tiny_model, mixed_data, tmp_path / "out")
    handover = setup.hand_over(setup.prepare_run(recipe), tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("a rank ran one of the parent's checks")

    for module, name in (
        (setup, "prepare_run"),
        (setup, "check_data_files"),
        (checks, "check_tasks"),
        (checks, "check_batch"),
        (checks, "check_family"),
        (run_folder, "check_output_dir"),
    ):
        monkeypatch.setattr(module, name, refuse)
    import vlmr1_cli.models.context as context

    monkeypatch.setattr(context, "check_dataset_text", refuse)
    monkeypatch.setattr(
        "vlmr1_cli.data.arrow_cache.write_rows", refuse
    )  # no data is prepared again
    rank = setup.take_over(handover)
    assert len(rank.train_dataset) > 0
