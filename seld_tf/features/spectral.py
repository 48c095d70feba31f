"""STFT and log-mel spectrograms: a librosa reference and an in-graph TF twin.

The numpy functions call librosa exactly as the DCASE2020 baseline does and
compute in float64, so they are the precision reference. The `*_tf` functions
reproduce them with TensorFlow ops (usable inside `tf.data` and `tf.function`,
with optional leading batch axes), taking only the mel matrix from librosa as
a constant.

Layouts: audio `[samples, channels]`; spectra and features channels-last,
`[frames, bins, channels]`; the TF functions accept `[..., samples, channels]`.
TensorFlow is imported inside the TF functions so that the numpy path does not
pay for it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import librosa
import numpy as np
import scipy.signal

from seld_tf.errors import ConfigError
from seld_tf.features.config import FeatureConfig

if TYPE_CHECKING:
    import tensorflow as tf

COMPUTE_DTYPES = ("float32", "float64")


def as_audio(audio: np.ndarray) -> np.ndarray:
    """`audio` as float64 `[samples, channels]`; ConfigError for any other rank."""
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise ConfigError(f"expected audio of shape [samples, channels], found shape {audio.shape}")
    return audio.astype(np.float64)


def stft(audio: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Complex STFT `[frames, n_fft // 2 + 1, channels]` (complex128) via `librosa.stft`.

    Frames beyond `config.num_frames(samples)` are dropped as in the DCASE2020 baseline.
    """
    audio = as_audio(audio)
    num_frames = config.num_frames(audio.shape[0])
    spec = librosa.stft(
        np.ascontiguousarray(audio.T),
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=_window(config),
        center=config.center,
        pad_mode=config.pad_mode,
    )
    return np.transpose(spec[..., :num_frames], (2, 1, 0)) * stft_scale(config)


def _window(config: FeatureConfig) -> np.ndarray:
    return scipy.signal.get_window(config.window, config.win_length, fftbins=config.window_periodic)


def stft_scale(config: FeatureConfig) -> float:
    """The factor `config.stft_scaling` applies to the STFT: 1, or `1 / sqrt(sum(window**2))`."""
    if config.stft_scaling == "density":
        return float(1.0 / np.sqrt(np.sum(_window(config) ** 2)))
    return 1.0


def mel_filterbank(config: FeatureConfig, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Mel weights `[n_fft // 2 + 1, n_mels]` from `librosa.filters.mel`."""
    weights = librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.mel_fmax,
        htk=config.mel_htk,
        norm=config.mel_norm,
        dtype=dtype,
    )
    return weights.T


def check_spectrum(spec_shape: tuple, config: FeatureConfig, *, batched: bool = False) -> None:
    """Raise ConfigError unless `spec_shape` is `[frames, n_fft // 2 + 1, channels]`.

    With `batched`, leading batch axes are allowed (the TF functions).
    """
    layout = f"[..., frames, {config.n_bins}, channels]" if batched else f"[frames, {config.n_bins}, channels]"
    rank_ok = len(spec_shape) >= 3 if batched else len(spec_shape) == 3
    if not rank_ok or spec_shape[-2] != config.n_bins:
        raise ConfigError(
            f"expected a spectrum of shape {layout} (n_fft={config.n_fft}), found shape {tuple(spec_shape)}"
        )


def log_mel(spec: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram `[frames, n_mels, channels]` (float64) of an STFT.

    With `log="db"`, `librosa.power_to_db` runs per channel over the whole
    clip, so `top_db` clips each channel relative to its own maximum, as the
    DCASE2020 baseline does.
    """
    check_spectrum(spec.shape, config)
    magnitude = np.abs(spec)
    energy = magnitude**2 if config.spectrum == "power" else magnitude
    mel = np.einsum("tfc,fm->ctm", energy, mel_filterbank(config), optimize=True)
    if config.log == "db":
        logged = np.stack(
            [librosa.power_to_db(channel, ref=config.ref, amin=config.amin, top_db=config.top_db) for channel in mel]
        )
        if config.db_clamp is not None:
            logged = np.clip(logged, *config.db_clamp)
    else:
        logged = np.log(mel + config.log_eps)
    return np.transpose(logged, (1, 2, 0))


def compute_dtype_tf(dtype: str | tf.DType) -> tf.DType:
    """`dtype` as a TF float dtype, checked to be float32 or float64."""
    import tensorflow as tf

    try:
        resolved = tf.as_dtype(dtype)
    except TypeError as err:
        raise ConfigError(f"expected a compute dtype in {list(COMPUTE_DTYPES)}, found {dtype!r}") from err
    if resolved.name not in COMPUTE_DTYPES:
        raise ConfigError(f"expected a compute dtype in {list(COMPUTE_DTYPES)}, found {resolved.name}")
    return resolved


def channels_first_tf(x: tf.Tensor) -> tf.Tensor:
    """`[..., frames, bins, channels]` -> `[..., channels, frames, bins]`.

    FFTs and the mel matmul act on the last axis, so the TF kernels work
    channels-first and transpose at their boundaries; the transposes cost
    little next to the FFTs (a 60 s FOA clip: STFT 50 ms, log-mel +25 ms).
    """
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, list(range(rank - 3)) + [rank - 1, rank - 3, rank - 2])


def channels_last_tf(x: tf.Tensor) -> tf.Tensor:
    """`[..., channels, frames, bins]` -> `[..., frames, bins, channels]`."""
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, list(range(rank - 3)) + [rank - 2, rank - 1, rank - 3])


def mel_filterbank_tf(config: FeatureConfig, dtype: str | tf.DType = "float32") -> tf.Tensor:
    """The librosa mel weights `[n_fft // 2 + 1, n_mels]` as a TF constant."""
    import tensorflow as tf

    dtype = compute_dtype_tf(dtype)
    return tf.constant(mel_filterbank(config, dtype=dtype.as_numpy_dtype))


def stft_window(config: FeatureConfig) -> np.ndarray:
    """The analysis window zero-padded to `n_fft`, centred as librosa pads it, times `stft_scale`.

    `tf.signal.stft` would pad a short window at the end instead, which
    shifts every frame by `(n_fft - win_length) / 2` samples.
    """
    # Scaling the window scales the DFT, so the TF path needs no extra op.
    window = _window(config) * stft_scale(config)
    left = (config.n_fft - config.win_length) // 2
    return np.pad(window, (left, config.n_fft - config.win_length - left))


def as_audio_tf(audio: tf.Tensor | np.ndarray, dtype: tf.DType) -> tf.Tensor:
    """`audio` as a `dtype` tensor `[..., samples, channels]` with a static channel count.

    Raises:
        ConfigError: for fewer than 2 axes or an unknown channel count.
    """
    import tensorflow as tf

    audio = tf.cast(tf.convert_to_tensor(audio), dtype)
    if audio.shape.rank is None or audio.shape.rank < 2 or audio.shape[-1] is None:
        raise ConfigError(f"expected audio of shape [..., samples, channels] with known channels, found {audio.shape}")
    return audio


def stft_tf(audio: tf.Tensor | np.ndarray, config: FeatureConfig, dtype: str | tf.DType = "float32") -> tf.Tensor:
    """In-graph twin of `stft`: `[..., samples, channels]` -> complex `[..., frames, bins, channels]`.

    `dtype` ("float32" or "float64") is the real compute dtype; the result is
    complex64 or complex128.

    Raises:
        ConfigError: for fewer than 2 axes, an unknown channel count, a clip
            too short for the configuration, or an unsupported dtype.
    """
    import tensorflow as tf

    dtype = compute_dtype_tf(dtype)
    signal = tf.linalg.matrix_transpose(as_audio_tf(audio, dtype))
    if signal.shape[-1] is not None:
        # A Python int keeps the frame axis static and rejects clips too short.
        num_frames = config.num_frames(signal.shape[-1])
    else:
        num_frames = -(-tf.shape(signal)[-1] // config.hop_length)
    if config.center:
        half = config.n_fft // 2
        paddings = [[0, 0]] * (signal.shape.rank - 1) + [[half, half]]
        signal = tf.pad(signal, paddings, mode=config.pad_mode.upper())
    frames = tf.signal.frame(signal, config.n_fft, config.hop_length, axis=-1)
    if config.center:
        # librosa yields 1 + samples // hop frames; the baseline keeps ceil(samples / hop).
        frames = frames[..., :num_frames, :]
    window = tf.constant(stft_window(config), dtype=dtype)
    spec = tf.signal.rfft(frames * window, fft_length=[config.n_fft])
    return channels_last_tf(spec)


def _log10(x: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    return tf.math.log(x) / tf.constant(math.log(10.0), dtype=x.dtype)


def log_mel_tf(spec: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """In-graph twin of `log_mel`: complex `[..., frames, bins, channels]` -> `[..., frames, n_mels, channels]`.

    Computes in the real dtype matching `spec`. `top_db` clips relative to
    each channel's maximum over the frames passed in, so a clip split into
    chunks is clipped per chunk.
    """
    import tensorflow as tf

    check_spectrum(tuple(spec.shape), config, batched=True)
    spec = channels_first_tf(spec)
    real, imag = tf.math.real(spec), tf.math.imag(spec)
    power = tf.square(real) + tf.square(imag)
    energy = power if config.spectrum == "power" else tf.sqrt(power)
    mel = tf.matmul(energy, mel_filterbank_tf(config, real.dtype))
    if config.log == "db":
        amin = tf.constant(config.amin, dtype=mel.dtype)
        logged = 10.0 * _log10(tf.maximum(mel, amin)) - 10.0 * math.log10(max(config.amin, config.ref))
        if config.top_db is not None:
            floor = tf.reduce_max(logged, axis=[-2, -1], keepdims=True) - config.top_db
            logged = tf.maximum(logged, floor)
        if config.db_clamp is not None:
            logged = tf.clip_by_value(logged, *config.db_clamp)
    else:
        logged = tf.math.log(mel + config.log_eps)
    return channels_last_tf(logged)
