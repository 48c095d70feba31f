"""Spatial features: FOA intensity vectors and MIC GCC-PHAT, numpy and in-graph TF.

Both follow the DCASE2020 Task 3 baseline. The intensity vector of each STFT
bin is `Re(conj(W) * [X, Y, Z])`, unit-normalised (norm + 1e-8) and projected
onto the mel bands. GCC-PHAT of each channel pair `(m, n)`, `m < n`, is
`irfft(exp(1j * angle(conj(X_m) * X_n)))` with the lags `-L/2 .. L/2 - 1` kept
(`L = gcc_lags`). Sign convention: output index `j` is lag `j - L/2`, and
`cc[lag] = sum_t x_m[t] * x_n[t + lag]`, so if channel `n` is channel `m`
delayed by `d` samples the peak is at lag `+d`, index `L/2 + d`.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from seld_tf.errors import ConfigError
from seld_tf.features.config import FeatureConfig
from seld_tf.features.spectral import (
    check_spectrum,
    channels_first_tf,
    channels_last_tf,
    mel_filterbank,
    mel_filterbank_tf,
)

if TYPE_CHECKING:
    import tensorflow as tf

# FOA channel indices (ACN order W, Y, Z, X) that give the intensity vector's x, y, z.
IV_CHANNELS = {"acn": (3, 1, 2), "legacy": (1, 2, 3)}
# Added to the intensity vector's norm (the baseline's eps) so silent bins stay finite.
IV_EPS = 1e-8


def _check_foa(spec_shape: tuple, config: FeatureConfig, *, batched: bool) -> None:
    check_spectrum(spec_shape, config, batched=batched)
    if spec_shape[-1] != 4:
        raise ConfigError(f"expected a 4-channel FOA spectrum (W, Y, Z, X), found {spec_shape[-1]} channels")


def channel_pairs(num_channels: int) -> list[tuple[int, int]]:
    """Channel pairs `(m, n)`, `m < n`, in the baseline's order: (0, 1), (0, 2), ..., (2, 3) for 4."""
    return list(itertools.combinations(range(num_channels), 2))


def _pairs_of(spec_shape: tuple, config: FeatureConfig, *, batched: bool) -> list[tuple[int, int]]:
    check_spectrum(spec_shape, config, batched=batched)
    pairs = channel_pairs(spec_shape[-1] or 0)
    if not pairs:
        raise ConfigError(f"expected a spectrum with at least 2 channels for GCC-PHAT, found shape {spec_shape}")
    return pairs


def intensity_vectors(spec: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Mel-band FOA intensity vectors `[frames, n_mels, 3]` (x, y, z) from a 4-channel STFT."""
    _check_foa(spec.shape, config, batched=False)
    omni = np.conj(spec[..., :1])
    iv = np.real(omni * spec[..., list(IV_CHANNELS[config.iv_mapping])])
    iv = iv / (np.linalg.norm(iv, axis=-1, keepdims=True) + IV_EPS)
    return np.einsum("tfk,fm->tmk", iv, mel_filterbank(config), optimize=True)


def gcc_phat(spec: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """GCC-PHAT `[frames, gcc_lags, pairs]` of every channel pair of an STFT."""
    half = config.gcc_lags // 2
    pairs = []
    for m, n in _pairs_of(spec.shape, config, batched=False):
        cross = np.conj(spec[..., m]) * spec[..., n]
        cc = np.fft.irfft(np.exp(1j * np.angle(cross)), n=config.n_fft, axis=-1)
        pairs.append(np.concatenate([cc[:, -half:], cc[:, :half]], axis=-1))
    return np.stack(pairs, axis=-1)


def intensity_vectors_tf(spec: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """In-graph twin of `intensity_vectors`: `[..., frames, bins, 4]` -> `[..., frames, n_mels, 3]`."""
    import tensorflow as tf

    _check_foa(tuple(spec.shape), config, batched=True)
    spec = channels_first_tf(spec)
    omni = spec[..., :1, :, :]
    axes = tf.gather(spec, IV_CHANNELS[config.iv_mapping], axis=-3)
    # Re(conj(a) * b) without forming the complex product.
    iv = tf.math.real(omni) * tf.math.real(axes) + tf.math.imag(omni) * tf.math.imag(axes)
    iv = iv / (tf.norm(iv, axis=-3, keepdims=True) + IV_EPS)
    return channels_last_tf(tf.matmul(iv, mel_filterbank_tf(config, iv.dtype)))


def gcc_phat_tf(spec: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """In-graph twin of `gcc_phat`: `[..., frames, bins, channels]` -> `[..., frames, gcc_lags, pairs]`."""
    import tensorflow as tf

    pairs = _pairs_of(tuple(spec.shape), config, batched=True)
    spec = channels_first_tf(spec)
    first = tf.gather(spec, [m for m, _ in pairs], axis=-3)
    second = tf.gather(spec, [n for _, n in pairs], axis=-3)
    cross = tf.math.conj(first) * second
    # cross / |cross| equals exp(1j * angle(cross)) at half the cost of atan2,
    # cos and sin; a silent bin has angle 0 in numpy, hence 1 + 0j here.
    magnitude = tf.abs(cross)
    silent = tf.equal(magnitude, 0)
    safe = tf.where(silent, tf.ones_like(magnitude), magnitude)
    unit = tf.complex(tf.where(silent, tf.ones_like(magnitude), tf.math.real(cross) / safe), tf.math.imag(cross) / safe)
    cc = tf.signal.irfft(unit, fft_length=[config.n_fft])
    half = config.gcc_lags // 2
    return channels_last_tf(tf.concat([cc[..., -half:], cc[..., :half]], axis=-1))
