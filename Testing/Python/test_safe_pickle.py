"""config.pkl is unpickled through an allow-list and written for numpy 1.x and 2.x."""
from __future__ import annotations

import argparse
import collections
import io
import os
import pathlib
import pickle
import pickletools

import numpy as np
import pytest

from saltseg.errors import UnsafeConfigError
from saltseg.model.safe_pickle import dump_config_pickle, load_config_pickle


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/saltseg-pwned",))


def test_hostile_pickle_is_refused_naming_the_global(tmp_path):
    payload = pickle.dumps({"model": Exploit()})
    with pytest.raises(UnsafeConfigError, match=r"'posix.system'|'nt.system'"):
        load_config_pickle(io.BytesIO(payload))
    assert not pathlib.Path("/tmp/saltseg-pwned").exists()


@pytest.mark.parametrize("evil", [eval, getattr, pathlib.Path.write_text, np.load])
def test_callables_outside_the_allow_list_are_refused(evil):
    with pytest.raises(UnsafeConfigError):
        load_config_pickle(io.BytesIO(pickle.dumps(evil)))


def test_plain_config_types_load_as_written_by_salt():
    config = {
        "adjacency_matrix": np.eye(4, dtype=np.uint8),
        "intensity_properties": {"mean": np.float64(12.5), "std": np.float32(3.0)},
        "label_names": [("a",), ("a", "b")],
        "model": collections.OrderedDict(roi_size=(192, 192, 48), voxel_spacing=(1.5, 1.5, 1.5)),
        "args": argparse.Namespace(train_dir=pathlib.Path("/data/train"), epochs=10, gpus=[0, 1]),
        "misc": {frozenset({1}), complex(1, 2), b"x", None, True},
    }
    for protocol in (2, 4, 5):  # numpy's own pickling, as SALT's training writes it
        loaded = load_config_pickle(io.BytesIO(pickle.dumps(config, protocol=protocol)))
        assert np.array_equal(loaded["adjacency_matrix"], config["adjacency_matrix"])
        assert loaded["args"].train_dir == pathlib.PurePosixPath("/data/train")
        assert loaded["model"]["roi_size"] == (192, 192, 48)


def test_windows_paths_load_on_any_platform():
    payload = pickle.dumps(pathlib.PureWindowsPath(r"C:\models\salt"), protocol=0)
    payload = payload.replace(b"PureWindowsPath", b"WindowsPath")
    assert str(load_config_pickle(io.BytesIO(payload))) == r"C:\models\salt"


def test_written_config_references_only_names_numpy_1_and_2_share():
    config = {"adjacency_matrix": np.eye(3, dtype=np.uint8), "mean": np.float32(1.5), "n": np.int64(3)}
    data = dump_config_pickle(config)
    strings = [arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    assert not any("_core" in s or "numpy.core" in s for s in strings)
    loaded = load_config_pickle(io.BytesIO(data))
    assert loaded["adjacency_matrix"].dtype == np.uint8 and np.array_equal(loaded["adjacency_matrix"], np.eye(3))
    assert type(loaded["mean"]) is np.float32 and loaded["n"] == 3
    assert pickle.loads(data)["mean"] == 1.5  # a plain unpickler reads it too
