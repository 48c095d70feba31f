"""STFT and log-mel: the numpy path against librosa and definitions, the TF path against numpy."""

import dataclasses

import librosa
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.errors import ConfigError
from seld_tf.features import PRESETS, FeatureConfig, compute_features, compute_features_tf, get_preset
from seld_tf.features.spectral import log_mel, log_mel_tf, mel_filterbank, stft, stft_tf, stft_window

# Measured worst cases on these clips (max abs difference, TF vs the float64
# reference): float64 ~2e-14 dB, float32 3.4e-4 dB (EINV2: no top_db, 256
# narrow bands). The bounds leave headroom over the measurements.
DB_TOLERANCE = {"float64": 1e-9, "float32": 2e-3}


def mixture(sample_rate: int, seconds: float, channels: int = 4, seed: int = 0) -> np.ndarray:
    """Per-channel sinusoids (different frequencies and levels) plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tones = [
        0.5 * 10 ** (-c / 2) * np.sin(2 * np.pi * (300 + 700 * c) * t + c) + 0.2 * np.sin(2 * np.pi * 5111 * t)
        for c in range(channels)
    ]
    return (np.stack(tones, axis=-1) + 0.02 * rng.standard_normal((t.size, channels))).astype(np.float32)


def clip_for(config: FeatureConfig, seconds: float = 1.0) -> np.ndarray:
    return mixture(config.sample_rate, seconds)


def test_stft_is_librosa_per_channel_truncated_to_ceil_samples_over_hop():
    audio = mixture(24000, 0.5, channels=2)  # 12000 samples: librosa gives 26 frames, the baseline keeps 25
    spec = stft(audio, FeatureConfig())
    assert spec.shape == (25, 513, 2)
    for channel in range(2):
        expected = librosa.stft(audio[:, channel].astype(np.float64), n_fft=1024, hop_length=480, win_length=960)
        np.testing.assert_allclose(spec[..., channel], expected[:, :25].T, rtol=0, atol=1e-12)


def test_stft_window_is_periodic_and_centred_in_the_fft():
    window = stft_window(FeatureConfig())  # 960-sample Hann in a 1024-point frame
    n = np.arange(960)
    np.testing.assert_allclose(window[32:992], 0.5 - 0.5 * np.cos(2 * np.pi * n / 960), atol=1e-15)
    assert not window[:32].any() and not window[992:].any()


@pytest.mark.parametrize("name", ["dcase2020", "einv2", "apae"])
def test_stft_tf_matches_librosa(name):
    config = get_preset(name)  # constant / reflect padding, uncentred, Hann / Hamming
    audio = clip_for(config, 0.5)
    expected = stft(audio, config)
    spec = stft_tf(audio, config, "float64").numpy()
    assert spec.shape == expected.shape
    np.testing.assert_allclose(spec, expected, rtol=0, atol=1e-9)


def test_mel_filterbank_is_librosa_with_the_preset_band_edges():
    weights = mel_filterbank(get_preset("einv2"))
    expected = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=256, fmin=20, fmax=12000, dtype=np.float64)
    np.testing.assert_array_equal(weights, expected.T)
    desed = mel_filterbank(get_preset("desed"))  # 0 - 8 kHz at 16 kHz: nothing above 8 kHz
    bin_hz = np.fft.rfftfreq(2048, 1 / 16000)
    assert desed.shape == (1025, 128) and not desed[bin_hz > 8000].any()


def test_top_db_clips_each_channel_relative_to_its_own_maximum():
    tone = np.sin(2 * np.pi * 1000 * np.arange(24000) / 24000)  # > 80 dB between peak and far bands
    audio = np.stack([tone, 1e-2 * tone], axis=-1)  # the same clip 40 dB quieter
    config = FeatureConfig()
    features = log_mel(stft(audio, config), config)
    loud_max, quiet_max = features[..., 0].max(), features[..., 1].max()
    assert loud_max - quiet_max == pytest.approx(40)
    assert features[..., 1].min() == pytest.approx(quiet_max - 80)
    features_tf = log_mel_tf(stft_tf(audio, config, "float64"), config).numpy()
    np.testing.assert_allclose(features_tf, features, rtol=0, atol=DB_TOLERANCE["float64"])


def test_db_clamp_bounds_the_db_values_as_the_dcase2022_baseline_clamps():
    config = get_preset("desed_baseline")
    assert config.db_clamp == (-25.0, 40.0)  # torchaudio's [-50, 80] of 20 log10 |X|
    t = np.arange(8000) / 16000
    # Silence (amin 1e-5: -50 dB before the clamp), then a tone far louder than full scale.
    audio = np.concatenate([np.zeros(8000), 100 * np.sin(2 * np.pi * 1000 * t)])[:, None]
    unclamped = log_mel(stft(audio, config), dataclasses.replace(config, db_clamp=None))
    clamped = log_mel(stft(audio, config), config)
    assert unclamped.min() < -25 and unclamped.max() > 40
    np.testing.assert_array_equal(clamped, np.clip(unclamped, -25, 40))
    assert clamped.min() == -25 and clamped.max() == 40
    features_tf = log_mel_tf(stft_tf(audio, config, "float64"), config).numpy()
    np.testing.assert_allclose(features_tf, clamped, rtol=0, atol=DB_TOLERANCE["float64"])
    assert FeatureConfig.from_dict({**config.to_dict(), "db_clamp": [-25, 40]}) == config
    for bad in ([40, -25], [1.0], ["low", 2]):
        with pytest.raises(ConfigError, match="db_clamp"):
            dataclasses.replace(config, db_clamp=bad)
    with pytest.raises(ConfigError, match="db_clamp"):
        FeatureConfig(log="log_eps", db_clamp=(-1.0, 1.0))


def test_log_eps_of_magnitude_follows_the_definition():
    config = get_preset("apae")
    spec = stft(clip_for(config), config)
    weights = librosa.filters.mel(sr=32000, n_fft=2048, n_mels=64, fmin=50, fmax=16000, dtype=np.float64)
    expected = np.log(np.einsum("mf,tfc->tmc", weights, np.abs(spec)) + 1e-8)
    np.testing.assert_allclose(log_mel(spec, config), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_log_mel_tf_matches_the_reference(name, dtype):
    config = get_preset(name)
    audio = clip_for(config)
    expected = log_mel(stft(audio, config), config)
    features = log_mel_tf(stft_tf(audio, config, dtype), config).numpy()
    assert features.dtype == np.dtype(dtype) and features.shape == expected.shape
    assert np.abs(features - expected).max() < DB_TOLERANCE[dtype]


def test_batched_tf_features_match_one_clip_at_a_time():
    config = FeatureConfig()
    batch = np.stack([mixture(24000, 0.5, seed=1), 1e-3 * mixture(24000, 0.5, seed=2)])
    features = compute_features_tf(batch, config, "foa").numpy()
    for clip, clip_features in zip(batch, features):
        reference = compute_features(clip, config, "foa")
        assert np.abs(clip_features - reference).max() < DB_TOLERANCE["float32"]


def test_traced_with_unknown_length_matches_eager():
    config = FeatureConfig()
    extract = tf.function(
        lambda audio: compute_features_tf(audio, config, "mic"),
        input_signature=[tf.TensorSpec([None, 4], tf.float32)],
    )
    audio = mixture(24000, 0.33)  # 7920 samples: a partial final hop
    traced, eager = extract(audio).numpy(), compute_features_tf(audio, config, "mic").numpy()
    assert traced.shape == (17, 64, 10)
    np.testing.assert_allclose(traced, eager, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "name, seconds, array_format, shape",
    [
        ("dcase2020", 60, "foa", (3000, 64, 7)),
        ("dcase2020", 60, "mic", (3000, 64, 10)),
        ("einv2", 4, "foa", (160, 256, 7)),
    ],
)
def test_feature_shapes_of_the_papers(name, seconds, array_format, shape):
    config = get_preset(name)
    audio = np.zeros((seconds * config.sample_rate, 4), np.float32)
    audio[::97] = 0.1  # sparse clicks: cheap, not silent
    features = compute_features_tf(audio, config, array_format)
    assert tuple(features.shape) == shape and features.dtype == tf.float32


def test_bad_inputs_raise_config_errors():
    config = FeatureConfig()
    audio = mixture(24000, 0.1)
    with pytest.raises(ConfigError, match="'foa' expects 4 audio channels, found 3"):
        compute_features(audio[:, :3], config, "foa")
    with pytest.raises(ConfigError, match="'foa' expects 4 audio channels, found 2"):
        compute_features_tf(audio[:, :2], config, "foa")
    with pytest.raises(ConfigError, match="expected gcc_lags == n_mels"):
        compute_features(audio, get_preset("einv2"), "mic")
    with pytest.raises(ConfigError, match=r"\[samples, channels\], found shape \(2400,\)"):
        compute_features(audio[:, 0], config, "logmel")
    with pytest.raises(ConfigError, match=r"\[\.\.\., samples, channels\].*found \(2400,\)"):
        compute_features_tf(audio[:, 0], config, "logmel")
    with pytest.raises(ConfigError, match="compute dtype.*found int32"):
        stft_tf(audio, config, "int32")
    with pytest.raises(ConfigError, match="at least 513 samples"):
        stft_tf(audio[:100], get_preset("einv2"))
    with pytest.raises(ConfigError, match=r"\[frames, 513, channels\].*found shape \(10, 257, 4\)"):
        log_mel(np.zeros((10, 257, 4), complex), config)
    with pytest.raises(ConfigError, match=r"\[frames, 513, channels\].*found shape \(2, 10, 513, 4\)"):
        log_mel(np.zeros((2, 10, 513, 4), complex), config)
