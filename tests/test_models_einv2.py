"""Tests of seld_tf.models.einv2: variants, Table 1's parameter count, cross-stitch placement, saving."""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.layers.cross_stitch import CrossStitch, cross_stitch_summary
from seld_tf.layers.positional import SinusoidalPositionalEncoding
from seld_tf.models.einv2 import EINV2_PRESETS, build_einv2
from seld_tf.models.registry import build_model

TINY = dict(
    input_shape=(None, 32, 7),
    num_classes=3,
    filters=(4, 4, 8, 8),
    mhsa_layers=1,
    num_heads=2,
    ff_dim=8,
    dropout=0.0,
)


# The released EIN-SELD code's soft-sharing network (see build_einv2).
RELEASED_CODE = dict(stitch_order="sequential", mhsa_stitch=False, positional_encoding=False)


def tiny_einv2(**overrides):
    return build_einv2(**{**TINY, **overrides})


def stitch_widths(model) -> dict[str, int]:
    return {layer.name: layer.alpha.shape[0] for layer in model.layers if isinstance(layer, CrossStitch)}


def paper_parameter_count() -> int:
    """EINV2 (soft sharing, trackwise, M = 2, K = 14, 256 x 7 input), from Table 1's layer sizes."""
    filters, tracks, classes, d, ff = (64, 128, 256, 512), 2, 14, 512, 1024

    def conv_branch(in_channels):
        # Two bias-free 3x3 convolutions per block, each followed by a BatchNorm
        # (gamma, beta, moving mean, moving variance).
        total, previous = 0, in_channels
        for width in filters:
            total += 9 * previous * width + 9 * width * width + 2 * 4 * width
            previous = width
        return total

    stitches = 4 * (64 + 128 + 256) + tracks * 4 * d  # alpha_{2x2} per channel
    mhsa_layer = 4 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * 2 * d
    mhsa = 2 * tracks * 2 * mhsa_layer  # (task, track) stacks of 2 layers each
    heads = tracks * ((d * classes + classes) + (d * 3 + 3))
    return conv_branch(4) + conv_branch(7) + stitches + mhsa + heads


def test_hand_count_arithmetic():
    # SED convs 4,684,032 (first conv 9 x 4 x 64 = 2,304), DOA convs 4,685,760
    # (first conv 9 x 7 x 64 = 4,032), BatchNorms 2 x 7,680, stitches 1,792 +
    # 4,096, MHSA 8 layers x 2,102,784, heads 2 x (7,182 + 1,539).
    assert paper_parameter_count() == 4_684_032 + 4_685_760 + 15_360 + 5_888 + 16_822_272 + 17_442 == 26_230_754


def test_paper_size_parameter_count_and_stitch_placement():
    model = build_einv2(**EINV2_PRESETS["paper"])
    assert model.count_params() == paper_parameter_count()
    # Table 1: alpha @ 64, 128, 256 after conv blocks 1-3, alpha @ 512 after each track's MHSA.
    assert stitch_widths(model) == {
        "block1_stitch": 64,
        "block2_stitch": 128,
        "block3_stitch": 256,
        "track1_stitch": 512,
        "track2_stitch": 512,
    }
    assert model.get_layer("sed_block1_conv1").kernel.shape == (3, 3, 4, 64)
    assert model.get_layer("doa_block1_conv1").kernel.shape == (3, 3, 7, 64)


def test_released_code_configuration_lacks_only_the_mhsa_stitches_at_paper_size():
    defaults = {name: p.default for name, p in inspect.signature(build_einv2).parameters.items()}
    # The defaults are the paper's.
    paper = dict(stitch_order="simultaneous", mhsa_stitch=True, positional_encoding=True)
    assert {name: defaults[name] for name in RELEASED_CODE} == paper
    model = build_einv2(**EINV2_PRESETS["paper"], **RELEASED_CODE)
    # One alpha_{2x2} per channel of the transformer width, one stitch per track; the
    # positional encoding and the order have no weights.
    mhsa_stitch_params = 4 * EINV2_PRESETS["paper"]["filters"][-1]
    assert paper_parameter_count() - model.count_params() == mhsa_stitch_params * defaults["num_tracks"]
    assert stitch_widths(model) == {"block1_stitch": 64, "block2_stitch": 128, "block3_stitch": 256}
    assert {layer.order for layer in model.layers if isinstance(layer, CrossStitch)} == {"sequential"}


@pytest.mark.parametrize("num_tracks", [1, 3])
def test_stitch_options(num_tracks):
    paper, code = (tiny_einv2(num_tracks=num_tracks, **options) for options in ({}, RELEASED_CODE))
    assert paper.count_params() - code.count_params() == num_tracks * 4 * TINY["filters"][-1]
    blocks = ["block1_stitch", "block2_stitch", "block3_stitch"]
    tracks = [f"track{track}_stitch" for track in range(1, num_tracks + 1)]
    assert [(row["name"], row["order"]) for row in cross_stitch_summary(paper)] == [
        (name, "simultaneous") for name in blocks + tracks
    ]
    assert [(row["name"], row["order"]) for row in cross_stitch_summary(code)] == [
        (name, "sequential") for name in blocks
    ]
    # The same weights in the other order: the DOA stream, mixed second, changes.
    features = np.random.default_rng(3).normal(size=(1, 16, 32, 7)).astype("float32")
    sequential = tiny_einv2(num_tracks=num_tracks, stitch_order="sequential")
    sequential.set_weights(paper.get_weights())
    assert not np.allclose(paper(features)["doa"], sequential(features)["doa"])


@pytest.mark.parametrize("options", [{}, RELEASED_CODE], ids=["paper", "released_code"])
def test_every_cross_stitch_gets_a_gradient(options):
    model = tiny_einv2(**options)
    rng = np.random.default_rng(5)
    features = rng.normal(size=(2, 16, 32, 7)).astype("float32")
    weights = rng.normal(size=(2, 4, 2, 6)).astype("float32")
    stitches = [layer for layer in model.layers if isinstance(layer, CrossStitch)]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * model(features, training=True)["tracks"])
    gradients = tape.gradient(loss, [layer.alpha for layer in stitches])
    for layer, gradient in zip(stitches, gradients):
        gradient = gradient.numpy()
        assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0, layer.name


@pytest.mark.parametrize("sharing", ["soft", "hard", "none"])
@pytest.mark.parametrize("output_format", ["trackwise", "classwise"])
def test_output_shapes(sharing, output_format):
    model = tiny_einv2(sharing=sharing, output_format=output_format, num_tracks=3)
    # 40 frames/s features: 4 s -> 160 frames -> 40 outputs at the 100 ms label rate.
    features = np.random.default_rng(0).normal(size=(2, 160, 32, 7)).astype("float32")
    if output_format == "trackwise":
        shapes = {"sed": (2, 40, 3, 3), "doa": (2, 40, 3, 3), "tracks": (2, 40, 3, 6)}
        outputs = check_outputs(model, features, shapes)
        np.testing.assert_array_equal(outputs["tracks"], np.concatenate([outputs["sed"], outputs["doa"]], -1))
    else:
        outputs = check_outputs(model, features, {"sed": (2, 40, 3), "doa": (2, 40, 3, 3)})
    assert np.all((outputs["sed"] > 0) & (outputs["sed"] < 1))
    assert np.all(np.abs(outputs["doa"]) <= 1)


def test_sharing_variants_differ_only_where_documented():
    soft, none, hard = (tiny_einv2(sharing=sharing) for sharing in ("soft", "none", "hard"))
    assert stitch_widths(none) == stitch_widths(hard) == {}
    # Soft = no sharing + the stitches: 4 alphas per channel after blocks 1-3 and per track.
    assert soft.count_params() - none.count_params() == 4 * (4 + 4 + 8) + 2 * 4 * 8
    # Hard: one trunk on all 7 channels and one MHSA stack per track.
    assert hard.get_layer("shared_block1_conv1").kernel.shape == (3, 3, 7, 4)
    assert [layer.name for layer in hard.layers if "mhsa" in layer.name] == ["track1_mhsa1", "track2_mhsa1"]


def test_sed_branch_sees_only_the_log_mels():
    model = tiny_einv2(sharing="none")
    rng = np.random.default_rng(1)
    features = rng.normal(size=(1, 16, 32, 7)).astype("float32")
    changed = features.copy()
    changed[..., 4:] = rng.normal(size=changed[..., 4:].shape)
    before, after = model(features), model(changed)
    np.testing.assert_array_equal(before["sed"], after["sed"])
    assert not np.allclose(before["doa"], after["doa"])
    # With soft sharing the stitches carry the spatial channels into SED too.
    soft = tiny_einv2(sharing="soft")
    assert not np.allclose(soft(features)["sed"], soft(changed)["sed"])


def test_positional_encoding_is_switchable():
    def encodings(model):
        return [layer.name for layer in model.layers if isinstance(layer, SinusoidalPositionalEncoding)]

    assert encodings(tiny_einv2()) == ["sed_positional_encoding", "doa_positional_encoding"]
    assert encodings(tiny_einv2(sharing="hard")) == ["shared_positional_encoding"]
    assert encodings(tiny_einv2(positional_encoding=False)) == []


def test_presets_and_registry():
    assert set(EINV2_PRESETS) == {"paper", "cpu"}
    cpu = build_model("einv2", "cpu")
    assert cpu.count_params() < paper_parameter_count() / 20
    model = build_model("einv2", "cpu", input_shape=(None, 64, 10), num_classes=5, filters=(8, 8, 8, 8))
    assert model.get_layer("doa_block1_conv1").kernel.shape == (3, 3, 10, 8)
    assert model.output["sed"].shape == (None, None, 2, 5)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(sharing="partial"),
        dict(output_format="multi-accdoa"),
        dict(pool_sizes=((2, 2),)),
        dict(input_shape=(None, 32, 3)),
        dict(input_shape=(None, None, 7)),
        dict(input_shape=(None, 8, 7)),
        dict(num_heads=3),
        dict(stitch_order="parallel"),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        tiny_einv2(**arguments)


def test_saving(tmp_path):
    model = tiny_einv2(num_tracks=1, dropout=0.1)  # one track: tracing it for the export is the slow part
    features = np.random.default_rng(2).normal(size=(2, 24, 32, 7)).astype("float32")
    restored = check_saving(model, tmp_path, features, fresh_process=True)
    assert stitch_widths(restored) == stitch_widths(model)
