"""Tests of seld_tf.models.seldnet: shapes, the baseline's parameter count, saving and export."""

import numpy as np
import pytest
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.models import SELDNET_PRESETS, build_seldnet, seldnet_from_preset


def tiny_seldnet(**overrides):
    arguments = dict(num_classes=3, conv_filters=4, rnn_units=(4, 4), fc_units=4, dropout=0.05)
    return build_seldnet(**{**arguments, **overrides})


def gru_parameters(inputs: int, units: int) -> int:
    """One GRU direction: 3 gates x (input kernel + recurrent kernel + 2 biases).

    Two bias vectors per gate because Keras 3 defaults to `reset_after=True`.
    """
    return 3 * (inputs * units + units * units + 2 * units)


def paper_parameter_count(channels: int) -> int:
    """The baseline's size, derived from its layer table (not from Keras)."""
    filters, kernel, classes, fc = 64, 3 * 3, 14, 128
    conv1 = kernel * channels * filters + filters  # 3x3xCx64 kernel + bias
    conv23 = 2 * (kernel * filters * filters + filters)  # 3x3x64x64 + bias, twice
    batch_norms = 3 * 4 * filters  # gamma, beta, moving mean, moving variance
    # 64 bins / (4 * 4 * 2) = 2 bins left, x 64 filters = 128 GRU inputs.
    gru_inputs = (64 // (4 * 4 * 2)) * filters
    # Two directions per layer; "mul" merging keeps 128 features for the second layer.
    rnn = 2 * gru_parameters(gru_inputs, 128) + 2 * gru_parameters(128, 128)
    sed_head = (128 * fc + fc) + (fc * classes + classes)
    doa_head = (128 * fc + fc) + (fc * 3 * classes + 3 * classes)
    return conv1 + conv23 + batch_norms + rnn + sed_head + doa_head


def test_hand_count_arithmetic():
    # FOA: conv 4,096 + 2 x 36,928; BN 768; GRUs 2 x 2 x 99,072; heads 16,512 + 1,806
    # + 16,512 + 5,418.
    assert paper_parameter_count(7) == 4096 + 2 * 36928 + 768 + 4 * 99072 + 40248 == 515256
    # MIC: only the first convolution sees the 3 extra channels (3 x 9 x 64 weights).
    assert paper_parameter_count(10) - paper_parameter_count(7) == 3 * 9 * 64


@pytest.mark.parametrize("channels", [7, 10], ids=["foa", "mic"])
def test_paper_size_shapes_and_parameter_count(channels):
    model = seldnet_from_preset("paper", input_shape=(None, 64, channels))
    # BN moving statistics are the only non-trainable weights.
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 3 * 2 * 64

    # 2 s of 20 ms frames: 20 labels of 100 ms.
    outputs = check_outputs(
        model,
        np.zeros((1, 100, 64, channels), "float32"),
        {"sed": (1, 20, 14), "doa": (1, 20, 14, 3)},
        expected_params=paper_parameter_count(channels),
    )
    assert np.all((outputs["sed"] > 0) & (outputs["sed"] < 1))
    assert np.all(np.abs(outputs["doa"]) <= 1)


def test_variable_length_input():
    model = tiny_seldnet()
    for frames in (50, 35):
        shapes = {"sed": (2, frames // 5, 3), "doa": (2, frames // 5, 3, 3)}
        check_outputs(model, np.zeros((2, frames, 64, 7), "float32"), shapes)


def test_presets():
    assert set(SELDNET_PRESETS) == {"paper", "cpu"}
    cpu = seldnet_from_preset("cpu")
    assert cpu.get_layer("conv_block1_conv").filters == 32
    assert cpu.count_params() < seldnet_from_preset("paper").count_params() / 3
    assert seldnet_from_preset("cpu", conv_filters=8).get_layer("conv_block3_conv").filters == 8
    with pytest.raises(ConfigError, match="'large'"):
        seldnet_from_preset("large")


def test_dropout_reaches_every_stage():
    model = tiny_seldnet(dropout=0.05)
    gru = model.get_layer("bigru1").forward_layer
    assert gru.dropout == 0.05 and gru.recurrent_dropout == 0.05
    assert model.get_layer("conv_block2_dropout").rate == 0.05
    assert model.get_layer("sed_dropout").rate == 0.05


@pytest.mark.parametrize(
    "arguments",
    [
        dict(pool_time=(5, 1), pool_freq=(4, 4, 2)),
        dict(input_shape=(None, 16, 7), pool_freq=(4, 4, 2)),
        dict(input_shape=(None, None, 7)),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        build_seldnet(**arguments)


def test_saving(tmp_path):
    model = tiny_seldnet(rnn_units=(4,))  # one GRU layer: tracing it for the export is the slow part
    features = np.random.default_rng(0).normal(size=(2, 30, 64, 7)).astype("float32")
    check_saving(model, tmp_path, features, fresh_process=True)
