"""Uncertainty weighting (Kendall et al. 2018) through `UncertaintyWeightedModel`, on a toy
two-output model and through `train()` as the scene_event task's `loss.weighting: uncertainty`."""

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.datasets.synth.tut import TutSynthConfig, synthesize_tut_dataset
from seld_tf.errors import ConfigError
from seld_tf.losses.weighting import UncertaintyWeightedModel
from seld_tf.recipes import recipe_from_dict
from seld_tf.runs import RunFolder
from seld_tf.saving import load_model
from seld_tf.training import train
from model_harness import check_saving
from test_task_scene_event import RECIPE, SMALL

WEIGHTS = {"a": 0.5, "b": 2.0}
RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = {"a": RNG.normal(size=(8, 2)).astype("float32"), "b": (RNG.random((8, 1)) > 0.5).astype("float32")}


def toy_model(trainable: bool = True) -> UncertaintyWeightedModel:
    inputs = keras.Input((3,))
    a = keras.layers.Dense(2, name="a", trainable=trainable)
    b = keras.layers.Dense(1, name="b", trainable=trainable)
    model = UncertaintyWeightedModel(inputs, {"a": a(inputs), "b": b(inputs)}, task_weights=WEIGHTS, name="toy")
    model.compile(
        keras.optimizers.SGD(0.5),
        loss={"a": keras.losses.MeanSquaredError(), "b": keras.losses.BinaryCrossentropy(from_logits=True)},
    )
    return model


def numpy_losses(model, sample_weight=None) -> dict[str, float]:
    """Keras' reduction by hand: per-example losses times the weights, averaged over the batch."""
    outputs = {name: keras.ops.convert_to_numpy(value) for name, value in model(X).items()}
    weights = sample_weight or {"a": np.ones(len(X)), "b": np.ones(len(X))}
    squared = ((outputs["a"] - Y["a"]) ** 2).mean(axis=-1)
    logits = outputs["b"][:, 0]
    cross_entropy = np.maximum(logits, 0) - logits * Y["b"][:, 0] + np.log1p(np.exp(-np.abs(logits)))
    return {"a": float((weights["a"] * squared).mean()), "b": float((weights["b"] * cross_entropy).mean())}


def log_variances(model) -> list[float]:
    return [float(keras.ops.convert_to_numpy(s)) for s in model.log_variances]


def test_the_loss_of_a_batch_is_the_uncertainty_weighted_sum_by_hand():
    model = toy_model()
    assert log_variances(model) == [0.0, 0.0]
    s = {"a": 0.3, "b": -0.7}
    for variable, name in zip(model.log_variances, WEIGHTS):
        variable.assign(s[name])
    sample_weight = {"a": np.array([1, 0, 1, 1, 1, 1, 0, 1], "float32"), "b": np.ones(8, "float32")}
    losses = numpy_losses(model, sample_weight)
    logs = model.test_on_batch(X, Y, sample_weight=sample_weight, return_dict=True)
    expected = sum(np.exp(-s[name]) * WEIGHTS[name] * losses[name] + s[name] for name in WEIGHTS)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    # The logs hold the unweighted losses and the log-variances.
    assert logs["a_loss"] == pytest.approx(losses["a"], rel=1e-5) and logs["b_loss"] == pytest.approx(losses["b"], rel=1e-5)
    assert logs["a_log_variance"] == pytest.approx(0.3) and logs["b_log_variance"] == pytest.approx(-0.7)


def test_the_gradient_of_each_log_variance_and_training_settle_it_at_log_of_the_weighted_loss():
    model = toy_model(trainable=False)
    assert len(model.trainable_weights) == 2  # the layers are frozen: only s trains, so L stays put
    losses = numpy_losses(model)
    model.log_variances[1].assign(1.5)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(X, Y, model(X), training=True)
    gradients = [float(g) for g in tape.gradient(loss, model.log_variances)]
    s = [0.0, 1.5]
    expected = [1 - np.exp(-s_i) * WEIGHTS[name] * losses[name] for s_i, name in zip(s, WEIGHTS)]
    np.testing.assert_allclose(gradients, expected, rtol=1e-5)

    targets = np.log([WEIGHTS[name] * losses[name] for name in WEIGHTS])
    history = model.fit(X, Y, batch_size=8, epochs=40, verbose=0).history
    np.testing.assert_allclose(log_variances(model), targets, atol=1e-3)
    # The history holds each epoch's value after its step, the last one the variable's.
    assert [history[f"{name}_log_variance"][-1] for name in WEIGHTS] == pytest.approx(log_variances(model))
    first = np.array([history[f"{name}_log_variance"][0] for name in WEIGHTS])
    assert np.all(np.abs(first - targets) < np.abs(np.array(s) - targets))


def test_a_keras_file_keeps_the_log_variances_the_weights_and_the_outputs(tmp_path):
    model = toy_model()
    model.fit(X, Y, batch_size=4, epochs=2, verbose=0)
    trained = log_variances(model)
    assert all(value != 0.0 for value in trained)
    # The outputs through `seld_tf.saving.load_model`, a SavedModel and a fresh process.
    loaded = check_saving(model, tmp_path, X, fresh_process=True)
    assert isinstance(loaded, UncertaintyWeightedModel) and loaded.task_weights == WEIGHTS
    assert log_variances(loaded) == trained
    # Compiled from the file, the loaded model computes the same uncertainty-weighted loss.
    expected = model.test_on_batch(X, Y, return_dict=True)["loss"]
    assert loaded.test_on_batch(X, Y, return_dict=True)["loss"] == pytest.approx(expected, rel=1e-6)


def test_two_replicas_train_the_log_variances_as_one_device_does():
    """Keras divides each replica's loss by the replica count; the s_i terms must be too, or their
    gradient would count once per replica. Two logical CPUs, set before TensorFlow starts."""
    script = textwrap.dedent(
        f"""
        import json, sys, keras, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_uncertainty_weighting import X, Y, toy_model
        histories = {{}}
        for name, strategy in (("default", tf.distribute.get_strategy()), ("mirrored", tf.distribute.MirroredStrategy())):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                model = toy_model(trainable=False)
            histories[name] = model.fit(X, Y, batch_size=8, epochs=3, verbose=0).history
        print(json.dumps(histories))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    histories = json.loads(result.stdout.strip().splitlines()[-1])
    assert histories["mirrored"].keys() == histories["default"].keys()
    for key, values in histories["default"].items():
        np.testing.assert_allclose(histories["mirrored"][key], values, rtol=1e-5, err_msg=key)


def test_compile_must_give_a_loss_to_each_weighted_output_and_no_other():
    model = toy_model()
    model.compile("sgd", loss={"a": "mse"})
    with pytest.raises(ValueError, match=r"weighs the losses of \['a', 'b'\]; compile gave losses for \['a'\]"):
        model.test_on_batch(X, Y)


@pytest.fixture(scope="module")
def tiny_tut(tmp_path_factory):
    data = tmp_path_factory.mktemp("tut")
    synthesize_tut_dataset(data, TutSynthConfig(SMALL, se_seconds=(10.0, 11.0), seed=0), workers=2, progress=False)
    return data


def test_the_scene_event_task_trains_with_uncertainty_weighting_and_logs_the_log_variances(tiny_tut, tmp_path):
    recipe = recipe_from_dict({**RECIPE, "loss": {"weighting": "uncertainty"}})
    run = RunFolder(tmp_path / "run")
    history = train(recipe, tiny_tut, run.path, verbose=0, progress=False, log=lambda *_: None).history
    with open(run.history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = ("scene_logits", "event_logits")
    for name in names:
        assert f"{name}_loss" in history and f"val_{name}_loss" in history
        assert [float(row[f"{name}_log_variance"]) for row in rows] == pytest.approx(history[f"{name}_log_variance"])
    model = load_model(run.last)
    assert isinstance(model, UncertaintyWeightedModel)
    assert model.task_weights == {"scene_logits": 0.001, "event_logits": 1.0}
    final = log_variances(model)
    assert final == pytest.approx([history[f"{name}_log_variance"][-1] for name in names])
    # Trained from 0, each toward log(weight * loss) < 0 (the losses are below 1 / weight).
    assert all(value < 0 for value in final)


def test_uncertainty_weighting_needs_both_branches():
    with pytest.raises(ConfigError, match="uncertainty weighs the scene and event losses; both alpha and beta"):
        recipe_from_dict({**RECIPE, "loss": {"weighting": "uncertainty", "beta": 0.0}})
