"""Tests of seld_tf.losses.focal: Eqs. (5)-(6) of Nada et al. against numpy, their reductions and saturation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.errors import ConfigError
from seld_tf.losses.focal import EventFocalLoss, SceneFocalLoss
from seld_tf.models.nada2022 import build_nada2022
from seld_tf.saving import load_model

RNG = np.random.default_rng(0)
B, T, K, S = 3, 7, 5, 4


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def scene_reference(z, x, eta, weights=None):
    """Eq. (5) per clip, in float64 and probability space, weighted and averaged over the batch."""
    y = softmax(x.astype("float64"))
    per_clip = -np.sum((1 - y) ** eta * z * np.log(y), axis=-1)
    weights = np.ones(len(z)) if weights is None else weights
    return np.sum(weights * per_clip) / len(z)


def event_reference(z, x, gamma, zeta, mode, weights=None):
    """Eq. (6): the mean over all elements ("mean") or per-clip sum then batch mean ("sum")."""
    y = 1 / (1 + np.exp(-x.astype("float64")))
    elements = -((1 - y) ** gamma * z * np.log(y) + y**zeta * (1 - z) * np.log(1 - y))
    weights = np.ones(z.shape[:2]) if weights is None else np.broadcast_to(weights, z.shape[:2])
    weighted = weights[..., None] * elements
    return weighted.sum() / elements.size if mode == "mean" else weighted.sum() / len(z)


def event_data():
    logits = RNG.normal(scale=3, size=(B, T, K)).astype("float32")
    targets = (RNG.random((B, T, K)) < 0.3).astype("float32")
    return targets, logits


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0, 2.0])
def test_scene_loss_matches_equation_5(eta):
    logits = RNG.normal(scale=3, size=(B, S)).astype("float32")
    one_hot = np.eye(S, dtype="float32")[[0, 3, 1]]
    soft = RNG.dirichlet(np.ones(S), size=B).astype("float32")
    weights = np.array([0.5, 0.0, 2.0], "float32")
    loss = SceneFocalLoss(eta=eta)
    for targets in (one_hot, soft):
        np.testing.assert_allclose(loss(targets, logits), scene_reference(targets, logits, eta), rtol=1e-5)
        np.testing.assert_allclose(
            loss(targets, logits, sample_weight=weights), scene_reference(targets, logits, eta, weights), rtol=1e-5
        )


@pytest.mark.parametrize("gamma, zeta", [(0.0, 0.0), (1.0, 0.0625), (2.0, 0.5)])
@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_event_loss_matches_equation_6(gamma, zeta, mode):
    targets, logits = event_data()
    loss = EventFocalLoss(gamma=gamma, zeta=zeta, reduction_mode=mode)
    expected = event_reference(targets, logits, gamma, zeta, mode)
    np.testing.assert_allclose(loss(targets, logits), expected, rtol=1e-5)
    clip_weights = np.array([[1.0], [0.0], [3.0]], "float32")  # [B, 1]: seld_tf.pipeline's frame-target weights
    frame_mask = (np.arange(T) < np.array([[7], [4], [1]])).astype("float32")  # [B, T]: padded frames left out
    for weights in (clip_weights, frame_mask):
        np.testing.assert_allclose(
            loss(targets, logits, sample_weight=weights),
            event_reference(targets, logits, gamma, zeta, mode, weights),
            rtol=1e-5,
        )


def test_sum_is_the_frames_and_classes_times_the_mean():
    targets, logits = event_data()
    mean, total = (EventFocalLoss(reduction_mode=mode)(targets, logits) for mode in ("mean", "sum"))
    np.testing.assert_allclose(total, T * K * mean, rtol=1e-6)
    # A clip-level (tagging) output [B, K]: sum over the classes, then the batch mean.
    clip_targets, clip_logits = targets[:, 0], logits[:, 0]
    np.testing.assert_allclose(
        EventFocalLoss(reduction_mode="sum")(clip_targets, clip_logits),
        K * EventFocalLoss(reduction_mode="mean")(clip_targets, clip_logits),
        rtol=1e-6,
    )


def test_zero_exponents_are_keras_cross_entropies():
    logits = RNG.normal(scale=4, size=(B, S)).astype("float32")
    targets = np.eye(S, dtype="float32")[[2, 2, 0]]
    weights = np.array([1.0, 0.25, 0.0], "float32")
    categorical = keras.losses.CategoricalCrossentropy(from_logits=True)
    for sample_weight in (None, weights):
        np.testing.assert_allclose(
            SceneFocalLoss(eta=0.0)(targets, logits, sample_weight=sample_weight),
            categorical(targets, logits, sample_weight=sample_weight),
            rtol=1e-6,
        )
    event_targets, event_logits = event_data()
    binary = keras.losses.BinaryCrossentropy(from_logits=True)
    for sample_weight in (None, np.array([[0.5], [1.0], [0.0]], "float32"), RNG.random((B, T)).astype("float32")):
        np.testing.assert_allclose(
            EventFocalLoss(gamma=0.0, zeta=0.0)(event_targets, event_logits, sample_weight=sample_weight),
            binary(event_targets, event_logits, sample_weight=sample_weight),
            rtol=1e-6,
        )


@pytest.mark.parametrize("magnitude", [30.0, 100.0])
def test_saturated_logits_give_finite_losses_and_gradients(magnitude):
    # Every sign combination of a confident output and its target: right and very wrong.
    scene_logits = tf.Variable(magnitude * np.array([[1, -1, -1, -1], [1, -1, -1, -1], [1, 1, -1, -1]], "float32"))
    scene_targets = np.eye(S, dtype="float32")[[0, 1, 0]]
    event_logits = tf.Variable(magnitude * np.array([[[1, -1, 1, -1]]], "float32"))
    event_targets = np.array([[[1, 1, 0, 0]]], "float32")
    losses = [
        (SceneFocalLoss(eta), scene_targets, scene_logits) for eta in (0.0, 0.5, 1.0)
    ] + [
        (EventFocalLoss(gamma, zeta, mode), event_targets, event_logits)
        for gamma, zeta in ((0.0, 0.0), (1.0, 0.0625))
        for mode in ("mean", "sum")
    ]
    for loss, targets, logits in losses:
        with tf.GradientTape() as tape:
            value = loss(targets, logits)
        gradient = tape.gradient(value, logits)
        assert np.isfinite(value.numpy()) and np.all(np.isfinite(gradient.numpy())), loss.get_config()
    # A confidently wrong output costs its logit gap whatever the focusing (its
    # modulating factor is about 1); a right one costs nothing; a tie of two
    # scenes costs (1 - 1/2) ** eta * log(2).
    per_clip = SceneFocalLoss(0.5, reduction="none")(scene_targets, scene_logits).numpy()
    np.testing.assert_allclose(per_clip, [0.0, 2 * magnitude, 0.5**0.5 * np.log(2)], atol=1e-6, rtol=1e-6)
    per_frame = EventFocalLoss(1.0, 0.0625, "sum", reduction="none")(event_targets, event_logits).numpy()
    np.testing.assert_allclose(per_frame, [[2 * magnitude]], rtol=1e-6)


def test_config_round_trip():
    for loss in (SceneFocalLoss(eta=1.0, name="scene"), EventFocalLoss(gamma=2.0, zeta=0.25, reduction_mode="sum")):
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(restored) is type(loss) and restored.get_config() == loss.get_config()
    assert EventFocalLoss().get_config()["reduction_mode"] == "mean"
    assert SceneFocalLoss().eta == 0.5


@pytest.mark.parametrize(
    "make",
    [
        lambda: SceneFocalLoss(eta=-0.5),
        lambda: EventFocalLoss(gamma=-1.0),
        lambda: EventFocalLoss(zeta=float("nan")),
        lambda: EventFocalLoss(reduction_mode="none"),
    ],
)
def test_rejects_bad_arguments(make):
    with pytest.raises(ConfigError):
        make()


def test_trains_the_multitask_model_from_its_logits(tmp_path):
    sizes = dict(filters=4, freq_pools=(4, 2), scene_filters=4, scene_time_pool=5, scene_dense=4, gru_units=2)
    model = build_nada2022((None, 16, 1), num_events=3, num_scenes=2, **sizes, event_dense=4)
    losses = {"scene_logits": SceneFocalLoss(0.5), "event_logits": EventFocalLoss(1.0, 0.0625, "sum")}
    model.compile(optimizer="adam", loss=losses, loss_weights={"scene_logits": 0.001, "event_logits": 1.0})
    features = RNG.normal(size=(4, 20, 16, 1)).astype("float32")
    targets = {
        "scene_logits": np.eye(2, dtype="float32")[[0, 1, 1, 0]],
        "event_logits": (RNG.random((4, 20, 3)) < 0.2).astype("float32"),
    }
    weights = {"scene_logits": np.array([1, 1, 0, 1], "float32"), "event_logits": np.ones((4, 1), "float32")}
    before = [weight.numpy() for weight in model.trainable_weights]
    history = model.fit(features, targets, sample_weight=weights, batch_size=4, epochs=1, verbose=0).history
    assert set(history) >= {"loss", "scene_logits_loss", "event_logits_loss"}
    assert np.isfinite(history["loss"][0])
    assert any(not np.array_equal(old, new.numpy()) for old, new in zip(before, model.trainable_weights))
    # The .keras file keeps the compiled losses.
    model.save(tmp_path / "model.keras")
    restored = load_model(tmp_path / "model.keras")
    assert {name: loss.get_config() for name, loss in restored.loss.items()} == {
        name: loss.get_config() for name, loss in losses.items()
    }
