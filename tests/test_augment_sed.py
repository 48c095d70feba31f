"""Mixup and time shift for SED batches: hand-computed mixes, alignment of shifted targets, the pipeline.

Pipeline clips encode their origin as in test_pipeline_targets.py: feature
frame `t` of clip `c` holds `(c + 1) * 1000 + t`, frame target `j` holds
`(c + 1) * 1000 + j`, so a shifted window still tells which label frame each
feature frame came from.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.augment import Mixup, SpecAugment, TimeShift, mix_batch
from seld_tf.errors import ConfigError
from seld_tf.pipeline import ClipRecord, TargetSpec, make_train_dataset

FRAMES_PER_LABEL = 5
WINDOW = 20  # 4 label frames
BINS, CHANNELS, CLASSES = 2, 1, 3
TARGETS = {"strong": TargetSpec("frame", (CLASSES,)), "weak": TargetSpec("clip", (CLASSES,))}


def as_numpy(element):
    return tf.nest.map_structure(np.asarray, element)


def random_batch(batch: int = 4, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((batch, WINDOW, BINS, CHANNELS)).astype(np.float32)
    labels = {
        "strong": (rng.random((batch, WINDOW // FRAMES_PER_LABEL, CLASSES)) < 0.5).astype(np.float32),
        "weak": (rng.random((batch, CLASSES)) < 0.5).astype(np.float32),
    }
    # Examples 0 and 2 are strong clips, 1 and 3 weak: same presence pattern within each pair.
    weights = {
        "strong": np.array([1, 0, 1, 0], np.float32)[:batch, None],
        "weak": np.ones(batch, np.float32),
    }
    return features, labels, weights


# -- mix_batch: the arithmetic -----------------------------------------------


def test_mix_batch_soft_matches_hand_computation():
    features, labels, weights = random_batch()
    partner = np.array([1, 0, 3, 3], np.int32)
    lam = np.array([0.7, 0.2, 0.9, 1.0], np.float32)
    mixed, mixed_labels, mixed_weights = as_numpy(
        mix_batch(tf.constant(features), labels, tf.constant(partner), tf.constant(lam), "soft", weights)
    )
    for i, j in enumerate(partner):
        np.testing.assert_allclose(mixed[i], lam[i] * features[i] + (1 - lam[i]) * features[j], atol=1e-6)
        for key in ("strong", "weak"):
            np.testing.assert_allclose(mixed_labels[key][i], lam[i] * labels[key][i] + (1 - lam[i]) * labels[key][j])
            assert mixed_weights[key][i] == min(weights[key][i], weights[key][j])
    # A strong clip mixed with a weak one loses its strong target; the weak targets both have stay.
    assert mixed_weights["strong"][0, 0] == 0 and mixed_weights["weak"][0] == 1
    # Paired with itself at lam = 1: exactly unchanged.
    np.testing.assert_array_equal(mixed[3], features[3])
    np.testing.assert_array_equal(mixed_labels["strong"][3], labels["strong"][3])


def test_mix_batch_hard_takes_the_union_of_binary_labels():
    features, labels, _ = random_batch()
    partner = np.array([2, 3, 0, 1], np.int32)
    lam = np.full(4, 0.6, np.float32)
    mixed, mixed_labels = as_numpy(
        mix_batch(tf.constant(features), labels, tf.constant(partner), tf.constant(lam), "hard")
    )
    np.testing.assert_allclose(mixed, 0.6 * features + 0.4 * features[partner], atol=1e-6)
    for key in ("strong", "weak"):
        np.testing.assert_array_equal(mixed_labels[key], np.maximum(labels[key], labels[key][partner]))
    with pytest.raises(ConfigError, match="mode"):
        mix_batch(tf.constant(features), labels, tf.constant(partner), tf.constant(lam), "linear")


# -- Mixup: draws, pairing, determinism --------------------------------------


def test_mixup_pairs_within_target_pattern_and_mixes_consistently():
    # Powers of ten: the mean of two examples tells which two they were.
    codes = np.array([1.0, 10.0, 100.0, 1000.0], np.float32)
    features = np.broadcast_to(codes[:, None, None, None], (4, WINDOW, BINS, CHANNELS)).astype(np.float32)
    labels = {
        "strong": np.broadcast_to(codes[:, None, None], (4, 4, CLASSES)).astype(np.float32),
        "weak": np.broadcast_to(codes[:, None], (4, CLASSES)).astype(np.float32),
    }
    _, _, weights = random_batch()
    # Beta(1e6, 1e6) puts lam within ~1e-3 of 0.5.
    mixup = Mixup(alpha=1e6, probability=1.0, per_example_lambda=True, seed=3)
    partners = set()
    for _ in range(8):
        mixed, mixed_labels, mixed_weights = as_numpy(mixup(tf.constant(features), labels, weights))
        for i in range(4):
            partner_code = 2 * mixed[i, 0, 0, 0] - codes[i]
            j = int(np.argmin(np.abs(codes - partner_code)))
            assert abs(partner_code - codes[j]) < 0.01 * codes.max()
            assert j % 2 == i % 2, "partners must share the strong/weak pattern"
            partners.add((i, j))
            lam = (mixed[i, 0, 0, 0] - codes[j]) / (codes[i] - codes[j]) if i != j else 0.5
            np.testing.assert_allclose(lam, 0.5, atol=2e-3)
            expected = lam * codes[i] + (1 - lam) * codes[j]
            np.testing.assert_allclose(mixed_labels["strong"][i], expected, rtol=1e-5)
            np.testing.assert_allclose(mixed_labels["weak"][i], expected, rtol=1e-5)
        for key in weights:
            np.testing.assert_array_equal(mixed_weights[key], weights[key])
    assert {(0, 2), (2, 0), (1, 3), (3, 1)} <= partners


def test_mixup_pairing_any_masks_targets_missing_from_either():
    features, labels, weights = random_batch()
    mixup = Mixup(alpha=0.2, probability=1.0, pairing="any", seed=0)
    seen_cross = False
    for _ in range(10):
        _, _, mixed_weights = as_numpy(mixup(tf.constant(features), labels, weights))
        strong = mixed_weights["strong"][:, 0]
        assert np.all(strong <= weights["strong"][:, 0])
        seen_cross |= bool(np.any(strong < weights["strong"][:, 0]))
        np.testing.assert_array_equal(mixed_weights["weak"], weights["weak"])
    assert seen_cross


def test_mixup_is_seeded_and_probability_zero_is_the_identity():
    features, labels, weights = random_batch()

    def run(seed, probability=1.0):
        mixup = Mixup(probability=probability, seed=seed)
        return [as_numpy(mixup(tf.constant(features), labels, weights)) for _ in range(3)]

    first, again, other = run(7), run(7), run(8)
    for a, b in zip(first, again):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    assert not np.allclose(first[0][0], other[0][0])
    # The draws differ from call to call.
    assert not np.allclose(first[0][0], first[1][0])
    for mixed, mixed_labels, mixed_weights in run(7, probability=0.0):
        np.testing.assert_array_equal(mixed, features)
        tf.nest.map_structure(np.testing.assert_array_equal, (mixed_labels, mixed_weights), (labels, weights))
    mixed, mixed_labels = as_numpy(Mixup(probability=0.0, seed=0)(tf.constant(features), labels))
    np.testing.assert_array_equal(mixed, features)


def test_mixup_draws_one_weight_per_group_of_partners():
    # Rows 0-1 strong, 2-3 weak; with two rows a group either swaps (both mixed) or stays.
    codes = np.array([1.0, 10.0, 100.0, 1000.0], np.float32)
    features = np.broadcast_to(codes[:, None, None, None], (4, WINDOW, BINS, CHANNELS)).astype(np.float32)
    labels = {"weak": np.zeros((4, CLASSES), np.float32)}
    weights = {"strong": np.array([1, 1, 0, 0], np.float32)[:, None], "weak": np.array([0, 0, 1, 1], np.float32)}
    mixup = Mixup(alpha=1.0, probability=1.0, seed=4)
    lams = []
    for _ in range(12):
        mixed = as_numpy(mixup(tf.constant(features), labels, weights))[0][:, 0, 0, 0]
        group_lams = []
        for first, second in ((0, 1), (2, 3)):
            if np.allclose(mixed[[first, second]], codes[[first, second]]):
                continue
            lam_first = (mixed[first] - codes[second]) / (codes[first] - codes[second])
            lam_second = (mixed[second] - codes[first]) / (codes[second] - codes[first])
            np.testing.assert_allclose(lam_first, lam_second, rtol=1e-4)
            group_lams.append(lam_first)
        if len(group_lams) == 2:
            lams.append(group_lams)
    assert lams and any(abs(strong - weak) > 1e-3 for strong, weak in lams)


def test_mixup_can_leave_the_unlabelled_examples_as_they_are():
    # Rows 0-1 strong, 2-3 weak, 4-7 unlabelled (no target weighted), as a [2, 2, 4] DESED batch.
    features, labels, _ = random_batch(batch=8, seed=1)
    weights = {"strong": np.array([1, 1, 0, 0, 0, 0, 0, 0], np.float32)[:, None],
               "weak": np.array([0, 0, 1, 1, 0, 0, 0, 0], np.float32)}
    for mix_unlabeled in (False, True):
        mixup = Mixup(alpha=1.0, probability=1.0, mix_unlabeled=mix_unlabeled, seed=2)
        changed = np.zeros(8, bool)
        for _ in range(6):
            mixed, mixed_labels, mixed_weights = as_numpy(mixup(tf.constant(features), labels, weights))
            changed |= np.any(mixed != features, axis=(1, 2, 3))
            tf.nest.map_structure(np.testing.assert_array_equal, mixed_weights, weights)
            if not mix_unlabeled:
                np.testing.assert_array_equal(mixed[4:], features[4:])
                np.testing.assert_array_equal(mixed_labels["strong"][4:], labels["strong"][4:])
        # The labelled rows are mixed either way; the unlabelled ones only when asked.
        assert changed[:4].all() and changed[4:].all() == mix_unlabeled
    with pytest.raises(ConfigError, match="sample weights"):
        Mixup(mix_unlabeled=False, seed=0)(tf.constant(features), labels)


@pytest.mark.parametrize(
    "kwargs", [dict(alpha=0), dict(probability=1.5), dict(mode="linear"), dict(pairing="subset")]
)
def test_mixup_rejects_bad_config(kwargs):
    with pytest.raises(ConfigError):
        Mixup(**kwargs)


# -- TimeShift ---------------------------------------------------------------


def event_batch(batch: int = 6, seed: int = 0) -> tuple:
    """Frame targets from random events, features equal to the class activity of their label frame."""
    rng = np.random.default_rng(seed)
    strong = (rng.random((batch, WINDOW // FRAMES_PER_LABEL, CLASSES)) < 0.4).astype(np.float32)
    # Channel c of feature frame t is 1 + (class c active at label frame t // FRAMES_PER_LABEL) * (t + 1):
    # the time index rides along, so the roll can be read back.
    frame_of = np.arange(WINDOW) // FRAMES_PER_LABEL
    features = 1 + strong[:, frame_of, :] * (np.arange(WINDOW)[None, :, None] + 1)
    weak = rng.random((batch, CLASSES)).astype(np.float32)
    return features[:, :, None, :].astype(np.float32), {"strong": strong, "weak": weak}


def test_time_shift_rolls_features_and_frame_targets_alike():
    features, labels = event_batch()
    shift = TimeShift(max_shift_frames=9, frames_per_label=FRAMES_PER_LABEL, frame_targets=["strong"], seed=1)
    shifts = set()
    for _ in range(10):
        shifted, shifted_labels = as_numpy(shift(tf.constant(features), labels))
        np.testing.assert_array_equal(shifted_labels["weak"], labels["weak"])
        for i in range(len(features)):
            # The roll is a whole number k of label frames, |k| <= 9 // 5 = 1 (distinct rolls of 4 label frames).
            matches = [
                k
                for k in range(-1, 2)
                if np.array_equal(shifted[i], np.roll(features[i], k * FRAMES_PER_LABEL, axis=0))
            ]
            assert matches, "features must be rolled by a multiple of frames_per_label"
            k = matches[0]
            shifts.add(k)
            np.testing.assert_array_equal(shifted_labels["strong"][i], np.roll(labels["strong"][i], k, axis=0))
            # Alignment: each feature frame still shows its label frame's activity.
            active = shifted[i, :, 0, :] > 1
            label_of_frame = shifted_labels["strong"][i][np.arange(WINDOW) // FRAMES_PER_LABEL]
            np.testing.assert_array_equal(active, label_of_frame > 0)
    assert shifts == {-1, 0, 1}


def test_time_shift_is_seeded_and_validated():
    features, labels = event_batch()

    def run(seed):
        shift = TimeShift(10, FRAMES_PER_LABEL, seed=seed)
        return [as_numpy(shift(tf.constant(features), labels)) for _ in range(3)]

    for a, b in zip(run(4), run(4)):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    np.testing.assert_array_equal(TimeShift(4, FRAMES_PER_LABEL, seed=0)(tf.constant(features), labels)[0], features)
    with pytest.raises(ConfigError, match="not found"):
        TimeShift(10, FRAMES_PER_LABEL, frame_targets=["events"])(tf.constant(features), labels)
    with pytest.raises(ConfigError, match="frames_per_label"):
        TimeShift(10, 4)(tf.constant(features), labels)
    with pytest.raises(ConfigError):
        TimeShift(-1, FRAMES_PER_LABEL)
    with pytest.raises(ConfigError):
        TimeShift(10, FRAMES_PER_LABEL, frame_targets="strong")


# -- configuration -----------------------------------------------------------


@pytest.mark.parametrize(
    "augmentation",
    [
        Mixup(alpha=0.4, probability=0.25, mode="hard", per_example_lambda=True, pairing="any", seed=5),
        TimeShift(max_shift_frames=30, frames_per_label=4, frame_targets=("strong", "events"), seed=2),
    ],
)
def test_get_config_round_trip(augmentation):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(augmentation))
    assert type(restored) is type(augmentation)
    assert restored.get_config() == augmentation.get_config()


# -- through the pipeline ----------------------------------------------------


def encoded_clip(directory, index: int, num_frames: int, strong: bool) -> ClipRecord:
    code = (index + 1) * 1000
    frames = code + np.arange(num_frames, dtype=np.float32)
    path = directory / f"clip{index}.npy"
    np.save(path, np.ascontiguousarray(np.broadcast_to(frames[:, None, None], (num_frames, BINS, CHANNELS))))
    label_frames = code + np.arange(math.ceil(num_frames / FRAMES_PER_LABEL), dtype=np.float32)
    labels = {"strong": np.repeat(label_frames[:, None], CLASSES, axis=1)} if strong else {}
    return ClipRecord(f"clip{index}", str(path), labels, {"weak": code + np.arange(CLASSES, dtype=np.float32)})


@pytest.fixture
def clips(tmp_path) -> list[ClipRecord]:
    """Clips 0-2 strong, 3-5 weak; lengths multiples of FRAMES_PER_LABEL, so padding covers whole label frames."""
    frames = (45, 30, 20, 40, 25, 35)
    return [encoded_clip(tmp_path, index, n, strong=index < 3) for index, n in enumerate(frames)]


def test_time_shift_and_spec_augment_through_make_train_dataset(clips):
    dataset = make_train_dataset(
        clips,
        window_frames=WINDOW,
        frames_per_label=FRAMES_PER_LABEL,
        batch_size=3,
        seed=0,
        targets=TARGETS,
        windows_per_clip=2,
        augment=[TimeShift(15, FRAMES_PER_LABEL, seed=1), SpecAugment(1, 2, 0, 1, fill="zero", seed=2)],
    )
    shifted_somewhere = False
    for features, targets, weights in as_numpy(list(dataset)):
        for i in range(len(features)):
            code = (features[i, :, 0, 0].max() // 1000) * 1000
            kept = features[i, :, 0, 0] > 0  # SpecAugment zeroes a few frames
            offsets = features[i, kept, 0, 0] - code
            weak = targets["weak"][i]
            np.testing.assert_array_equal(weak, code + np.arange(CLASSES))
            if weights["strong"][i, 0] == 0:
                np.testing.assert_array_equal(targets["strong"][i], 0)
                continue
            label_frames = np.arange(WINDOW)[kept] // FRAMES_PER_LABEL
            np.testing.assert_array_equal(offsets // FRAMES_PER_LABEL, targets["strong"][i][label_frames, 0] - code)
            shifted_somewhere |= bool(np.any(np.diff(offsets) < 0))
    assert shifted_somewhere


def test_mixup_through_make_train_dataset_with_sample_weights(clips):
    def batches(mixup):
        dataset = make_train_dataset(
            clips,
            window_frames=WINDOW,
            frames_per_label=FRAMES_PER_LABEL,
            batch_size=6,
            seed=0,
            targets=TARGETS,
        )
        return as_numpy(list(dataset.map(mixup) if mixup else dataset))

    def mixup():
        return Mixup(alpha=1e6, probability=1.0, per_example_lambda=True, seed=3)

    mixed_batches, plain_batches = batches(mixup()), batches(None)
    for a, b in zip(mixed_batches, batches(mixup())):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    for (features, targets, weights), (plain, plain_targets, plain_weights) in zip(mixed_batches, plain_batches):
        # Partners share their targets' presence, so every target keeps its weight.
        tf.nest.map_structure(np.testing.assert_array_equal, weights, plain_weights)
        for i in range(len(features)):
            # lam ~ 0.5: the mix is the mean of the example and some partner with the same weights.
            candidates = [
                j for j in range(len(plain))
                if weights["strong"][j, 0] == weights["strong"][i, 0]
                and np.allclose(features[i], 0.5 * (plain[i] + plain[j]), atol=5)
            ]
            assert candidates
            j = candidates[0]
            for key in ("strong", "weak"):
                expected = 0.5 * (plain_targets[key][i] + plain_targets[key][j])
                np.testing.assert_allclose(targets[key][i], expected, atol=5)
