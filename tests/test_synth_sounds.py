"""Tests of the procedural event sounds: format, determinism, and class-specific acoustics."""

import numpy as np
import pytest
from scipy import signal

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES
from seld_tf.datasets.synth.sounds import SAMPLE_RATE, SOUND_GENERATORS, synthesize_event
from seld_tf.errors import ConfigError


def _log_band_spectrum(audio: np.ndarray, num_bands: int = 24) -> np.ndarray:
    """Mean log power in log-spaced bands from 100 Hz to 10 kHz, level removed."""
    frequency, power = signal.welch(audio, SAMPLE_RATE, nperseg=4096)
    edges = np.geomspace(100.0, 10000.0, num_bands + 1)
    bands = np.array([power[(frequency >= lo) & (frequency < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:])])
    log_bands = 10.0 * np.log10(bands + 1e-12)
    return log_bands - log_bands.mean()


def _median_f0(audio: np.ndarray, low: float, high: float) -> float:
    """Median autocorrelation pitch (Hz) over voiced 40 ms frames, searched in [low, high]."""
    frame = int(0.04 * SAMPLE_RATE)
    lags = np.arange(int(SAMPLE_RATE / high), int(SAMPLE_RATE / low) + 1)
    estimates = []
    for start in range(0, len(audio) - frame, frame):
        x = audio[start : start + frame]
        if np.sqrt(np.mean(x**2)) < 0.3:  # skip pauses and fades
            continue
        correlation = np.array([np.dot(x[:-lag], x[lag:]) for lag in lags])
        estimates.append(SAMPLE_RATE / lags[np.argmax(correlation)])
    return float(np.median(estimates))


def test_registry_follows_the_dcase_class_order():
    assert tuple(SOUND_GENERATORS) == CLASS_NAMES


@pytest.mark.parametrize("class_name", CLASS_NAMES)
def test_event_format_and_loudness(class_name):
    audio = synthesize_event(class_name, 1.3, np.random.default_rng(3))
    assert audio.dtype == np.float32 and audio.shape == (int(1.3 * SAMPLE_RATE),)
    assert np.all(np.isfinite(audio))
    # Loudest 50 ms window at unit RMS, and faded in and out to silence.
    windows = audio[: len(audio) // 1200 * 1200].reshape(-1, 1200)
    assert np.sqrt(np.mean(windows**2, axis=1)).max() == pytest.approx(1.0, rel=1e-4)
    assert audio[0] == 0.0 and audio[-1] == 0.0


def test_instances_are_reproducible_and_randomised():
    same = [synthesize_event("piano", 1.0, np.random.default_rng(11)) for _ in range(2)]
    other = synthesize_event("piano", 1.0, np.random.default_rng(12))
    np.testing.assert_array_equal(same[0], same[1])
    assert np.abs(same[0] - other).max() > 0.1


def test_classes_are_distinguishable_by_their_spectra():
    # Nearest-centroid classification of unseen instances from long-term log
    # spectra alone (no temporal pattern): chance is 1/14, and pitch is
    # randomised per instance, yet most instances fall to their own class.
    rng = np.random.default_rng(0)
    spectra = {name: [_log_band_spectrum(synthesize_event(name, 2.0, rng)) for _ in range(5)] for name in CLASS_NAMES}
    centroids = np.stack([np.mean(s[:3], axis=0) for s in spectra.values()])
    correct = 0
    for index, name in enumerate(CLASS_NAMES):
        for held_out in spectra[name][3:]:
            correct += int(np.argmin(np.linalg.norm(centroids - held_out, axis=1)) == index)
    assert correct >= 18  # of 28 (chance: 2)
    # Class means differ substantially: at least 4 dB RMS over the bands for every pair.
    rms_db = np.sqrt(np.mean((centroids[:, None] - centroids[None]) ** 2, axis=-1))
    assert rms_db[np.triu_indices(len(CLASS_NAMES), 1)].min() > 4.0


@pytest.mark.parametrize(
    "class_name, low, high",
    [
        ("male_speech", 80.0, 160.0),
        ("female_speech", 160.0, 300.0),
        ("male_scream", 380.0, 1050.0),  # 400-700 Hz plus the rise of the glide
        ("female_scream", 760.0, 1800.0),
    ],
)
def test_voice_pitch_ranges(class_name, low, high):
    audio = synthesize_event(class_name, 2.0, np.random.default_rng(5)).astype(np.float64)
    # Search an octave on each side so a wrong register would be found, not clipped.
    assert low <= _median_f0(audio, low / 2.0, high * 2.0) <= high


def test_engine_is_amplitude_modulated_at_20_to_40_hz():
    audio = synthesize_event("running_engine", 2.0, np.random.default_rng(2)).astype(np.float64)
    # Envelope: rectified signal smoothed well above 40 Hz, then its spectrum.
    envelope = signal.sosfiltfilt(signal.butter(4, 100.0, fs=SAMPLE_RATE, output="sos"), np.abs(audio))
    frequency, power = signal.welch(envelope - envelope.mean(), SAMPLE_RATE, nperseg=2**15)
    band = (frequency > 5.0) & (frequency < 100.0)
    peak = frequency[band][np.argmax(power[band])]
    # The firing rate (25-60 Hz) is also in the envelope; the strongest line is one of the two.
    assert 19.0 <= peak <= 61.0


def test_crash_is_broadband_and_footsteps_are_low():
    def centroid(name):
        audio = synthesize_event(name, 1.5, np.random.default_rng(4)).astype(np.float64)
        frequency, power = signal.welch(audio, SAMPLE_RATE, nperseg=1024)
        return float(np.sum(frequency * power) / np.sum(power))

    assert centroid("crash") > 2000.0
    assert centroid("footsteps") < 500.0
    assert centroid("running_engine") < 500.0


def test_bad_requests_raise_config_error():
    with pytest.raises(ConfigError, match="unknown sound class 'dog'"):
        synthesize_event("dog", 1.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="at least 0.01 s"):
        synthesize_event("alarm", 0.001, np.random.default_rng(0))
