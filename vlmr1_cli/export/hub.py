"""`vlmr1 push`: upload an exported model folder to the Hugging Face Hub.

Goes through huggingface_hub (`create_repo`, `create_branch`, `create_commit`, `ModelCard`).
Exactly the planned files are sent, one `CommitOperationAdd` each, read from descriptors
opened without following any symlink (a link in the folder is refused in the plan), and the
commit's file list is then checked against the plan. File names are never patterns: a file
named `*` is that file alone. A file holding the Hub token in use is refused.
The token comes from the standard places (`HF_TOKEN`, `hf auth login`) and is never shown.
A dry run lists what would be uploaded and touches no network. Network and auth failures
become one `UserError` line. `make_client` is the seam for another client.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from vlmr1_cli.errors import UserError

DEFAULT_COMMIT_MESSAGE = "Upload model exported with vlmr1"
LOGIN_HINT = "run `hf auth login` or set HF_TOKEN"


@dataclass
class PushPlan:
    model_dir: Path
    repo_id: str
    files: list[tuple[str, int]]  # (path in repo, bytes): exactly what the commit sends
    card_text: str | None  # README.md as it will be uploaded (usage names the repo)
    card_changed: bool  # README.md's usage block gets the repo id
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


@dataclass
class PushResult:
    plan: PushPlan
    dry_run: bool
    token_found: bool
    repo_url: str | None = None
    commit_url: str | None = None


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import validate_repo_id

    if repo_id.count("/") != 1:
        raise UserError(f"--repo-id '{repo_id}': expected ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except ValueError as e:  # HFValidationError
        raise UserError(f"--repo-id '{repo_id}': {str(e).splitlines()[0]}") from None


NOT_A_FILE = "push uploads only regular files inside the folder"


def _upload_files(model_dir: Path) -> list[tuple[str, int]]:
    """Every regular file, hidden files and folders (.cache, .git, temp files) excepted.

    A symlink (to a file or a folder) or any other non-regular entry is refused, naming it: a
    link could send a file from anywhere on the machine.
    """
    files = []
    for top, dirs, names in os.walk(model_dir, followlinks=False):
        base = Path(top)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [*dirs, *sorted(n for n in names if not n.startswith("."))]:
            path = base / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise UserError(
                    f"{path}: a symbolic link; {NOT_A_FILE} (replace it with the "
                    "file itself, or move it out of the folder)"
                )
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UserError(f"{path}: not a regular file; {NOT_A_FILE}")
            files.append((path.relative_to(model_dir).as_posix(), st.st_size))
    return sorted(files)


def _open_planned(model_dir: Path, name: str) -> BinaryIO:
    """Open `model_dir/name` for reading without following a symlink at any step, so a link
    swapped in after planning cannot send a file from elsewhere."""
    parts = name.split("/")
    where = model_dir / name
    try:
        folder = os.open(model_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise UserError(f"{model_dir}: cannot open ({e.strerror})") from None
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        # O_NONBLOCK: a FIFO put there must not hang the push before fstat refuses it
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as e:
        raise UserError(
            f"{where}: cannot open it without following a link ({e.strerror}); {NOT_A_FILE}"
        ) from None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{where}: not a regular file; {NOT_A_FILE}")
    return os.fdopen(fd, "rb")


def _refuse_token(fh: BinaryIO, where: Path, token: str | None) -> None:
    """A file holding the token in use (a recipe, a pickled trainer config) stays home."""
    from vlmr1_cli.secrets import file_contains

    if token and file_contains(fh, token):
        raise UserError(
            f"{where}: holds the Hub token this push authenticates with; refusing to "
            "upload it (remove the token from the file, e.g. re-export the model)"
        )
    fh.seek(0)


def check_secrets(plan: PushPlan, token: str | None) -> None:
    """Read every planned file (links not followed) and refuse one holding `token`."""
    if not token:
        return
    for name, _ in plan.files:
        with _open_planned(plan.model_dir, name) as fh:
            _refuse_token(fh, plan.model_dir / name, token)


def plan_push(model_dir: str | Path, repo_id: str) -> PushPlan:
    """What a push would send; reads only the local folder."""
    from vlmr1_cli.export import card

    model_dir = Path(model_dir)
    check_repo_id(repo_id)
    if not model_dir.is_dir():
        raise UserError(f"--model-dir {model_dir}: folder not found")
    is_adapter = (model_dir / "adapter_config.json").is_file()
    if not is_adapter and not (model_dir / "config.json").is_file():
        raise UserError(
            f"--model-dir {model_dir}: not a model folder (no config.json or "
            "adapter_config.json); export it first with `vlmr1 export`"
        )
    files = _upload_files(model_dir)
    if not any(name.endswith(".safetensors") for name, _ in files):
        raise UserError(f"--model-dir {model_dir}: no .safetensors weights to upload")
    notes = []
    readme = model_dir / "README.md"
    card_text = None
    changed = False
    if readme.is_file():
        from huggingface_hub import ModelCard

        try:
            ModelCard.load(readme)  # validates the YAML header; a local path, so no network
        except ValueError as e:
            raise UserError(
                f"{readme}: invalid model card metadata: {str(e).splitlines()[0]}"
            ) from None
        original = readme.read_text(encoding="utf-8")
        card_text = card.with_model_id(
            original, repo_id, _adapter_base(model_dir) if is_adapter else None
        )
        changed = card_text != original
    else:
        notes.append(f"{model_dir} has no README.md model card (`vlmr1 export` writes one)")
    return PushPlan(model_dir, repo_id, files, card_text, changed, notes)


def _adapter_base(model_dir: Path) -> str | None:
    """What the usage snippet loads as the base: the Hub id from vlmr1.json when there is
    one, else adapter_config.json's base_model_name_or_path."""
    from vlmr1_cli.export import card
    from vlmr1_cli.models.loading import adapter_base, read_meta

    recorded = read_meta(model_dir).get("base_model")
    if isinstance(recorded, str) and card.looks_like_hub_id(recorded):
        return recorded
    return adapter_base(model_dir)


def find_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def make_client(token: str) -> Any:
    """The Hub client (an `HfApi`); tests replace this function with a local double."""
    from huggingface_hub import HfApi

    return HfApi(token=token, library_name="vlmr1")


def _scrub(text: str, token: str | None) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line.replace(token, "***") if token else line


def _hub_error(e: Exception, repo_id: str, token: str | None) -> UserError:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    if isinstance(e, OfflineModeIsEnabled):
        return UserError("cannot push: HF_HUB_OFFLINE is set (unset it to reach the Hub)")
    if isinstance(e, HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status == 401:
            return UserError(f"the Hub rejected the token (401 Unauthorized): {LOGIN_HINT}")
        if status == 403:
            return UserError(
                f"no write access to '{repo_id}' (403 Forbidden): check the token's "
                "permissions and the organisation name"
            )
        if isinstance(e, RepositoryNotFoundError) or status == 404:
            return UserError(f"repository '{repo_id}' not found or not accessible with this token")
        return UserError(f"Hub error for '{repo_id}' (HTTP {status}): {_scrub(str(e), token)}")
    return UserError(
        f"cannot reach the Hugging Face Hub ({type(e).__name__}: "
        f"{_scrub(str(e), token)}); check the network and try again"
    )


def _network_errors() -> tuple[type[Exception], ...]:
    from huggingface_hub.errors import HfHubHTTPError

    errors: list[type[Exception]] = [HfHubHTTPError, ConnectionError, TimeoutError]
    try:
        import httpx2  # huggingface_hub's HTTP client

        errors.append(httpx2.HTTPError)
    except ImportError:
        pass
    return tuple(errors)


def _write_card(readme: Path, text: str) -> None:
    from vlmr1_cli.io import atomic_open

    with atomic_open(readme) as fh:
        fh.write(text)


def _verify(client: Any, plan: PushPlan, ops: list, revision: str) -> None:
    """The commit holds every planned file with the size (and, for LFS files, the sha256)
    that was sent; files the repo holds beyond the plan (.gitattributes, files of earlier
    pushes) are noted, not removed."""
    from huggingface_hub.hf_api import RepoFile

    remote = {
        e.path: e
        for e in client.list_repo_tree(
            plan.repo_id, revision=revision, recursive=True, repo_type="model"
        )
        if isinstance(e, RepoFile)
    }
    problems = []
    for op in ops:
        entry = remote.get(op.path_in_repo)
        size = None if entry is None else (entry.lfs.size if entry.lfs else entry.size)
        if entry is None:
            problems.append(f"{op.path_in_repo} missing")
        elif size != op.upload_info.size:
            problems.append(f"{op.path_in_repo} has {size} bytes, {op.upload_info.size} sent")
        elif entry.lfs and entry.lfs.sha256 != op.upload_info.sha256.hex():
            problems.append(f"{op.path_in_repo} has other content (sha256)")
    if problems:
        raise UserError(
            f"the Hub's '{plan.repo_id}' at {revision[:12]} does not hold what was "
            f"sent: {'; '.join(problems)}"
        )
    extra = sorted(set(remote) - {op.path_in_repo for op in ops})
    note = f"verified: the Hub holds all {len(ops)} uploaded files at commit {revision[:12]}"
    if extra:
        note += f"; the repository also holds {', '.join(extra)} (not part of this upload)"
    plan.notes.append(note)


def push(
    model_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    dry_run: bool = False,
) -> PushResult:
    plan = plan_push(model_dir, repo_id)
    token = find_token()
    if dry_run:
        check_secrets(plan, token)
        return PushResult(plan, True, token is not None)
    if not token:
        raise UserError(f"not logged in to the Hugging Face Hub: {LOGIN_HINT}")
    if plan.card_changed and plan.card_text is not None:
        # The local README then matches what the Hub holds; one commit carries everything.
        _write_card(plan.model_dir / "README.md", plan.card_text)
        plan.files = _upload_files(plan.model_dir)
    from huggingface_hub import CommitOperationAdd

    handles: list[BinaryIO] = []
    try:
        ops = []
        for name, _ in plan.files:  # every file is opened and checked before the first request
            handles.append(_open_planned(plan.model_dir, name))
            _refuse_token(handles[-1], plan.model_dir / name, token)
            ops.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=handles[-1]))
        plan.files = [(op.path_in_repo, op.upload_info.size) for op in ops]  # sizes as sent
        client = make_client(token)
        try:
            repo_url = client.create_repo(
                repo_id, private=True if private else None, repo_type="model", exist_ok=True
            )
            if revision and revision != "main":
                client.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            commit = client.create_commit(
                repo_id,
                ops,
                repo_type="model",
                revision=revision,
                commit_message=commit_message or DEFAULT_COMMIT_MESSAGE,
            )
            _verify(client, plan, ops, commit.oid)
        except _network_errors() as e:
            raise _hub_error(e, repo_id, token) from None
    finally:
        for fh in handles:
            fh.close()
    return PushResult(
        plan, False, True, repo_url=str(repo_url), commit_url=getattr(commit, "commit_url", None)
    )
