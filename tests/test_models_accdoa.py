"""Tests of the "accdoa" and "multi_accdoa" output formats of build_seldnet and build_einv2."""

import numpy as np
import pytest
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.models.einv2 import build_einv2
from seld_tf.models.seldnet import build_seldnet

CLASSES = 3
SELDNET = dict(num_classes=CLASSES, conv_filters=4, rnn_units=(4,), fc_units=4, dropout=0.05)
EINV2 = dict(input_shape=(None, 32, 7), num_classes=CLASSES, filters=(4, 4, 8, 8), mhsa_layers=1, num_heads=2, ff_dim=8, dropout=0.0)


def dense(inputs: int, units: int) -> int:
    return inputs * units + units


def tiny_seldnet_parameters(head_units: tuple[int, ...]) -> int:
    """The tiny SELDnet on 64 x 7 features, from its layer sizes, with one head of `fc_units` hidden units per entry."""
    conv = (9 * 7 * 4 + 4) + 2 * (9 * 4 * 4 + 4)
    batch_norms = 3 * 4 * 4
    # 64 bins pooled by 4 * 4 * 2 leave 2, x 4 filters = 8 GRU inputs; per direction 3 gates, 2 biases each.
    gru = 2 * 3 * (8 * 4 + 4 * 4 + 2 * 4)
    return conv + batch_norms + gru + sum(dense(4, 4) + dense(4, units) for units in head_units)


@pytest.mark.parametrize(
    "output_format, num_tracks, shape, heads",
    [
        ("classwise", 3, None, (CLASSES, 3 * CLASSES)),
        ("accdoa", 3, (2, 10, CLASSES, 3), (3 * CLASSES,)),
        ("multi_accdoa", 3, (2, 10, 3, CLASSES, 3), (9 * CLASSES,)),
        ("multi_accdoa", 2, (2, 10, 2, CLASSES, 3), (6 * CLASSES,)),
    ],
)
def test_seldnet_formats_shapes_and_parameter_counts(output_format, num_tracks, shape, heads):
    model = build_seldnet(**SELDNET, output_format=output_format, num_tracks=num_tracks)
    features = np.random.default_rng(0).normal(size=(2, 50, 64, 7)).astype("float32")
    shapes = {"sed": (2, 10, CLASSES), "doa": (2, 10, CLASSES, 3)} if shape is None else {output_format: shape}
    outputs = check_outputs(model, features, shapes, expected_params=tiny_seldnet_parameters(heads))
    if shape is not None:
        assert np.all(np.abs(outputs[output_format]) <= 1)  # tanh
        assert model.get_layer(f"{output_format}_out").activation.__name__ == "tanh"


def test_seldnet_hand_count_arithmetic():
    # conv 256 + 296, BN 48, GRU 336; heads: SED 20 + 15, DOA and ACCDOA 20 + 45, multi-ACCDOA (3 tracks) 20 + 135.
    assert tiny_seldnet_parameters((3, 9)) == 256 + 296 + 48 + 336 + (20 + 15) + (20 + 45) == 1036
    assert tiny_seldnet_parameters((9,)) == 1036 - (20 + 15) == 1001
    assert tiny_seldnet_parameters((27,)) == 1001 + (135 - 45) == 1091


@pytest.mark.parametrize("sharing", ["soft", "none", "hard"])
def test_einv2_accdoa_head_reads_both_streams_and_replaces_the_classwise_heads(sharing):
    features = np.random.default_rng(1).normal(size=(1, 16, 32, 7)).astype("float32")
    classwise = build_einv2(**EINV2, sharing=sharing, output_format="classwise")
    # Class-wise heads on the 8-wide streams: SED 8 -> 3, DOA 8 -> 9.
    backbone = classwise.count_params() - dense(8, CLASSES) - dense(8, 3 * CLASSES)
    # The ACCDOA head reads the concatenated SED and DOA streams (16 wide), or the one hard-shared stream.
    width = 8 if sharing == "hard" else 16
    for output_format, tracks, shape in (("accdoa", 1, (1, 4, CLASSES, 3)), ("multi_accdoa", 3, (1, 4, 3, CLASSES, 3))):
        model = build_einv2(**EINV2, sharing=sharing, output_format=output_format, num_tracks=tracks)
        expected = backbone + dense(width, 3 * tracks * CLASSES)
        outputs = check_outputs(model, features, {output_format: shape}, expected_params=expected)
        assert np.all(np.abs(outputs[output_format]) <= 1)
        assert any(layer.name == "sed_doa_streams" for layer in model.layers) == (sharing != "hard")


def test_einv2_accdoa_arithmetic_of_the_soft_model():
    # Backbone of the tiny soft model: its class-wise size less the class-wise heads (27 + 81).
    classwise = build_einv2(**EINV2, output_format="classwise").count_params()
    accdoa = build_einv2(**EINV2, output_format="accdoa").count_params()
    multi = build_einv2(**EINV2, output_format="multi_accdoa", num_tracks=3).count_params()
    assert accdoa - classwise == (16 * 9 + 9) - (27 + 81) == 45
    assert multi - accdoa == 16 * 18 + 18


@pytest.mark.parametrize(
    "builder, arguments",
    [
        (build_seldnet, dict(SELDNET, output_format="multi-accdoa")),
        (build_seldnet, dict(SELDNET, output_format="multi_accdoa", num_tracks=0)),
        (build_einv2, dict(EINV2, output_format="acc_doa")),
    ],
)
def test_rejects_unknown_formats(builder, arguments):
    with pytest.raises(ConfigError):
        builder(**arguments)


def test_saving_a_multi_accdoa_einv2(tmp_path):
    model = build_einv2(**{**EINV2, "dropout": 0.1}, output_format="multi_accdoa", num_tracks=2)
    features = np.random.default_rng(2).normal(size=(2, 24, 32, 7)).astype("float32")
    restored = check_saving(model, tmp_path, features)
    assert restored.output["multi_accdoa"].shape == (None, None, 2, CLASSES, 3)
