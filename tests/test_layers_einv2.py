"""Tests of the EINV2 layers: CrossStitch, SinusoidalPositionalEncoding, TransformerEncoderBlock."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.layers.cross_stitch import CrossStitch, cross_stitch_summary
from seld_tf.layers.positional import SinusoidalPositionalEncoding
from seld_tf.layers.transformer import TransformerEncoderBlock


@pytest.mark.parametrize("shape", [(2, 5, 6, 8), (2, 5, 8)], ids=["conv_maps", "sequences"])
def test_cross_stitch_mixes_per_channel(shape):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shape).astype("float32"), rng.normal(size=shape).astype("float32")
    layer = CrossStitch()
    mixed_a, mixed_b = layer([a, b])
    alpha = keras.ops.convert_to_numpy(layer.alpha)
    assert alpha.shape == (8, 2, 2)
    # Eq. (7) for every channel c: [a', b'] = alpha[c] @ [a, b], from the ORIGINAL a and b.
    for c in range(8):
        expected = alpha[c] @ np.stack([a[..., c].ravel(), b[..., c].ravel()])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(mixed_a)[..., c].ravel(), expected[0], atol=1e-6)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(mixed_b)[..., c].ravel(), expected[1], atol=1e-6)


def numpy_cross_stitch(alpha, a, b, order):
    """The two orders written out per channel; `alpha` is `[C, 2, 2]`, the channels last in `a` and `b`."""
    mixed_a = alpha[:, 0, 0] * a + alpha[:, 0, 1] * b
    # Sequential (the released EINV2 code): the second output mixes the already-mixed first one.
    first = mixed_a if order == "sequential" else a
    return mixed_a, alpha[:, 1, 0] * first + alpha[:, 1, 1] * b


@pytest.mark.parametrize("order", ["simultaneous", "sequential"])
def test_cross_stitch_orders_match_numpy(order):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    alpha = rng.uniform(0.1, 0.9, size=(5, 2, 2))
    layer = CrossStitch(order=order)
    layer.build([a.shape, b.shape])
    layer.alpha.assign(alpha)
    outputs = [keras.ops.convert_to_numpy(x) for x in layer([a.astype("float32"), b.astype("float32")])]
    for output, expected in zip(outputs, numpy_cross_stitch(alpha, a, b, order)):
        np.testing.assert_allclose(output, expected, atol=1e-5)
    # Only the second output depends on the order.
    other = numpy_cross_stitch(alpha, a, b, "sequential" if order == "simultaneous" else "simultaneous")
    assert not np.allclose(outputs[1], other[1])
    np.testing.assert_allclose(outputs[0], other[0], atol=1e-5)


@pytest.mark.parametrize("order", ["simultaneous", "sequential"])
def test_cross_stitch_alpha_gradients_match_finite_differences(order):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    weights_a, weights_b = rng.normal(size=a.shape), rng.normal(size=a.shape)
    alpha = rng.uniform(0.1, 0.9, size=(4, 2, 2))

    def loss(mixed_a, mixed_b):
        # Distinct weights per output and element, so that no alpha's gradient cancels by symmetry.
        return (weights_a * mixed_a).sum() + (weights_b * mixed_b).sum()

    layer = CrossStitch(order=order)
    layer.build([a.shape, b.shape])
    layer.alpha.assign(alpha)
    with tf.GradientTape() as tape:
        mixed_a, mixed_b = layer([tf.constant(a, tf.float32), tf.constant(b, tf.float32)])
        value = tf.reduce_sum(tf.cast(weights_a, tf.float32) * mixed_a) + tf.reduce_sum(
            tf.cast(weights_b, tf.float32) * mixed_b
        )
    gradient = keras.ops.convert_to_numpy(tape.gradient(value, layer.alpha))

    # Central differences of the float64 numpy reference: the loss is linear in each single alpha, so they are exact.
    step, expected = 1e-3, np.zeros_like(alpha)
    for index in np.ndindex(alpha.shape):
        plus, minus = alpha.copy(), alpha.copy()
        plus[index] += step
        minus[index] -= step
        expected[index] = (
            loss(*numpy_cross_stitch(plus, a, b, order)) - loss(*numpy_cross_stitch(minus, a, b, order))
        ) / (2 * step)
    assert np.all(np.isfinite(gradient)) and np.all(gradient != 0)
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-4)


def test_cross_stitch_summary_reads_nested_models(tmp_path):
    alphas = {"outer_stitch": [[0.9, 0.1], [0.2, 0.8]], "inner_stitch": [[1.0, 0.0], [0.5, 0.5]]}
    inputs = [keras.Input((3, 2)), keras.Input((3, 2))]
    inner_outputs = CrossStitch(order="sequential", name="inner_stitch")(inputs)
    inner = keras.Model(inputs, inner_outputs, name="inner")
    outer_inputs = [keras.Input((3, 2)), keras.Input((3, 2))]
    outputs = CrossStitch(name="outer_stitch")(inner(outer_inputs))
    model = keras.Model(outer_inputs, outputs, name="outer")
    for layer in (inner.get_layer("inner_stitch"), model.get_layer("outer_stitch")):
        alpha = np.array(alphas[layer.name])
        # Channel 0 holds alpha - 0.1, channel 1 alpha + 0.1: the channel mean is alpha.
        layer.alpha.assign(np.stack([alpha - 0.1, alpha + 0.1]))
    path = tmp_path / "stitched.keras"
    model.save(path)
    summary = cross_stitch_summary(keras.saving.load_model(path))
    assert [(row["name"], row["order"], row["channels"]) for row in summary] == [
        ("inner/inner_stitch", "sequential", 2),
        ("outer_stitch", "simultaneous", 2),
    ]
    for row, alpha in zip(summary, (alphas["inner_stitch"], alphas["outer_stitch"])):
        np.testing.assert_allclose(row["alpha"], alpha, atol=1e-6)
        assert row["self"] == pytest.approx((alpha[0][0] + alpha[1][1]) / 2, abs=1e-6)
        assert row["cross"] == pytest.approx((alpha[0][1] + alpha[1][0]) / 2, abs=1e-6)


def test_cross_stitch_initial_alpha_is_uniform_in_0p1_0p9():
    layer = CrossStitch()
    layer.build([(None, 10, 512), (None, 10, 512)])
    alpha = keras.ops.convert_to_numpy(layer.alpha)
    assert alpha.min() >= 0.1 and alpha.max() <= 0.9
    # 2048 draws: a uniform(0.1, 0.9) sample spans nearly the whole interval, centred on 0.5.
    assert alpha.min() < 0.11 and alpha.max() > 0.89
    assert abs(alpha.mean() - 0.5) < 0.03
    assert len(layer.trainable_weights) == 1 and layer.count_params() == 4 * 512


def test_cross_stitch_config_and_errors():
    layer = CrossStitch(alpha_initializer="ones", order="sequential", name="stitch")
    restored = CrossStitch.from_config(layer.get_config())
    restored.build([(None, 3, 4), (None, 3, 4)])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored.alpha), np.ones((4, 2, 2)))
    assert restored.order == "sequential"
    assert CrossStitch().order == "simultaneous"
    with pytest.raises(ValueError, match="same shape"):
        CrossStitch().build([(None, 3, 4), (None, 3, 5)])
    with pytest.raises(ValueError, match="order"):
        CrossStitch(order="parallel")


def test_positional_encoding_matches_eq4():
    frames, features = 12, 16
    layer = SinusoidalPositionalEncoding()
    encoding = keras.ops.convert_to_numpy(layer(np.zeros((2, frames, features), "float32")))
    expected = np.zeros((frames, features))
    for t in range(frames):
        for i in range(features // 2):  # written exactly as Eq. (4), with 10 ** (8 i / D_c)
            expected[t, 2 * i] = 0.1 * math.sin(t / 10 ** (8 * i / features))
            expected[t, 2 * i + 1] = 0.1 * math.cos(t / 10 ** (8 * i / features))
    np.testing.assert_allclose(encoding[0], expected, atol=1e-6)
    np.testing.assert_array_equal(encoding[0], encoding[1])


def test_positional_encoding_is_added_for_any_length_and_scale():
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(1, 30, 8)).astype("float32")
    unit = SinusoidalPositionalEncoding(scale=1.0)
    shifted = keras.ops.convert_to_numpy(unit(inputs)) - inputs
    np.testing.assert_allclose(shifted[0, :, 0], np.sin(np.arange(30)), atol=1e-5)
    np.testing.assert_allclose(shifted[0, :, 1], np.cos(np.arange(30)), atol=1e-5)
    restored = SinusoidalPositionalEncoding.from_config(SinusoidalPositionalEncoding(scale=0.5).get_config())
    assert restored.scale == 0.5 and not restored.weights
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionalEncoding()(np.zeros((1, 4, 7), "float32"))


def test_transformer_block_parameter_count_at_paper_size():
    layer = TransformerEncoderBlock(num_heads=8, ff_dim=1024, dropout=0.2)
    layer.build((None, None, 512))
    d, ff = 512, 1024
    attention = 4 * (d * d + d)  # query, key, value and output projections, with biases
    feed_forward = (d * ff + ff) + (ff * d + d)
    layer_norms = 2 * 2 * d  # gamma and beta, twice
    assert layer.count_params() == attention + feed_forward + layer_norms == 2_102_784


def layer_norm(x, gamma, beta, epsilon=1e-5):
    mean = x.mean(-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(x.var(-1, keepdims=True) + epsilon) + beta


def test_transformer_block_matches_numpy_post_norm_encoder():
    rng = np.random.default_rng(2)
    d, heads, ff = 8, 2, 12
    inputs = rng.normal(size=(2, 5, d)).astype("float32")
    layer = TransformerEncoderBlock(num_heads=heads, ff_dim=ff, dropout=0.3)
    layer.build(inputs.shape)
    for weight in layer.weights:  # non-trivial norms, so that their order matters
        if "gamma" in weight.path or "beta" in weight.path:
            weight.assign(rng.normal(size=weight.shape))
    actual = keras.ops.convert_to_numpy(layer(inputs))  # inference: dropout off
    w = {weight.path.split("/", 1)[1]: keras.ops.convert_to_numpy(weight) for weight in layer.weights}

    def project(x, part):  # [B, T, d] -> [B, T, heads, d / heads]
        return np.einsum("btd,dhk->bthk", x, w[f"attention/{part}/kernel"]) + w[f"attention/{part}/bias"]

    q, k, v = project(inputs, "query"), project(inputs, "key"), project(inputs, "value")
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(d // heads)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    attended = np.einsum("bhqs,bshk->bqhk", weights, v)
    attended = np.einsum("bqhk,hkd->bqd", attended, w["attention/attention_output/kernel"])
    attended += w["attention/attention_output/bias"]
    x = layer_norm(inputs + attended, w["attention_norm/gamma"], w["attention_norm/beta"])
    hidden = np.maximum(x @ w["ff_inner/kernel"] + w["ff_inner/bias"], 0)
    x = x + hidden @ w["ff_outer/kernel"] + w["ff_outer/bias"]
    expected = layer_norm(x, w["output_norm/gamma"], w["output_norm/beta"])
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)

    training = keras.ops.convert_to_numpy(layer(inputs, training=True))
    assert not np.allclose(training, actual)


def test_transformer_block_config_and_errors():
    layer = TransformerEncoderBlock(num_heads=4, ff_dim=32, dropout=0.1, layer_norm_epsilon=1e-6, name="block")
    config = layer.get_config()
    assert TransformerEncoderBlock.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(num_heads=3, ff_dim=8).build((None, None, 8))
