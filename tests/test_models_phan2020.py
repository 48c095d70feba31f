"""Tests of seld_tf.models.phan2020: shapes, the paper's parameter count, attention
weights, saving and export, and the experiments/phan2020 recipes."""

import inspect
from pathlib import Path

import keras
import numpy as np
import pytest
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.models.phan2020 import PHAN2020_PRESETS, attention_model, build_phan2020
from seld_tf.models.registry import build_model
from seld_tf.models.seldnet import build_seldnet
from seld_tf.recipes import load_recipe
from recipe_diff import changed_keys

RECIPES = Path(__file__).resolve().parents[1] / "experiments" / "phan2020"
CHANNELS = {"foa": 7, "mic": 10}


def tiny_phan2020(**overrides):
    arguments = dict(
        num_classes=3,
        conv_filters=(4, 4, 4, 4, 4, 4),
        rnn_units=4,
        attention_key_dim=4,
        attention_value_dim=6,
        fc_units=4,
    )
    return build_phan2020(**{**arguments, **overrides})


def paper_parameter_count(channels: int) -> int:
    """The paper-size network's size, derived from its layer sizes (not from Keras)."""
    filters, classes, kernel = (64, 64, 128, 128, 256, 256), 14, 3 * 3
    # Convolutions without bias (BatchNorm's beta replaces it): 3x3 x in x out.
    conv = sum(kernel * n_in * n_out for n_in, n_out in zip((channels,) + filters[:-1], filters))
    batch_norms = 4 * sum(filters)  # gamma, beta, moving mean, moving variance
    # 64 bins / 2^5 frequency pools = 2 bins x 256 filters = 512 GRU inputs. One
    # direction: 3 gates x (input kernel + recurrent kernel + 2 biases, Keras'
    # reset_after=True); two directions.
    gru = 2 * 3 * (512 * 256 + 256 * 256 + 2 * 256)
    # Attention on the 2 x 256 = 512 BiGRU outputs: Q, K 512 -> 64, V 512 -> 512, with biases.
    attention = 2 * (512 * 64 + 64) + (512 * 512 + 512)
    hidden = (512 * 512 + 512) + (512 * 512 + 512)  # two FC 512 per head, on 512 attention values
    sed_head = hidden + (512 * classes + classes)
    doa_head = hidden + (512 * 3 * classes + 3 * classes)
    return conv + batch_norms + gru + attention + sed_head + doa_head


def test_hand_count_arithmetic():
    # FOA: conv 4,032 + 36,864 + 73,728 + 147,456 + 294,912 + 589,824 = 1,146,816;
    # BN 3,584; BiGRU 2 x 591,360; attention 32,832 + 32,832 + 262,656 = 328,320;
    # heads 525,312 + 7,182 and 525,312 + 21,546.
    assert paper_parameter_count(7) == 1146816 + 3584 + 1182720 + 328320 + 532494 + 546858 == 3_740_792
    # MIC: only the first convolution sees the 3 extra channels (3 x 9 x 64 weights).
    assert paper_parameter_count(10) - paper_parameter_count(7) == 3 * 9 * 64


@pytest.mark.parametrize("channels", [7, 10], ids=["foa", "mic"])
def test_paper_size_shapes_and_parameter_count(channels):
    model = build_phan2020(input_shape=(None, 64, channels), **PHAN2020_PRESETS["paper"])
    assert model.count_params() == paper_parameter_count(channels)
    # BN moving statistics are the only non-trainable weights.
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 2 * (64 + 64 + 128 + 128 + 256 + 256)
    assert model.get_layer("flatten_frequency").output.shape == (None, None, 512)

    # Symbolic shapes only: a paper-size forward pass is slow on a shared CPU.
    shapes = model.compute_output_shape((1, 600, 64, channels))
    assert shapes == {"sed": (1, 120, 14), "doa": (1, 120, 14, 3)}


def test_default_arguments_are_the_paper_preset():
    defaults = inspect.signature(build_phan2020).parameters
    for name, value in PHAN2020_PRESETS["paper"].items():
        assert defaults[name].default == value, name


def test_paper_layer_settings():
    model = tiny_phan2020()
    # The first two convolutions are back-to-back: no pooling, no dropout after the first.
    assert "conv_block1_pool" not in {layer.name for layer in model.layers}
    assert model.get_layer("conv_block2_pool").pool_size == (5, 2)
    for index in range(3, 7):
        assert model.get_layer(f"conv_block{index}_pool").pool_size == (1, 2)
    for index in range(2, 7):
        assert model.get_layer(f"conv_block{index}_dropout").rate == 0.5
    assert model.get_layer("bigru").merge_mode == "concat"
    assert model.get_layer("bigru_dropout").rate == 0.1
    for head in ("sed", "doa"):
        for index in (1, 2):
            assert model.get_layer(f"{head}_fc{index}").activation is keras.activations.relu
            assert model.get_layer(f"{head}_dropout{index}").rate == 0.25
    assert model.get_layer("sed_out").activation is keras.activations.sigmoid
    assert model.get_layer("doa_out").activation is keras.activations.tanh


@pytest.mark.parametrize("channels", [7, 10], ids=["foa", "mic"])
def test_registry_cpu_preset(channels):
    model = build_model("phan2020", "cpu", input_shape=(None, 64, channels), num_classes=14)
    assert model.get_layer("conv_block1_conv").filters == PHAN2020_PRESETS["cpu"]["conv_filters"][0]
    assert model.count_params() < paper_parameter_count(channels) / 10
    features = np.random.default_rng(3).normal(size=(1, 600, 64, channels)).astype("float32")
    outputs = check_outputs(model, features, {"sed": (1, 120, 14), "doa": (1, 120, 14, 3)})
    assert np.all((outputs["sed"] > 0) & (outputs["sed"] < 1))
    assert np.all(np.abs(outputs["doa"]) <= 1)


def test_variable_length_input():
    model = tiny_phan2020()
    for frames in (50, 37):
        shapes = {"sed": (2, frames // 5, 3), "doa": (2, frames // 5, 3, 3)}
        check_outputs(model, np.zeros((2, frames, 64, 7), "float32"), shapes)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(pool_sizes=((5, 2), (1, 2))),
        dict(input_shape=(None, 16, 7)),
        dict(input_shape=(None, None, 7)),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        tiny_phan2020(**arguments)


def test_attention_model_exposes_the_layer_weights():
    model = tiny_phan2020()
    with_attention = attention_model(model)
    assert set(with_attention.output) == {"sed", "doa", "attention"}
    assert len(with_attention.weights) == len(model.weights)  # shared, not copied
    features = np.random.default_rng(0).normal(size=(2, 40, 64, 7)).astype("float32")
    outputs = with_attention(features, training=False)
    weights = np.asarray(outputs["attention"])
    assert weights.shape == (2, 8, 8)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(outputs["sed"]), np.asarray(model(features)["sed"]), rtol=1e-5)

    # The same weights from the attention layer's input, by the formula in numpy.
    layer = model.get_layer("attention")
    z = np.asarray(keras.Model(model.input, layer.input)(features, training=False), "float64")
    query = z @ np.asarray(layer.query_dense.kernel) + np.asarray(layer.query_dense.bias)
    key = z @ np.asarray(layer.key_dense.kernel) + np.asarray(layer.key_dense.bias)
    scores = query @ key.transpose(0, 2, 1) / np.sqrt(4)
    expected = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)


def test_attention_model_rejects_a_model_without_attention():
    seldnet = build_seldnet(num_classes=3, conv_filters=4, rnn_units=(4,), fc_units=4)
    with pytest.raises(ConfigError, match="no ScaledDotProductSelfAttention"):
        attention_model(seldnet, layer_name="bigru1")


def test_saving(tmp_path):
    model = tiny_phan2020()
    features = np.random.default_rng(1).normal(size=(2, 30, 64, 7)).astype("float32")
    restored = check_saving(model, tmp_path, features, fresh_process=True)
    # The attention weights stay reachable after reloading.
    np.testing.assert_array_equal(
        np.asarray(attention_model(restored)(features)["attention"]),
        np.asarray(attention_model(model)(features)["attention"]),
    )


# Table 1 settings: file stem -> (SED loss, SED weight, DOA weight).
LOSS_SETTINGS = {"mse": ("mse", 1.0, 1.0), "ce_mse_1000": ("bce", 1.0, 1000.0), "ce_mse_1": ("bce", 1.0, 1.0)}
PAPER_RECIPES = sorted(RECIPES.glob("*.yaml"))
CPU_RECIPES = sorted((RECIPES / "cpu").glob("*.yaml"))


def test_every_setting_has_a_recipe():
    assert {path.name for path in PAPER_RECIPES} == {f"{f}_{s}.yaml" for f in CHANNELS for s in LOSS_SETTINGS}
    assert {path.name for path in CPU_RECIPES} == {f"foa_{s}.yaml" for s in LOSS_SETTINGS}


@pytest.mark.parametrize("path", PAPER_RECIPES + CPU_RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe(path):
    recipe = load_recipe(path)
    array_format, setting = path.stem.split("_", 1)
    cpu = path.parent.name == "cpu"
    assert recipe.data.format == array_format and recipe.data.features == "dcase2020"
    assert (recipe.data.train_folds, recipe.data.validation_folds, recipe.data.test_folds) == ((3, 4, 5, 6), (2,), (1,))
    assert (recipe.loss.sed, recipe.loss.sed_weight, recipe.loss.doa_weight) == LOSS_SETTINGS[setting]
    assert recipe.loss.doa_masked
    assert recipe.model.name == "phan2020" and recipe.model.preset == ("cpu" if cpu else "paper")
    assert recipe.pipeline.spec_augment == dict(
        time_masks=2, time_mask_width=10, freq_masks=2, freq_mask_width=10, per_channel=True, fill="mean"
    )
    assert recipe.optimizer.name == "adam"
    # YAML 1.1 reads "2e-4" as a string: the rates must have come out as floats.
    assert isinstance(recipe.schedule.initial_learning_rate, float)
    assert isinstance(recipe.schedule.warmup_learning_rate, float)
    assert (recipe.evaluation.threshold, recipe.evaluation.segment_frames) == (0.5, 100)
    # Windows are whole label frames (5 feature frames), the model's time pooling.
    assert recipe.pipeline.train_frames % 5 == 0
    if cpu:
        # Only the CPU-size models are built, to keep the test fast.
        model = build_model(
            recipe.model.name,
            recipe.model.preset,
            input_shape=(recipe.pipeline.train_frames, 64, CHANNELS[array_format]),
            num_classes=14,
            **recipe.model.args,
        )
        assert model.output["sed"].shape == (None, recipe.pipeline.train_frames // 5, 14)
    else:
        assert (recipe.pipeline.train_frames, recipe.pipeline.batch_size, recipe.training.epochs) == (600, 64, 10000)
        schedule = recipe.schedule
        assert (schedule.initial_learning_rate, schedule.warmup_learning_rate) == (2e-4, 2e-5)
        assert schedule.warmup_epochs == 10
        assert (schedule.decay_epochs, schedule.decay_rate) == ((200, 600, 1000), 0.8)


# What the CPU variants change from their paper-size recipes: sizes and budget, and the dropout
# that a quarter of the widths cannot take (the recipe's header).
CPU_SIZE = {
    "pipeline.train_frames",
    "pipeline.batch_size",
    "model.preset",
    "model.args.conv_dropout",
    "schedule.initial_learning_rate",
    "schedule.warmup_epochs",
    "schedule.warmup_learning_rate",
    "schedule.decay_epochs",
    "training.epochs",
}


@pytest.mark.parametrize("path", PAPER_RECIPES + CPU_RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipes_differ_from_the_proposed_system_only_in_what_table_1_varies(path):
    # However the files extend one another, this is what they must resolve to.
    array_format, setting = path.stem.split("_", 1)
    loss_keys = ("loss.sed", "loss.sed_weight", "loss.doa_weight")
    changes = {key for key, value, proposed in zip(loss_keys, LOSS_SETTINGS[setting], LOSS_SETTINGS["mse"]) if value != proposed}
    changes |= {"data.format"} if array_format == "mic" else set()
    changes |= CPU_SIZE if path.parent.name == "cpu" else set()
    proposed = load_recipe(RECIPES / "foa_mse.yaml").to_dict()
    assert changed_keys(proposed, load_recipe(path).to_dict()) - {"name"} == changes
