"""Dynamic Weight Average (Liu et al. 2019) through ScaledLoss and its callback."""

import keras
import numpy as np
import pytest

from seld_tf.losses.weighting import DynamicWeightAverage, ScaledLoss, dwa_weights


def test_dwa_weights_follow_eq_7_by_hand():
    # Rates 0.5 and 1.0 at T = 2: weights 2 * exp(0.25) / (exp(0.25) + exp(0.5)) and 2 * exp(0.5) / (...).
    weights = dwa_weights([1.0, 3.0], [2.0, 3.0], temperature=2.0)
    denominator = np.exp(0.25) + np.exp(0.5)
    np.testing.assert_allclose(weights, [2 * np.exp(0.25) / denominator, 2 * np.exp(0.5) / denominator])
    assert weights.sum() == pytest.approx(2.0)
    # Equal descent rates: equal weights.
    np.testing.assert_allclose(dwa_weights([1.0, 4.0], [2.0, 8.0], 2.0), [1.0, 1.0])


def test_scaled_loss_multiplies_the_loss_and_keeps_its_reduction_and_sample_weights():
    inner = keras.losses.BinaryCrossentropy(from_logits=True)
    scaled = ScaledLoss(keras.losses.BinaryCrossentropy(from_logits=True))
    y_true = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype="float32")
    y_pred = np.array([[2.0, -1.0], [0.5, 0.3], [-3.0, 4.0]], dtype="float32")
    weights = np.array([1.0, 0.0, 2.0], dtype="float32")
    assert float(scaled(y_true, y_pred, weights)) == pytest.approx(float(inner(y_true, y_pred, weights)), rel=1e-6)
    scaled.scale.assign(0.25)
    assert float(scaled(y_true, y_pred, weights)) == pytest.approx(0.25 * float(inner(y_true, y_pred, weights)), rel=1e-6)
    restored = ScaledLoss.from_config(scaled.get_config())
    assert restored.loss.get_config()["from_logits"] is True


def test_the_callback_sets_the_scales_from_unweighted_descent_rates():
    losses = {"a": ScaledLoss(keras.losses.MeanSquaredError()), "b": ScaledLoss(keras.losses.MeanSquaredError())}
    callback = DynamicWeightAverage(losses, temperature=2.0)
    epochs = [{"a_loss": 4.0, "b_loss": 2.0}, {"a_loss": 2.0, "b_loss": 2.0}]
    for epoch, logs in enumerate(epochs):
        callback.on_epoch_end(epoch, logs)
    # Epochs 0 and 1 ran with scales 1 (logged); epoch 2 gets the rates 0.5 (a) and 1.0 (b).
    assert epochs[1]["a_dwa_weight"] == 1.0
    expected = dwa_weights([2.0, 2.0], [4.0, 2.0], 2.0)
    np.testing.assert_allclose([float(losses["a"].scale.numpy()), float(losses["b"].scale.numpy())], expected, rtol=1e-6)
    # The next logged losses are weighted by those scales; the callback divides them out.
    logs = {"a_loss": 1.0 * expected[0], "b_loss": 2.0 * expected[1]}
    callback.on_epoch_end(2, logs)
    np.testing.assert_allclose(
        [float(losses["a"].scale.numpy()), float(losses["b"].scale.numpy())], dwa_weights([1.0, 2.0], [2.0, 2.0], 2.0), rtol=1e-6
    )
    assert logs["a_dwa_weight"] == pytest.approx(expected[0])


def test_dwa_inside_fit_changes_the_weights_of_a_two_output_model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(inputs), "b": keras.layers.Dense(1, name="b")(inputs)})
    losses = {"a": ScaledLoss(keras.losses.MeanSquaredError()), "b": ScaledLoss(keras.losses.MeanSquaredError())}
    model.compile(keras.optimizers.SGD(0.05), loss=losses)
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = {"a": x[:, :1] * 3.0, "b": x[:, 1:2] * 0.1}
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[DynamicWeightAverage(losses)])
    assert history.history["a_dwa_weight"][:2] == [1.0, 1.0]
    later = history.history["a_dwa_weight"][2] + history.history["b_dwa_weight"][2]
    assert later == pytest.approx(2.0) and history.history["a_dwa_weight"][2] != 1.0


def test_fewer_than_two_losses_are_refused():
    with pytest.raises(ValueError, match="two or more"):
        DynamicWeightAverage({"a": ScaledLoss(keras.losses.MeanSquaredError())})
