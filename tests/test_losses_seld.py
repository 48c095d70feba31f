"""Tests of seld_tf.losses.seld against numpy statements of the formulas."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.errors import ConfigError
from seld_tf.losses import MaskedDoaMSE, seld_loss_weights, seld_losses
from seld_tf.models import build_seldnet

BATCH, FRAMES, CLASSES = 3, 5, 4


def random_targets(rng, batch=BATCH, frames=FRAMES, classes=CLASSES, active_fraction=0.4):
    """SED activity `[B, T, K]` and DOA unit vectors, zero where inactive."""
    activity = (rng.random((batch, frames, classes)) < active_fraction).astype("float32")
    activity[:, 0] = 0.0  # a frame with no event at all in every clip
    vectors = rng.normal(size=(batch, frames, classes, 3))
    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
    return activity, (vectors * activity[..., None]).astype("float32")


def reference_masked_mse(doa_true, doa_pred, masked=True):
    """sum(mask * err) / sum(mask), mask = activity repeated over x, y, z."""
    activity = np.linalg.norm(doa_true, axis=-1) > 0
    mask = np.repeat(activity[..., None], 3, axis=-1) if masked else np.ones(doa_true.shape, bool)
    if mask.sum() == 0:
        return 0.0
    return float(np.sum(np.square(doa_pred - doa_true)[mask]) / mask.sum())


def reference_bce(y_true, y_pred):
    return float(np.mean(-(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))))


@pytest.mark.parametrize("masked", [True, False])
def test_masked_doa_mse_matches_numpy(masked):
    rng = np.random.default_rng(1)
    _, doa_true = random_targets(rng)
    doa_pred = np.tanh(rng.normal(size=doa_true.shape)).astype("float32")
    loss = MaskedDoaMSE(masked=masked)(doa_true, doa_pred)
    np.testing.assert_allclose(float(loss), reference_masked_mse(doa_true, doa_pred, masked),
                               rtol=1e-5)


def test_masked_doa_mse_is_one_ratio_per_batch():
    # Clip 0 has one active class-frame, clip 1 has all of them: a mean of per-clip
    # ratios would weight clip 0's single error as much as all of clip 1's.
    doa_true = np.zeros((2, 2, 2, 3), "float32")
    doa_true[0, 0, 0] = [1, 0, 0]
    doa_true[1, :, :] = [0, 0, 1]
    doa_pred = np.zeros_like(doa_true)
    # Squared errors: clip 0 -> 1 over 3 masked elements, clip 1 -> 4 over 12.
    # Batch ratio = (1 + 4) / 15 = 1 / 3.
    np.testing.assert_allclose(float(MaskedDoaMSE()(doa_true, doa_pred)), 1 / 3, rtol=1e-6)
    # reduction="none": per-clip contributions (sum over clip / mean mask count 7.5).
    np.testing.assert_allclose(
        MaskedDoaMSE(reduction="none")(doa_true, doa_pred), [1 / 7.5, 4 / 7.5], rtol=1e-6
    )


def test_masked_doa_mse_all_inactive_batch_is_zero_with_finite_gradient():
    doa_true = np.zeros((BATCH, FRAMES, CLASSES, 3), "float32")
    doa_pred = tf.Variable(np.full(doa_true.shape, 0.3, "float32"))
    with tf.GradientTape() as tape:
        loss = MaskedDoaMSE()(doa_true, doa_pred)
    gradient = tape.gradient(loss, doa_pred)
    assert float(loss) == 0.0
    assert np.all(np.isfinite(gradient.numpy()))
    # Unmasked, the same batch is an ordinary MSE: 0.3 ** 2 everywhere.
    np.testing.assert_allclose(float(MaskedDoaMSE(masked=False)(doa_true, doa_pred)), 0.09,
                               rtol=1e-6)


def reference_sqrt_sum(doa_true, doa_pred):
    """The released DCASE2020 baseline's masked_mse on its [B, T, 3K] layout: mask = activity
    repeated over x, y, z, then sqrt(sum(mask * err)) / sum(mask)."""
    active = np.linalg.norm(doa_true, axis=-1) > 0
    flat = lambda x: np.concatenate([x[..., 0], x[..., 1], x[..., 2]], axis=-1)  # noqa: E731
    mask = np.concatenate([active] * 3, axis=-1).astype(np.float64)
    return float(np.sqrt(np.sum(np.square(flat(doa_true) - flat(doa_pred)) * mask)) / np.sum(mask))


def test_sqrt_sum_normalization_is_the_released_baseline_loss_with_its_gradient():
    rng = np.random.default_rng(4)
    _, doa_true = random_targets(rng)
    doa_pred = tf.Variable(np.tanh(rng.normal(size=doa_true.shape)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = MaskedDoaMSE(normalization="sqrt_sum")(doa_true, doa_pred)
    np.testing.assert_allclose(float(loss), reference_sqrt_sum(doa_true, doa_pred.numpy()), rtol=1e-5)
    # d/dp sqrt(S) / N = m (p - t) / (sqrt(S) N), S the masked sum of squares, N the mask count.
    mask = np.broadcast_to(np.linalg.norm(doa_true, axis=-1, keepdims=True) > 0, doa_true.shape)
    error = doa_pred.numpy() - doa_true
    total = np.sum(np.square(error)[mask])
    expected = np.where(mask, error, 0.0) / (np.sqrt(total) * mask.sum())
    np.testing.assert_allclose(tape.gradient(loss, doa_pred).numpy(), expected, rtol=1e-4, atol=1e-9)


def test_sqrt_sum_of_a_batch_without_error_or_activity_is_zero_with_finite_gradient():
    doa_true = np.zeros((BATCH, FRAMES, CLASSES, 3), "float32")
    for values in (doa_true, np.full(doa_true.shape, 0.3, "float32")):
        doa_pred = tf.Variable(values)
        with tf.GradientTape() as tape:
            loss = MaskedDoaMSE(normalization="sqrt_sum")(doa_true, doa_pred)
        assert float(loss) == 0.0
        assert np.all(np.isfinite(tape.gradient(loss, doa_pred).numpy()))
    with pytest.raises(ConfigError, match="'root'"):
        MaskedDoaMSE(normalization="root")


def test_sed_losses_are_the_stock_keras_losses():
    rng = np.random.default_rng(2)
    activity, _ = random_targets(rng)
    probabilities = rng.uniform(0.05, 0.95, activity.shape).astype("float32")
    bce = seld_losses(sed="bce")["sed"]
    mse = seld_losses(sed="mse")["sed"]
    assert type(bce) is keras.losses.BinaryCrossentropy
    assert type(mse) is keras.losses.MeanSquaredError
    np.testing.assert_allclose(float(bce(activity, probabilities)),
                               reference_bce(activity, probabilities), rtol=1e-5)
    np.testing.assert_allclose(float(mse(activity, probabilities)),
                               np.mean(np.square(activity - probabilities)), rtol=1e-5)


def test_helpers():
    losses = seld_losses(sed="mse", doa_masked=False)
    assert set(losses) == {"sed", "doa"}
    assert isinstance(losses["doa"], MaskedDoaMSE) and not losses["doa"].masked
    assert seld_loss_weights(1, 1000) == {"sed": 1.0, "doa": 1000.0}
    with pytest.raises(ConfigError, match="'ce'"):
        seld_losses(sed="ce")


def test_serialization_round_trip():
    loss = MaskedDoaMSE(masked=False, normalization="sqrt_sum", reduction="sum", name="doa_loss")
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(loss)))
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, MaskedDoaMSE)
    assert restored.get_config() == loss.get_config()
    assert restored.get_config()["masked"] is False
    assert restored.get_config()["normalization"] == "sqrt_sum"


def tiny_seldnet():
    return build_seldnet(input_shape=(None, 64, 7), num_classes=CLASSES, conv_filters=4,
                         rnn_units=(4,), fc_units=4)


def test_compile_fit_and_weighted_total(tmp_path):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(4, 5 * FRAMES, 64, 7)).astype("float32")
    activity, doa = random_targets(rng, batch=4)
    targets = {"sed": activity, "doa": doa}
    model = tiny_seldnet()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=seld_losses("bce"),
                  loss_weights=seld_loss_weights(1.0, 1000.0))
    history = model.fit(features, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    # One batch holding the whole set: the compiled total is 1 * BCE + 1000 * masked MSE.
    scores = model.evaluate(features, targets, batch_size=4, verbose=0, return_dict=True)
    predicted = model.predict(features, batch_size=4, verbose=0)
    sed_reference = reference_bce(activity, predicted["sed"])
    doa_reference = reference_masked_mse(doa, predicted["doa"])
    np.testing.assert_allclose(scores["loss"], sed_reference + 1000.0 * doa_reference, rtol=1e-4)

    # The compiled losses survive a .keras round trip.
    path = tmp_path / "compiled.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    restored_scores = restored.evaluate(features, targets, batch_size=4, verbose=0,
                                        return_dict=True)
    np.testing.assert_allclose(restored_scores["loss"], scores["loss"], rtol=1e-5)
