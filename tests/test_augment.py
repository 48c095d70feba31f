"""FOA rotation against features of rotated audio, and SpecAugment's mask statistics."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.augment import (
    NUM_FOA_ROTATIONS,
    FoaRotation,
    SpecAugment,
    foa_rotation_matrices,
    rotate_doa,
    rotate_events,
    rotate_foa_audio,
    rotate_foa_features,
)
from seld_tf.datasets.events import EventList, angular_distance, cartesian_to_polar, polar_to_cartesian, wrap_azimuth
from seld_tf.errors import ConfigError
from seld_tf.features import compute_features, get_preset

# Patterns covering plain quarter turns, azimuth mirrors and elevation mirrors.
SOME_PATTERNS = (1, 2, 5, 7, 8, 14)
SOURCE_AZIMUTH, SOURCE_ELEVATION = 35.0, 20.0


def foa_plane_wave(signal: np.ndarray, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """ACN/SN3D encoding W, Y, Z, X of a plane wave (hand-derived gains, independent of the module)."""
    phi, theta = np.radians(azimuth_deg), np.radians(elevation_deg)
    gains = [1.0, np.sin(phi) * np.cos(theta), np.sin(theta), np.cos(phi) * np.cos(theta)]
    return signal[:, None] * np.array(gains)


@pytest.fixture(scope="module")
def plane_wave_audio() -> np.ndarray:
    """0.5 s at 24 kHz: a plane wave from (35, 20) degrees plus weak independent sensor noise."""
    rng = np.random.default_rng(0)
    audio = foa_plane_wave(rng.standard_normal(12000) * 0.1, SOURCE_AZIMUTH, SOURCE_ELEVATION)
    return audio + 0.002 * rng.standard_normal(audio.shape)


def test_matrices_are_sixteen_distinct_signed_permutations_keeping_the_vertical_axis():
    matrices = foa_rotation_matrices()
    assert matrices.shape == (NUM_FOA_ROTATIONS, 3, 3)
    assert len({m.tobytes() for m in matrices}) == NUM_FOA_ROTATIONS
    np.testing.assert_array_equal(matrices[0], np.eye(3))
    for m in matrices:
        assert set(np.unique(m)) <= {-1.0, 0.0, 1.0}
        np.testing.assert_array_equal(np.abs(m).sum(axis=0), 1)
        np.testing.assert_array_equal(np.abs(m).sum(axis=1), 1)
        np.testing.assert_array_equal(m @ m.T, np.eye(3))
        assert abs(m[2, 2]) == 1  # z -> +-z


def test_matrices_are_exactly_the_claimed_azimuth_and_elevation_maps():
    """Each matrix maps (phi, theta) to (+-phi + k * 90, +-theta), and every combination appears once."""
    rng = np.random.default_rng(1)
    azimuth, elevation = rng.uniform(-180, 180, 20), rng.uniform(-80, 80, 20)
    found = set()
    for m in foa_rotation_matrices():
        new_azimuth, new_elevation = cartesian_to_polar(polar_to_cartesian(azimuth, elevation) @ m.T)
        matches = [
            (k, a, e)
            for k, a, e in itertools.product(range(4), (1, -1), (1, -1))
            if angular_distance(new_azimuth, new_elevation, a * azimuth + 90 * k, e * elevation).max() < 1e-5
        ]
        assert len(matches) == 1
        found.add(matches[0])
    assert len(found) == NUM_FOA_ROTATIONS


@pytest.mark.parametrize("index", SOME_PATTERNS)
def test_rotated_plane_wave_is_the_plane_wave_from_the_rotated_direction(plane_wave_audio, index):
    signal = plane_wave_audio[:, 0]
    rotated = rotate_events(EventList.from_rows([(0, 0, 0, SOURCE_AZIMUTH, SOURCE_ELEVATION)]), index)
    expected = foa_plane_wave(signal, rotated.azimuth[0], rotated.elevation[0])
    original = foa_plane_wave(signal, SOURCE_AZIMUTH, SOURCE_ELEVATION)
    np.testing.assert_allclose(rotate_foa_audio(original, index), expected, atol=1e-12)


@pytest.mark.parametrize("iv_mapping", ["acn", "legacy"])
@pytest.mark.parametrize("index", SOME_PATTERNS)
def test_rotating_features_equals_features_of_rotated_audio(plane_wave_audio, index, iv_mapping):
    config = get_preset("dcase2020", iv_mapping=iv_mapping)
    features = compute_features(plane_wave_audio, config, "foa")
    expected = compute_features(rotate_foa_audio(plane_wave_audio, index), config, "foa")
    rotated = rotate_foa_features(features, index, config)
    assert rotated.dtype == np.float32
    np.testing.assert_allclose(rotated, expected, rtol=1e-5, atol=1e-5)
    # Not vacuous: every pattern tested moves the source, so the features change.
    assert not np.allclose(rotated, features, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("index", SOME_PATTERNS)
def test_rotated_events_point_where_the_rotated_audio_comes_from(plane_wave_audio, index):
    events = EventList.from_rows([(frame, 3, 0, SOURCE_AZIMUTH, SOURCE_ELEVATION) for frame in (0, 1)])
    rotated = rotate_events(events, index)
    iv = compute_features(rotate_foa_audio(plane_wave_audio, index), get_preset("dcase2020"), "foa")[..., 4:]
    azimuth, elevation = cartesian_to_polar(iv.reshape(-1, 3).mean(axis=0))
    assert angular_distance(azimuth, elevation, rotated.azimuth, rotated.elevation).max() < 2.0
    np.testing.assert_array_equal(rotated.frame, events.frame)
    np.testing.assert_array_equal(rotated.cls, events.cls)
    np.testing.assert_allclose(rotate_doa(events.unit_vectors(), index), rotated.unit_vectors(), atol=1e-12)


def test_rotated_events_stay_in_the_dcase_azimuth_range():
    events = EventList.from_rows([(0, 0, 0, -180, 45), (0, 1, 0, 179, -45), (1, 0, 0, 90, 0)])
    for index in range(NUM_FOA_ROTATIONS):
        rotated = rotate_events(events, index)
        assert np.all((rotated.azimuth >= -180) & (rotated.azimuth < 180))
        np.testing.assert_array_equal(rotated.azimuth, wrap_azimuth(rotated.azimuth))
        assert set(np.abs(rotated.elevation)) == {45.0, 0.0}


def test_bad_rotation_arguments_are_rejected():
    config = get_preset("dcase2020")
    with pytest.raises(ConfigError, match="rotation index"):
        rotate_doa(np.zeros(3), 16)
    with pytest.raises(ConfigError, match="7 channels"):
        rotate_foa_features(np.zeros((5, 4, 10)), 1, config)
    with pytest.raises(ConfigError, match="4 channels"):
        rotate_foa_audio(np.zeros((10, 2)), 1)
    with pytest.raises(ConfigError, match="not found"):
        FoaRotation(config)(tf.zeros((2, 5, 4, 7)), {"sed": tf.zeros((2, 1, 3))})


@pytest.mark.parametrize("iv_mapping", ["acn", "legacy"])
def test_foa_rotation_applies_one_pattern_per_example_to_features_and_doa(iv_mapping):
    config = get_preset("dcase2020", iv_mapping=iv_mapping)
    rng = np.random.default_rng(2)
    features = rng.standard_normal((8, 5, 4, 7)).astype(np.float32)
    labels = {
        "sed": rng.random((8, 1, 14)).astype(np.float32),
        "doa": rng.standard_normal((8, 1, 14, 3)).astype(np.float32),
        "track_doa": rng.standard_normal((8, 1, 2, 3)).astype(np.float32),
    }
    rotation = FoaRotation(config, seed=3, doa_keys=("doa", "track_doa"))
    used = set()
    for _ in range(3):
        out_features, out_labels = rotation(tf.constant(features), {k: tf.constant(v) for k, v in labels.items()})
        for b in range(len(features)):
            # Random features match exactly one pattern: identify it, then check the labels.
            candidates = [
                i for i in range(NUM_FOA_ROTATIONS)
                if np.allclose(out_features[b], rotate_foa_features(features[b], i, config), atol=1e-6)
            ]
            assert len(candidates) == 1
            used.add(candidates[0])
            for key in ("doa", "track_doa"):
                np.testing.assert_allclose(out_labels[key][b], rotate_doa(labels[key][b], candidates[0]), atol=1e-6)
        np.testing.assert_array_equal(out_labels["sed"], labels["sed"])
    assert len(used) > 8


def test_foa_rotation_in_a_tf_data_pipeline_is_seeded_and_takes_single_examples():
    config = get_preset("dcase2020")
    features = tf.random.stateless_normal((6, 5, 4, 7), seed=(1, 2))
    labels = {"doa": tf.random.stateless_normal((6, 1, 3, 3), seed=(3, 4))}

    def run() -> list:
        rotation = FoaRotation(config, seed=5)
        dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(3).map(rotation)
        return [(x.numpy(), y["doa"].numpy()) for epoch in range(2) for x, y in dataset]

    first, second = run(), run()
    for (x1, doa1), (x2, doa2) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(doa1, doa2)
    assert not np.array_equal(first[0][0], first[2][0])  # the second epoch draws new patterns
    single_features, single_labels = FoaRotation(config)(features[0], {"doa": labels["doa"][0]})
    assert single_features.shape == (5, 4, 7) and single_labels["doa"].shape == (1, 3, 3)


# ---------------------------------------------------------------- SpecAugment

FILL = -1234.0


def masked(layer: SpecAugment, x: np.ndarray) -> np.ndarray:
    """Boolean mask of the elements `layer` replaced with FILL."""
    return np.asarray(layer(x, training=True)) == FILL


def positive_features(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 2.0, shape).astype(np.float32)


def test_spec_augment_is_the_identity_unless_training():
    x = positive_features((2, 30, 20, 3))
    layer = SpecAugment(seed=0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert not np.array_equal(layer(x, training=True), x)


def test_masks_are_full_stripes_within_the_count_and_width_bounds():
    x = positive_features((16, 40, 30, 3))
    mask = masked(SpecAugment(time_masks=2, time_mask_width=6, freq_masks=3, freq_mask_width=4, fill=FILL, seed=1), x)
    for b, c in itertools.product(range(16), range(3)):
        m = mask[b, :, :, c]
        rows, columns = m.all(axis=1), m.all(axis=0)
        # Every masked element lies in a fully masked frame or a fully masked bin.
        np.testing.assert_array_equal(m, rows[:, None] | columns[None, :])
        assert rows.sum() <= 2 * 5 and columns.sum() <= 3 * 3


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_mask_width_is_uniform_on_zero_to_max_width_exclusive(axis):
    kwargs = {"time_masks": 0, "freq_masks": 0, f"{axis}_masks": 1, f"{axis}_mask_width": 4}
    mask = masked(SpecAugment(**kwargs, fill=FILL, seed=2), positive_features((100, 12, 12, 2)))
    widths = mask.any(axis=2 if axis == "time" else 1).sum(axis=1).ravel()
    assert set(widths) == {0, 1, 2, 3}
    assert 0.15 < np.mean(widths == 3) < 0.35


def test_mean_fill_is_each_examples_channel_mean_and_zero_fill_is_zero():
    x = positive_features((4, 30, 20, 3))
    out = np.asarray(SpecAugment(fill="mean", seed=3)(x, training=True))
    changed = out != x
    assert changed.any()
    channel_mean = np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
    np.testing.assert_allclose(out[changed], channel_mean[changed], rtol=1e-6)
    out = np.asarray(SpecAugment(fill="zero", seed=3)(x, training=True))
    assert (out == 0).any()
    np.testing.assert_array_equal(out[out != x], 0)


def test_same_seed_same_masks_other_seed_other_masks():
    x = positive_features((4, 30, 20, 3))
    first, second = SpecAugment(seed=7, fill=FILL), SpecAugment(seed=7, fill=FILL)
    for _ in range(2):  # the generators advance in step
        np.testing.assert_array_equal(masked(first, x), masked(second, x))
    assert not np.array_equal(masked(SpecAugment(seed=7, fill=FILL), x), masked(SpecAugment(seed=8, fill=FILL), x))


def test_per_channel_masks_differ_between_channels_shared_ones_do_not():
    x = positive_features((4, 40, 30, 7))
    per_channel = masked(SpecAugment(per_channel=True, fill=FILL, seed=4), x)
    assert any(not np.array_equal(per_channel[..., 0], per_channel[..., c]) for c in range(1, 7))
    shared = masked(SpecAugment(per_channel=False, fill=FILL, seed=4), x)
    assert shared.any()
    np.testing.assert_array_equal(shared, np.broadcast_to(shared[..., :1], shared.shape))


def test_unbatched_input_and_masks_wider_than_the_input():
    x = positive_features((6, 5, 2))
    out = np.asarray(SpecAugment(time_mask_width=50, freq_mask_width=50, fill=FILL, seed=5)(x, training=True))
    assert out.shape == x.shape
    mask = out == FILL
    for c in range(2):
        m = mask[..., c]
        np.testing.assert_array_equal(m, m.all(axis=1)[:, None] | m.all(axis=0)[None, :])


def test_spec_augment_in_a_tf_data_pipeline_is_seeded():
    x = positive_features((8, 20, 10, 2))

    def run() -> list[np.ndarray]:
        layer = SpecAugment(seed=6, fill=FILL)
        dataset = tf.data.Dataset.from_tensor_slices(x).batch(4).map(lambda f: layer(f, training=True))
        return [batch.numpy() for batch in dataset]

    first, second = run(), run()
    assert (first[0] == FILL).any()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_bad_spec_augment_arguments_are_rejected():
    with pytest.raises(ConfigError, match="time_mask_width"):
        SpecAugment(time_mask_width=0)
    with pytest.raises(ConfigError, match="freq_masks"):
        SpecAugment(freq_masks=-1)
    with pytest.raises(ConfigError, match="fill"):
        SpecAugment(fill="median")


def test_spec_augment_survives_a_keras_file_round_trip(tmp_path):
    layer = SpecAugment(
        time_masks=1, time_mask_width=7, freq_masks=3, freq_mask_width=5, per_channel=False, fill=0.5, seed=9
    )
    clone = SpecAugment.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    inputs = keras.Input((None, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(SpecAugment(seed=9, fill="zero", name="augment")(inputs)))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("augment"), SpecAugment)
    assert loaded.get_layer("augment").get_config() == model.get_layer("augment").get_config()
    x = positive_features((2, 10, 8, 3))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
