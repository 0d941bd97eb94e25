"""A local HTTP test double of the Hugging Face Hub, for tests that must never reach the internet.

It is a real HTTP server (stdlib `ThreadingHTTPServer` on 127.0.0.1, a free port, a daemon
thread) speaking the routes that `huggingface_hub` 2.4 uses, with the headers and JSON fields
that client reads (see its `hf_api.py`, `file_download.py`, `_snapshot_download.py`,
`_commit_api.py` and `utils/_http.py`):

- repo info ``GET /api/{models|datasets|spaces}/{repo}[/revision/{rev}]``, tree listing
  ``GET /api/.../tree/{rev}[/{path}]`` (``recursive``, ``expand``), ``POST .../paths-info/{rev}``,
  ``GET .../refs``, ``GET .../commits/{rev}``;
- file download ``HEAD``/``GET /[datasets/|spaces/]{repo}/resolve/{rev}/{path}`` (``X-Repo-Commit``,
  ``ETag``, ``Content-Length``, ``X-Linked-Etag``/``X-Linked-Size`` for LFS files, ``Range``);
  no Xet headers, so the client's plain HTTP path is used;
- uploads: ``POST /api/repos/create``, ``POST /api/repos/delete``... (``DELETE``),
  ``POST .../preupload/{rev}`` (every file "regular", so contents come inline),
  ``POST .../commit/{rev}`` (ndjson ``header``/``file``/``deletedFile``/``deletedFolder``),
  ``POST .../branch/{name}``, ``POST .../tag/{rev}``, ``GET /api/whoami-v2``,
  ``POST /api/validate-yaml``;
- errors as the Hub sends them (status plus ``X-Error-Code``/``X-Error-Message``), so the client
  raises its own `RepositoryNotFoundError` (401 without a token, 404 with one),
  `GatedRepoError` (401 on a gated repo's files without a valid token), `RevisionNotFoundError`
  and `EntryNotFoundError`; an invalid token is a 401 on every route.

Every request is logged (method, path, query, whether a token was sent, status; never the
token itself) so tests can assert what was asked for.

Usage::

    with HubDouble() as hub:
        sha = hub.add_repo("org/tiny", {"config.json": b"{}"})
        ...  # point the clients at hub.url (see `use_hub_double`, or the `hub` fixture)
        assert hub.downloaded("org/tiny") == ["config.json"]
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REPO_TYPES = ("model", "dataset", "space")
DEFAULT_TOKEN = "hf_double_0123456789abcdefghijklmnopqrstuv"
USER_NAME = "double-user"
# The Hub stores these with git LFS (its default .gitattributes), and any file over 10 MB.
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".onnx",
    ".msgpack",
    ".parquet",
    ".arrow",
    ".npy",
    ".npz",
    ".zip",
    ".gz",
    ".tar",
    ".pkl",
    ".pickle",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
_GITATTRIBUTES = b"".join(
    f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES
)


@dataclass(frozen=True)
class HubRequest:
    """One request the double answered. The token's value is never kept, only whether one came."""

    method: str
    path: str  # unquoted, without the query string
    query: dict[str, list[str]]
    with_token: bool
    status: int
    # for file downloads (/resolve/): (repo_type, repo_id, revision, file path), else None
    resolve: tuple[str, str, str, str] | None = None


@dataclass
class _Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, bytes]


@dataclass
class _Repo:
    repo_id: str
    repo_type: str
    private: bool = False
    gated: bool = False
    created_at: str = ""
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """A branch, a tag or a full commit sha -> the commit sha (None if unknown)."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        for prefix in ("refs/heads/", "refs/tags/"):
            if revision.startswith(prefix):
                return self.resolve(revision[len(prefix) :])
        return revision if revision in self.commits else None


class HubError(Exception):
    """An HTTP error answered the way the Hub answers it."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}
        self.body = body or {}  # extra JSON fields the Hub sends with this error


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _is_lfs(path: str, content: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or len(content) >= LFS_MIN_SIZE


def _lfs_pointer(content: bytes) -> bytes:
    digest = hashlib.sha256(content).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {len(content)}\n"
    ).encode()


def _file_entry(path: str, content: bytes) -> dict[str, Any]:
    """A file as the tree and paths-info routes describe it."""
    entry: dict[str, Any] = {"type": "file", "path": path, "size": len(content)}
    if _is_lfs(path, content):
        pointer = _lfs_pointer(content)
        entry["oid"] = _git_blob_sha1(pointer)
        entry["lfs"] = {
            "oid": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "pointerSize": len(pointer),
        }
    else:
        entry["oid"] = _git_blob_sha1(content)
    return entry


def _etag(path: str, content: bytes) -> str:
    # the Hub's ETag: the sha256 for LFS files, the git blob sha1 otherwise
    return (
        hashlib.sha256(content).hexdigest() if _is_lfs(path, content) else _git_blob_sha1(content)
    )


def _url_prefix(repo_type: str) -> str:
    return "" if repo_type == "model" else f"{repo_type}s/"


class HubDouble:
    """A fake Hugging Face Hub on 127.0.0.1. Start it with `start()` or `with HubDouble() as hub:`.

    `token` is the one valid token (sent as ``Authorization: Bearer <token>``). With
    `require_token=True` every repo behaves as private: nothing is served without the token.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, require_token: bool = False):
        self.token = token
        self.require_token = require_token
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._requests: list[HubRequest] = []
        self._lock = threading.RLock()
        self._counter = itertools.count()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> HubDouble:
        handler = type("HubDoubleHandler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        # a short poll interval: `stop()` waits for the serving loop to notice
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="hub-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: later connections are refused, as when the Hub is unreachable."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> HubDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ---------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes] | None = None,
        *,
        repo_type: str = "model",
        gated: bool = False,
        private: bool = False,
        message: str = "initial commit",
    ) -> str:
        """Create a repo whose `main` branch holds `files` in one commit; returns its sha."""
        if repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {REPO_TYPES}")
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise ValueError(f"{repo_type} repo {repo_id} already exists")
            self._repos[(repo_type, repo_id)] = _Repo(
                repo_id, repo_type, private=private, gated=gated, created_at=_now()
            )
            return self._commit(
                self._repos[(repo_type, repo_id)], "main", dict(files or {}), message
            )

    def add_folder(self, repo_id: str, folder: str | Path, **kwargs: Any) -> str:
        """`add_repo` with every file under `folder` (paths relative to it)."""
        root = Path(folder)
        files = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        return self.add_repo(repo_id, files, **kwargs)

    def add_commit(
        self,
        repo_id: str,
        files: dict[str, bytes] | None = None,
        *,
        delete: tuple[str, ...] | list[str] = (),
        repo_type: str = "model",
        branch: str = "main",
        message: str = "update",
    ) -> str:
        """A new commit on `branch`: its current files, plus `files`, minus `delete`."""
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            if branch not in repo.branches:
                raise ValueError(f"{repo_id}: no branch {branch}")
            tree = dict(repo.commits[repo.branches[branch]].files)
            for path in delete:
                tree.pop(path, None)
            tree.update(files or {})
            return self._commit(repo, branch, tree, message)

    def add_tag(
        self, repo_id: str, tag: str, revision: str = "main", repo_type: str = "model"
    ) -> str:
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            sha = repo.resolve(revision)
            if sha is None:
                raise ValueError(f"{repo_id}: unknown revision {revision}")
            repo.tags[tag] = sha
            return sha

    def add_branch(
        self, repo_id: str, branch: str, revision: str = "main", repo_type: str = "model"
    ) -> str:
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            sha = repo.resolve(revision)
            if sha is None:
                raise ValueError(f"{repo_id}: unknown revision {revision}")
            repo.branches[branch] = sha
            return sha

    def files(
        self, repo_id: str, repo_type: str = "model", revision: str = "main"
    ) -> dict[str, bytes]:
        """What the "Hub" holds now for that repo at that revision."""
        with self._lock:
            repo = self._repo_or_raise(repo_id, repo_type)
            sha = repo.resolve(revision)
            if sha is None:
                raise KeyError(f"{repo_id}: unknown revision {revision}")
            return dict(repo.commits[sha].files)

    def head(self, repo_id: str, repo_type: str = "model", branch: str = "main") -> str:
        with self._lock:
            return self._repo_or_raise(repo_id, repo_type).branches[branch]

    def has_repo(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[HubRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def downloaded(self, repo_id: str | None = None, repo_type: str = "model") -> list[str]:
        """Paths of the files whose content was served (GET on /resolve/), in order."""
        out = []
        for req in self.requests:
            if req.method != "GET" or req.status not in (200, 206):
                continue
            if req.resolve is None:
                continue
            rtype, rid, _rev, path = req.resolve
            if rtype == repo_type and (repo_id is None or rid == repo_id):
                out.append(path)
        return out

    # -- internals -------------------------------------------------------------------------

    def _repo_or_raise(self, repo_id: str, repo_type: str) -> _Repo:
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise KeyError(f"no {repo_type} repo {repo_id}")
        return repo

    def _commit(
        self, repo: _Repo, branch: str, files: dict[str, bytes], message: str, description: str = ""
    ) -> str:
        parent = repo.branches.get(branch)
        digest = hashlib.sha1()
        digest.update(
            json.dumps(
                [repo.repo_type, repo.repo_id, parent, message, next(self._counter)]
            ).encode()
        )
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
        sha = digest.hexdigest()
        repo.commits[sha] = _Commit(sha, parent, message, description, _now(), dict(files))
        repo.branches[branch] = sha
        return sha

    def _log(self, request: HubRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _parse_resolve(raw_path: str) -> tuple[str, str, str, str] | None:
    """``/[datasets/]{repo}/resolve/{rev}/{file}`` (still URL-quoted: the client quotes the
    revision with safe="", "refs%2Fpr%2F1") -> (repo_type, repo_id, revision, file), unquoted."""
    head, sep, tail = raw_path.lstrip("/").partition("/resolve/")
    if not sep or "/" not in tail or head.startswith("api/"):
        return None
    repo_type = "model"
    for rtype in ("dataset", "space"):
        if head.startswith(f"{rtype}s/"):
            repo_type, head = rtype, head[len(rtype) + 2 :]
    revision, _, file = tail.partition("/")
    return repo_type, unquote(head), unquote(revision), unquote(file)


class _Handler(BaseHTTPRequestHandler):
    hub: HubDouble  # set on the subclass made by HubDouble.start
    protocol_version = "HTTP/1.0"  # one request per connection: a stopped double refuses at once
    server_version = "HubDouble/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read hub.requests instead

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # -- plumbing --------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        self.route_path = unquote(split.path)
        self.raw_path = split.path
        self.query = parse_qs(split.query)
        auth = self.headers.get("Authorization", "")
        self.sent_token = auth.startswith("Bearer ") and bool(auth[len("Bearer ") :].strip())
        self.authed = self.sent_token and auth[len("Bearer ") :].strip() == self.hub.token
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        status = 500
        try:
            if self.sent_token and not self.authed:
                raise HubError(401, "Invalid credentials in Authorization header")
            status = _route(self, method)
        except HubError as e:
            status = self._send_error(e)
        except Exception as e:  # a bug in the double: answer, and keep serving
            status = self._send_error(HubError(500, f"hub double: {type(e).__name__}: {e}"))
        self.hub._log(
            HubRequest(
                method,
                self.route_path,
                self.query,
                self.sent_token,
                status,
                _parse_resolve(self.raw_path),
            )
        )

    def send_json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> int:
        body = json.dumps(data).encode()
        return self.send_bytes(
            body, status, {"Content-Type": "application/json", **(headers or {})}
        )

    def send_bytes(
        self, body: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> int:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _send_error(self, error: HubError) -> int:
        headers = {"X-Error-Message": error.message, **error.headers}
        if error.code:
            headers["X-Error-Code"] = error.code
        return self.send_json({"error": error.message, **error.body}, error.status, headers)

    def json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise HubError(400, "invalid JSON body") from None


# -- routes --------------------------------------------------------------------------------


def _route(h: _Handler, method: str) -> int:
    if h.raw_path.startswith("/api/"):
        # split before unquoting: the client quotes revisions and sub-paths with safe=""
        segments = [unquote(part) for part in h.raw_path[len("/api/") :].split("/")]
        return _route_api(h, method, segments)
    resolved = _parse_resolve(h.raw_path)
    if resolved is not None and method in ("GET", "HEAD"):
        return _resolve_file(h, *resolved)
    raise HubError(404, "Not Found")


def _route_api(h: _Handler, method: str, segments: list[str]) -> int:
    hub = h.hub
    rest = "/".join(segments)
    if rest == "whoami-v2" and method == "GET":
        if not h.authed:
            raise HubError(401, "Invalid username or password.")
        return h.send_json(
            {
                "type": "user",
                "id": "double",
                "name": USER_NAME,
                "fullname": "Hub Double",
                "email": None,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "double", "role": "write"},
                },
            }
        )
    if rest == "validate-yaml" and method == "POST":
        return h.send_json({"errors": [], "warnings": []})
    if rest == "repos/create" and method == "POST":
        return _create_repo(h)
    if rest == "repos/delete" and method == "DELETE":
        return _delete_repo(h)
    for repo_type in REPO_TYPES:
        if segments[0] == f"{repo_type}s" and len(segments) > 1:
            repo_id, tail = _split_repo(hub, repo_type, segments[1:])
            return _route_repo(h, method, repo_type, repo_id, tail)
    raise HubError(404, "Not Found")


def _split_repo(hub: HubDouble, repo_type: str, parts: list[str]) -> tuple[str, list[str]]:
    """[org, name, tree, main] -> ("org/name", [tree, main]); known one-part ids too."""
    with hub._lock:
        for n in (2, 1):
            if (repo_type, "/".join(parts[:n])) in hub._repos:
                return "/".join(parts[:n]), parts[n:]
    return "/".join(parts[:2]), parts[2:]


def _readable_repo(h: _Handler, repo_type: str, repo_id: str) -> _Repo:
    """The repo, or the Hub's answer for a missing/private one (401 without a token, 404 with)."""
    hub = h.hub
    with hub._lock:
        repo = hub._repos.get((repo_type, repo_id))
    hidden = repo is None or ((repo.private or hub.require_token) and not h.authed)
    if hidden:
        raise HubError(404 if h.authed else 401, "Repository not found", "RepoNotFound")
    return repo  # type: ignore[return-value]


def _writable_repo(h: _Handler, repo_type: str, repo_id: str) -> _Repo:
    repo = _readable_repo(h, repo_type, repo_id)
    if not h.authed:
        raise HubError(401, "Repository not found", "RepoNotFound")
    return repo


def _commit_for(repo: _Repo, revision: str) -> _Commit:
    sha = repo.resolve(revision)
    if sha is None:
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    return repo.commits[sha]


def _route_repo(h: _Handler, method: str, repo_type: str, repo_id: str, tail: list[str]) -> int:
    verb = tail[0] if tail else ""
    arg = tail[1] if len(tail) > 1 else ""  # a revision, a branch name
    if method == "GET" and verb in ("", "revision"):
        return _repo_info(h, repo_type, repo_id, arg or "main")
    if method == "GET" and verb == "tree":
        return _tree(h, repo_type, repo_id, arg or "main", "/".join(tail[2:]).strip("/"))
    if method == "POST" and verb == "paths-info":
        return _paths_info(h, repo_type, repo_id, arg)
    if method == "GET" and verb == "refs":
        return _refs(h, repo_type, repo_id)
    if method == "GET" and verb == "commits":
        return _commits(h, repo_type, repo_id, arg or "main")
    if method == "POST" and verb == "preupload":
        return _preupload(h, repo_type, repo_id, arg)
    if method == "POST" and verb == "commit":
        return _create_commit(h, repo_type, repo_id, arg)
    if method == "POST" and verb == "branch":
        return _create_branch(h, repo_type, repo_id, arg)
    if method == "POST" and verb == "tag":
        return _create_tag(h, repo_type, repo_id, arg)
    raise HubError(404, "Not Found")


def _repo_info(h: _Handler, repo_type: str, repo_id: str, revision: str) -> int:
    repo = _readable_repo(h, repo_type, repo_id)
    with h.hub._lock:
        commit = _commit_for(repo, revision)
    with_blobs = h.query.get("blobs", [""])[0].lower() in ("1", "true")
    siblings = []
    for path, content in sorted(commit.files.items()):
        sibling: dict[str, Any] = {"rfilename": path}
        if with_blobs:
            entry = _file_entry(path, content)
            sibling.update(size=entry["size"], blobId=entry["oid"])
            if "lfs" in entry:
                sibling["lfs"] = {
                    "size": entry["lfs"]["size"],
                    "sha256": entry["lfs"]["oid"],
                    "pointerSize": entry["lfs"]["pointerSize"],
                }
        siblings.append(sibling)
    author = repo_id.split("/")[0] if "/" in repo_id else None
    info = {
        "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
        "id": repo_id,
        "author": author,
        "sha": commit.sha,
        "lastModified": commit.date,
        "createdAt": repo.created_at,
        "private": repo.private,
        "gated": "auto" if repo.gated else False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }
    if repo_type == "model":
        info["modelId"] = repo_id
    return h.send_json(info)


def _folder_entries(files: dict[str, bytes], sub: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{sub}/" if sub else ""
    folders: set[str] = set()
    entries: list[dict[str, Any]] = []
    for path in sorted(files):
        if not path.startswith(prefix):
            continue
        rel_parts = path[len(prefix) :].split("/")
        for depth in range(1, len(rel_parts)):
            if depth > 1 and not recursive:
                break
            folders.add(prefix + "/".join(rel_parts[:depth]))
        if recursive or len(rel_parts) == 1:
            entries.append(_file_entry(path, files[path]))
    for folder in sorted(folders):
        entries.append(_folder_entry(folder, files))
    return entries


def _folder_entry(folder: str, files: dict[str, bytes]) -> dict[str, Any]:
    inside = sorted(p for p in files if p.startswith(folder + "/"))
    oid = hashlib.sha1("\n".join(f"{p}:{_git_blob_sha1(files[p])}" for p in inside).encode())
    return {"type": "directory", "path": folder, "oid": oid.hexdigest(), "size": 0}


def _last_commit(repo: _Repo, head: _Commit, path: str) -> dict[str, str]:
    """The newest commit (from `head` back) that changed `path`."""
    commit = head
    content = head.files.get(path)
    while commit.parent is not None:
        parent = repo.commits[commit.parent]
        if parent.files.get(path) != content:
            break
        commit = parent
    return {"id": commit.sha, "title": commit.title, "date": commit.date}


def _with_expand(repo: _Repo, head: _Commit, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        entry["lastCommit"] = _last_commit(repo, head, entry["path"])
        if entry["type"] == "file":
            entry["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"virusFound": False},
                "pickleImportScan": None,
            }


def _tree(h: _Handler, repo_type: str, repo_id: str, revision: str, sub: str) -> int:
    repo = _readable_repo(h, repo_type, repo_id)
    with h.hub._lock:
        commit = _commit_for(repo, revision)
    recursive = h.query.get("recursive", [""])[0].lower() in ("1", "true")
    if sub and sub not in commit.files and not any(p.startswith(sub + "/") for p in commit.files):
        raise HubError(404, f'{sub} does not exist on "{revision}"', "EntryNotFound")
    if sub in commit.files:
        entries = [_file_entry(sub, commit.files[sub])]
    else:
        entries = _folder_entries(commit.files, sub, recursive)
    if h.query.get("expand", [""])[0].lower() in ("1", "true"):
        _with_expand(repo, commit, entries)
    return h.send_json(entries)


def _paths_info(h: _Handler, repo_type: str, repo_id: str, revision: str) -> int:
    repo = _readable_repo(h, repo_type, repo_id)
    with h.hub._lock:
        commit = _commit_for(repo, revision)
    content_type = h.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        body = h.json_body()
        paths, expand = body.get("paths", []), bool(body.get("expand"))
    else:
        form = parse_qs(h.body.decode())
        paths = form.get("paths", [])
        expand = form.get("expand", ["False"])[0].lower() in ("1", "true")
    entries = []
    for path in paths:
        path = path.strip("/")
        if path in commit.files:
            entries.append(_file_entry(path, commit.files[path]))
        elif any(p.startswith(path + "/") for p in commit.files):
            entries.append(_folder_entry(path, commit.files))
    if expand:
        _with_expand(repo, commit, entries)
    return h.send_json(entries)


def _refs(h: _Handler, repo_type: str, repo_id: str) -> int:
    repo = _readable_repo(h, repo_type, repo_id)
    with h.hub._lock:
        branches = [
            {"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
            for n, s in sorted(repo.branches.items())
        ]
        tags = [
            {"name": n, "ref": f"refs/tags/{n}", "targetCommit": s}
            for n, s in sorted(repo.tags.items())
        ]
    return h.send_json({"branches": branches, "converts": [], "tags": tags, "pullRequests": []})


def _commits(h: _Handler, repo_type: str, repo_id: str, revision: str) -> int:
    repo = _readable_repo(h, repo_type, repo_id)
    out = []
    with h.hub._lock:
        commit: _Commit | None = _commit_for(repo, revision)
        while commit is not None:
            out.append(
                {
                    "id": commit.sha,
                    "title": commit.title,
                    "message": commit.message,
                    "authors": [{"user": USER_NAME}],
                    "date": commit.date,
                }
            )
            commit = repo.commits[commit.parent] if commit.parent else None
    return h.send_json(out)


def _resolve_file(h: _Handler, repo_type: str, repo_id: str, revision: str, path: str) -> int:
    repo = _readable_repo(h, repo_type, repo_id)
    with h.hub._lock:
        commit = _commit_for(repo, revision)
    if repo.gated and not h.authed:
        raise HubError(
            401,
            f"Access to {repo_type} {repo_id} is restricted. You must have access "
            "to it and be authenticated to access it. Please log in.",
            "GatedRepo",
        )
    if path not in commit.files:
        raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
    content = commit.files[path]
    etag = _etag(path, content)
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Repo-Commit": commit.sha,
        "ETag": f'"{etag}"',
        "Accept-Ranges": "bytes",
    }
    if _is_lfs(path, content):
        headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(content))})
    status = 200
    byte_range = h.headers.get("Range")
    if byte_range and h.command == "GET":
        start_text, _, end_text = byte_range.removeprefix("bytes=").partition("-")
        start = int(start_text or 0)
        end = int(end_text) if end_text else len(content) - 1
        if start >= len(content) and content:
            raise HubError(416, "Requested range not satisfiable")
        headers["Content-Range"] = f"bytes {start}-{min(end, len(content) - 1)}/{len(content)}"
        content, status = content[start : end + 1], 206
    return h.send_bytes(content, status, headers)


# -- writes --------------------------------------------------------------------------------


def _create_repo(h: _Handler) -> int:
    if not h.authed:
        raise HubError(401, "Invalid username or password.")
    body = h.json_body()
    name, organization = body.get("name"), body.get("organization")
    repo_type = body.get("type") or "model"
    if not name or repo_type not in REPO_TYPES:
        raise HubError(400, "invalid repo name or type")
    repo_id = f"{organization}/{name}" if organization else f"{USER_NAME}/{name}"
    url = f"{h.hub.url}/{_url_prefix(repo_type)}{repo_id}"
    with h.hub._lock:
        if (repo_type, repo_id) in h.hub._repos:
            # the Hub names the existing repo's url, which create_repo(exist_ok=True) returns
            raise HubError(
                409,
                f"You already created this {repo_type} repo",
                None,
                {"X-Error-Url": url},
                {"url": url},
            )
        repo = _Repo(
            repo_id,
            repo_type,
            private=body.get("visibility") == "private" or bool(body.get("private")),
            created_at=_now(),
        )
        h.hub._repos[(repo_type, repo_id)] = repo
        h.hub._commit(repo, "main", {".gitattributes": _GITATTRIBUTES}, "initial commit")
    return h.send_json(
        {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]}
    )


def _delete_repo(h: _Handler) -> int:
    if not h.authed:
        raise HubError(401, "Invalid username or password.")
    body = h.json_body()
    name, organization = body.get("name"), body.get("organization")
    repo_id = f"{organization}/{name}" if organization else f"{USER_NAME}/{name}"
    repo_type = body.get("type") or "model"
    with h.hub._lock:
        if h.hub._repos.pop((repo_type, repo_id), None) is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
    return h.send_json({})


def _reject_pull_requests(h: _Handler) -> None:
    if h.query.get("create_pr"):
        raise HubError(400, "the Hub double does not support pull requests (create_pr)")


def _preupload(h: _Handler, repo_type: str, repo_id: str, revision: str) -> int:
    repo = _writable_repo(h, repo_type, repo_id)
    _reject_pull_requests(h)
    with h.hub._lock:
        commit = _commit_for(repo, revision)
    files = []
    for item in h.json_body().get("files", []):
        existing = commit.files.get(item["path"])
        # "regular" for every file: contents then come inline in the commit call, no LFS upload
        files.append(
            {
                "path": item["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": _git_blob_sha1(existing) if existing is not None else None,
            }
        )
    return h.send_json({"files": files, "commitOid": commit.sha})


def _create_commit(h: _Handler, repo_type: str, repo_id: str, branch: str) -> int:
    repo = _writable_repo(h, repo_type, repo_id)
    _reject_pull_requests(h)
    lines = [json.loads(line) for line in h.body.splitlines() if line.strip()]
    header = next((line["value"] for line in lines if line.get("key") == "header"), {})
    with h.hub._lock:
        head = _commit_for(repo, branch)
        if branch not in repo.branches:
            raise HubError(400, f"Invalid rev id: {branch} is not a branch")
        parent = header.get("parentCommit")
        if parent and parent != head.sha:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        tree = dict(head.files)
        for line in lines:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"unsupported encoding {value.get('encoding')}")
                tree[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if value["path"] not in tree:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del tree[value["path"]]
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                tree = {p: c for p, c in tree.items() if not p.startswith(folder)}
            elif key in ("lfsFile", "deletedEntry"):
                raise HubError(
                    400, f"the Hub double takes no {key} operations (all uploads are regular)"
                )
        sha = h.hub._commit(
            repo, branch, tree, header.get("summary", ""), header.get("description", "")
        )
    url = f"{h.hub.url}/{_url_prefix(repo_type)}{repo_id}/commit/{sha}"
    return h.send_json(
        {"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None}
    )


def _create_branch(h: _Handler, repo_type: str, repo_id: str, branch: str) -> int:
    repo = _writable_repo(h, repo_type, repo_id)
    body = h.json_body()
    with h.hub._lock:
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        if branch.startswith("refs/"):
            raise HubError(400, f"Invalid reference for a branch: {branch}")
        start = _commit_for(repo, body.get("startingPoint") or "main")
        repo.branches[branch] = start.sha
    return h.send_json({})


def _create_tag(h: _Handler, repo_type: str, repo_id: str, revision: str) -> int:
    repo = _writable_repo(h, repo_type, repo_id)
    tag = h.json_body().get("tag")
    if not tag:
        raise HubError(400, "missing tag name")
    with h.hub._lock:
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = _commit_for(repo, revision).sha
    return h.send_json({})


# -- pointing the clients at a double ------------------------------------------------------


def use_hub_double(monkeypatch: Any, url: str, hf_home: str | Path) -> None:
    """Point `huggingface_hub` (and `datasets`, if imported) at `url`, online, with a private
    cache under `hf_home`, for this process and its subprocesses. `monkeypatch` undoes it all.

    The clients read most settings once, at import: environment variables alone reach only
    subprocesses and not-yet-imported modules, so the module values are patched too.
    """
    import sys

    import huggingface_hub
    from huggingface_hub import constants

    hf_home = Path(hf_home)
    hub_cache = hf_home / "hub"
    hf_home.mkdir(parents=True, exist_ok=True)
    env = {
        "HF_ENDPOINT": url,
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hub_cache),
        "HF_DATASETS_CACHE": str(hf_home / "datasets"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HUGGINGFACE_HUB_CACHE",
        "TRANSFORMERS_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "HF_XET_CACHE",
    ):
        monkeypatch.delenv(key, raising=False)

    consts = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hub_cache),
        "HUGGINGFACE_HUB_CACHE": str(hub_cache),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
        "HF_URL_HOSTS": frozenset(constants.HF_URL_HOSTS | {"127.0.0.1"}),
    }
    for name, value in consts.items():
        monkeypatch.setattr(constants, name, value)
    # the module-level HfApi behind `huggingface_hub.list_repo_files` & co. kept the old endpoint
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", url)
    from huggingface_hub import HfFileSystem

    HfFileSystem.clear_instance_cache()  # its instances (and listings) outlive a test

    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        for name, value in {
            "HF_ENDPOINT": url,
            "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_CACHE_HOME": str(hf_home),
            "HF_DATASETS_CACHE": hf_home / "datasets",
            "HF_MODULES_CACHE": hf_home / "modules",
            "DOWNLOADED_DATASETS_PATH": hf_home / "datasets" / "downloads",
            "EXTRACTED_DATASETS_PATH": hf_home / "datasets" / "downloads" / "extracted",
        }.items():
            if hasattr(datasets_config, name):
                monkeypatch.setattr(datasets_config, name, value)
