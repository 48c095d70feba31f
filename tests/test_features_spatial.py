"""Intensity vectors and GCC-PHAT: hand-worked plane-wave and delay cases, TF against numpy."""

import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.features import FeatureConfig, compute_features, compute_features_tf, get_preset
from seld_tf.features.spatial import (
    channel_pairs,
    gcc_phat,
    gcc_phat_tf,
    intensity_vectors,
    intensity_vectors_tf,
)
from seld_tf.features.spectral import stft, stft_tf

# Measured worst cases (max abs difference, TF vs the float64 reference):
# float64 ~6e-17, float32 ~3e-6 (IV) and ~2e-6 (GCC) on these clips.
TOLERANCE = {"float64": 1e-12, "float32": 5e-5}


def foa_plane_wave(signal: np.ndarray, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """ACN/SN3D encoding W, Y, Z, X of a plane wave from (azimuth, elevation)."""
    phi, theta = np.radians(azimuth_deg), np.radians(elevation_deg)
    gains = [1.0, np.sin(phi) * np.cos(theta), np.sin(theta), np.cos(phi) * np.cos(theta)]
    return signal[:, None] * np.array(gains)


def direction_of(iv: np.ndarray) -> tuple[float, float]:
    """Azimuth and elevation (degrees) of the mean mel-band intensity vector."""
    x, y, z = iv.reshape(-1, 3).mean(axis=0)
    return np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y)))


def noise(num_samples: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(num_samples) * 0.1


def two_sources_in_noise(config: FeatureConfig) -> np.ndarray:
    """Two plane waves from different directions plus independent sensor noise: not a trivial field."""
    num_samples = config.sample_rate // 2
    low = np.convolve(noise(num_samples, 1), np.ones(8) / 8, mode="same")
    field = foa_plane_wave(low, 60, 20) + foa_plane_wave(noise(num_samples, 2), -100, -10)
    return field + 0.01 * np.random.default_rng(3).standard_normal(field.shape)


@pytest.mark.parametrize("azimuth, elevation", [(30, 10), (-120, -30), (170, 40), (-90, 0)])
def test_plane_wave_intensity_points_at_the_source(azimuth, elevation):
    config = FeatureConfig()
    audio = foa_plane_wave(noise(12000), azimuth, elevation)
    for iv in (
        intensity_vectors(stft(audio, config), config),
        intensity_vectors_tf(stft_tf(audio, config), config).numpy(),
    ):
        found_azimuth, found_elevation = direction_of(iv)
        assert (found_azimuth - azimuth + 180) % 360 - 180 == pytest.approx(0, abs=1)
        assert found_elevation == pytest.approx(elevation, abs=1)


def test_legacy_mapping_reads_x_y_z_from_channels_1_2_3():
    audio = foa_plane_wave(noise(12000), 45, 20)
    spec = stft(audio, FeatureConfig())
    acn = intensity_vectors(spec, FeatureConfig(iv_mapping="acn"))
    legacy = intensity_vectors(spec, FeatureConfig(iv_mapping="legacy"))
    # Channels 1, 2, 3 hold Y, Z, X, so legacy (x, y, z) = ACN (y, z, x).
    np.testing.assert_allclose(legacy, acn[..., [1, 2, 0]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["dcase2020", "einv2"])
def test_intensity_vectors_tf_match_numpy(name, dtype):
    config = get_preset(name)
    audio = two_sources_in_noise(config)
    expected = intensity_vectors(stft(audio, config), config)
    iv = intensity_vectors_tf(stft_tf(audio, config, dtype), config).numpy()
    assert iv.shape == expected.shape == (config.num_frames(len(audio)), config.n_mels, 3)
    assert np.abs(iv - expected).max() < TOLERANCE[dtype]


def delayed_copies(delays: list[int], num_samples: int = 12000) -> np.ndarray:
    """Channel c is one noise signal delayed by delays[c] samples (negative: advanced)."""
    padded = noise(num_samples + 200)
    return np.stack([padded[100 - d : 100 - d + num_samples] for d in delays], axis=-1)


def test_gcc_phat_peaks_at_plus_the_delay_of_the_second_channel():
    config = FeatureConfig()
    delays = [0, 5, -3, 12]
    cc = gcc_phat(stft(delayed_copies(delays), config), config)
    assert cc.shape == (25, 64, 6)
    for pair, (m, n) in enumerate(channel_pairs(4)):
        peak_lag = np.argmax(cc[..., pair].mean(axis=0)) - config.gcc_lags // 2
        assert peak_lag == delays[n] - delays[m], (m, n)


def test_channel_pairs_follow_the_baseline_order():
    assert channel_pairs(4) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gcc_phat_tf_matches_numpy(dtype):
    config = FeatureConfig()
    audio = delayed_copies([0, 2, -7, 20]) + 0.05 * np.random.default_rng(4).standard_normal((12000, 4))
    expected = gcc_phat(stft(audio, config), config)
    cc = gcc_phat_tf(stft_tf(audio, config, dtype), config).numpy()
    assert cc.shape == expected.shape
    assert np.abs(cc - expected).max() < TOLERANCE[dtype]


def test_feature_stacks_put_log_mels_first():
    config = FeatureConfig()
    audio = delayed_copies([0, 1, 2, 3])
    spec = stft(audio, config)
    foa, mic = compute_features(audio, config, "foa"), compute_features(audio, config, "mic")
    np.testing.assert_allclose(foa[..., 4:], intensity_vectors(spec, config), atol=1e-6)
    np.testing.assert_allclose(mic[..., 4:], gcc_phat(spec, config), atol=1e-6)
    np.testing.assert_array_equal(foa[..., :4], mic[..., :4])
    mic_tf = compute_features_tf(audio, config, "mic", "float64").numpy()
    assert np.abs(mic_tf - mic).max() < 1e-4  # the reference output is rounded to float32


def test_spatial_features_reject_wrong_channel_counts():
    config = FeatureConfig()
    spec = stft(delayed_copies([0, 1, 2]), config)
    with pytest.raises(ConfigError, match="4-channel FOA spectrum.*found 3 channels"):
        intensity_vectors(spec, config)
    with pytest.raises(ConfigError, match="at least 2 channels"):
        gcc_phat(spec[..., :1], config)


def test_silence_gives_finite_features_with_a_defined_value():
    config = FeatureConfig()
    silence = np.zeros((4800, 4), np.float32)
    # Every bin has phase 0, so irfft(ones) is a unit impulse at lag 0; the
    # intensity vector is 0 / (0 + eps) = 0.
    impulse = np.zeros(config.gcc_lags)
    impulse[config.gcc_lags // 2] = 1.0
    spec, spec_tf = stft(silence, config), stft_tf(silence, config)
    for cc in (gcc_phat(spec, config), gcc_phat_tf(spec_tf, config).numpy()):
        np.testing.assert_allclose(cc, np.broadcast_to(impulse[None, :, None], cc.shape), atol=1e-6)
    for iv in (intensity_vectors(spec, config), intensity_vectors_tf(spec_tf, config).numpy()):
        assert not np.any(iv)
