"""Tests of the synthetic SELD scene generator: layout, labels, determinism, spatial encoding."""

import dataclasses
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES
from seld_tf.datasets.events import angular_distance, polar_to_cartesian
from seld_tf.datasets.synth import rooms
from seld_tf.datasets.synth.seld import (
    Scene,
    SceneEvent,
    SeldSynthConfig,
    render_scene,
    sample_scene,
    synthesize_clip,
    synthesize_seld_dataset,
)
from seld_tf.errors import ConfigError

RATE = 24000
SMALL = SeldSynthConfig(num_clips=4, duration=3.0, folds=(1, 2, 3), event_duration_range=(0.5, 1.5), gap_range=(0.1, 0.5))
# Nearly anechoic: Eyring absorption ~0.9, no tail, no noise.
ANECHOIC = SeldSynthConfig(duration=2.0, rt60_range=(0.05, 0.05), late_reverb=False, snr_db=None)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = synthesize_seld_dataset(out, SMALL, formats=("foa", "mic"), progress=False)
    return out, summary


def _read_csv(path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)


def _single_source_scene(
    azimuth: float, elevation: float, distance: float, angular_speed: float = 0.0, class_index: int = 7
) -> Scene:
    """One event filling an ANECHOIC clip (class 7: burning fire) in a fixed 6 x 5 x 3 m room."""
    room = rooms.Room(dimensions=(6.0, 5.0, 3.0), rt60=0.05, array_position=(3.0, 2.4, 1.5), max_order=3)
    event = SceneEvent(
        class_index=class_index, track=0, onset_frame=0, num_frames=ANECHOIC.num_frames, azimuth=azimuth, elevation=elevation,
        distance=distance, angular_speed=angular_speed, level_db=0.0, sound_seed=3,
    )
    return Scene(
        fold=1, room_number=1, mix=1, overlap=1, num_frames=ANECHOIC.num_frames, room=room, events=(event,),
        snr_db=None, noise_slope=1.0, noise_seed=0,
    )


def test_layout_and_naming(dataset):
    out, summary = dataset
    # Round-robin over folds 1-3; within a fold ov1 then ov2; rooms 1-2, 3-4, 5-6 per fold.
    names = ["fold1_room1_mix001_ov1", "fold2_room3_mix001_ov1", "fold3_room5_mix001_ov1", "fold1_room1_mix002_ov2"]
    assert sorted(os.listdir(out)) == ["foa_dev", "metadata_dev", "mic_dev", "synth_config.json"]
    for folder, ext in (("foa_dev", "wav"), ("mic_dev", "wav"), ("metadata_dev", "csv")):
        assert sorted(os.listdir(out / folder)) == sorted(f"{n}.{ext}" for n in names)
    for name in names:
        assert re.fullmatch(r"fold\d+_room\d+_mix\d{3}_ov[12]", name)
        for fmt in ("foa", "mic"):
            info = sf.info(out / f"{fmt}_dev" / f"{name}.wav")
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (RATE, 4, 3 * RATE, "PCM_16")
    recorded = json.loads((out / "synth_config.json").read_text())
    assert SeldSynthConfig.from_dict(recorded["config"]) == SMALL and recorded["formats"] == ["foa", "mic"]
    assert set(recorded["rooms"]) == {"1", "3", "5"}
    assert summary["clips"] == 4 and summary["audio_seconds"] == 12.0
    assert sum(summary["events_per_class"].values()) > 0 and list(summary["events_per_class"]) == list(CLASS_NAMES)


def test_metadata_matches_the_scene_and_ranges(dataset):
    out, summary = dataset
    total_events = 0
    for clip_index in range(SMALL.num_clips):
        clip = synthesize_clip(SMALL, clip_index, formats=("foa",))
        rows = _read_csv(out / "metadata_dev" / f"{clip.scene.name}.csv")
        expected = clip.events.sorted()
        columns = [expected.frame, expected.cls, expected.track, expected.azimuth, expected.elevation]
        np.testing.assert_array_equal(rows, np.stack(columns, axis=1))
        frame, track, azimuth, elevation = rows[:, 0], rows[:, 2], rows[:, 3], rows[:, 4]
        assert frame.min() >= 0 and frame.max() < SMALL.num_frames
        assert azimuth.min() >= -180 and azimuth.max() < 180 and elevation.min() >= -45 and elevation.max() <= 45
        overlap = clip.scene.overlap
        assert np.bincount(frame).max() <= overlap and set(track) <= set(range(overlap))
        # A track holds one event at a time.
        assert len(np.unique(rows[:, [0, 2]], axis=0)) == len(rows)
        total_events += len(clip.scene.events)
    assert total_events == sum(summary["events_per_class"].values())


def test_reproducible_from_the_seed(tmp_path):
    config = dataclasses.replace(SMALL, num_clips=2, duration=2.0)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        synthesize_seld_dataset(tmp_path / name, dataclasses.replace(config, seed=seed), progress=False)
    for folder in ("foa_dev", "metadata_dev"):
        for file in os.listdir(tmp_path / "a" / folder):
            assert (tmp_path / "a" / folder / file).read_bytes() == (tmp_path / "b" / folder / file).read_bytes()
            assert (tmp_path / "a" / folder / file).read_bytes() != (tmp_path / "c" / folder / file).read_bytes()


def test_clip_is_independent_of_the_number_of_clips_and_of_the_formats():
    few = synthesize_clip(dataclasses.replace(SMALL, num_clips=2), 1, formats=("foa",))
    many = synthesize_clip(dataclasses.replace(SMALL, num_clips=50), 1, formats=("mic", "foa"))
    np.testing.assert_array_equal(few.audio["foa"], many.audio["foa"])
    assert few.events.equals(many.events) and few.scene == many.scene


@pytest.mark.parametrize("azimuth, elevation", [(30.0, 10.0), (-120.0, -30.0), (170.0, 40.0)])
def test_foa_intensity_recovers_the_labelled_direction(azimuth, elevation):
    scene = _single_source_scene(azimuth, elevation, distance=1.2)
    labels = scene.event_list()
    foa = render_scene(scene, ANECHOIC, ("foa",))["foa"].astype(np.float64)
    _, _, spectra = signal.stft(foa.T, RATE, nperseg=512)
    w, y, z, x = spectra
    intensity = [np.mean(np.real(np.conj(w) * channel)) for channel in (x, y, z)]
    estimated_azimuth = np.rad2deg(np.arctan2(intensity[1], intensity[0]))
    estimated_elevation = np.rad2deg(np.arctan2(intensity[2], np.hypot(intensity[0], intensity[1])))
    assert np.all(labels.azimuth == azimuth) and np.all(labels.elevation == elevation)
    assert angular_distance(estimated_azimuth, estimated_elevation, azimuth, elevation) < 2.0


def _gcc_phat_delay(a: np.ndarray, b: np.ndarray, upsample: int = 64) -> float:
    """Delay of `b` relative to `a` in samples, from the upsampled GCC-PHAT peak."""
    a, b = a[: RATE // 2], b[: RATE // 2]  # half a second is plenty, and keeps the FFT small
    n = 2 * len(a)
    cross = np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n))
    correlation = np.fft.irfft(cross / (np.abs(cross) + 1e-12), n * upsample)
    lag = np.argmax(np.concatenate([correlation[-8 * upsample :], correlation[: 8 * upsample + 1]])) - 8 * upsample
    return lag / upsample


@pytest.mark.parametrize("azimuth, elevation", [(30.0, 10.0), (-120.0, -30.0)])
def test_mic_inter_capsule_delays_match_the_geometry(azimuth, elevation):
    scene = _single_source_scene(azimuth, elevation, distance=1.2, class_index=2)  # crash: broadband
    mic = render_scene(scene, ANECHOIC, ("mic",))["mic"].astype(np.float64)
    source = 1.2 * polar_to_cartesian(azimuth, elevation)
    arrival = np.linalg.norm(source - rooms.capsule_offsets(), axis=1) / rooms.SPEED_OF_SOUND * RATE
    for m, n in ((0, 1), (0, 2), (0, 3), (1, 2), (2, 3)):
        assert _gcc_phat_delay(mic[:, m], mic[:, n]) == pytest.approx(arrival[n] - arrival[m], abs=0.1)


def test_moving_block_renderer_equals_stationary_rendering_when_still():
    # A negligible speed takes the block path; the Hann crossfades must sum to one.
    still = render_scene(_single_source_scene(50.0, 20.0, 1.5), ANECHOIC, ("foa", "mic"))
    crawling = render_scene(_single_source_scene(50.0, 20.0, 1.5, angular_speed=1e-9), ANECHOIC, ("foa", "mic"))
    for fmt in ("foa", "mic"):
        np.testing.assert_allclose(crawling[fmt], still[fmt], atol=2e-5)


def test_moving_source_labels_turn_at_the_configured_speed():
    config = dataclasses.replace(
        SMALL, duration=6.0, moving_probability=1.0, angular_speeds=(20.0,), event_duration_range=(1.0, 3.0)
    )
    scene = sample_scene(config, 0)
    labels = scene.event_list()
    for event in scene.events:
        rows = labels.select((labels.track == event.track) & np.isin(labels.frame, event.frames))
        unwrapped = np.rad2deg(np.unwrap(np.deg2rad(rows.azimuth)))
        seconds = rows.frame * 0.1
        if len(rows) > 1:
            assert abs(np.polyfit(seconds, unwrapped, 1)[0]) == pytest.approx(20.0, abs=0.6)
        assert len(np.unique(rows.elevation)) == 1


def test_homogeneous_overlap_scene_has_same_class_events_apart():
    config = dataclasses.replace(SMALL, duration=6.0, overlaps=(2,), homogeneous_overlap_probability=1.0, gap_range=(0.1, 0.3))
    labels = sample_scene(config, 0).event_list()
    same_class_pairs = overlapping_frames = 0
    for frame in np.unique(labels.frame):
        rows = labels.select(labels.frame == frame)
        if len(rows) == 2:
            overlapping_frames += 1
            # Every pair of simultaneous events is at least min_overlap_separation apart...
            separation = angular_distance(rows.azimuth[0], rows.elevation[0], rows.azimuth[1], rows.elevation[1])
            assert separation >= 29.0  # 30 less the integer rounding of the labels
            assert rows.track[0] != rows.track[1]
            same_class_pairs += int(rows.cls[0] == rows.cls[1])
    # ...and with probability 1 the overlapping voice copies the class it overlaps (a
    # voice-1 event spanning two voice-0 events matches one of them; by chance: 1/14).
    assert overlapping_frames >= 10 and same_class_pairs >= overlapping_frames / 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"duration": 1.05}, "multiple of 0.1 s"),
        ({"num_clips": 0}, "num_clips must be >= 1"),
        ({"overlaps": (3,)}, "overlaps must be"),
        ({"elevation_range": (-100.0, 45.0)}, "elevation_range must lie within"),
        ({"distance_range": (2.0, 1.0)}, "low <= high"),
        ({"homogeneous_overlap_probability": 1.5}, "in \\[0, 1\\]"),
        ({"sample_rate": 22050}, "even number of samples"),
        ({"room_dimension_ranges": ((1.0, 3.0), (4.0, 8.0), (2.7, 4.0))}, "room length range"),
    ],
)
def test_bad_config_raises_config_error(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(SeldSynthConfig(), **change)


def test_config_dict_round_trip_and_unknown_keys():
    assert SeldSynthConfig.from_dict(json.loads(json.dumps(SMALL.to_dict()))) == SMALL
    with pytest.raises(ConfigError, match="unknown SeldSynthConfig keys \\['clips'\\]"):
        SeldSynthConfig.from_dict({"clips": 3})
    with pytest.raises(ConfigError, match="formats must be"):
        synthesize_clip(SMALL, 0, formats=("ambisonics",))
