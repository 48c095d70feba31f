"""Tests of seld_tf.losses.accdoa against brute-force numpy: every frame, class and duplication pattern."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.datasets.seld_labels import adpit_slot, num_adpit_slots
from seld_tf.errors import ConfigError
from seld_tf.losses.accdoa import AccdoaLoss, AdpitLoss, accdoa_compile_args, adpit_patterns

TRACKS = 3
FRONT, LEFT, UP = np.eye(3)


def unit(rng, count):
    vectors = rng.normal(size=(count, 3))
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def random_events(rng, batch, frames, classes, tracks=TRACKS):
    """Per (clip, frame, class) a list of 0 to `tracks` unit vectors: the same-class events."""
    return [
        [[list(unit(rng, int(rng.integers(0, tracks + 1)))) for _ in range(classes)] for _ in range(frames)]
        for _ in range(batch)
    ]


def adpit_target(events, tracks=TRACKS):
    """The `[B, T, S, K, 3]` target of the documented layout: event i of n in slot `adpit_slot(n, i)`."""
    batch, frames, classes = len(events), len(events[0]), len(events[0][0])
    target = np.zeros((batch, frames, num_adpit_slots(tracks), classes, 3), "float32")
    for b, t, k in itertools.product(range(batch), range(frames), range(classes)):
        cell = events[b][t][k]
        for i, vector in enumerate(cell):
            target[b, t, adpit_slot(len(cell), i), k] = vector
    return target


def brute_force_adpit(events, prediction):
    """`[B, T]` frame losses: per class the least MSE over every surjection of the tracks onto its events."""
    batch, frames, tracks, classes, _ = prediction.shape
    losses = np.zeros((batch, frames))
    for b, t in itertools.product(range(batch), range(frames)):
        class_losses = []
        for k in range(classes):
            cell, output = events[b][t][k], prediction[b, t, :, k].astype("float64")
            if not cell:
                class_losses.append(np.mean(output**2))
                continue
            candidates = [
                np.mean((output - np.array([cell[e] for e in assignment])) ** 2)
                for assignment in itertools.product(range(len(cell)), repeat=tracks)
                if len(set(assignment)) == len(cell)
            ]
            class_losses.append(min(candidates))
        losses[b, t] = np.mean(class_losses)
    return losses


def test_three_tracks_have_the_13_duplication_patterns_of_the_baseline():
    patterns = adpit_patterns(TRACKS)
    assert patterns.shape == (13, 3)
    groups = [{tuple(row) for row in patterns if len(set(row)) == count} for count in (1, 2, 3)]
    # One event on all tracks (A0A0A0), two events on three tracks (B0B0B1 ... B1B1B0), three permuted (C0C1C2 ...).
    assert groups[0] == {(0, 0, 0)}
    assert groups[1] == {row for row in itertools.product((1, 2), repeat=3) if len(set(row)) == 2}
    assert groups[2] == set(itertools.permutations((3, 4, 5)))
    assert [len(group) for group in groups] == [1, 6, 6]
    # Surjections of M tracks onto 1..M events: 1; 1 + 2; 1 + 6 + 6; 1 + 14 + 36 + 24.
    assert [len(adpit_patterns(tracks)) for tracks in (1, 2, 3, 4)] == [1, 3, 13, 75]


def test_adpit_loss_matches_brute_force_over_frames_and_patterns():
    rng = np.random.default_rng(0)
    events = random_events(rng, batch=2, frames=6, classes=4)
    prediction = rng.uniform(-1, 1, size=(2, 6, TRACKS, 4, 3)).astype("float32")
    target = adpit_target(events)
    expected = brute_force_adpit(events, prediction)
    frame_losses = AdpitLoss(reduction="none")(target, prediction)
    np.testing.assert_allclose(frame_losses, expected, rtol=1e-5)
    np.testing.assert_allclose(float(AdpitLoss()(target, prediction)), expected.mean(), rtol=1e-5)
    # A flat output is read in (track, class, xyz) order.
    flat = prediction.reshape(2, 6, -1)
    np.testing.assert_allclose(float(AdpitLoss()(target, flat)), expected.mean(), rtol=1e-5)


@pytest.mark.parametrize(
    "events, prediction, expected",
    [
        # No event: the target is zero on every track.
        ([], [FRONT, 0.5 * LEFT, 0 * UP], (1 + 0.25) / 9),
        # One event: every track should hold it.
        ([FRONT], [FRONT, FRONT, FRONT], 0.0),
        ([FRONT], [FRONT, FRONT, 0 * UP], 1 / 9),
        # Two events: any tracks that hold both, one of them twice.
        ([FRONT, LEFT], [LEFT, FRONT, FRONT], 0.0),
        ([FRONT, LEFT], [FRONT, LEFT, LEFT], 0.0),
        # Both events must be on some track: one track is 2 away (squared) at best.
        ([FRONT, LEFT], [FRONT, FRONT, FRONT], 2 / 9),
        # Three events: any permutation.
        ([FRONT, LEFT, UP], [UP, FRONT, LEFT], 0.0),
        ([FRONT, LEFT, UP], [FRONT, LEFT, LEFT], 2 / 9),
    ],
    ids=["0", "1-exact", "1-missing", "2-duplicate-second", "2-duplicate-first", "2-one-missing", "3-permuted", "3-one-missing"],
)
def test_zero_to_three_same_class_events(events, prediction, expected):
    target = adpit_target([[[events]]])
    output = np.array(prediction, "float32").reshape(1, 1, TRACKS, 1, 3)
    assert float(AdpitLoss()(target, output)) == pytest.approx(expected, abs=1e-6)


def test_classes_choose_their_patterns_independently():
    # Class 0 duplicates its second event, class 1 permutes its three: both losses are zero.
    events = [[[[FRONT, LEFT], [UP, LEFT, FRONT]]]]
    output = np.stack([[FRONT, FRONT], [LEFT, UP], [LEFT, LEFT]])[None, None].astype("float32")
    assert float(AdpitLoss()(adpit_target(events), output)) == pytest.approx(0.0, abs=1e-7)


def test_accdoa_loss_is_the_mean_squared_error_of_every_element():
    rng = np.random.default_rng(1)
    activity = rng.integers(0, 2, size=(2, 5, 4, 1))
    target = (activity * unit(rng, 40).reshape(2, 5, 4, 3)).astype("float32")
    prediction = rng.uniform(-1, 1, size=(2, 5, 4, 3)).astype("float32")
    expected = np.mean((prediction.astype("float64") - target) ** 2, axis=(2, 3))
    np.testing.assert_allclose(AccdoaLoss(reduction="none")(target, prediction), expected, rtol=1e-5)
    np.testing.assert_allclose(float(AccdoaLoss()(target, prediction)), expected.mean(), rtol=1e-5)
    # A flat output is read in (class, xyz) order.
    np.testing.assert_allclose(float(AccdoaLoss()(target, prediction.reshape(2, 5, 12))), expected.mean(), rtol=1e-5)


def test_losses_run_traced_on_unknown_lengths():
    adpit, accdoa = AdpitLoss(num_tracks=2), AccdoaLoss()
    traced_adpit = tf.function(adpit, input_signature=[tf.TensorSpec([None, None, 3, 2, 3]), tf.TensorSpec([None, None, 12])])
    traced_accdoa = tf.function(accdoa, input_signature=[tf.TensorSpec([None, None, 2, 3]), tf.TensorSpec([None, None, 6])])
    target = np.zeros((1, 4, 3, 2, 3), "float32")
    target[0, :, 0, 1] = FRONT  # one event of class 1: both tracks should hold it
    prediction = np.zeros((1, 4, 2, 2, 3), "float32")
    prediction[0, :, :, 1] = FRONT
    assert float(traced_adpit(target, prediction.reshape(1, 4, 12))) == pytest.approx(0.0)
    assert float(traced_accdoa(np.ones((1, 4, 2, 3), "float32"), np.zeros((1, 4, 6), "float32"))) == pytest.approx(1.0)


def test_configs_and_serialisation_round_trip():
    for loss in (AccdoaLoss(name="a"), AdpitLoss(num_tracks=2, reduction="sum")):
        config = loss.get_config()
        clone = type(loss).from_config(config)
        assert clone.get_config() == config
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(restored) is type(loss) and restored.get_config() == config
    assert AdpitLoss(num_tracks=2).get_config()["num_tracks"] == 2


def test_compile_args_and_refusals():
    assert isinstance(accdoa_compile_args("accdoa", 3)["loss"]["accdoa"], AccdoaLoss)
    adpit = accdoa_compile_args("multi_accdoa", 2)["loss"]["multi_accdoa"]
    assert isinstance(adpit, AdpitLoss) and adpit.num_tracks == 2
    with pytest.raises(ConfigError, match="label form"):
        accdoa_compile_args("classwise", 3)
    with pytest.raises(ConfigError, match="num_tracks"):
        AdpitLoss(num_tracks=0)
    # A target of 3 slots belongs to 2 tracks, not 3.
    with pytest.raises(ValueError, match="6 slots for 3 tracks"):
        AdpitLoss()(np.zeros((1, 2, 3, 1, 3), "float32"), np.zeros((1, 2, 3, 1, 3), "float32"))
