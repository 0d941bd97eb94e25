"""A restricted unpickler for untrusted annotation pickles (refer, D3).

A plain `pickle.load` runs whatever callable the file names. This one admits only:

- plain containers, numbers and strings (`dict list tuple set frozenset str bytes int float
  bool`, plus `_codecs.encode(text, "latin1")`, which is how Python 3 writes `bytes` at
  protocol 2);
- with `allow_numpy=True` (D3): the entries numpy needs to rebuild an array or a scalar,
  `numpy.core.multiarray._reconstruct` / `numpy._core.multiarray._reconstruct` (numpy 1 / 2
  names; only for a plain `numpy.ndarray`), `...multiarray.scalar`, `numpy.ndarray`,
  `numpy.dtype`, and `numpy.core.numeric._frombuffer` / `numpy._core.numeric._frombuffer`
  (how numpy writes arrays at protocol 5; admitted after inspecting such a file).

Any other global (a function, a class, `os.system`, `builtins.eval`, ...) is refused before it
is looked up, so nothing in the file ever runs: `load_pickle` raises a one-line `UserError`.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
from typing import Any

from vlmr1_cli.data.coco_json import no_gc
from vlmr1_cli.errors import UserError

_BUILTIN_NAMES = frozenset(
    {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "bool"}
)
_BUILTIN_MODULES = frozenset({"builtins", "__builtin__"})  # Python 3 / Python 2 spelling
_NUMPY_MULTIARRAY = frozenset({"numpy.core.multiarray", "numpy._core.multiarray"})
_NUMPY_NUMERIC = frozenset({"numpy.core.numeric", "numpy._core.numeric"})


class RefusedPickle(UserError):
    """The pickle names something that is not a plain container, number or string."""


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 pickles `bytes` at protocol <= 2 as `_codecs.encode(str, "latin1")`.
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise pickle.UnpicklingError("_codecs.encode is admitted only as encode(str, 'latin1')")
    return obj.encode("latin1")


def _bytes(*args: Any) -> bytes:
    # `bytes(n)` would allocate n zero bytes: a memory bomb, not data.
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError("bytes(int) is not admitted")
    return bytes(*args)


def _numpy_entries() -> dict[tuple[str, str], Any]:
    import numpy as np
    from numpy._core import multiarray, numeric

    def reconstruct(subtype, shape, dtype):
        if subtype is not np.ndarray:
            raise pickle.UnpicklingError("numpy _reconstruct is admitted only for numpy.ndarray")
        return multiarray._reconstruct(np.ndarray, shape, dtype)

    entries: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for mod in _NUMPY_MULTIARRAY:
        entries[(mod, "_reconstruct")] = reconstruct
        entries[(mod, "scalar")] = multiarray.scalar
    for mod in _NUMPY_NUMERIC:
        # Refuses object dtypes itself. Private, so numpy's stubs leave it out.
        entries[(mod, "_frombuffer")] = numeric._frombuffer  # type: ignore[attr-defined]
    return entries


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, fh, *, allow_numpy: bool, encoding: str):
        super().__init__(fh, encoding=encoding, errors="strict")
        self._numpy = _numpy_entries() if allow_numpy else {}

    def find_class(self, module: str, name: str) -> Any:
        if module in _BUILTIN_MODULES and name in _BUILTIN_NAMES:
            return _bytes if name == "bytes" else getattr(builtins, name)
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        entry = self._numpy.get((module, name))
        if entry is not None:
            return entry
        raise RefusedPickle(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not admitted")


def loads_restricted(data: bytes, *, allow_numpy: bool = False, encoding: str = "utf-8") -> Any:
    """Unpickle `data` with the restricted unpickler (errors propagate as raised)."""
    return _RestrictedUnpickler(io.BytesIO(data), allow_numpy=allow_numpy, encoding=encoding).load()


def load_pickle(
    path: str | os.PathLike,
    *,
    allow_numpy: bool = False,
    encodings: tuple[str, ...] = ("utf-8", "latin1"),
) -> tuple[Any, str]:
    """Load an untrusted pickle file; return `(object, encoding_used)`.

    `encodings` are tried in turn for Python 2 `str` values (the refer pickles were written by
    Python 2: UTF-8 first, Latin-1 as the fallback). Every failure is a one-line UserError
    naming the file; a refused global says which one and that nothing was run.
    """
    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found")
    with open(path, "rb") as fh:
        data = fh.read()
    if not data:
        raise UserError(f"{path}: empty file (expected a pickle)")
    last_unicode: UnicodeDecodeError | None = None
    for enc in encodings:
        try:
            with no_gc():
                return loads_restricted(data, allow_numpy=allow_numpy, encoding=enc), enc
        except RefusedPickle as e:
            raise RefusedPickle(
                f"{path}: refused to unpickle: it references '{e}', which is not a plain "
                "container, number or string (untrusted pickle; nothing was executed)"
            ) from None
        except UnicodeDecodeError as e:
            last_unicode = e
            continue
        except RecursionError:
            raise UserError(f"{path}: pickle nests too deeply to load safely") from None
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            KeyError,
            OverflowError,
            MemoryError,
        ) as e:
            what = "truncated pickle" if isinstance(e, EOFError) else "not a valid pickle"
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{path}: {what} ({detail})") from None
    raise UserError(
        f"{path}: strings are not decodable as {' or '.join(encodings)} "
        f"({last_unicode.reason if last_unicode else 'unknown'})"
    )
