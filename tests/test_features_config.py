"""FeatureConfig: defaults, presets from the papers, frame counts, round trip and errors."""

import dataclasses
import json
import subprocess
import sys

import pytest

from seld_tf.errors import ConfigError
from seld_tf.features import PRESETS, FeatureConfig, get_preset, num_feature_channels


def test_defaults_are_the_dcase2020_baseline():
    config = FeatureConfig()
    assert (config.sample_rate, config.n_fft, config.hop_length, config.win_length) == (24000, 1024, 480, 960)
    assert (config.n_mels, config.fmin, config.mel_fmax, config.top_db) == (64, 0.0, 12000.0, 80.0)
    assert config.frames_per_second == 50.0
    assert get_preset("dcase2020") == config


@pytest.mark.parametrize(
    "preset, seconds, frames",
    [
        ("dcase2020", 60, 3000),  # 5 feature frames per 100 ms label frame
        ("einv2", 4, 160),  # 4 s chunks at hop 600
        ("apae", 10, 311),  # the 2APAE sequence length
    ],
)
def test_num_frames_matches_the_papers(preset, seconds, frames):
    config = get_preset(preset)
    assert config.num_frames(seconds * config.sample_rate) == frames


def test_num_frames_rounds_up_a_partial_hop():
    config = FeatureConfig()
    assert [config.num_frames(n) for n in (1, 480, 481, 959, 960, 961)] == [1, 1, 2, 2, 2, 3]


@pytest.mark.parametrize(
    "overrides, samples",
    [({}, 0), ({"pad_mode": "reflect"}, 512), ({"center": False}, 1023)],
)
def test_num_frames_rejects_too_short_clips(overrides, samples):
    with pytest.raises(ConfigError, match=f"found {samples}"):
        FeatureConfig(**overrides).num_frames(samples)


def test_presets_follow_the_reference_notes():
    einv2, apae, desed = get_preset("einv2"), get_preset("apae"), get_preset("desed")
    assert (einv2.hop_length, einv2.n_mels, einv2.fmin, einv2.fmax, einv2.top_db) == (600, 256, 20.0, 12000.0, None)
    assert einv2.iv_mapping == "legacy"
    assert (apae.sample_rate, apae.window, apae.n_fft, apae.hop_length) == (32000, "hamming", 2048, 1024)
    assert (apae.spectrum, apae.log, apae.fmin, apae.fmax) == ("magnitude", "log_eps", 50.0, 16000.0)
    assert (desed.sample_rate, desed.n_fft, desed.hop_length, desed.n_mels, desed.mel_fmax) == (
        16000,
        2048,
        256,
        128,
        8000.0,
    )


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip_through_json(name):
    config = PRESETS[name]
    assert FeatureConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_get_preset_applies_overrides_and_leaves_the_preset_alone():
    config = get_preset("einv2", n_mels=128, top_db=60.0)
    assert (config.n_mels, config.top_db, config.hop_length) == (128, 60.0, 600)
    assert PRESETS["einv2"].n_mels == 256
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_mels = 64


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="'dcase2019'.*'apae', 'apae2021', 'dcase2020', 'desed', 'desed_baseline', 'einv2', 'mtl_vae2022', 'nada2022'"):
        get_preset("dcase2019")


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match=r"\['hop', 'nfft'\]"):
        FeatureConfig.from_dict({"nfft": 1024, "hop": 480, "n_mels": 64})
    with pytest.raises(ConfigError, match=r"\['mels'\]"):
        get_preset("dcase2020", mels=40)
    with pytest.raises(ConfigError, match="expected a mapping"):
        FeatureConfig.from_dict([("n_fft", 1024)])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"win_length": 2048}, "win_length: expected <= n_fft"),
        ({"window": "blackman"}, r"window: expected one of \['hann', 'hamming'\], found 'blackman'"),
        ({"pad_mode": "edge"}, "pad_mode"),
        ({"spectrum": "complex"}, "spectrum"),
        ({"log": "ln"}, "log: expected one of"),
        ({"iv_mapping": "fuma"}, "iv_mapping"),
        ({"mel_norm": "l2"}, "mel_norm"),
        ({"gcc_lags": 63}, "gcc_lags: expected an even number"),
        ({"gcc_lags": 2048}, "gcc_lags: expected an even number <= n_fft"),
        ({"n_fft": 1024.0}, "n_fft: expected an integer"),
        ({"hop_length": True}, "hop_length: expected an integer"),
        ({"hop_length": 0}, "hop_length: expected an integer >= 1"),
        ({"center": "yes"}, "center: expected true or false"),
        ({"fmax": 13000.0}, r"fmax <= sample_rate / 2 \(12000 Hz\)"),
        ({"fmin": 12000.0}, "fmin < fmax"),
        ({"fmin": -1.0}, "fmin: expected a number >= 0"),
        ({"amin": 0.0}, "amin: expected a number > 0"),
        ({"top_db": -10.0}, "top_db: expected a number >= 0"),
        ({"ref": float("nan")}, "ref: expected a finite number"),
    ],
)
def test_invalid_values_are_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        FeatureConfig(**overrides)


@pytest.mark.parametrize(
    "array_format, audio_channels, expected",
    [("foa", 4, 7), ("mic", 4, 10), ("logmel", 1, 1), ("logmel", 4, 4)],
)
def test_num_feature_channels(array_format, audio_channels, expected):
    assert num_feature_channels(array_format, audio_channels) == expected


@pytest.mark.parametrize(
    "array_format, audio_channels, message",
    [
        ("foa", 2, "'foa' expects 4 audio channels, found 2"),
        ("mic", 8, "'mic' expects 4 audio channels, found 8"),
        ("logmel", 0, "at least one audio channel, found 0"),
        ("stereo", 2, "unknown array format 'stereo'"),
    ],
)
def test_num_feature_channels_rejects_bad_combinations(array_format, audio_channels, message):
    with pytest.raises(ConfigError, match=message):
        num_feature_channels(array_format, audio_channels)


def test_numpy_path_does_not_import_tensorflow():
    code = "import sys, seld_tf.features; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
