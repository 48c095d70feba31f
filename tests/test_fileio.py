import os

import numpy as np
import pytest

from seld_tf.fileio import atomic_open, save_npy, write_json


def test_atomic_open_keeps_old_content_when_writing_fails(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write("half a new file")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"], "temporary file left behind"


def test_atomic_open_replaces_on_success(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    with atomic_open(path) as handle:
        handle.write("new")
    assert path.read_text() == "new"
    assert os.listdir(path.parent) == ["out.txt"]


def test_save_npy_and_json_round_trip(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), array)
    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
