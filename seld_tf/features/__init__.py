"""Feature extraction for SELD and SED: log-mels plus FOA intensity vectors or MIC GCC-PHAT.

`compute_features` is the numpy/librosa reference (float64 inside, float32
out) and `compute_features_tf` its in-graph TensorFlow twin. Both return
channels-last `[frames, n_mels, channels]` stacks:

- "foa": 4 log-mels + 3 intensity-vector channels = 7 (FOA audio, ACN W, Y, Z, X);
- "mic": 4 log-mels + 6 GCC-PHAT channels = 10 (tetrahedral MIC audio;
  needs `gcc_lags == n_mels` so that the two stack);
- "logmel": one log-mel per input channel.

Modules: `config` (FeatureConfig, presets), `spectral` (STFT, log-mel),
`spatial` (intensity vectors, GCC-PHAT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from seld_tf.errors import ConfigError
from seld_tf.features.config import PRESETS, FeatureConfig, get_preset
from seld_tf.features.spatial import channel_pairs, gcc_phat, gcc_phat_tf, intensity_vectors, intensity_vectors_tf
from seld_tf.features.spectral import (
    as_audio,
    as_audio_tf,
    compute_dtype_tf,
    log_mel,
    log_mel_tf,
    stft,
    stft_tf,
)

if TYPE_CHECKING:
    import tensorflow as tf

ARRAY_FORMATS = ("foa", "mic", "logmel")
# Audio channels each spatial format needs; "logmel" takes any number.
_FORMAT_AUDIO_CHANNELS = {"foa": 4, "mic": 4}
_SPATIAL = {"foa": intensity_vectors, "mic": gcc_phat}
_SPATIAL_TF = {"foa": intensity_vectors_tf, "mic": gcc_phat_tf}
_SPATIAL_CHANNELS = {"foa": 3, "mic": len(channel_pairs(_FORMAT_AUDIO_CHANNELS["mic"])), "logmel": 0}


def format_audio_channels(array_format: str) -> int | None:
    """Audio channels `array_format` needs, or None when it takes any number.

    Raises:
        ConfigError: for an unknown format.
    """
    if array_format not in ARRAY_FORMATS:
        raise ConfigError(f"unknown array format {array_format!r}; expected one of {list(ARRAY_FORMATS)}")
    return _FORMAT_AUDIO_CHANNELS.get(array_format)


def num_feature_channels(array_format: str, num_audio_channels: int) -> int:
    """Number of feature channels `array_format` makes from `num_audio_channels` audio channels.

    Raises:
        ConfigError: for an unknown format or a channel count the format cannot take.
    """
    expected = format_audio_channels(array_format)
    if expected is not None and num_audio_channels != expected:
        raise ConfigError(
            f"array format {array_format!r} expects {expected} audio channels, found {num_audio_channels}"
        )
    if num_audio_channels is None or num_audio_channels < 1:
        raise ConfigError(f"expected at least one audio channel, found {num_audio_channels}")
    return num_audio_channels + _SPATIAL_CHANNELS[array_format]


def _check_format(array_format: str, num_audio_channels: int, config: FeatureConfig) -> None:
    num_feature_channels(array_format, num_audio_channels)
    if array_format == "mic" and config.gcc_lags != config.n_mels:
        raise ConfigError(
            f"array format 'mic' stacks GCC-PHAT lags on the mel axis: expected gcc_lags == n_mels "
            f"({config.n_mels}), found gcc_lags={config.gcc_lags}"
        )


def _stack(
    spec: np.ndarray | tf.Tensor,
    config: FeatureConfig,
    array_format: str,
    log_mel_fn: Callable,
    spatial_fns: dict[str, Callable],
) -> list:
    parts = [log_mel_fn(spec, config)]
    if array_format in spatial_fns:
        parts.append(spatial_fns[array_format](spec, config))
    return parts


def compute_features(audio: np.ndarray, config: FeatureConfig, array_format: str) -> np.ndarray:
    """Reference features `[frames, n_mels, num_feature_channels]` (float32) of `[samples, channels]` audio.

    Raises:
        ConfigError: for a bad audio shape, format, channel count or config.
    """
    audio = as_audio(audio)
    _check_format(array_format, audio.shape[-1], config)
    parts = _stack(stft(audio, config), config, array_format, log_mel, _SPATIAL)
    return np.concatenate(parts, axis=-1).astype(np.float32)


def compute_features_tf(
    audio: tf.Tensor | np.ndarray,
    config: FeatureConfig,
    array_format: str,
    dtype: str | tf.DType = "float32",
) -> tf.Tensor:
    """In-graph twin of `compute_features`: `[..., samples, channels]` -> `[..., frames, n_mels, channels]`.

    The result has the compute `dtype` ("float32" or "float64").

    Raises:
        ConfigError: for a bad audio shape, format, channel count, config or dtype.
    """
    import tensorflow as tf

    audio = as_audio_tf(audio, compute_dtype_tf(dtype))
    _check_format(array_format, audio.shape[-1], config)
    spec = stft_tf(audio, config, dtype)
    return tf.concat(_stack(spec, config, array_format, log_mel_tf, _SPATIAL_TF), axis=-1)


__all__ = [
    "ARRAY_FORMATS",
    "PRESETS",
    "FeatureConfig",
    "compute_features",
    "compute_features_tf",
    "format_audio_channels",
    "get_preset",
    "num_feature_channels",
]
