"""Tests of seld_tf.models.nada2022: Table II's parameter counts, the variants and baselines, outputs, saving."""

import math

import keras
import numpy as np
import pytest
from model_harness import check_outputs, check_saving, predict

from seld_tf.errors import ConfigError
from seld_tf.models.nada2022 import NADA2022_PRESETS, build_nada2022

TINY = dict(
    input_shape=(None, 16, 1),
    num_events=3,
    num_scenes=2,
    filters=4,
    freq_pools=(4, 2),
    scene_filters=6,
    scene_time_pool=5,
    scene_dense=5,
    gru_units=3,
    event_dense=4,
)


def tiny_nada2022(**overrides):
    return build_nada2022(**{**TINY, **overrides})


def parameter_count(
    bins=64,
    channels=1,
    num_events=25,
    num_scenes=4,
    filters=128,
    freq_pools=(8, 2, 2),
    scene_filters=256,
    scene_pool="global",
    scene_dense=32,
    gru_units=32,
    event_dense=32,
    branches=("scene", "event"),
    **_,
) -> tuple[int, int]:
    """`(total, non-trainable)` parameters of the network of Table II, from its layer sizes."""

    def conv(inputs, outputs):
        # 3x3 kernel and bias, then a BatchNorm (gamma, beta, moving mean, moving variance).
        return 9 * inputs * outputs + outputs + 4 * outputs

    def dense(inputs, outputs):
        return inputs * outputs + outputs

    shared_bins = bins // math.prod(freq_pools)
    total = conv(channels, filters) + (len(freq_pools) - 1) * conv(filters, filters)
    batch_norm_channels = len(freq_pools) * filters
    if "scene" in branches:
        scene_features = scene_filters if scene_pool == "global" else shared_bins * scene_filters
        total += conv(filters, scene_filters) + conv(scene_filters, scene_filters)
        total += dense(scene_features, scene_dense) + dense(scene_dense, num_scenes)
        batch_norm_channels += 2 * scene_filters
    if "event" in branches:
        # BiGRU, Keras' reset_after=True: 3 gates x (input kernel, recurrent kernel, 2 biases) per direction.
        gru_inputs = shared_bins * filters
        total += 2 * 3 * (gru_inputs * gru_units + gru_units * gru_units + 2 * gru_units)
        total += dense(2 * gru_units, event_dense) + dense(event_dense, num_events)
    return total, 2 * batch_norm_channels


# (preset, branches) -> (total, trainable), the counts of spec nada2022.md §1.
SPEC_COUNTS = {
    ("paper", ("scene", "event")): (1_252_221, 1_250_429),
    ("paper", ("scene",)): (1_193_636, 1_191_844),
    ("paper", ("event",)): (356_569, 355_801),
    ("code", ("scene", "event")): (1_330_429, 1_328_637),
    ("code", ("scene",)): (1_201_828, 1_200_036),
    ("code", ("event",)): (426_585, 425_817),
}


def test_hand_count_arithmetic():
    # Shared 297,984 (first conv 1,280 + BN 512, two convs 147,584 + 512), event
    # branch 58,585 (BiGRU 2 x 3 x 9,280), scene branch 895,652 (convs 295,168 +
    # 590,080, BNs 2 x 1,024, FCs 8,224 + 132).
    shared, event, scene = 297_984, 55_680 + 2_080 + 825, 295_168 + 590_080 + 2 * 1_024 + 8_224 + 132
    assert parameter_count(branches=()) == (shared, 2 * 3 * 128)
    assert parameter_count() == (shared + event + scene, 1_792) == (1_252_221, 1_792)
    for (preset, branches), (total, trainable) in SPEC_COUNTS.items():
        counted, non_trainable = parameter_count(**NADA2022_PRESETS[preset], branches=branches)
        assert (counted, counted - non_trainable) == (total, trainable), (preset, branches)


@pytest.mark.parametrize("preset, branches", list(SPEC_COUNTS))
def test_paper_and_code_parameter_counts(preset, branches):
    model = build_nada2022((500, 64, 1), 25, 4, **NADA2022_PRESETS[preset], branches=branches)
    total, trainable = SPEC_COUNTS[preset, branches]
    assert model.count_params() == total
    assert sum(math.prod(weight.shape) for weight in model.trainable_weights) == trainable
    expected = {}
    if "scene" in branches:
        expected |= {"scene": (None, 4), "scene_logits": (None, 4)}
    if "event" in branches:
        # No time pooling on the event path: the outputs keep the 20 ms frames.
        expected |= {"event": (None, 500, 25), "event_logits": (None, 500, 25)}
    assert {name: tuple(tensor.shape) for name, tensor in model.output.items()} == expected


def test_layers_follow_table_2_and_the_code():
    paper = build_nada2022(**NADA2022_PRESETS["paper"])
    assert paper.get_layer("event_bigru").forward_layer.units == 32
    assert paper.get_layer("event_fc").kernel.shape == (64, 32)
    assert paper.get_layer("scene_fc").kernel.shape == (256, 32)  # global max pooling: 256 features
    assert paper.get_layer("scene1_pool").pool_size == (25, 1)
    batch_norm = paper.get_layer("shared1_bn")
    assert (batch_norm.momentum, batch_norm.epsilon) == (0.9, 1e-5)  # PyTorch's BatchNorm2d defaults
    leaky = [layer for layer in paper.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(leaky) == 3 + 2 + 2 and {layer.negative_slope for layer in leaky} == {0.01}
    assert {layer.rate for layer in paper.layers if isinstance(layer, keras.layers.Dropout)} == {0.15}

    code = build_nada2022(**NADA2022_PRESETS["code"])
    assert code.get_layer("scene_fc").kernel.shape == (512, 32)  # time-only pooling: 2 bins x 256
    assert code.get_layer("event_fc").kernel.shape == (128, 32)
    assert not any(isinstance(layer, keras.layers.LeakyReLU) for layer in code.layers)
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in code.layers) == 7


def test_cpu_preset_is_small():
    model = build_nada2022(**NADA2022_PRESETS["cpu"])
    assert model.count_params() == parameter_count(**NADA2022_PRESETS["cpu"])[0] == 87_101
    assert set(NADA2022_PRESETS) == {"paper", "code", "cpu"}


@pytest.mark.parametrize("scene_pool, activation", [("global", "leaky_relu"), ("time", "relu")])
def test_outputs_are_the_activations_of_the_logits(scene_pool, activation):
    model = tiny_nada2022(scene_pool=scene_pool, activation=activation)
    features = np.random.default_rng(0).normal(size=(2, 30, 16, 1)).astype("float32")
    shapes = {"scene": (2, 2), "scene_logits": (2, 2), "event": (2, 30, 3), "event_logits": (2, 30, 3)}
    expected_params = parameter_count(
        bins=16, **{key: value for key, value in TINY.items() if key != "input_shape"}, scene_pool=scene_pool
    )[0]
    outputs = check_outputs(model, features, shapes, expected_params)
    scene_logits = outputs["scene_logits"]
    softmax = np.exp(scene_logits - scene_logits.max(-1, keepdims=True))
    np.testing.assert_allclose(outputs["scene"], softmax / softmax.sum(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(outputs["event"], 1 / (1 + np.exp(-outputs["event_logits"])), rtol=1e-6)


@pytest.mark.parametrize("branch", ["scene", "event"])
def test_single_task_baselines_have_one_branch(branch):
    model = tiny_nada2022(branches=(branch,))
    assert set(model.output) == {branch, f"{branch}_logits"}
    other = "event" if branch == "scene" else "scene"
    assert not [layer.name for layer in model.layers if layer.name.startswith(other)]
    both = tiny_nada2022()
    # Same layer names and sizes as the multitask network: the baseline is its shared + branch layers.
    for layer in model.layers[1:]:
        assert [w.shape for w in layer.weights] == [w.shape for w in both.get_layer(layer.name).weights]


@pytest.mark.parametrize("frames", [1, 61])
def test_variable_length_inputs(frames):
    model = tiny_nada2022()
    features = np.random.default_rng(frames).normal(size=(1, frames, 16, 1)).astype("float32")
    outputs = predict(model, features)
    assert outputs["event"].shape == (1, frames, 3) and outputs["scene"].shape == (1, 2)
    assert np.all(np.isfinite(outputs["scene"]))


def test_scene_pooling_keeps_the_frames_past_the_last_full_pool():
    # Frame 29 of 30 reaches only frames 26..29 of the first scene convolution's
    # output (two shared and one scene 3x3 convolution, one frame each way each),
    # which an unpadded 25-frame pooling (30 frames -> 1) would drop.
    model = tiny_nada2022(scene_time_pool=25)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(1, 30, 16, 1)).astype("float32")
    changed = features.copy()
    changed[:, 29] = rng.normal(size=changed[:, 29].shape) * 10
    assert not np.allclose(predict(model, features)["scene_logits"], predict(model, changed)["scene_logits"])


@pytest.mark.parametrize(
    "arguments",
    [
        dict(branches=()),
        dict(branches=("scene", "scene")),
        dict(branches=("doa",)),
        dict(scene_pool="average"),
        dict(activation="gelu"),
        dict(input_shape=(None, None, 1)),
        dict(input_shape=(None, 16)),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        tiny_nada2022(**arguments)


def test_saving(tmp_path):
    model = tiny_nada2022(scene_pool="time")
    features = np.random.default_rng(2).normal(size=(2, 12, 16, 1)).astype("float32")
    restored = check_saving(model, tmp_path, features, fresh_process=True)
    assert restored.get_layer("shared1_bn").epsilon == 1e-5
    assert restored.get_layer("shared1_leaky_relu").negative_slope == 0.01
