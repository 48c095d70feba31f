"""Tests of seld_tf.losses.pit against a brute-force numpy reference over all M! permutations."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.errors import ConfigError
from seld_tf.losses.pit import PermutationInvariantSeldLoss, pack_trackwise_labels, pit_compile_args
from seld_tf.models.einv2 import build_einv2

NUM_CLASSES = 4


def random_trackwise_labels(rng, batch, frames, tracks, classes=NUM_CLASSES):
    """Packed `[B, T, M, K + 3]` labels made of events: runs of one class on one track, with gaps.

    Events are short and may follow each other back to back, and classes are
    few, so that same-class overlaps and chunk boundaries both occur often.
    """
    labels = np.zeros((batch, frames, tracks, classes + 3), "float32")
    for b, m in itertools.product(range(batch), range(tracks)):
        t = int(rng.integers(0, 3))
        while t < frames:
            length, cls = int(rng.integers(1, 6)), int(rng.integers(classes))
            direction = rng.normal(size=3)
            labels[b, t : t + length, m, cls] = 1
            labels[b, t : t + length, m, classes:] = direction / np.linalg.norm(direction)
            t += length + int(rng.integers(0, 2 * tracks))
    return labels


def random_predictions(rng, batch, frames, tracks, classes=NUM_CLASSES):
    sed = rng.uniform(0.02, 0.98, size=(batch, frames, tracks, classes))
    doa = rng.uniform(-1, 1, size=(batch, frames, tracks, 3))
    return np.concatenate([sed, doa], axis=-1).astype("float32")


def frame_loss(y_true, y_pred, permutation, sed_weight, doa_weight):
    """Loss of one frame `[M, K + 3]` with prediction track m compared to reference track permutation[m]."""
    reference = y_true[list(permutation)].astype("float64")
    prediction = y_pred.astype("float64")
    target, probability = reference[:, :-3], prediction[:, :-3]
    bce = -(target * np.log(probability) + (1 - target) * np.log(1 - probability))
    active = reference[:, :-3].max(axis=-1, keepdims=True)
    squared_error = active * (prediction[:, -3:] - reference[:, -3:]) ** 2
    return sed_weight * bce.mean() + doa_weight * squared_error.mean()


def reference_chunks(y_true):
    """Chunks of one clip `[T, M, K + 3]`, frame by frame: a frame continues the current chunk
    when some track holds the same class as in the previous frame."""
    chunks = [[0]]
    for t in range(1, len(y_true)):
        continues = any(
            y_true[t, m, :-3].max() > 0
            and y_true[t - 1, m, :-3].max() > 0
            and y_true[t, m, :-3].argmax() == y_true[t - 1, m, :-3].argmax()
            for m in range(y_true.shape[1])
        )
        if continues:
            chunks[-1].append(t)
        else:
            chunks.append([t])
    return chunks


def brute_force_loss(y_true, y_pred, mode, sed_weight=0.5, doa_weight=0.5):
    batch, frames, tracks = y_true.shape[:3]
    permutations = list(itertools.permutations(range(tracks)))
    losses = np.zeros((batch, frames, len(permutations)))
    for b, t, p in itertools.product(range(batch), range(frames), range(len(permutations))):
        losses[b, t, p] = frame_loss(y_true[b, t], y_pred[b, t], permutations[p], sed_weight, doa_weight)
    if mode == "tpit":
        return losses.min(axis=-1).mean()
    if mode == "none":
        return losses[..., permutations.index(tuple(range(tracks)))].mean()
    total = 0.0
    for b in range(batch):
        for chunk in reference_chunks(y_true[b]):
            total += losses[b, chunk].sum(axis=0).min()
    return total / (batch * frames)


@pytest.mark.parametrize("tracks", [2, 3])
@pytest.mark.parametrize("mode", ["tpit", "cpit", "none"])
def test_matches_brute_force(tracks, mode):
    rng = np.random.default_rng(tracks)
    y_true = random_trackwise_labels(rng, batch=3, frames=24, tracks=tracks)
    y_pred = random_predictions(rng, batch=3, frames=24, tracks=tracks)
    # Homogeneous overlap: frames where two tracks hold the same class at different directions.
    y_true[0, 5:9, :2, :NUM_CLASSES] = np.eye(NUM_CLASSES)[2]
    y_true[0, 5:9, 0, NUM_CLASSES:] = (1, 0, 0)
    y_true[0, 5:9, 1, NUM_CLASSES:] = (0, 1, 0)
    assert sum(len(reference_chunks(clip)) for clip in y_true) > 6  # the data exercises chunking
    loss = PermutationInvariantSeldLoss(mode, sed_weight=0.3, doa_weight=0.7)
    np.testing.assert_allclose(
        float(loss(y_true, y_pred)), brute_force_loss(y_true, y_pred, mode, 0.3, 0.7), rtol=1e-5
    )


def test_tpit_le_cpit_le_nopit_and_invariance_to_reference_order():
    rng = np.random.default_rng(7)
    y_true = random_trackwise_labels(rng, batch=4, frames=30, tracks=3)
    y_pred = random_predictions(rng, batch=4, frames=30, tracks=3)
    values = {mode: float(PermutationInvariantSeldLoss(mode)(y_true, y_pred)) for mode in ("tpit", "cpit", "none")}
    assert values["tpit"] < values["cpit"] < values["none"]
    # Relabelling the reference tracks changes nothing for PIT (but does for noPIT).
    reordered = y_true[:, :, [2, 0, 1]]
    for mode in ("tpit", "cpit"):
        reordered_value = float(PermutationInvariantSeldLoss(mode)(reordered, y_pred))
        np.testing.assert_allclose(reordered_value, values[mode], rtol=1e-6)
    assert float(PermutationInvariantSeldLoss("none")(reordered, y_pred)) != pytest.approx(values["none"])


@pytest.mark.parametrize("mode", ["tpit", "cpit", "none"])
def test_traced_with_unknown_batch_and_length(mode):
    rng = np.random.default_rng(3)
    y_true = random_trackwise_labels(rng, batch=2, frames=10, tracks=2)
    y_pred = random_predictions(rng, batch=2, frames=10, tracks=2)
    loss = PermutationInvariantSeldLoss(mode)
    spec = tf.TensorSpec((None, None, 2, NUM_CLASSES + 3), tf.float32)
    traced = tf.function(lambda a, b: loss(a, b), input_signature=[spec, spec])
    np.testing.assert_allclose(float(traced(y_true, y_pred)), float(loss(y_true, y_pred)), rtol=1e-6)


def test_cpit_keeps_one_permutation_per_event():
    # Track 0 holds class 0 over frames 0-3, then class 1 over frames 4-7 (back to back: two chunks).
    y_true = np.zeros((1, 8, 2, 2 + 3), "float32")
    y_true[0, :4, 0, 0] = 1
    y_true[0, 4:, 0, 1] = 1
    # Predictions put the events on track 1 for frames 0-1 and 4-7, on track 0 for frames 2-3.
    y_pred = np.full((1, 8, 2, 5), 0.05, "float32")
    y_pred[..., 2:] = 0
    y_pred[0, [0, 1], 1, 0] = 0.95
    y_pred[0, [2, 3], 0, 0] = 0.95
    y_pred[0, 4:, 1, 1] = 0.95
    losses = {mode: float(PermutationInvariantSeldLoss(mode)(y_true, y_pred)) for mode in ("tpit", "cpit", "none")}
    # The second event is matched perfectly (swapped order) by cPIT; the first must keep one
    # track, hence pays for two frames: cPIT lies strictly between tPIT and noPIT.
    assert losses["tpit"] < losses["cpit"] < losses["none"]
    np.testing.assert_allclose(losses["cpit"], brute_force_loss(y_true, y_pred, "cpit"), rtol=1e-5)


def test_config_round_trip_and_bad_mode():
    loss = PermutationInvariantSeldLoss("cpit", sed_weight=1.0, doa_weight=2.0)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, PermutationInvariantSeldLoss)
    assert (restored.mode, restored.sed_weight, restored.doa_weight) == ("cpit", 1.0, 2.0)
    with pytest.raises(ConfigError, match="upit"):
        PermutationInvariantSeldLoss("upit")
    with pytest.raises(ConfigError):
        pit_compile_args("upit", 0.5, 0.5)


def test_fit_tiny_einv2_with_tpit():
    model = build_einv2(
        input_shape=(None, 16, 7),
        num_classes=NUM_CLASSES,
        filters=(4, 4, 8, 8),
        mhsa_layers=1,
        num_heads=2,
        ff_dim=8,
        dropout=0.0,  # a deterministic training-mode forward pass, to compare with
        sharing="hard",  # half the layers of "soft": the graph of the train step builds twice as fast
    )
    compile_kwargs, label_transform = pit_compile_args("tpit", 0.5, 0.5)
    # No XLA: compiling the train step would take longer than the rest of this file.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, **compile_kwargs)

    rng = np.random.default_rng(11)
    features = rng.normal(size=(4, 32, 16, 7)).astype("float32")
    packed = random_trackwise_labels(rng, batch=4, frames=8, tracks=2)
    labels = {"sed": packed[..., :NUM_CLASSES], "doa": packed[..., NUM_CLASSES:]}
    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat(2).map(lambda x, y: (x, label_transform(y)))

    # BatchNorm uses the batch statistics in training, as in the first fit step.
    predictions = keras.ops.convert_to_numpy(model(features, training=True)["tracks"])
    expected = brute_force_loss(packed, predictions, "tpit")
    batch_losses = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_losses.append(logs["loss"]))
    model.fit(dataset, epochs=1, verbose=0, callbacks=[record])
    assert len(batch_losses) == 2 and np.all(np.isfinite(batch_losses))
    np.testing.assert_allclose(batch_losses[0], expected, rtol=1e-4)
    np.testing.assert_array_equal(label_transform(labels)["tracks"], pack_trackwise_labels(labels)["tracks"])
