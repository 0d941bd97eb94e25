"""The local Hub double (tests/hub_double.py) works with the real huggingface_hub client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FILES = {
    "config.json": b'{"model_type": "tiny"}',
    "model.safetensors": b"\x00" * 64,
    "sub/tokenizer.json": b'{"version": "1.0"}',
    "README.md": b"# tiny\n",
}


def test_hf_hub_download_and_snapshot_allow_patterns(hub, tmp_path):
    from huggingface_hub import hf_hub_download, snapshot_download

    sha = hub.add_repo("org/tiny", FILES)
    path = hf_hub_download("org/tiny", "config.json")
    assert Path(path).read_bytes() == FILES["config.json"]
    assert f"snapshots/{sha}/" in Path(path).as_posix()
    assert str(tmp_path / "hf-home" / "hub") in path  # the test's private cache

    hub.clear_requests()
    folder = snapshot_download("org/tiny", allow_patterns=["*.json", "*.safetensors"])
    got = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())
    assert got == ["config.json", "model.safetensors", "sub/tokenizer.json"]
    assert (Path(folder) / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    # config.json was cached already: only the two new files were fetched
    assert sorted(hub.downloaded("org/tiny")) == ["model.safetensors", "sub/tokenizer.json"]
    assert not any(r.with_token for r in hub.requests)


def test_pinned_revision_and_tag(hub):
    from huggingface_hub import hf_hub_download, list_repo_refs

    first = hub.add_repo("org/tiny", {"config.json": b'{"v": 1}'})
    second = hub.add_commit("org/tiny", {"config.json": b'{"v": 2}'})
    hub.add_tag("org/tiny", "v1", revision=first)
    assert first != second
    assert json.loads(Path(hf_hub_download("org/tiny", "config.json")).read_text())["v"] == 2
    pinned = hf_hub_download("org/tiny", "config.json", revision=first)
    assert json.loads(Path(pinned).read_text())["v"] == 1
    tagged = hf_hub_download("org/tiny", "config.json", revision="v1")
    assert json.loads(Path(tagged).read_text())["v"] == 1
    refs = list_repo_refs("org/tiny")
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", second)]
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", first)]


def test_errors_are_the_clients_own(hub, monkeypatch):
    from huggingface_hub import hf_hub_download, model_info, snapshot_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    hub.add_repo("org/tiny", FILES)
    hub.add_repo("org/gated", FILES, gated=True)
    hub.add_repo("org/private", FILES, private=True)

    with pytest.raises(RepositoryNotFoundError) as missing:
        snapshot_download("org/missing")
    assert missing.value.response.status_code == 401  # no token: 401, as the Hub answers
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/private", "config.json")
    with pytest.raises(GatedRepoError) as gated:
        hf_hub_download("org/gated", "config.json")
    assert gated.value.response.status_code == 401
    assert model_info("org/gated").gated == "auto"  # the repo page stays public
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("org/tiny", "config.json", revision="nope")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/tiny", "nope.json")

    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert Path(hf_hub_download("org/gated", "config.json")).read_bytes() == FILES["config.json"]
    assert Path(hf_hub_download("org/private", "config.json")).is_file()
    with pytest.raises(RepositoryNotFoundError) as missing:
        snapshot_download("org/missing")
    assert missing.value.response.status_code == 404  # with a token: 404
    assert any(r.with_token for r in hub.requests)
    assert all(hub.token not in repr(r) for r in hub.requests)  # the log never holds the token

    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(Exception, match="Invalid credentials"):
        model_info("org/tiny")


def test_upload_folder_then_list_and_download(hub, tmp_path, monkeypatch):
    from huggingface_hub import HfApi, hf_hub_download, list_repo_files

    api = HfApi(token=hub.token)
    with pytest.raises(Exception, match="401"):
        HfApi(token=False).create_repo("org/new")
    url = api.create_repo("org/new", private=True)
    assert url.repo_id == "org/new"
    folder = tmp_path / "upload"
    (folder / "nested").mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "nested" / "weights.safetensors").write_bytes(b"w" * 100)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# new\n")
    info = api.upload_folder(repo_id="org/new", folder_path=folder, commit_message="add files")
    assert info.oid == hub.head("org/new")
    assert hub.files("org/new")["nested/weights.safetensors"] == b"w" * 100
    assert sorted(api.list_repo_files("org/new")) == [
        ".gitattributes",
        "README.md",
        "config.json",
        "nested/weights.safetensors",
    ]
    with pytest.raises(Exception, match="Repository Not Found"):
        list_repo_files("org/new")  # private: nothing without the token

    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert Path(hf_hub_download("org/new", "nested/weights.safetensors")).read_bytes() == b"w" * 100
    api.create_branch("org/new", branch="dev")
    api.upload_file(
        path_or_fileobj=b'{"a": 2}', path_in_repo="config.json", repo_id="org/new", revision="dev"
    )
    assert hub.files("org/new", revision="dev")["config.json"] == b'{"a": 2}'
    assert hub.files("org/new")["config.json"] == b'{"a": 1}'
    assert api.whoami()["name"]


def test_dataset_repo_download(hub):
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    hub.add_repo(
        "org/data", {"data/train.jsonl": b'{"x": 1}\n', "README.md": b"# d\n"}, repo_type="dataset"
    )
    path = hf_hub_download("org/data", "data/train.jsonl", repo_type="dataset")
    assert Path(path).read_bytes() == b'{"x": 1}\n'
    folder = snapshot_download("org/data", repo_type="dataset", allow_patterns=["data/*"])
    assert (Path(folder) / "data" / "train.jsonl").is_file()
    assert not (Path(folder) / "README.md").exists()
    assert hub.downloaded("org/data", repo_type="dataset") == ["data/train.jsonl"]
    paths = [e.path for e in HfApi().list_repo_tree("org/data", repo_type="dataset")]
    assert sorted(paths) == ["README.md", "data"]


def test_stopped_double_refuses_connections(hub):
    import httpx2
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    hub.add_repo("org/tiny", FILES)
    cached = hf_hub_download("org/tiny", "config.json")
    hub.stop()
    assert hf_hub_download("org/tiny", "config.json") == cached  # from the cache
    with pytest.raises(LocalEntryNotFoundError) as error:
        snapshot_download("org/other")
    assert isinstance(error.value.__cause__, httpx2.ConnectError)
