"""`push` against a local stand-in for the Hub client: no test here touches the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.export import card, hub

TOKEN = "hf_testsecret_0123456789abcdef"


class FakeHub:
    """Records every call; checks them against what HfApi accepts; can fail on demand."""

    def __init__(self, token: str, fail: Exception | None = None):
        self.token = token
        self.fail = fail
        self.calls: list[tuple[str, dict]] = []

    def _call(self, name: str, **kwargs):
        self.calls.append((name, kwargs))
        if self.fail is not None:
            raise self.fail

    def create_repo(self, repo_id, *, private=None, repo_type=None, exist_ok=False):
        self._call("create_repo", repo_id=repo_id, private=private, repo_type=repo_type, exist_ok=exist_ok)
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id, *, branch, repo_type=None, exist_ok=False):
        self._call("create_branch", repo_id=repo_id, branch=branch, repo_type=repo_type, exist_ok=exist_ok)

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, revision=None,
                      commit_message=None, allow_patterns=None):
        # What the Hub would receive: the named files, read now.
        uploaded = {p: (Path(folder_path) / p).read_bytes() for p in allow_patterns}
        self._call("upload_folder", repo_id=repo_id, folder_path=folder_path, repo_type=repo_type,
                   revision=revision, commit_message=commit_message, files=uploaded)
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


@pytest.fixture
def exported(tmp_path) -> Path:
    """A small exported-model folder (the files `vlmr1 export` writes; weights are stand-ins)."""
    d = tmp_path / "exported"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    (d / "model.safetensors").write_bytes(b"\0" * 1234)
    (d / "tokenizer.json").write_text("{}")
    (d / "vlmr1.json").write_text("{}")
    info = card.CardInfo(name="exported", model_id="./exported", base_model=None, datasets=[],
                         family="qwen2_5_vl", task="rec", method="grpo", weights="full model",
                         dtype="float32", source="the final model of training run `r`")
    (d / "README.md").write_text(card.render(info))
    (d / ".cache").mkdir()
    (d / ".cache" / "upload.lock").write_text("x")  # hidden: never uploaded
    return d


@pytest.fixture
def fake_hub(monkeypatch):
    made: list[FakeHub] = []

    def factory(token):
        made.append(FakeHub(token))
        return made[-1]

    monkeypatch.setattr(hub, "make_client", factory)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return made


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    import huggingface_hub.constants as c

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setattr(c, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(c, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"), raising=False)


def test_dry_run_lists_files_without_client_or_token(exported, monkeypatch, no_token):
    monkeypatch.setattr(hub, "make_client", lambda token: pytest.fail("dry run built a Hub client"))
    before = (exported / "README.md").read_text()
    res = hub.push(exported, "org/name", dry_run=True)
    files = dict(res.plan.files)
    assert set(files) == {"README.md", "config.json", "model.safetensors", "tokenizer.json", "vlmr1.json"}
    assert files["model.safetensors"] == 1234 and res.plan.total_bytes == sum(files.values())
    assert res.dry_run and not res.token_found and res.plan.card_changed
    assert (exported / "README.md").read_text() == before  # nothing written


def test_push_calls_the_hub_as_expected(exported, fake_hub):
    res = hub.push(exported, "org/name", private=True, revision="v1", commit_message="first")
    [client] = fake_hub
    assert client.token == TOKEN
    names = [c[0] for c in client.calls]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    assert client.calls[0][1] == {"repo_id": "org/name", "private": True, "repo_type": "model", "exist_ok": True}
    assert client.calls[1][1]["branch"] == "v1"
    up = client.calls[2][1]
    assert up["revision"] == "v1" and up["commit_message"] == "first" and up["folder_path"] == os.fspath(exported)
    assert set(up["files"]) == {"README.md", "config.json", "model.safetensors", "tokenizer.json", "vlmr1.json"}
    readme = up["files"]["README.md"].decode()
    assert 'from_pretrained("org/name")' in readme and "./exported" not in readme
    from huggingface_hub import ModelCard

    assert ModelCard(readme).data.library_name == "transformers"
    assert res.commit_url.endswith("/commit/abc")


def test_push_defaults_public_main(exported, fake_hub):
    hub.push(exported, "org/name")
    [client] = fake_hub
    assert [c[0] for c in client.calls] == ["create_repo", "upload_folder"]
    assert client.calls[0][1]["private"] is None  # an existing repo keeps its visibility
    assert client.calls[1][1]["revision"] is None
    assert client.calls[1][1]["commit_message"] == hub.DEFAULT_COMMIT_MESSAGE


def test_missing_token_says_how_to_log_in(exported, no_token, monkeypatch):
    monkeypatch.setattr(hub, "make_client", lambda token: pytest.fail("client built without a token"))
    with pytest.raises(UserError, match=r"hf auth login.*HF_TOKEN"):
        hub.push(exported, "org/name")


def _http_error(status: int):
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    response = httpx2.Response(status, request=request)
    return HfHubHTTPError(f"{status} error for token {TOKEN}\nmore detail", response=response)


def _connect_error():
    import httpx2

    return httpx2.ConnectError(f"connection refused (token={TOKEN})")


@pytest.mark.parametrize("make_error, message", [
    (lambda: _http_error(401), "rejected the token"),
    (lambda: _http_error(403), "no write access to 'org/name'"),
    (lambda: _http_error(500), r"Hub error for 'org/name' \(HTTP 500\)"),
    (_connect_error, "cannot reach the Hugging Face Hub"),
    (lambda: TimeoutError("timed out"), "cannot reach the Hugging Face Hub"),
])
def test_hub_failures_are_one_line_without_the_token(exported, monkeypatch, make_error, message):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(hub, "make_client", lambda token: FakeHub(token, fail=make_error()))
    with pytest.raises(UserError, match=message) as exc:
        hub.push(exported, "org/name")
    text = str(exc.value)
    assert TOKEN not in text and "\n" not in text


@pytest.mark.parametrize("repo_id", ["name-only", "a/b/c", "org/bad name", "org/"])
def test_bad_repo_id(exported, repo_id):
    with pytest.raises(UserError, match="--repo-id"):
        hub.push(exported, repo_id, dry_run=True)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(UserError, match="not a model folder"):
        hub.push(tmp_path, "org/name", dry_run=True)
    with pytest.raises(UserError, match="not found"):
        hub.push(tmp_path / "missing", "org/name", dry_run=True)


def test_folder_without_card_is_noted(exported):
    (exported / "README.md").unlink()
    res = hub.push(exported, "org/name", dry_run=True)
    assert any("README.md" in n for n in res.plan.notes) and res.plan.card_text is None


def test_cli_push_never_prints_the_token(exported, fake_hub):
    from typer.testing import CliRunner

    from vlmr1_cli.cli.app import app

    for args in (["--dry-run"], []):
        result = CliRunner().invoke(app, ["push", "--model-dir", str(exported), "--repo-id", "org/name", *args])
        assert result.exit_code == 0, result.output
        assert TOKEN not in result.output
        assert "model.safetensors" in result.output
        assert ("Hub token: found" in result.output) == bool(args)  # said only in the dry run
    assert [c[0] for c in fake_hub[0].calls] == ["create_repo", "upload_folder"]


def test_cli_missing_token_is_one_line_exit_1(exported, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env["HF_HOME"] = str(tmp_path / "hf-home")
    proc = subprocess.run([sys.executable, "-m", "vlmr1_cli", "push", "--model-dir", str(exported),
                           "--repo-id", "org/name"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN"]
    dry = subprocess.run([sys.executable, "-m", "vlmr1_cli", "push", "--model-dir", str(exported),
                          "--repo-id", "org/name", "--dry-run"], capture_output=True, text=True, env=env, timeout=60)
    assert dry.returncode == 0 and "model.safetensors" in dry.stdout
    assert "Hub token: not found" in dry.stderr
