"""Checks every model builder's tests run, after keras-hub's `run_backbone_test`
and `run_model_saving_test`.

`check_outputs` runs a model and checks its outputs' names and shapes and its
size; `check_saving` checks that the model survives every way this package
saves one: the `.keras` file (through `seld_tf.saving.load_model`), a
SavedModel export, and, optionally, a `.keras` file loaded by a fresh process
that has imported nothing but `seld_tf.saving`.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from seld_tf.saving import load_model

# Run in a child process that imports nothing but `seld_tf.saving`: what a
# user loading a file that another process saved gets, with only what
# `load_model` registers.
FRESH_PROCESS_LOAD = """
import sys

import numpy as np

from seld_tf.saving import load_model

model_path, inputs_path, expected_path = sys.argv[1:]
outputs = load_model(model_path)(np.load(inputs_path), training=False)
expected = np.load(expected_path)
assert sorted(outputs) == sorted(expected.files), (sorted(outputs), expected.files)
for name in expected.files:
    np.testing.assert_array_equal(np.asarray(outputs[name]), expected[name], err_msg=name)
"""


def predict(model, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Inference outputs by name, computed eagerly: on inputs this small, tracing for `predict` costs more."""
    return {name: keras.ops.convert_to_numpy(value) for name, value in model(inputs, training=False).items()}


def check_outputs(
    model: keras.Model,
    inputs: np.ndarray,
    expected_output_shapes: dict[str, tuple[int, ...]],
    expected_params: int | None = None,
) -> dict[str, np.ndarray]:
    """Check the names and shapes of `model`'s outputs on `inputs`, and its parameter count.

    The symbolic output shapes must agree with the computed ones too (`None`
    for a variable size): a layer whose `compute_output_shape` disagrees with
    its `call` breaks the models built on its outputs. Returns the outputs, for the builder's own checks of their values.
    """
    outputs = predict(model, inputs)
    assert {name: value.shape for name, value in outputs.items()} == expected_output_shapes
    for name, value in outputs.items():
        symbolic = model.output[name].shape
        assert len(symbolic) == value.ndim and all(
            size in (None, actual) for size, actual in zip(symbolic, value.shape)
        ), (name, symbolic, value.shape)
    if expected_params is not None:
        assert model.count_params() == expected_params
    return outputs


def check_saving(
    model: keras.Model, directory: Path, inputs: np.ndarray, *, fresh_process: bool = False
) -> keras.Model:
    """Check that `model` saved as a `.keras` file and as a SavedModel gives back its outputs on `inputs`.

    The `.keras` file, loaded in Keras' safe mode (so no `Lambda` layers),
    must reproduce them exactly (the same weights and operations); the
    SavedModel's `serve` to 1e-5, as its traced graph may order the
    operations differently. `fresh_process` adds a load in a child process,
    which costs a TensorFlow import (seconds): ask for it once per builder,
    not once per variant. Returns the model loaded from the `.keras` file, for
    the builder's own checks.
    """
    expected = predict(model, inputs)
    path = directory / f"{model.name}.keras"
    model.save(path)
    # Started first, so that the child's TensorFlow import overlaps the checks here.
    with start_fresh_process_load(path, inputs, expected) if fresh_process else contextlib.nullcontext() as child:
        restored = load_model(path)
        assert restored.count_params() == model.count_params()
        actual = predict(restored, inputs)
        assert set(actual) == set(expected)
        for name in expected:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)

        model.export(directory / "saved_model", verbose=False)
        exported = tf.saved_model.load(str(directory / "saved_model"))  # kept alive: its variables die with it
        served = exported.serve(inputs)
        assert set(served) == set(expected)
        for name in expected:
            np.testing.assert_allclose(served[name].numpy(), expected[name], rtol=1e-5, atol=1e-5, err_msg=name)

        if child is not None:
            stderr = child.communicate(timeout=300)[1]
            assert child.returncode == 0, stderr[-3000:]
    return restored


def start_fresh_process_load(path: Path, inputs: np.ndarray, expected: dict[str, np.ndarray]) -> subprocess.Popen:
    """Start `FRESH_PROCESS_LOAD` on the `.keras` file at `path`, with the inputs and outputs saved beside it."""
    inputs_path, expected_path = path.with_suffix(".inputs.npy"), path.with_suffix(".expected.npz")
    np.save(inputs_path, inputs)
    np.savez(expected_path, **expected)
    command = [sys.executable, "-c", FRESH_PROCESS_LOAD, str(path), str(inputs_path), str(expected_path)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
