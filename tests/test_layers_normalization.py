"""FusedBatchNormalization against keras.layers.BatchNormalization, the computation it replaces."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.layers.normalization import FusedBatchNormalization, InstanceMinMaxScaling


def _pair(policy: str, shape, **kwargs):
    """A Keras and a fused layer with the same arguments and the same (non-default) weights."""
    rng = np.random.default_rng(1)
    layers = (keras.layers.BatchNormalization(dtype=policy, **kwargs), FusedBatchNormalization(dtype=policy, **kwargs))
    for layer in layers:
        layer.build(shape)
    weights = [rng.normal(1.0, 0.3, w.shape).astype("float32") for w in layers[0].weights]
    weights[-1] = np.abs(weights[-1])  # the moving variance
    for layer in layers:
        layer.set_weights(weights)
    return layers


def _outputs_and_gradients(layer, x, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2 * tf.range(1.0, x.shape[-1] + 1.0))
    gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    return y, [g.numpy() for g in gradients]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("center,scale", [(True, True), (False, False)])
def test_float32_matches_keras_outputs_gradients_and_moving_statistics(training, center, scale):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (4, 6, 5, 8)).astype("float32"))
    reference, fused = _pair("float32", x.shape, momentum=0.9, epsilon=1e-3, center=center, scale=scale)
    expected, expected_gradients = _outputs_and_gradients(reference, x, training)
    actual, actual_gradients = _outputs_and_gradients(fused, x, training)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    for got, want in zip(actual_gradients, expected_gradients):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # Training moves the moving statistics by Keras' rule with the biased batch variance; inference leaves them.
    for got, want in zip(fused.non_trainable_weights, reference.non_trainable_weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_training_normalises_by_the_biased_batch_variance():
    x = np.random.default_rng(2).normal(0.0, 1.0, (2, 3, 2, 4)).astype("float32")
    layer = FusedBatchNormalization(epsilon=1e-3, momentum=0.5, center=False, scale=False)
    y = layer(x, training=True).numpy()
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * variance, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * mean, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("training", [True, False])
def test_mixed_bfloat16_keeps_the_map_dtype_and_matches_keras(training):
    x = tf.constant(np.random.default_rng(3).normal(0.5, 2.0, (4, 6, 5, 8)).astype("float32"))
    reference, fused = _pair("mixed_bfloat16", x.shape, momentum=0.9)
    expected, expected_gradients = _outputs_and_gradients(reference, x, training)
    actual, actual_gradients = _outputs_and_gradients(fused, x, training)
    assert actual.dtype == tf.bfloat16 and fused.moving_mean.dtype == "float32"
    # Both round the result to bfloat16 (8 significant bits).
    np.testing.assert_allclose(tf.cast(actual, tf.float32), tf.cast(expected, tf.float32), rtol=2e-2, atol=2e-2)
    for got, want in zip(actual_gradients, expected_gradients):
        np.testing.assert_allclose(got, want, rtol=3e-2, atol=3e-2 * np.abs(want).max())


@pytest.mark.parametrize(
    "shape,kwargs",
    [((4, 6, 8), {}), ((4, 8, 6, 5), {"axis": 1}), ((4, 6, 5, 8), {"epsilon": 1e-6})],
    ids=["rank3", "channels_first", "small_epsilon"],
)
def test_inputs_the_fused_op_does_not_cover_take_the_keras_computation(shape, kwargs):
    x = np.random.default_rng(4).normal(1.0, 2.0, shape).astype("float32")
    reference, fused = _pair("float32", shape, **kwargs)
    assert not fused._fused(tf.constant(x), None)
    np.testing.assert_array_equal(fused(x, training=True).numpy(), reference(x, training=True).numpy())


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((6, 5, 3))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.8, name="bn")(inputs))
    x = np.random.default_rng(5).normal(size=(2, 6, 5, 3)).astype("float32")
    model(x, training=True)  # moves the moving statistics away from their initial values
    model.save(tmp_path / "bn.keras")
    loaded = keras.models.load_model(tmp_path / "bn.keras")
    assert isinstance(loaded.get_layer("bn"), FusedBatchNormalization)
    assert loaded.get_layer("bn").momentum == 0.8
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_instance_min_max_scaling_maps_each_example_to_its_own_range():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4, 2)).astype("float32") * np.array([1.0, 10.0, 0.1])[:, None, None, None]
    y = keras.ops.convert_to_numpy(InstanceMinMaxScaling()(x))
    for example, scaled in zip(x, y):
        expected = (example - example.min()) / (example.max() - example.min() + 1e-8)
        np.testing.assert_allclose(scaled, expected, rtol=1e-5, atol=1e-6)
        assert scaled.min() == 0 and scaled.max() == pytest.approx(1, abs=1e-6)
    # A constant example: zeros, not a division by zero.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(InstanceMinMaxScaling()(np.full((1, 2, 3, 1), 7.0))), 0)


def test_a_network_behind_instance_min_max_scaling_ignores_a_clip_gain_and_offset(tmp_path):
    from seld_tf.errors import ConfigError
    from seld_tf.models.registry import build_scaled_network

    bins = 16
    args = {"num_classes": 3, "filters": (2, 2), "pooling": ((2, 2), (2, 8)), "units": 2}
    inputs, outputs = build_scaled_network(
        "crnn_dcase2022", "cpu", args, np.zeros((bins, 1)), np.ones((bins, 1)), scaler="instance_minmax"
    )
    model = keras.Model(inputs, outputs)
    assert isinstance(model.get_layer("feature_scaler"), InstanceMinMaxScaling)
    x = np.random.default_rng(1).normal(size=(2, 8, bins, 1)).astype("float32")
    # A dB front end's gain is an offset, its scale a factor: the scaled input, hence the output, is the same.
    for name, value in model(x).items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(3.0 * x - 20.0)[name]),
                                   keras.ops.convert_to_numpy(value), rtol=1e-4, atol=1e-5)
    path = tmp_path / "minmax.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)["weak"]), keras.ops.convert_to_numpy(model(x)["weak"]), rtol=1e-6)
    with pytest.raises(ConfigError, match="model.scaler"):
        build_scaled_network("crnn_dcase2022", "cpu", args, np.zeros((bins, 1)), np.ones((bins, 1)), scaler="minmax")
