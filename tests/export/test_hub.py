"""`push` through the real huggingface_hub client against the local Hub double (`hub` fixture,
tests/hub_double.py): no test here touches the network. What the "Hub" holds after a push is
read back from the double."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.export import card
from vlmr1_cli.export import hub as upload

PLANNED = {"README.md", "config.json", "model.safetensors", "tokenizer.json", "vlmr1.json"}


@pytest.fixture
def exported(tmp_path) -> Path:
    """A small exported-model folder (the files `vlmr1 export` writes; weights are stand-ins)."""
    d = tmp_path / "exported"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    (d / "model.safetensors").write_bytes(b"\0" * 1234)
    (d / "tokenizer.json").write_text("{}")
    (d / "vlmr1.json").write_text("{}")
    info = card.CardInfo(
        name="exported",
        model_id="./exported",
        base_model=None,
        datasets=[],
        family="qwen2_5_vl",
        task="rec",
        method="grpo",
        weights="full model",
        dtype="float32",
        source="the final model of training run `r`",
    )
    (d / "README.md").write_text(card.render(info))
    (d / ".cache").mkdir()
    (d / ".cache" / "upload.lock").write_text("x")  # hidden: never uploaded
    (d / ".env").write_text("PRIVATE=1\n")  # hidden: never uploaded
    return d


@pytest.fixture
def logged_in(hub, monkeypatch):
    """The Hub double, with the token it accepts in HF_TOKEN."""
    monkeypatch.setenv("HF_TOKEN", hub.token)
    return hub


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    import huggingface_hub.constants as c

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setattr(c, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(c, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"), raising=False)


def local_files(folder: Path, names) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


def test_dry_run_lists_files_without_client_or_token(exported, monkeypatch, no_token):
    monkeypatch.setattr(
        upload, "make_client", lambda token: pytest.fail("dry run built a Hub client")
    )
    before = (exported / "README.md").read_text()
    res = upload.push(exported, "org/name", dry_run=True)
    files = dict(res.plan.files)
    assert set(files) == PLANNED
    assert files["model.safetensors"] == 1234 and res.plan.total_bytes == sum(files.values())
    assert res.dry_run and not res.token_found and res.plan.card_changed
    assert (exported / "README.md").read_text() == before  # nothing written


def test_push_sends_exactly_the_plan_to_a_private_branch(exported, logged_in):
    from huggingface_hub import HfApi

    res = upload.push(exported, "org/name", private=True, revision="v1", commit_message="first")
    held = logged_in.files("org/name", revision="v1")
    # the planned files with their bytes; .gitattributes is the repo's own (from its creation)
    assert set(held) == PLANNED | {".gitattributes"}
    assert {k: v for k, v in held.items() if k in PLANNED} == local_files(exported, PLANNED)
    readme = held["README.md"].decode()
    assert 'from_pretrained("org/name")' in readme and "./exported" not in readme
    from huggingface_hub import ModelCard

    assert ModelCard(readme).data.library_name == "transformers"
    assert set(logged_in.files("org/name")) == {".gitattributes"}  # main untouched
    api = HfApi()
    assert api.repo_info("org/name").private
    assert api.list_repo_commits("org/name", revision="v1")[0].title == "first"
    assert res.commit_url.endswith(logged_in.head("org/name", branch="v1"))
    assert any(
        n.startswith("verified: the Hub holds all 5 uploaded files") and ".gitattributes" in n
        for n in res.plan.notes
    )


def test_push_defaults_public_main(exported, logged_in):
    from huggingface_hub import HfApi

    upload.push(exported, "org/name")
    assert set(logged_in.files("org/name")) == PLANNED | {".gitattributes"}
    api = HfApi()
    assert not api.repo_info("org/name").private  # an existing repo would keep its visibility
    assert api.list_repo_commits("org/name")[0].title == upload.DEFAULT_COMMIT_MESSAGE


def test_file_names_are_names_not_patterns(exported, logged_in):
    """`*` used to be passed as a pattern (uploading everything, hidden files too) and
    `notes[v1].txt` matched only `notesv.txt`-like names (listed, never sent)."""
    (exported / "*").write_bytes(b"a file named star\n")
    (exported / "notes[v1].txt").write_text("bracketed\n")
    (exported / "sub").mkdir()
    (exported / "sub" / "?.json").write_text("{}")
    res = upload.push(exported, "org/name")
    names = PLANNED | {"*", "notes[v1].txt", "sub/?.json"}
    assert {name for name, _ in res.plan.files} == names
    held = logged_in.files("org/name")
    assert set(held) == names | {".gitattributes"}  # no .env, no .cache/upload.lock
    assert held["notes[v1].txt"] == b"bracketed\n" and held["*"] == b"a file named star\n"


@pytest.mark.parametrize(
    "make_link",
    [
        lambda d: os.symlink("/etc/hostname", d / "hostname.txt"),  # a link to a system file
        lambda d: os.symlink(d.parent, d / "weights"),  # a link to a folder
    ],
)
def test_a_symlink_in_the_folder_is_refused_before_anything_is_sent(exported, logged_in, make_link):
    make_link(exported)
    for dry_run in (True, False):
        with pytest.raises(
            UserError,
            match=r"(hostname\.txt|weights): a symbolic link; push "
            r"uploads only regular files inside the folder",
        ):
            upload.push(exported, "org/name", dry_run=dry_run)
    assert not logged_in.has_repo("org/name") and not logged_in.requests


def test_a_link_swapped_in_after_planning_is_not_followed(exported, logged_in, monkeypatch):
    outside = exported.parent / "outside.json"
    outside.write_text('{"secret": 1}')
    (exported / "README.md").unlink()  # no card to update: the folder is listed once
    listing = upload._upload_files

    def list_then_swap(model_dir):
        files = listing(model_dir)
        (exported / "vlmr1.json").unlink()
        (exported / "vlmr1.json").symlink_to(outside)
        return files

    monkeypatch.setattr(upload, "_upload_files", list_then_swap)
    with pytest.raises(UserError, match=r"vlmr1.json: cannot open it without following a link"):
        upload.push(exported, "org/name")
    assert not logged_in.has_repo("org/name")


def test_a_file_holding_the_token_is_refused(exported, logged_in, capsys):
    (exported / "training_args.bin").write_bytes(
        b"\x80\x04pickle..." + logged_in.token.encode() + b"..."
    )
    for dry_run in (True, False):
        with pytest.raises(
            UserError,
            match=r"training_args.bin: holds the Hub token this push "
            r"authenticates with; refusing",
        ) as exc:
            upload.push(exported, "org/name", dry_run=dry_run)
        assert logged_in.token not in str(exc.value)
    assert not logged_in.has_repo("org/name")
    # a token split across read chunks is still found
    from vlmr1_cli.secrets import file_contains

    with open(exported / "training_args.bin", "rb") as fh:
        assert file_contains(fh, logged_in.token, chunk_size=7)


def test_the_upload_is_checked_against_the_hub(exported, logged_in, monkeypatch):
    from huggingface_hub import HfApi

    real = HfApi.list_repo_tree

    def without_config(self, *args, **kwargs):
        return [e for e in real(self, *args, **kwargs) if e.path != "config.json"]

    monkeypatch.setattr(HfApi, "list_repo_tree", without_config)
    with pytest.raises(
        UserError,
        match=r"the Hub's 'org/name' at \w+ does not hold what was sent: "
        r"config.json missing",
    ):
        upload.push(exported, "org/name")


def test_missing_token_says_how_to_log_in(exported, no_token, monkeypatch):
    monkeypatch.setattr(
        upload, "make_client", lambda token: pytest.fail("client built without a token")
    )
    with pytest.raises(UserError, match=r"hf auth login.*HF_TOKEN"):
        upload.push(exported, "org/name")


def test_a_rejected_token_is_one_line(exported, hub, monkeypatch):
    bad = "hf_not_the_right_token_0123456789"
    monkeypatch.setenv("HF_TOKEN", bad)
    with pytest.raises(UserError, match="rejected the token") as exc:
        upload.push(exported, "org/name")
    assert bad not in str(exc.value) and "\n" not in str(exc.value)


def test_an_unreachable_hub_is_one_line(exported, logged_in):
    logged_in.stop()
    with pytest.raises(UserError, match="cannot reach the Hugging Face Hub") as exc:
        upload.push(exported, "org/name")
    assert logged_in.token not in str(exc.value) and "\n" not in str(exc.value)


TOKEN = "hf_testsecret_0123456789abcdef"


class FailingClient:
    """A client whose first call fails as the Hub can (statuses the double does not send)."""

    def __init__(self, error: Exception):
        self.error = error

    def create_repo(self, *args, **kwargs):
        raise self.error


def _http_error(status: int):
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    response = httpx2.Response(status, request=request)
    return HfHubHTTPError(f"{status} error for token {TOKEN}\nmore detail", response=response)


@pytest.mark.parametrize(
    "make_error, message",
    [
        (lambda: _http_error(403), "no write access to 'org/name'"),
        (lambda: _http_error(500), r"Hub error for 'org/name' \(HTTP 500\)"),
        (lambda: TimeoutError(f"timed out (token={TOKEN})"), "cannot reach the Hugging Face Hub"),
    ],
)
def test_hub_failures_are_one_line_without_the_token(exported, monkeypatch, make_error, message):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(upload, "make_client", lambda token: FailingClient(make_error()))
    with pytest.raises(UserError, match=message) as exc:
        upload.push(exported, "org/name")
    text = str(exc.value)
    assert TOKEN not in text and "\n" not in text


@pytest.mark.parametrize("repo_id", ["name-only", "a/b/c", "org/bad name", "org/"])
def test_bad_repo_id(exported, repo_id):
    with pytest.raises(UserError, match="--repo-id"):
        upload.push(exported, repo_id, dry_run=True)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(UserError, match="not a model folder"):
        upload.push(tmp_path, "org/name", dry_run=True)
    with pytest.raises(UserError, match="not found"):
        upload.push(tmp_path / "missing", "org/name", dry_run=True)


def test_folder_without_card_is_noted(exported):
    (exported / "README.md").unlink()
    res = upload.push(exported, "org/name", dry_run=True)
    assert any("README.md" in n for n in res.plan.notes) and res.plan.card_text is None


def test_cli_push_never_prints_the_token(exported, logged_in):
    from typer.testing import CliRunner

    from vlmr1_cli.cli.app import app

    for args in (["--dry-run"], []):
        result = CliRunner().invoke(
            app, ["push", "--model", str(exported), "--repo-id", "org/name", *args]
        )
        assert result.exit_code == 0, result.output
        assert logged_in.token not in result.output
        assert "model.safetensors" in result.output
        assert ("Hub token: found" in result.output) == bool(args)  # said only in the dry run
    assert set(logged_in.files("org/name")) == PLANNED | {".gitattributes"}


def test_cli_missing_token_is_one_line_exit_1(exported, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env["HF_HOME"] = str(tmp_path / "hf-home")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "push",
            "--model",
            str(exported),
            "--repo-id",
            "org/name",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN"
    ]
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "push",
            "--model",
            str(exported),
            "--repo-id",
            "org/name",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert dry.returncode == 0 and "model.safetensors" in dry.stdout
    assert "Hub token: not found" in dry.stderr
