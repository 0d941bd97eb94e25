"""The restricted unpickler: plain data loads, anything callable is refused before it runs."""

from __future__ import annotations

import builtins
import os
import pickle

import numpy as np
import pytest

from vlmr1_cli.data.safe_pickle import RefusedPickle, load_pickle, loads_restricted
from vlmr1_cli.errors import UserError

from .fixtures import d3_data, py2_pickle_dumps, refer_data, write_d3, write_refer


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Exec:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


class _Sub(np.ndarray):
    pass


def test_plain_data_round_trips():
    obj = {"a": [1, 2.5, True, None, ("t", b"raw")], "s": {1, 2}, "f": frozenset({3}), 7: "x"}
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        assert loads_restricted(pickle.dumps(obj, protocol=proto)) == obj
    assert loads_restricted(py2_pickle_dumps(refer_data()["refs"])) == refer_data()["refs"]


@pytest.mark.parametrize("payload", [_System, _Exec])
@pytest.mark.parametrize("proto", [0, 2, 4])
def test_code_never_runs(tmp_path, payload, proto):
    marker = tmp_path / "marker"
    blob = pickle.dumps({"x": [payload(marker)]}, protocol=proto)
    with pytest.raises(RefusedPickle):
        loads_restricted(blob, allow_numpy=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "obj",
    [
        np.zeros(3).view(_Sub),  # numpy entry, but not a plain ndarray subtype
        pickle.loads(pickle.dumps(_Sub)),  # a class object
        os.getcwd,  # a function
        type("Local", (), {}),
    ],
)
def test_other_globals_are_refused(obj):
    for proto in (2, 4):
        try:
            blob = pickle.dumps(obj, protocol=proto)
        except (pickle.PicklingError, AttributeError):
            continue
        with pytest.raises(RefusedPickle):
            loads_restricted(blob, allow_numpy=True)


def test_numpy_only_when_allowed():
    blob = pickle.dumps({"bbox": np.array([[1.0, 2.0, 3.0, 4.0]])}, protocol=4)
    with pytest.raises(RefusedPickle, match="numpy"):
        loads_restricted(blob)
    assert loads_restricted(blob, allow_numpy=True)["bbox"].tolist() == [[1.0, 2.0, 3.0, 4.0]]


def test_codecs_encode_only_latin1():
    ok = pickle.dumps(b"\x00\xff", protocol=2)  # Python 3 writes _codecs.encode(str, 'latin1')
    assert loads_restricted(ok) == b"\x00\xff"
    bad = ok.replace(b"latin1", b"rot13_")
    with pytest.raises(pickle.UnpicklingError):
        loads_restricted(bad)


def test_bytes_of_int_is_not_a_memory_bomb():
    blob = b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x40\x85R."  # bytes(2**30)
    with pytest.raises(pickle.UnpicklingError, match="bytes"):
        loads_restricted(blob)
    assert loads_restricted(b"\x80\x02c__builtin__\nbytes\n]K\x41a\x85R.") == b"A"


def test_load_pickle_errors_are_one_line(tmp_path):
    p = tmp_path / "x.pkl"
    p.write_bytes(b"")
    with pytest.raises(UserError, match=r"x.pkl: empty file \(expected a pickle\)"):
        load_pickle(p)
    p.write_bytes(pickle.dumps(list(range(100)), protocol=2)[:-20])
    with pytest.raises(UserError, match=r"x.pkl: (truncated pickle|not a valid pickle)"):
        load_pickle(p)
    p.write_bytes(b"this is not a pickle at all")
    with pytest.raises(UserError, match=r"x.pkl: not a valid pickle"):
        load_pickle(p)
    p.write_bytes(pickle.dumps([_System(tmp_path / "m")], protocol=2))
    with pytest.raises(UserError) as e:
        load_pickle(p)
    assert "\n" not in str(e.value) and "refused to unpickle" in str(e.value)
    assert "posix.system" in str(e.value) or "nt.system" in str(e.value)


def test_malicious_refs_pickle_via_cli(tmp_path, cli):
    """The real entry point: refusal on one line, exit 1, and the payload never ran."""
    root = write_refer(tmp_path / "refer")
    marker = tmp_path / "marker"
    refs = refer_data()["refs"]
    refs[1]["sentences"][0]["raw"] = _System(marker)
    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    r = cli(
        "prepare-data",
        "refcoco",
        "--refer-root",
        root,
        "--dataset",
        "refcoco",
        "--split-by",
        "unc",
        "--split",
        "val",
        "--output",
        tmp_path / "o.jsonl",
    )
    assert r.returncode == 1
    assert (
        r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    )
    assert "refused to unpickle" in r.stderr and "refs(unc).p" in r.stderr
    assert not marker.exists() and not (tmp_path / "o.jsonl").exists()


def test_malicious_d3_pickle_via_cli(tmp_path, cli):
    anno = write_d3(tmp_path / "pkl")
    marker = tmp_path / "marker"
    data = d3_data()
    data["annotations"][1000]["bbox"] = _Exec(marker)
    (anno / "annotations.pkl").write_bytes(pickle.dumps(data["annotations"], protocol=4))
    r = cli("prepare-data", "d3", "--anno-dir", anno, "--output", tmp_path / "o.jsonl")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "annotations.pkl: refused to unpickle: it references 'builtins.exec'" in r.stderr
    assert not marker.exists() and not (tmp_path / "o.jsonl").exists()
