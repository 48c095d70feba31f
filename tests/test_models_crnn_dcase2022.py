"""Tests of seld_tf.models.crnn_dcase2022 and seld_tf.layers.glu: the DCASE2022 baseline CRNN's size derived
from its layer table, output shapes, the GLU and the attention weak head against numpy, saving and export."""

import keras
import numpy as np
import pytest
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.layers.glu import GLU
from seld_tf.models.crnn_dcase2022 import (
    CRNN_DCASE2022_PRESETS,
    POOLING,
    AttentionWeightedMean,
    build_crnn_dcase2022,
)
from seld_tf.models.registry import build_model

TINY = dict(filters=(2, 3, 3, 3), pooling=((2, 2), (2, 2), (1, 2), (1, 2)), units=3)


def parameter_count(bins, filters, units, classes=10, kernel=3, pooling=POOLING) -> tuple[int, int]:
    """`(trainable, moving statistics)` of the CRNN from its layer table (not from Keras)."""
    trainable = moving = 0
    channels = 1
    for width in filters:
        conv = kernel * kernel * channels * width + width
        batch_norm = 2 * width  # gamma, beta
        glu = width * width + width  # the gate's Linear(C, C)
        trainable += conv + batch_norm + glu
        moving += 2 * width  # moving mean and variance: PyTorch buffers, not parameters
        channels = width
    for _, frequency in pooling:
        bins //= frequency
    features = bins * channels

    def gru(inputs):
        # One direction. Keras' reset_after=True keeps an input and a recurrent bias per gate, as
        # PyTorch's b_ih and b_hh: 3 gates x (input kernel + recurrent kernel + 2 biases), the same count
        # as PyTorch's GRU (reset_after=False would have one bias per gate, 3 units fewer per direction).
        return 3 * (inputs * units + units * units + 2 * units)

    trainable += 2 * gru(features) + 2 * gru(2 * units)  # two BiGRUs, the second on the concatenation
    trainable += 2 * (2 * units * classes + classes)  # strong and attention heads
    return trainable, moving


def test_hand_count_arithmetic():
    # specs/mtl_vae.md §5: conv blocks 464 + 5,760 + 22,784 + 90,624 + 3 x 164,352; BiGRUs 494,592; heads 5,140.
    trainable, moving = parameter_count(128, CRNN_DCASE2022_PRESETS["paper"]["filters"], 128)
    assert trainable == 612_688 + 494_592 + 5_140 == 1_112_420
    assert moving == 1_248


@pytest.mark.parametrize("preset", ["paper", "cpu"])
def test_preset_sizes_match_the_layer_table(preset):
    model = build_model("crnn_dcase2022", preset, input_shape=(None, 128, 1), num_classes=10)
    trainable, moving = parameter_count(128, **CRNN_DCASE2022_PRESETS[preset])
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == moving
    assert model.count_params() == trainable + moving
    if preset == "paper":
        assert trainable == 1_112_420
    else:
        assert trainable == 71_576


def test_outputs_pool_time_by_four():
    model = build_crnn_dcase2022((None, 128, 1), 10, filters=(2,) * 7, units=4)
    features = np.random.default_rng(0).normal(size=(2, 628, 128, 1)).astype("float32")  # 10 s at hop 256, padded
    outputs = check_outputs(model, features, {"strong": (2, 157, 10), "weak": (2, 10)})
    assert 0 < outputs["strong"].min() and outputs["strong"].max() < 1
    # A weighted mean over time lies between the frames' extremes.
    assert np.all(outputs["weak"] >= outputs["strong"].min(axis=1) - 1e-6)
    assert np.all(outputs["weak"] <= outputs["strong"].max(axis=1) + 1e-6)
    # PyTorch's floored AvgPool2d: 625 frames (not a multiple of 4) give 156.
    assert model(features[:, :625], training=False)["strong"].shape == (2, 156, 10)


def test_glu_is_a_channel_linear_map_gated_by_the_input():
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype("float32")
    layer = GLU()
    y = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
    expected = (x @ kernel + bias) / (1 + np.exp(-x))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert layer.count_params() == 3 * 3 + 3


def test_weak_head_weighs_frames_by_a_softmax_over_classes():
    rng = np.random.default_rng(2)
    probabilities = rng.random((2, 6, 4)).astype("float32")
    logits = rng.normal(size=(2, 6, 4)).astype("float32")
    logits[0, :, 1] = -200.0  # a class whose softmax weight underflows on every frame: the clip keeps it finite
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)  # over the classes, as nn.Softmax(dim=-1) on [B, T, K]
    clipped = np.clip(weights, 1e-7, 1.0)
    expected = (probabilities * clipped).sum(axis=1) / clipped.sum(axis=1)
    actual = keras.ops.convert_to_numpy(AttentionWeightedMean()([probabilities, keras.ops.softmax(logits, axis=-1)]))
    np.testing.assert_allclose(actual, expected, rtol=1e-5)
    np.testing.assert_allclose(actual[0, 1], probabilities[0, :, 1].mean(), rtol=1e-5)


def test_frequency_pooling_must_leave_a_bin():
    with pytest.raises(ConfigError, match="leaves no bin"):
        build_crnn_dcase2022((None, 64, 1), 10)  # 64 mel bins cannot be pooled 128x
    with pytest.raises(ConfigError, match="one \\(time, frequency\\) pair per conv block"):
        build_crnn_dcase2022((None, 128, 1), 10, filters=(4, 4))
    with pytest.raises(ConfigError, match="bins and channels known"):
        build_crnn_dcase2022((None, None, 1), 10)


def test_saving_and_export(tmp_path):
    model = build_crnn_dcase2022((None, 16, 1), 3, **TINY)
    features = np.random.default_rng(3).normal(size=(2, 12, 16, 1)).astype("float32")
    check_outputs(model, features, {"strong": (2, 3, 3), "weak": (2, 3)})
    check_saving(model, tmp_path, features, fresh_process=True)
