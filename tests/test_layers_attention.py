"""Tests of seld_tf.layers.attention: the formula against numpy, shapes, serialization."""

import json

import keras
import numpy as np
import pytest
from model_harness import check_outputs, check_saving

from seld_tf.layers.attention import ScaledDotProductSelfAttention


def numpy_self_attention(z, layer):
    """softmax((Z Wq + bq)(Z Wk + bk)^T / sqrt(d_k)) (Z Wv + bv), written out in numpy."""
    (wq, bq), (wk, bk), (wv, bv) = (
        (np.asarray(dense.kernel), np.asarray(dense.bias))
        for dense in (layer.query_dense, layer.key_dense, layer.value_dense)
    )
    q, k, v = z @ wq + bq, z @ wk + bk, z @ wv + bv
    scores = np.einsum("btd,bsd->bts", q, k) / np.sqrt(wq.shape[1])
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ v, weights


@pytest.fixture
def layer_and_input():
    keras.utils.set_random_seed(3)
    layer = ScaledDotProductSelfAttention(key_dim=5, value_dim=7)
    layer.build((None, None, 6))
    # Non-zero biases, so that a missing bias term would be caught.
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        dense.bias.assign(np.random.default_rng(0).normal(size=dense.bias.shape))
    z = np.random.default_rng(1).normal(size=(2, 9, 6)).astype("float32")
    return layer, z


def test_matches_numpy_formula(layer_and_input):
    layer, z = layer_and_input
    expected_output, expected_weights = numpy_self_attention(z.astype("float64"), layer)
    output, weights = layer(z, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(output), expected_output, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(weights), expected_weights, rtol=1e-4, atol=1e-6)
    # Without the flag: the output alone, the same values.
    np.testing.assert_allclose(np.asarray(layer(z)), expected_output, rtol=1e-4, atol=1e-5)


def test_weights_are_row_stochastic_and_not_uniform(layer_and_input):
    layer, z = layer_and_input
    _, weights = layer(z, return_attention_scores=True)
    weights = np.asarray(weights)
    assert weights.shape == (2, 9, 9)
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert weights.std() > 1e-3  # the scores are not degenerate


def test_parameter_count():
    layer = ScaledDotProductSelfAttention(key_dim=64, value_dim=512)
    layer.build((None, None, 512))
    # Q and K: 512 x 64 kernels + 64 biases; V: 512 x 512 kernel + 512 biases.
    assert layer.count_params() == 2 * (512 * 64 + 64) + (512 * 512 + 512) == 328_320


def test_symbolic_call_and_variable_length():
    inputs = keras.Input((None, 6))
    output, weights = ScaledDotProductSelfAttention(4, 3)(inputs, return_attention_scores=True)
    assert output.shape == (None, None, 3)
    assert weights.shape == (None, None, None)
    model = keras.Model(inputs, {"output": output, "attention": weights})
    for frames in (2, 13):
        shapes = {"output": (2, frames, 3), "attention": (2, frames, frames)}
        check_outputs(model, np.zeros((2, frames, 6), "float32"), shapes)


def test_config_round_trip():
    layer = ScaledDotProductSelfAttention(key_dim=8, value_dim=16, name="att")
    config = layer.get_config()
    json.dumps(config)
    assert config["key_dim"] == 8 and config["value_dim"] == 16
    restored = ScaledDotProductSelfAttention.from_config(config)
    assert (restored.key_dim, restored.value_dim, restored.name) == (8, 16, "att")
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "seld_tf>ScaledDotProductSelfAttention"
    assert isinstance(keras.saving.deserialize_keras_object(serialized), ScaledDotProductSelfAttention)


def test_saving(tmp_path):
    inputs = keras.Input((None, 6))
    output, weights = ScaledDotProductSelfAttention(4, 3, name="att")(inputs, return_attention_scores=True)
    model = keras.Model(inputs, {"output": output, "attention": weights})
    check_saving(model, tmp_path, np.random.default_rng(2).normal(size=(2, 5, 6)).astype("float32"))
