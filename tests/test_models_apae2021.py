"""Tests of seld_tf.layers.pooling and seld_tf.models.apae2021: the pooling equations against numpy,
the parameter counts of Deshmukh et al.'s networks, the analysis model and saving."""

import itertools

import keras
import numpy as np
import pytest
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.layers.pooling import (
    AttentionPooling,
    GlobalAttentionPooling,
    GlobalWeightedRankPooling,
    PaddedAveragePooling2D,
)
from seld_tf.models.apae2021 import APAE2021_PRESETS, apae2021_analysis_model, build_apae2021

TINY_INPUT = (12, 8, 1)
# Two blocks (atrous: its three layers) keep the SavedModel exports quick.
TINY = {
    "two_step_attention": dict(filters=(2, 3)),
    "gap": dict(filters=(2, 3)),
    "gmp": dict(filters=(2, 3)),
    "gwrp": dict(filters=(2, 3)),
    "atrous": dict(filters=(3, 4, 5)),
}


def tiny_model(pooling, **overrides):
    return build_apae2021(TINY_INPUT, 3, pooling=pooling, **{**TINY[pooling], **overrides})


def features(batch=2, shape=TINY_INPUT, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# Parameter counts from the layer sizes. BatchNorm holds 4 weights per channel
# (gamma, beta, moving mean and variance), convolutions before a BatchNorm no bias.


def double_conv_blocks(widths, in_channels):
    """[Conv 3x3 -> BN -> ReLU] x 2 per block."""
    total, previous = 0, in_channels
    for width in widths:
        total += 9 * previous * width + 9 * width * width + 2 * 4 * width
        previous = width
    return total


def apae_count(filters, frames, bins, classes, decoder=True, channels=1):
    encoder = double_conv_blocks(filters, channels) + filters[-1] * classes + classes  # + 1x1 class conv
    decoder_blocks = double_conv_blocks((*filters[-2::-1], channels), filters[-1]) if decoder else 0
    attention = 2 * (bins * bins + bins) + 2 * (frames * frames + frames)  # two Dense per step
    return encoder + decoder_blocks + attention


def vgg_count(filters, classes):
    return double_conv_blocks(filters, 1) + filters[-1] * classes + classes


def atrous_count(filters, classes):
    total, previous = 0, 1
    for width in filters:  # Conv 5x5 -> BN -> ReLU
        total += 25 * previous * width + 4 * width
        previous = width
    return total + 2 * (filters[-1] * classes + classes)  # attention and classification 1x1 convs


def test_hand_count_arithmetic():
    # Spec Sec. 1: encoder 1,185,097 (blocks 9,760 + 55,808 + 222,208 + 886,784, class conv
    # 10,537), decoder 582,705 (443,392 + 111,104 + 27,904 + 305), attention 8,320 + 194,064.
    assert apae_count((32, 64, 128, 256), 311, 64, 41) == 1_185_097 + 582_705 + 8_320 + 194_064 == 1_970_186
    assert apae_count((32, 64, 128, 256), 311, 64, 41, decoder=False) == 1_387_481
    # VGG bottleneck 9,760 + 55,808 + 222,208 + 295,936, class conv 5,289.
    assert vgg_count((32, 64, 128, 128), 41) == 583_712 + 5_289 == 589_001
    # Atrous 1,856 + 205,312 + 820,224, two 1x1 convs 21,074; Ren's 4th layer 3,278,848 and 42,066.
    assert atrous_count((64, 128, 256), 41) == 1_027_392 + 21_074 == 1_048_466
    assert atrous_count((64, 128, 256, 512), 41) == 4_348_306
    # Reduced 2APAE: 33,112 of its parameters are the attention Dense layers.
    assert apae_count((8, 16, 32, 64), 124, 32, 10) == 144_771
    assert 2 * (124**2 + 124) + 2 * (32**2 + 32) == 33_112


def trainable_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_paper_parameter_counts():
    apae = build_apae2021(**APAE2021_PRESETS["paper"])
    assert apae.count_params() == 1_970_186
    # Non-trainable: the moving statistics of 960 encoder and 450 decoder BatchNorm channels.
    assert apae.count_params() - trainable_count(apae) == 2 * (960 + 450) == 2_820
    for pooling in ("gap", "gmp", "gwrp"):
        assert build_apae2021(**APAE2021_PRESETS[f"paper_{pooling}"]).count_params() == 589_001
    assert build_apae2021(**APAE2021_PRESETS["paper_atrous"]).count_params() == 1_048_466
    assert build_apae2021(**APAE2021_PRESETS["paper_atrous"], atrous_layers=4).count_params() == 4_348_306
    assert build_apae2021(**APAE2021_PRESETS["paper"], decoder=False).count_params() == 1_387_481


def test_presets():
    expected = {
        "paper": apae_count((32, 64, 128, 256), 311, 64, 41),
        "paper_gap": vgg_count((32, 64, 128, 128), 41),
        "paper_atrous": atrous_count((64, 128, 256), 41),
        "cpu": apae_count((8, 16, 32, 64), 124, 32, 10),
        "cpu_gap": vgg_count((8, 16, 32, 32), 10),
        "cpu_gmp": vgg_count((8, 16, 32, 32), 10),
        "cpu_gwrp": vgg_count((8, 16, 32, 32), 10),
        "cpu_atrous": atrous_count((16, 32, 64), 10),
    }
    assert set(APAE2021_PRESETS) == set(expected) | {"paper_gmp", "paper_gwrp"}
    counts = {name: build_apae2021(**APAE2021_PRESETS[name]).count_params() for name in expected if "cpu" in name}
    assert counts == {name: count for name, count in expected.items() if "cpu" in name}
    assert counts == {"cpu": 144_771, "cpu_gap": 37_394, "cpu_gmp": 37_394, "cpu_gwrp": 37_394, "cpu_atrous": 66_148}
    # The GWRP decay follows the bins: r^(T F) at 124 x 32 is the paper's 0.9998^19,904.
    gwrp = build_apae2021(**APAE2021_PRESETS["cpu_gwrp"]).get_layer("gwrp")
    assert gwrp.effective_decay(124 * 32) == pytest.approx(0.998997, abs=1e-6)
    tail_weight = gwrp.effective_decay(124 * 32) ** (124 * 32)
    assert tail_weight == pytest.approx(0.9998**19_904) and tail_weight == pytest.approx(0.0187, abs=1e-4)


# Layers against numpy.


def average_pool_reference(x, pool_size, strides, padding, count_include_pad):
    """Brute force: every output cell's window, clipped to the real cells, over the divisor of its rule."""
    (kh, kw), (sh, sw), (ph, pw) = pool_size, strides, padding
    batch, height, width, channels = x.shape
    out_h, out_w = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    out = np.zeros((batch, out_h, out_w, channels))
    for i, j in itertools.product(range(out_h), range(out_w)):
        top, left = i * sh - ph, j * sw - pw
        rows = range(max(top, 0), min(top + kh, height))
        cols = range(max(left, 0), min(left + kw, width))
        window = x[:, rows.start : rows.stop, cols.start : cols.stop, :]
        divisor = kh * kw if count_include_pad else len(rows) * len(cols)
        out[:, i, j, :] = window.sum(axis=(1, 2)) / divisor
    return out


@pytest.mark.parametrize(
    "pool_size, strides, padding",
    [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (2, 1), (1, 0)), ((3, 2), (3, 2), (0, 1))],
)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_padded_average_pooling_matches_torch_rule(pool_size, strides, padding, count_include_pad):
    x = np.random.default_rng(3).normal(size=(2, 7, 6, 3)).astype("float32")
    layer = PaddedAveragePooling2D(pool_size, strides=strides, padding=padding, count_include_pad=count_include_pad)
    expected = average_pool_reference(x, pool_size, strides, padding, count_include_pad)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


def test_padded_average_pooling_borders():
    ones = np.ones((1, 5, 4, 1), "float32")
    pooled = keras.ops.convert_to_numpy(PaddedAveragePooling2D(3, strides=1, padding=1)(ones))[0, ..., 0]
    # PyTorch's AvgPool2d(3, 1, 1): the padding counts, corners 4/9, edges 6/9.
    assert pooled[0, 0] == pytest.approx(4 / 9) and pooled[0, 1] == pytest.approx(6 / 9)
    assert pooled[2, 1] == pytest.approx(1.0)
    # Keras' "same" pooling excludes it: that is count_include_pad=False.
    x = np.random.default_rng(4).normal(size=(2, 5, 4, 2)).astype("float32")
    keras_same = keras.layers.AveragePooling2D(3, strides=1, padding="same")(x)
    excluded = PaddedAveragePooling2D(3, strides=1, padding=1, count_include_pad=False)(x)
    np.testing.assert_allclose(excluded, keras_same, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        PaddedAveragePooling2D(3, padding=2)


def gwrp_reference(x, decay):
    values = -np.sort(-x.reshape(x.shape[0], -1, x.shape[-1]), axis=1)  # descending per class
    weights = decay ** np.arange(values.shape[1])
    return np.einsum("bnk,n->bk", values, weights) / weights.sum()


def test_gwrp_matches_numpy_and_rescales_its_decay():
    x = np.random.default_rng(5).uniform(size=(2, 9, 7, 4)).astype("float32")
    plain = GlobalWeightedRankPooling(0.9)
    assert plain.effective_decay(63) == 0.9
    np.testing.assert_allclose(plain(x), gwrp_reference(x, 0.9), rtol=1e-5)
    # decay 1 is the mean; a tiny decay the max.
    np.testing.assert_allclose(GlobalWeightedRankPooling(1.0)(x), x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(GlobalWeightedRankPooling(1e-6)(x), x.max(axis=(1, 2)), rtol=1e-5)
    # A decay chosen for 21 bins, applied to 63: r = 0.8^(21/63), so r^63 = 0.8^21.
    rescaled = GlobalWeightedRankPooling(0.8, reference_bins=21)
    assert rescaled.effective_decay(63) == pytest.approx(0.8 ** (1 / 3))
    np.testing.assert_allclose(rescaled(x), gwrp_reference(x, 0.8 ** (1 / 3)), rtol=1e-5)
    # Kong et al.'s numbers: at 19,904 bins r^19903 = 0.0187, half the weight is on the top 3,372
    # bins and 90 % on the top 10,735.
    weights = 0.9998 ** np.arange(19_904)
    assert weights.sum() == pytest.approx(4_906.68, abs=0.01) and weights[-1] == pytest.approx(0.0187, abs=1e-4)
    mass = np.cumsum(weights) / weights.sum()
    assert mass[3_372 - 1] == pytest.approx(0.5, abs=1e-4) and mass[10_735 - 1] == pytest.approx(0.9, abs=1e-4)


def test_gwrp_on_a_variable_number_of_frames():
    # In a model with unknown T the decay follows each input's number of bins.
    inputs = keras.Input((None, 4, 2))
    model = keras.Model(inputs, GlobalWeightedRankPooling(0.9, reference_bins=40)(inputs))
    for frames in (10, 5):
        x = features(shape=(frames, 4, 2), seed=frames)
        np.testing.assert_allclose(model(x), gwrp_reference(x, 0.9 ** (40 / (frames * 4))), rtol=1e-5)


def test_attention_pooling_steps_match_hand_computation():
    rng = np.random.default_rng(6)
    class_maps = rng.normal(size=(2, 5, 4, 3)).astype("float32")  # [B, T, F, K]
    step1, step2 = AttentionPooling(axis=2), AttentionPooling(axis=-2)
    frames, frequency_weights = step1(class_maps, return_attention=True)
    clip, time_weights = step2(frames, return_attention=True)
    assert step1.count_params() == 2 * (4 * 4 + 4) and step2.count_params() == 2 * (5 * 5 + 5)

    def weights(layer):
        names = ("classification_kernel", "classification_bias", "attention_kernel", "attention_bias")
        return [keras.ops.convert_to_numpy(getattr(layer, name)) for name in names]

    # Step 1 by the equations, per clip b, frame t, class k over the mel bins f, g:
    # P1[f] = sigmoid(sum_g Z[g] Wc[g, f] + bc[f]), A1 = softmax_f(sum_g Z[g] Wa[g, f] + ba[f]).
    wc, bc, wa, ba = weights(step1)
    expected_frames = np.zeros((2, 5, 3))
    expected_a1 = np.zeros_like(class_maps)
    for b, t, k in itertools.product(range(2), range(5), range(3)):
        z = class_maps[b, t, :, k]
        p1, a1 = sigmoid(z @ wc + bc), softmax(z @ wa + ba, axis=0)
        expected_frames[b, t, k] = np.sum(p1 * a1)
        expected_a1[b, t, :, k] = a1
    np.testing.assert_allclose(frames, expected_frames, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(frequency_weights, expected_a1, rtol=1e-5, atol=1e-6)
    # Step 2 over the frames, per clip and class.
    wc, bc, wa, ba = weights(step2)
    zp1 = np.transpose(expected_frames, (0, 2, 1))  # [B, K, T]
    a2 = softmax(zp1 @ wa + ba, axis=-1)
    np.testing.assert_allclose(clip, np.sum(sigmoid(zp1 @ wc + bc) * a2, axis=-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(time_weights, np.transpose(a2, (0, 2, 1)), rtol=1e-5, atol=1e-6)
    assert np.all((clip > 0) & (clip < 1))
    # PyTorch nn.Linear's initialisation: everything within 1/sqrt(n).
    assert all(np.abs(w).max() <= 1 / np.sqrt(5) for w in weights(step2))


def test_attention_pooling_needs_a_known_non_batch_axis():
    with pytest.raises(ValueError):
        AttentionPooling(axis=1)(keras.Input((None, 4)))
    with pytest.raises(ValueError):
        AttentionPooling(axis=0)(np.zeros((2, 3, 4), "float32"))


def test_global_attention_pooling_matches_numpy():
    rng = np.random.default_rng(7)
    u, v = (rng.normal(scale=3.0, size=(2, 6, 5, 4)).astype("float32") for _ in range(2))
    a = np.clip(sigmoid(u), 0.1, 0.9)
    log_c = np.log(softmax(v, axis=-1))
    expected = sigmoid((a * log_c).sum(axis=(1, 2)) / a.sum(axis=(1, 2)))
    y = keras.ops.convert_to_numpy(GlobalAttentionPooling()([u, v]))
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    assert np.all(y <= 0.5)


# Models.


def test_global_poolings_of_the_masks():
    x = features()
    for pooling, reduce in (("gap", np.mean), ("gmp", np.max), ("gwrp", None)):
        model = tiny_model(pooling)
        masks = keras.Model(model.input, model.get_layer("class_conv").output)(x)
        masks = keras.ops.convert_to_numpy(masks)
        assert np.all((masks > 0) & (masks < 1))
        # The paper-size decay 0.9998 rescaled from 19,904 to the 12 x 8 bins.
        expected = reduce(masks, axis=(1, 2)) if reduce else gwrp_reference(masks, 0.9998 ** (19_904 / 96))
        np.testing.assert_allclose(model(x)["clip"], expected, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["two_step_attention", "gap", "gmp", "gwrp", "atrous"])
def test_output_shapes_and_ranges(pooling):
    model = tiny_model(pooling)
    shapes = {"clip": (2, 3)}
    if pooling == "two_step_attention":
        shapes["reconstruction"] = (2, *TINY_INPUT)
    outputs = check_outputs(model, features(), shapes)
    assert np.all((outputs["clip"] > 0) & (outputs["clip"] < (0.5 + 1e-6 if pooling == "atrous" else 1)))


def test_decoder_options():
    keras.utils.set_random_seed(0)  # with two channels per block, some initialisations leave a block all zero
    relu, linear = tiny_model("two_step_attention"), tiny_model("two_step_attention", decoder_activation="linear")
    assert relu.count_params() == linear.count_params()
    # "linear" drops the last ReLU only: the output is the average pooling of the last BatchNorm.
    assert relu.get_layer("decoder_block2_pool").input is relu.get_layer("decoder_block2_relu2").output
    assert linear.get_layer("decoder_block2_pool").input is linear.get_layer("decoder_block2_bn2").output
    names = {layer.name for layer in linear.layers}
    assert "decoder_block2_relu1" in names and "decoder_block2_relu2" not in names
    x = features()
    assert np.all(keras.ops.convert_to_numpy(relu(x)["reconstruction"]) >= 0)
    assert np.any(keras.ops.convert_to_numpy(linear(x)["reconstruction"]) < 0)
    # The decoder mirrors the encoder widths down to the input's channels: 4, 3, 2, then 2 channels.
    stereo = build_apae2021((12, 8, 2), 3, filters=(2, 3, 4, 5))
    assert [stereo.get_layer(f"decoder_block{i}_conv2").filters for i in (1, 2, 3, 4)] == [4, 3, 2, 2]
    assert stereo.output["reconstruction"].shape == (None, 12, 8, 2)
    # A decoder on a baseline, with the baseline's unpooled blocks; no decoder on 2APAE.
    gap = tiny_model("gap", decoder=True)
    assert gap.output["reconstruction"].shape == (None, *TINY_INPUT)
    assert not any(isinstance(layer, PaddedAveragePooling2D) for layer in gap.layers)
    assert set(tiny_model("two_step_attention", decoder=False).output) == {"clip"}


def test_block_pooling_and_fair_comparison_variant():
    def pools(model):
        return [layer.name for layer in model.layers if isinstance(layer, PaddedAveragePooling2D)]

    assert pools(tiny_model("two_step_attention")) == [
        "encoder_block1_pool",
        "encoder_block2_pool",
        "decoder_block1_pool",
        "decoder_block2_pool",
    ]
    # The 2-step head on the baselines' bottleneck: VGG blocks (no sigmoid on the class maps) + attention.
    fair = build_apae2021(**APAE2021_PRESETS["paper"], filters=(32, 64, 128, 128), block_pooling=False, decoder=False)
    assert pools(fair) == []
    assert fair.count_params() == vgg_count((32, 64, 128, 128), 41) + 2 * (64 * 64 + 64) + 2 * (311 * 311 + 311)


def test_variable_length_for_the_baselines():
    for pooling in ("gap", "gwrp", "atrous"):
        model = build_apae2021((None, 8, 1), 3, pooling=pooling, **TINY[pooling])
        for frames in (12, 7):
            assert model(features(shape=(frames, 8, 1)))["clip"].shape == (2, 3)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(pooling="attention"),
        dict(decoder_activation="tanh"),
        dict(input_shape=(None, 8, 1)),  # 2-step attention needs T
        dict(input_shape=(12, None, 1)),
        dict(input_shape=(12, 8)),
        dict(pooling="atrous", filters=(2, 2)),
        dict(pooling="atrous", atrous_layers=5),
        dict(filters=()),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        build_apae2021(**{"input_shape": TINY_INPUT, "num_classes": 3, **arguments})


def test_analysis_model_shares_the_weights():
    model = tiny_model("two_step_attention")
    analysis = apae2021_analysis_model(model)
    assert {id(w) for w in analysis.weights} == {id(w) for w in model.weights}
    x = features()
    outputs = check_outputs(
        analysis,
        x,
        {
            "clip": (2, 3),
            "reconstruction": (2, *TINY_INPUT),
            "class_maps": (2, 12, 8, 3),
            "step1_attention": (2, 12, 8, 3),
            "step1_probabilities": (2, 12, 3),
            "step2_attention": (2, 12, 3),
        },
    )
    np.testing.assert_array_equal(outputs["clip"], keras.ops.convert_to_numpy(model(x)["clip"]))
    np.testing.assert_allclose(outputs["step1_attention"].sum(axis=2), 1.0, rtol=1e-5)
    np.testing.assert_allclose(outputs["step2_attention"].sum(axis=1), 1.0, rtol=1e-5)
    # A weight change in the model shows in the analysis model.
    kernel = model.get_layer("time_attention").attention_kernel
    kernel.assign(kernel + 1.0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(analysis(x)["clip"]), keras.ops.convert_to_numpy(model(x)["clip"])
    )
    with pytest.raises(ConfigError):
        apae2021_analysis_model(tiny_model("gap"))


def test_saving_2apae(tmp_path):
    model = tiny_model("two_step_attention", decoder_activation="linear")
    x = features()
    restored = check_saving(model, tmp_path, x, fresh_process=True)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(apae2021_analysis_model(restored)(x)["step2_attention"]),
        keras.ops.convert_to_numpy(apae2021_analysis_model(model)(x)["step2_attention"]),
    )


@pytest.mark.parametrize("pooling", ["gap", "gmp", "gwrp", "atrous"])
def test_saving_baselines(tmp_path, pooling):
    check_saving(tiny_model(pooling), tmp_path, features())
