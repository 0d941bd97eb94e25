"""Hub model ids (`ORG/NAME`): downloaded through huggingface_hub on first use, into the
standard Hugging Face cache, and reused from it afterwards.

Only what loading needs is fetched: config, safetensors weights, tokenizer, processor and chat
template files (never pickled `.bin`/`.pt` weights, never model code: `trust_remote_code` is
not this module's business). The token comes from where huggingface_hub looks (`HF_TOKEN`,
`hf auth login`) and never appears in a message. `HF_HUB_OFFLINE=1` is honoured: the cache is
then the only source. Every failure is one `UserError` line naming the id.
"""

from __future__ import annotations

import errno
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

# What a model folder needs to load: weights, configs, tokenizer, processor, chat template.
MODEL_FILE_PATTERNS = [
    "*.json",  # config, generation config, tokenizer/processor configs, safetensors index
    "*.safetensors",
    "*.jinja",  # chat templates
    "*.model",  # sentencepiece tokenizers
    "*.tiktoken",
    "merges.txt",
    "vocab.txt",
]
# Weights load from the top level only: copies in sub-folders (exports, other formats) are skipped.
MODEL_IGNORE_PATTERNS = ["*/*.safetensors"]
# ORG/NAME: one slash, the Hub's characters (letters, digits, - _ .), no "--" or "..".
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9_.][\w.-]*$")
# A snapshot folder of the standard cache, as a LoRA adapter trained from a Hub id records it.
_CACHE_SNAPSHOT = re.compile(r"models--([\w.-]+?)--([\w.-]+)/snapshots/([0-9a-f]{40})/?$")


def is_hub_id(name: str) -> bool:
    """`ORG/NAME` that is not an existing local path (a folder of that name wins)."""
    if not _HUB_ID.match(name) or "--" in name or ".." in name or name.endswith("."):
        return False
    return not Path(name).exists()


def hub_id_of_cache_path(path: str) -> tuple[str, str] | None:
    """(ORG/NAME, commit) of a snapshot folder in a Hugging Face cache, else None.

    An adapter trained on `ORG/NAME` names its base by the snapshot folder it was trained
    from; on another machine that folder is missing, and the id and commit fetch it again.
    """
    m = _CACHE_SNAPSHOT.search(Path(path).as_posix())
    return (f"{m.group(1)}/{m.group(2)}", m.group(3)) if m else None


@contextmanager
def _progress_bars():
    """The Hub's progress bars where vlmr1 shows its own: on a terminal, unless
    VLMR1_NO_PROGRESS=1 (workers, tests); logs and pipes stay free of bar fragments."""
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    from vlmr1_cli.progress import bars_enabled

    silence = not bars_enabled() and not are_progress_bars_disabled()
    if silence:
        disable_progress_bars()
    try:
        yield
    finally:
        if silence:
            enable_progress_bars()


def download_model(repo_id: str, revision: str | None = None) -> str:
    """The local folder of Hub model `repo_id` at `revision` (branch, tag or commit; default
    main): downloaded into the Hugging Face cache on first use, read from it afterwards."""
    from huggingface_hub import snapshot_download

    try:
        with _progress_bars():
            folder = snapshot_download(
                repo_id,
                revision=revision,
                allow_patterns=MODEL_FILE_PATTERNS,
                ignore_patterns=MODEL_IGNORE_PATTERNS,
            )
    except Exception as e:  # every huggingface_hub/httpx/OS failure becomes one line
        raise UserError(describe_failure(repo_id, revision, e)) from None
    if not any(Path(folder).glob("*.safetensors")):
        raise UserError(
            f"model '{_label(repo_id, revision)}': the Hub repo has no .safetensors "
            "weights (vlmr1 does not load pickled .bin/.pt weights)"
        )
    return folder


def _label(repo_id: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}" if revision else repo_id


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _status(error: BaseException) -> int | None:
    response: Any = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def describe_failure(repo_id: str, revision: str | None, error: BaseException) -> str:
    """One line naming the model and why it could not be had (never the token)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    head = f"model '{_label(repo_id, revision)}'"
    chain = _chain(error)
    for e in chain:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return f"{head}: disk full while downloading into {constants.HF_HUB_CACHE}"
    if isinstance(error, HFValidationError):
        return f"{head}: not a valid Hub model id (ORG/NAME)"
    if isinstance(error, GatedRepoError):
        if _status(error) == 403:
            return (
                f"{head}: gated on the Hub and this token has no access: request access on "
                f"its page ({constants.ENDPOINT}/{repo_id})"
            )
        return (
            f"{head}: gated on the Hub: accept its conditions on its page "
            f"({constants.ENDPOINT}/{repo_id}), then log in (`hf auth login`) or set HF_TOKEN"
        )
    if isinstance(error, RepositoryNotFoundError):
        return (
            f"{head}: no such local folder, and not found on the Hub (if it is private, "
            "log in with `hf auth login` or set HF_TOKEN)"
        )
    if isinstance(error, RevisionNotFoundError):
        return f"{head}: revision '{revision}' not found on the Hub"
    if isinstance(error, HfHubHTTPError) and _status(error) == 401:
        return f"{head}: the Hub refused the token (401): check HF_TOKEN or `hf auth login`"
    offline = constants.is_offline_mode() or any(isinstance(e, OfflineModeIsEnabled) for e in chain)
    if offline and isinstance(error, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        return f"{head}: not in the local cache and HF_HUB_OFFLINE=1"
    if isinstance(error, IncompleteSnapshotError):
        return (
            f"{head}: the cached copy is incomplete and the Hub at {constants.ENDPOINT} "
            "cannot be reached to finish it"
        )
    for e in chain:
        if isinstance(e, (httpx2.TransportError, ConnectionError, TimeoutError)):
            return (
                f"{head}: cannot reach the Hub at {constants.ENDPOINT} and it is not in the "
                f"local cache ({type(e).__name__})"
            )
    for e in chain:
        if isinstance(e, HfHubHTTPError) and _status(e):
            return f"{head}: the Hub answered HTTP {_status(e)}"
    if isinstance(error, LocalEntryNotFoundError):
        return (
            f"{head}: cannot reach the Hub at {constants.ENDPOINT} and it is not in the local cache"
        )
    if isinstance(error, PermissionError):
        return f"{head}: cannot write the Hugging Face cache ({constants.HF_HUB_CACHE}): permission denied"
    if isinstance(error, OSError):
        reason = error.strerror or str(error).splitlines()[0]
        return f"{head}: download failed: {reason}"
    raise error  # not a download failure: a bug, keep its traceback
