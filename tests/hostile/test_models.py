"""`export`, `push --dry-run`, `init-model`, `list-presets`, `recipes list|show|cp` and `demo`
(option validation): broken or missing checkpoints, outputs that are files, non-empty folders
or the source itself, bad sizes/tolerances/devices/repo ids, path traversal in names, and bad
demo overrides noticed before any work starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import Case, CopyOf, Dir, Result, WrongResult, either, error, ok, params
from tests.hostile.inputs import BIG_INT, bad_yaml

EXPORT = ("export", "-m", "{model}", "-o", "ex", "--json")


def exported(res: Result) -> None:
    exported_to(res, "ex")


def exported_to(res: Result, folder: str) -> None:
    """The export holds the weights it lists, byte sizes as listed."""
    out = C.stdout_json(res)
    for f in out["files"]:
        path = res.folder / folder / f["path"]
        if not path.is_file() or path.stat().st_size != f["bytes"]:
            raise WrongResult(
                f"export lists {f['path']} ({f['bytes']} B), the folder holds otherwise"
            )
    if not any(f["path"].endswith(".safetensors") for f in out["files"]):
        raise WrongResult("export wrote no weights")


def model_copy(mutate=None) -> dict:
    return {"m": CopyOf("{model}", mutate)}


def truncate(name: str):
    def mutate(folder: Path) -> None:
        f = folder / name
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])

    return mutate


def model_unchanged(res: Result) -> None:
    if (
        not (res.folder / "m" / "model.safetensors").is_file()
        or (res.folder / "m" / "README.md").exists()
    ):
        raise WrongResult("the source model folder was changed")


CASES: list[Case] = [
    ok("export/valid", EXPORT, check=exported),
    error("export/model-missing", ("export", "-m", "nowhere", "-o", "ex"), match="nowhere"),
    error("export/model-is-a-file", ("export", "-m", "f", "-o", "ex"), {"f": "x"}, match="f"),
    error("export/model-empty-folder", ("export", "-m", "m", "-o", "ex"), {"m": Dir()}, match="m"),
    error(
        "export/model-truncated-safetensors",
        ("export", "-m", "m", "-o", "ex"),
        model_copy(truncate("model.safetensors")),
        match="m|model.safetensors",
        check=C.no_file("ex"),
    ),
    error(
        "export/model-config-invalid",
        ("export", "-m", "m", "-o", "ex"),
        model_copy(lambda f: (f / "config.json").write_text("{")),
        match="config.json",
        check=C.no_file("ex"),
    ),
    error(
        "export/model-unknown-hub-id-offline",
        ("export", "-m", "nobody/no-model", "-o", "ex"),
        match="nobody/no-model",
    ),
    error(
        "export/output-is-the-model",
        ("export", "-m", "m", "-o", "m"),
        model_copy(),
        match="m",
        check=model_unchanged,
    ),
    error("export/output-is-a-file", EXPORT, {"ex": "x"}, match="ex"),
    error(
        "export/output-not-empty",
        EXPORT,
        {"ex/mine.txt": "keep"},
        match="ex",
        check=C.unchanged("ex/mine.txt", "keep"),
    ),
    error(
        "export/output-under-a-file",
        ("export", "-m", "{model}", "-o", "f/ex"),
        {"f": "x"},
        match="f",
    ),
    ok(
        "export/output-inside-the-model",
        ("export", "-m", "m", "-o", "m/ex", "--json"),
        model_copy(),
        check=lambda r: (model_unchanged(r), exported_to(r, "m/ex")),
    ),
    error(
        "export/shard-size-banana",
        (*EXPORT, "--max-shard-size", "banana"),
        match="--max-shard-size",
    ),
    error("export/shard-size-zero", (*EXPORT, "--max-shard-size", "0GB"), match="--max-shard-size"),
    error(
        "export/shard-size-negative",
        (*EXPORT, "--max-shard-size", "-5GB"),
        match="--max-shard-size",
    ),
    error(
        "export/shard-size-1e999",
        (*EXPORT, "--max-shard-size", "1e999GB"),
        match="--max-shard-size",
    ),
    error(
        "export/shard-size-huge-int",
        (*EXPORT, "--max-shard-size", BIG_INT + "GB"),
        match="--max-shard-size",
    ),
    error("export/tolerance-nan", (*EXPORT, "--tolerance", "nan"), match="--tolerance"),
    error("export/tolerance-negative", (*EXPORT, "--tolerance", "-1"), match="--tolerance"),
    error("export/device-banana", (*EXPORT, "--device", "banana"), match="--device|banana"),
    either(
        "export/merge-lora-of-a-full-model",
        (*EXPORT, "--merge-lora"),
        check=exported,
        match="--merge-lora|LoRA|adapter",
    ),
]

# push --dry-run: never touches the network
PUSH = ("push", "-m", "ex", "--repo-id", "me/tiny", "--dry-run", "--json")


def export_first(folder: Path) -> None:
    """A real exported folder (README.md, vlmr1.json ...), made with the library directly."""
    from vlmr1_cli.export.exporter import export_checkpoint

    export_checkpoint(Path(folder.parent / "m"), folder)


PUSH_FILES = {**model_copy(), "ex": export_first}
CASES += [
    ok(
        "push/dry-run",
        PUSH,
        PUSH_FILES,
        check=C.holds(
            lambda r: C.stdout_json(r)["dry_run"] is True,
            "push --dry-run did not say it was a dry run",
        ),
    ),
    error("push/repo-id-spaces", (*PUSH[:4], "not a repo", *PUSH[5:]), PUSH_FILES, match="repo"),
    error(
        "push/repo-id-traversal", (*PUSH[:4], "../../etc", *PUSH[5:]), PUSH_FILES, match="repo|etc"
    ),
    error("push/repo-id-empty", (*PUSH[:4], "", *PUSH[5:]), PUSH_FILES, match="repo"),
    error(
        "push/repo-id-three-parts", (*PUSH[:4], "a/b/c", *PUSH[5:]), PUSH_FILES, match="repo|a/b/c"
    ),
    error(
        "push/model-missing",
        ("push", "-m", "nowhere", "--repo-id", "me/x", "--dry-run"),
        match="nowhere",
    ),
    error(
        "push/model-is-a-file",
        ("push", "-m", "f", "--repo-id", "me/x", "--dry-run"),
        {"f": "x"},
        match="f",
    ),
    error(
        "push/model-not-exported",
        ("push", "-m", "d", "--repo-id", "me/x", "--dry-run"),
        {"d/x.txt": "x"},
        match="d",
    ),
    error(
        "push/offline-for-real",
        ("push", "-m", "ex", "--repo-id", "me/tiny"),
        PUSH_FILES,
        match="offline|Hub|token|HF_HUB_OFFLINE|logged",
    ),
]

# init-model
INIT = ("init-model", "-o", "tiny")
CASES += [
    ok(
        "init-model/valid",
        INIT,
        check=lambda r: json.loads((r.folder / "tiny" / "config.json").read_text()),
    ),
    error(
        "init-model/seed-huge",
        (*INIT, "--seed", "1" + "0" * 25),
        match="--seed",
        check=C.no_file("tiny"),
    ),
    error("init-model/seed-negative", (*INIT, "--seed", "-1"), match="--seed"),
    error("init-model/preset-unknown", (*INIT, "--preset", "tiny-banana"), match="--preset"),
    error("init-model/output-is-a-file", INIT, {"tiny": "x"}, match="tiny"),
    error(
        "init-model/output-not-empty",
        INIT,
        {"tiny/mine.txt": "keep"},
        match="tiny",
        check=C.unchanged("tiny/mine.txt", "keep"),
    ),
    error("init-model/output-under-a-file", ("init-model", "-o", "f/tiny"), {"f": "x"}, match="f"),
    error("init-model/no-output", ("init-model",), match="--output|OUTPUT"),
    error("init-model/output-twice", ("init-model", "a", "-o", "b"), match="--output|OUTPUT"),
]

# list-presets, recipes
CASES += [
    ok(
        "list-presets/json",
        ("list-presets", "--json"),
        check=lambda r: next(p for p in C.stdout_json(r) if p["name"] == "tiny-qwen2.5-vl"),
    ),
    error("list-presets/extra-argument", ("list-presets", "extra"), match="extra|argument"),
    ok(
        "recipes/list-json",
        ("recipes", "list", "--json"),
        check=lambda r: next(
            x for x in C.stdout_json(r)["recipes"] if x["name"] == "demo_shapes_grpo"
        ),
    ),
    error("recipes/show-unknown", ("recipes", "show", "rec_refcocoo"), match="rec_refcocoo"),
    error("recipes/show-traversal", ("recipes", "show", "../../../etc/passwd"), match="passwd"),
    error("recipes/show-absolute", ("recipes", "show", "/etc/passwd"), match="passwd"),
    error(
        "recipes/show-resolved-accelerate",
        ("recipes", "show", "zero2", "--resolved"),
        match="zero2",
    ),
    ok(
        "recipes/cp-to-folder",
        ("recipes", "cp", "rec_refcoco", "dest"),
        {"dest": Dir()},
        check=lambda r: (r.folder / "dest" / "rec_refcoco.yaml").read_text(),
    ),
    error(
        "recipes/cp-exists",
        ("recipes", "cp", "rec_refcoco", "mine.yaml"),
        {"mine.yaml": "mine"},
        match="mine.yaml",
        check=C.unchanged("mine.yaml", "mine"),
    ),
    error(
        "recipes/cp-missing-folder",
        ("recipes", "cp", "rec_refcoco", "no/such/dir/x.yaml"),
        match="no/such/dir",
    ),
    error(
        "recipes/cp-under-a-file",
        ("recipes", "cp", "rec_refcoco", "f/x.yaml"),
        {"f": "x"},
        match="f",
    ),
    error(
        "recipes/cp-onto-a-folder-of-that-name",
        ("recipes", "cp", "rec_refcoco", "dest"),
        {"dest/rec_refcoco.yaml": Dir()},
        match="rec_refcoco.yaml",
    ),
    error(
        "recipes/cp-unknown",
        ("recipes", "cp", "nope", "x.yaml"),
        match="nope",
        check=C.no_file("x.yaml"),
    ),
    error(
        "recipes/cp-resolved-accelerate",
        ("recipes", "cp", "zero2", "z.yaml", "--resolved"),
        match="zero2",
        check=C.no_file("z.yaml"),
    ),
]

# demo: every option and override is checked before any data, model or training work (the
# max_steps overrides bound the work should a check ever be missed)
DEMO = (
    "demo",
    "-o",
    "demo",
    "--train",
    "4",
    "--task-train",
    "4",
    "--eval",
    "2",
    "--ood",
    "2",
    "--sft-set",
    "training.max_steps=1",
    "--grpo-set",
    "training.max_steps=1",
)


def demo(id: str, extra: tuple, match: str, files=None) -> Case:
    return error(f"demo/{id}", (*DEMO, *extra), files, match=match, check=C.no_file("demo/data"))


CASES += [
    error("demo/train-zero", (*DEMO, "--train", "0"), match="--train"),
    error("demo/eval-negative", (*DEMO, "--eval", "-1"), match="--eval"),
    error("demo/seed-negative", (*DEMO, "--seed", "-1"), match="--seed"),
    error("demo/seed-huge", (*DEMO, "--seed", "1" + "0" * 25), match="--seed"),
    demo("sft-set-no-equals", ("--sft-set", "max_steps"), "--set|--sft-set|max_steps"),
    demo("grpo-set-unknown-key", ("--grpo-set", "training.learnin_rate=1"), "learnin_rate"),
    demo("grpo-set-lr-nan", ("--grpo-set", "training.learning_rate=nan"), "learning_rate"),
    demo("sft-set-unknown-section", ("--sft-set", "trainer.max_steps=1"), "trainer"),
    demo("recipes-dir-missing", ("--recipes-dir", "nowhere"), "nowhere"),
    demo(
        "recipes-dir-without-recipes",
        ("--recipes-dir", "empty"),
        "demo_shapes_sft.yaml|empty",
        files={"empty": Dir()},
    ),
    demo(
        "recipes-dir-broken-recipe",
        ("--recipes-dir", "rd"),
        "demo_shapes_grpo.yaml",
        files={
            "rd/demo_shapes_sft.yaml": "method: sft\nmodel: {path: preset:tiny-qwen2.5-vl}\n",
            "rd/demo_shapes_grpo.yaml": "method: grpo\nmodel: {path: [\n",
        },
    ),
    demo("output-is-a-file", (), "demo", files={"demo": "x"}),
]
for variant, content in bad_yaml():
    if variant in (
        "missing",
        "folder",
        "dangling-link",
        "python-tag",
        "alias-bomb",
        "deep",
        "huge-int",
    ):
        continue
    CASES.append(
        demo(
            f"recipes-dir-sft-{variant}",
            ("--recipes-dir", "rd"),
            "demo_shapes_sft.yaml",
            files={
                "rd/demo_shapes_sft.yaml": content,
                "rd/demo_shapes_grpo.yaml": "method: grpo\nmodel: {path: preset:tiny-qwen2.5-vl}\n",
            },
        )
    )


@pytest.mark.parametrize("case", params(CASES))
def test_models(case, hostile):
    hostile.run(case)
