"""Tests of seld_tf.models.mtl_vae2022, seld_tf.layers.variational and seld_tf.losses.vae: parameter
counts, the KL against a numpy reference, sampling, batch-concatenation equivalence, saving and export."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import check_outputs, check_saving

from seld_tf.errors import ConfigError
from seld_tf.layers.variational import ReduceFrames, VariationalBottleneck
from seld_tf.losses.vae import OutputMeanLoss
from seld_tf.models.mtl_vae2022 import MTL_VAE2022_PRESETS, build_mtl_vae2022, mtl_vae2022_inference_model

BINS, CLASSES = 16, 3
TINY = dict(input_shape=(None, BINS, 1), num_classes=CLASSES, units=4, latent_dim=3)


def tiny_mtl_vae(**overrides):
    return build_mtl_vae2022(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def model():
    """The tiny model with every head, for the tests that neither train nor change it."""
    return tiny_mtl_vae(seed=3)


def features(batch=2, frames=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, frames, BINS, 1)).astype("float32")


def parameter_count(bins, units, latent, classes=10, attention=True, variational=True, reconstruction=True) -> int:
    """The MTL-VAE's size from its layer sizes (not from Keras)."""

    def gru(inputs):
        # One direction, Keras' reset_after=True: 3 gates x (input kernel + recurrent kernel + 2 biases).
        return 3 * (inputs * units + units * units + 2 * units)

    def dense(inputs, outputs):
        return inputs * outputs + outputs

    width = 2 * units  # concatenated BiGRU outputs

    def block(inputs):
        # The parameter-free attention's output is concatenated with the block input.
        first = 2 * inputs if attention else inputs
        return 2 * gru(first) + 2 * gru(width) + dense(inputs, width)  # two BiGRUs + tanh shortcut

    bottleneck = dense(width, 2 * latent if variational else latent)  # [mean, scale] or z
    heads = dense(width, classes) + (dense(width, bins) if reconstruction else 0)
    return block(bins) + bottleneck + block(latent) + heads


def test_hand_count_arithmetic():
    # Encoder 789,504 + 1,182,720 + 66,048; posterior 262,656; decoder 2 x 1,182,720 + 131,584;
    # strong head 5,130; reconstruction head 65,664.
    assert parameter_count(128, 256, 256) == 2_038_272 + 262_656 + 2_497_024 + 5_130 + 65_664 == 4_868_746
    assert parameter_count(128, 256, 256, reconstruction=False) == 4_868_746 - 65_664 == 4_803_082
    # The deterministic bottleneck Dense(512 -> 256) replaces the posterior Dense(512 -> 512).
    assert parameter_count(128, 256, 256, variational=False) == 4_868_746 - 262_656 + 131_328 == 4_737_418
    # Attention-free: the first BiGRUs see 128 (not 256) and 256 (not 512) features.
    assert parameter_count(128, 256, 256, attention=False) == 4_868_746 - 196_608 - 393_216 == 4_278_922
    cpu = 31_104 + 18_816 + 4_160 + 4_160 + 18_816 + 18_816 + 2_112 + 650 + 4_160
    assert parameter_count(64, 32, 32) == cpu == 102_794


@pytest.mark.parametrize(
    "variant, count_arguments, expected",
    [
        (dict(), dict(), 4_868_746),
        (dict(heads=("strong", "weak")), dict(reconstruction=False), 4_803_082),
        (dict(variational=False), dict(variational=False), 4_737_418),
    ],
    ids=["full", "no_reconstruction", "deterministic"],
)
def test_paper_size_parameter_counts(variant, count_arguments, expected):
    model = build_mtl_vae2022((None, 128, 1), **MTL_VAE2022_PRESETS["paper"], **variant)
    assert model.count_params() == parameter_count(128, 256, 256, **count_arguments) == expected
    # Symbolic shapes only: a paper-size forward pass is slow on a shared CPU.
    shapes = {name: tuple(tensor.shape) for name, tensor in model.output.items()}
    assert shapes["strong"] == (None, None, 10) and shapes["weak"] == (None, 10) and shapes["kl"] == (None,)


def test_cpu_preset_and_defaults():
    assert set(MTL_VAE2022_PRESETS) == {"paper", "cpu"}
    model = build_mtl_vae2022((None, 64, 1), **MTL_VAE2022_PRESETS["cpu"])
    assert model.count_params() == parameter_count(64, 32, 32) == 102_794
    defaults = inspect.signature(build_mtl_vae2022).parameters
    for name, value in MTL_VAE2022_PRESETS["paper"].items():
        assert defaults[name].default == value, name
    assert defaults["num_classes"].default == 10


def expected_shapes(names, batch, frames):
    shapes = {
        "strong": (batch, frames, CLASSES),
        "strong_logits": (batch, frames, CLASSES),
        "weak": (batch, CLASSES),
        "weak_logits": (batch, CLASSES),
        "reconstruction": (batch, frames, BINS, 1),  # the input's own shape: the features are its target
        "kl": (batch,),
    }
    return {name: shapes[name] for name in names}


def test_outputs(model):
    names = ("strong", "strong_logits", "weak", "weak_logits", "reconstruction", "kl")
    outputs = check_outputs(model, features(batch=2, frames=6), expected_shapes(names, 2, 6))
    assert np.all(outputs["kl"] > 0)  # the analytic KL of a non-degenerate posterior
    np.testing.assert_allclose(outputs["strong"], 1 / (1 + np.exp(-outputs["strong_logits"])), rtol=1e-5)
    np.testing.assert_allclose(outputs["weak"], 1 / (1 + np.exp(-outputs["weak_logits"])), rtol=1e-5)


@pytest.mark.parametrize(
    "heads, attention, names",
    [
        (("strong",), True, ("strong", "strong_logits", "kl")),
        (("weak", "reconstruction"), False, ("weak", "weak_logits", "reconstruction", "kl")),
    ],
)
def test_head_subsets_and_attention_free(heads, attention, names):
    model = tiny_mtl_vae(heads=heads, attention=attention)
    count = parameter_count(BINS, 4, 3, CLASSES, attention=attention, reconstruction="reconstruction" in heads)
    check_outputs(model, features(batch=1, frames=5), expected_shapes(names, 1, 5), expected_params=count)


def test_weak_logits_are_the_time_mean_of_the_strong_logits(model):
    for frames in (6, 5):  # the time axis is free
        outputs = model(features(frames=frames), training=False)
        strong, weak = np.asarray(outputs["strong_logits"]), np.asarray(outputs["weak_logits"])
        np.testing.assert_allclose(weak, strong.mean(axis=1), rtol=1e-5, atol=1e-6)


def reference_posterior(layer: VariationalBottleneck, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of the posterior from the layer's Dense weights, in float64."""
    params = h.astype("float64") @ np.asarray(layer.dense.kernel, "float64") + np.asarray(layer.dense.bias, "float64")
    latent = layer.latent_dim
    return params[..., :latent], np.logaddexp(0.0, params[..., latent:]) + layer.min_scale  # softplus


def reference_kl(mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """KL(N(mean, diag scale^2) || N(0, I)) of each frame, the textbook multivariate form."""
    latent = mean.shape[-1]
    covariance = np.einsum("...i,ij->...ij", scale**2, np.eye(latent))
    trace = np.trace(covariance, axis1=-2, axis2=-1)
    log_det = np.linalg.slogdet(covariance)[1]
    return 0.5 * (trace + np.sum(mean**2, axis=-1) - latent - log_det)


@pytest.mark.parametrize("latent_reduction, min_scale", [("sum", 0.0), ("mean", 0.0), ("sum", 0.5)])
def test_kl_matches_the_numpy_reference(latent_reduction, min_scale):
    layer = VariationalBottleneck(4, latent_reduction=latent_reduction, min_scale=min_scale, seed=0)
    h = 3 * np.random.default_rng(1).normal(size=(2, 9, 6)).astype("float32")  # wide spread of scales
    z, kl = layer(h)  # inference: z is the mean
    mean, scale = reference_posterior(layer, h)
    expected = reference_kl(mean, scale) / (4 if latent_reduction == "mean" else 1)
    assert kl.shape == (2, 9)
    np.testing.assert_allclose(np.asarray(kl), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(z), mean, rtol=1e-5, atol=1e-5)


def test_model_kl_is_the_clip_mean_or_sum_over_frames_and_latents(model):
    x = features(batch=3)
    bottleneck = model.get_layer("bottleneck")
    h = np.asarray(keras.Model(model.input, bottleneck.input)(x))
    mean, scale = reference_posterior(bottleneck, h)
    per_frame = reference_kl(mean, scale)  # [B, T], summed over the latents
    kl = np.asarray(model(x, training=False)["kl"])
    np.testing.assert_allclose(kl, per_frame.mean(axis=1) / TINY["latent_dim"], rtol=1e-4)
    # The authors' reduction: the sum over frames and latents, same weights.
    summed = tiny_mtl_vae(kl_reduction="sum_per_clip")
    summed.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(summed(x, training=False)["kl"]), per_frame.sum(axis=1), rtol=1e-4)


def sampling_layer(seed, **kwargs) -> VariationalBottleneck:
    layer = VariationalBottleneck(3, seed=seed, **kwargs)
    layer.build((None, None, 6))
    rng = np.random.default_rng(2)  # the same weights for every seed
    layer.set_weights([rng.normal(size=(6, 6)).astype("float32"), rng.normal(size=6).astype("float32")])
    return layer


def test_training_samples_are_seeded_and_reparameterised():
    h = np.random.default_rng(3).normal(size=(4, 500, 6)).astype("float32")

    def draws(seed):
        layer = sampling_layer(seed)
        return [np.asarray(layer(h, training=True)[0]) for _ in range(2)]

    first, second = draws(7), draws(7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.allclose(first[0], first[1])  # the generator moves on between calls
    assert not np.allclose(first[0], draws(8)[0])
    # z = mean + scale * eps with eps ~ N(0, 1): 6,000 standardised draws.
    mean, scale = reference_posterior(sampling_layer(7), h)
    noise = (first[0] - mean) / scale
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05


def test_monte_carlo_kl():
    layer = sampling_layer(5, kl_estimator="mc")
    h = np.tile(np.random.default_rng(4).normal(size=(1, 1, 6)).astype("float32"), (20_000, 1, 1))
    z, kl = (np.asarray(value) for value in layer(h, training=True))
    mean, scale = reference_posterior(layer, h)
    noise = (z - mean) / scale
    # log q(z) - log p(z) at the drawn z, summed over the latents.
    expected = np.sum(0.5 * (z**2 - noise**2) - np.log(scale), axis=-1)
    np.testing.assert_allclose(kl, expected, rtol=1e-3, atol=1e-3)
    analytic = reference_kl(mean, scale)
    assert abs(kl.mean() - analytic.mean()) < 0.06  # unbiased; its standard error here is about 0.01
    # Without a draw (inference) the estimator falls back to its expectation, the analytic KL.
    np.testing.assert_allclose(np.asarray(layer(h[:2])[1]), analytic[:2], rtol=1e-4)


def test_deterministic_bottleneck():
    layer = VariationalBottleneck(3, variational=False)
    h = np.random.default_rng(6).normal(size=(2, 5, 6)).astype("float32")
    z, kl = layer(h, training=True)
    expected = h @ np.asarray(layer.dense.kernel) + np.asarray(layer.dense.bias)
    np.testing.assert_allclose(np.asarray(z), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer(h, training=True)[0]), np.asarray(z))  # no sampling
    np.testing.assert_array_equal(np.asarray(kl), np.zeros((2, 5)))
    model = tiny_mtl_vae(variational=False)
    np.testing.assert_array_equal(np.asarray(model(features(), training=True)["kl"]), np.zeros(2))


def test_inference_uses_the_mean_and_training_samples_are_seeded(model):
    x = features()
    bottleneck = model.get_layer("bottleneck")
    h, z = keras.Model(model.input, [bottleneck.input, bottleneck.output[0]])(x, training=False)
    mean, _ = reference_posterior(bottleneck, np.asarray(h))
    np.testing.assert_allclose(np.asarray(z), mean, rtol=1e-5, atol=1e-5)

    # The same seed and weights give the same draws; the generator moves on between calls.
    twin = tiny_mtl_vae()
    twin.set_weights(model.get_weights())
    twin.get_layer("bottleneck").seed_generator.state.assign(bottleneck.seed_generator.state)
    first = np.asarray(model(x, training=True)["strong"])
    np.testing.assert_array_equal(np.asarray(twin(x, training=True)["strong"]), first)
    assert not np.allclose(np.asarray(model(x, training=True)["strong"]), first)


def test_a_concatenated_batch_equals_separate_calls(model):
    # Subsets (e.g. synthetic strong, weak, unlabeled) run through the shared network as one batch.
    parts = [features(batch=2, seed=7), features(batch=3, seed=8)]
    joint = model(np.concatenate(parts), training=False)
    separate = [model(part, training=False) for part in parts]
    for name, value in joint.items():
        expected = np.concatenate([np.asarray(outputs[name]) for outputs in separate])
        np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_inference_model_shares_weights_and_never_samples(model, tmp_path):
    sampling = tiny_mtl_vae(inference_latent="sample", seed=4)
    sampling.set_weights(model.get_weights())
    x = features()
    assert not np.allclose(np.asarray(sampling(x)["strong"]), np.asarray(sampling(x)["strong"]))
    inference = mtl_vae2022_inference_model(sampling)
    assert set(inference.output) == {"strong", "weak"}
    assert {id(weight) for weight in inference.weights} <= {id(weight) for weight in sampling.weights}
    # The mean-latent model with the same weights gives the same probabilities.
    expected = model(x, training=False)
    outputs = inference(x, training=False)
    for name in ("strong", "weak"):
        np.testing.assert_allclose(np.asarray(outputs[name]), np.asarray(expected[name]), rtol=1e-5, err_msg=name)
    # Shared, not copied: changing the trained model's head changes the inference model.
    head = sampling.get_layer("strong_logits")
    head.bias.assign(head.bias + 1.0)
    changed = inference(x, training=False)
    assert not np.allclose(np.asarray(changed["strong"]), np.asarray(outputs["strong"]))
    # The SavedModel export (test_saving covers the .keras round trip of the same layers).
    inference.export(tmp_path / "inference", verbose=False)
    exported = tf.saved_model.load(str(tmp_path / "inference"))  # kept alive: its variables die with it
    served = exported.serve(x)
    assert set(served) == {"strong", "weak"}
    for name in ("strong", "weak"):
        np.testing.assert_allclose(served[name].numpy(), np.asarray(changed[name]), rtol=1e-5, atol=1e-6, err_msg=name)


def test_inference_model_needs_both_event_outputs():
    with pytest.raises(ConfigError, match="weak"):
        mtl_vae2022_inference_model(tiny_mtl_vae(heads=("strong", "reconstruction")))


def test_output_mean_loss_logs_the_kl_as_its_own_term():
    loss = OutputMeanLoss()
    values = np.arange(6, dtype="float32").reshape(2, 3)
    assert float(loss(np.zeros(2), values)) == pytest.approx(2.5)
    # Per-example means 1 and 4, weighted 0 and 1, over the 2 examples.
    assert float(loss(np.zeros(2), values, sample_weight=np.array([0.0, 1.0]))) == pytest.approx(2.0)
    assert float(loss(np.zeros(2), values[:, 0])) == pytest.approx(1.5)

    model = tiny_mtl_vae(heads=("strong",))
    model.compile(
        loss={"strong_logits": keras.losses.BinaryCrossentropy(from_logits=True), "kl": OutputMeanLoss()},
        loss_weights={"strong_logits": 1.0, "kl": 0.25},
        run_eagerly=True,
    )
    x = features(batch=4)
    targets = {"strong_logits": np.zeros((4, 6, CLASSES), "float32"), "kl": np.zeros(4, "float32")}
    logs = model.evaluate(x, targets, batch_size=4, return_dict=True, verbose=0)
    kl = np.asarray(model(x, training=False)["kl"]).mean()
    assert logs["kl_loss"] == pytest.approx(kl, rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["strong_logits_loss"] + 0.25 * kl, rel=1e-5)


def test_saving(model, tmp_path):
    x = features(batch=2, frames=5)
    restored = check_saving(model, tmp_path, x, fresh_process=True)
    assert restored.get_layer("bottleneck").get_config() == model.get_layer("bottleneck").get_config()
    assert restored.get_layer("kl").get_config() == model.get_layer("kl").get_config()
    np.testing.assert_array_equal(
        np.asarray(mtl_vae2022_inference_model(restored)(x)["strong"]), np.asarray(model(x, training=False)["strong"])
    )


@pytest.mark.parametrize(
    "arguments",
    [
        dict(input_shape=(None, None, 1)),
        dict(input_shape=(None, BINS)),
        dict(heads=("strong", "strong")),
        dict(heads=("strong", "tagging")),
        dict(heads=("reconstruction",)),
        dict(kl_estimator="exact"),
        dict(kl_reduction="sum"),
        dict(inference_latent="median"),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        tiny_mtl_vae(**arguments)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: VariationalBottleneck(3, kl_estimator="exact"),
        lambda: VariationalBottleneck(3, latent_reduction="max"),
        lambda: VariationalBottleneck(3, min_scale=-1.0),
        lambda: ReduceFrames("max"),
    ],
)
def test_layers_reject_bad_arguments(layer):
    with pytest.raises(ValueError):
        layer()
