"""The DCASE2020 Task 3 baseline SELDnet (CRNN with class-wise SED and DOA heads, or an ACCDOA head)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from seld_tf.errors import ConfigError

# Sizes only: the input (FOA `(None, 64, 7)` or MIC `(None, 64, 10)`) and the
# class count are passed alongside, e.g. `seldnet_from_preset("cpu",
# input_shape=(None, 64, 10))`.
SELDNET_PRESETS = {
    # The released baseline (parameter.py of seld-dcase2020).
    "paper": {"conv_filters": 64, "rnn_units": (128, 128), "fc_units": 128},
    # Half the widths: about a quarter of the parameters, trains on a laptop CPU.
    "cpu": {"conv_filters": 32, "rnn_units": (64, 64), "fc_units": 64},
}

OUTPUT_FORMATS = ("classwise", "accdoa", "multi_accdoa")


def apply_conv_block(
    x: keras.KerasTensor,
    filters: int,
    pool_size: tuple[int, int],
    dropout: float,
    name: str,
) -> keras.KerasTensor:
    """Conv2D 3x3 'same' -> BatchNorm -> ReLU -> MaxPool(time, freq) -> Dropout."""
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.MaxPooling2D(pool_size, name=f"{name}_pool")(x)
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)


def apply_head(
    x: keras.KerasTensor,
    hidden_units: int,
    output_units: int,
    activation: str,
    dropout: float,
    name: str,
) -> keras.KerasTensor:
    """Frame-wise Dense (linear) -> Dropout -> Dense with the output activation.

    `Dense` acts on the last axis of `[B, T, features]`, i.e. frame by frame,
    the same as the baseline's `TimeDistributed(Dense)`.
    """
    x = keras.layers.Dense(hidden_units, name=f"{name}_fc")(x)
    x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(output_units, activation=activation, name=f"{name}_out")(x)


def reshape_accdoa(
    x: keras.KerasTensor, num_classes: int, num_tracks: int, output_format: str
) -> keras.KerasTensor:
    """Frame-wise ACCDOA units `[B, T, 3 K]` (or `[B, T, 3 M K]`) -> `[B, T, K, 3]` (or `[B, T, M, K, 3]`).

    The units are read in (track, class, xyz) order, as `seld_tf.losses.accdoa` reads flat outputs (the
    baselines' order is (track, xyz, class): it only matters when porting trained weights).
    """
    shape = (-1, num_classes, 3) if output_format == "accdoa" else (-1, num_tracks, num_classes, 3)
    return keras.layers.Reshape(shape, name=f"{output_format}_xyz")(x)


def build_seldnet(
    input_shape: Sequence[int | None] = (None, 64, 7),
    num_classes: int = 14,
    conv_filters: int = 64,
    pool_time: Sequence[int] = (5, 1, 1),
    pool_freq: Sequence[int] = (4, 4, 2),
    rnn_units: Sequence[int] = (128, 128),
    fc_units: int = 128,
    dropout: float = 0.0,
    output_format: str = "classwise",
    num_tracks: int = 3,
    name: str = "seldnet",
) -> keras.Model:
    """Builds the DCASE2020 baseline SELDnet.

    Input features are channels-last `[time, bins, channels]`: FOA `7 x 64`
    (4 log-mels + 3 intensity vectors) or MIC `10 x 64` (4 log-mels + 6
    GCC-PHAT). The time axis may be `None`, so whole clips can be predicted.

    Architecture: one conv block per pooling entry (Conv2D `conv_filters` 3x3
    'same', BatchNorm, ReLU, MaxPool `(pool_time[i], pool_freq[i])`, Dropout);
    the frequency and channel axes are flattened to `[T', F' * conv_filters]`;
    one bidirectional GRU (tanh, input and recurrent dropout, directions
    multiplied: `merge_mode="mul"`) per entry of `rnn_units`; then two
    frame-wise heads, Dense `fc_units` (linear) -> Dropout -> Dense:
    `num_classes` sigmoid (SED) and `3 * num_classes` tanh reshaped to
    `[T', num_classes, 3]` (DOA, x/y/z per class).

    `output_format` selects the heads:
        - "classwise": the two heads above, outputs `"sed"` and `"doa"`.
        - "accdoa" (the DCASE2021 baseline's output): one head of the same
          shape, Dense `fc_units` (linear) -> Dropout -> Dense `3 *
          num_classes` tanh, reshaped to `"accdoa"` `[T', num_classes, 3]`:
          per class a vector whose length is the activity and whose
          direction is the DOA (train with `seld_tf.losses.accdoa.AccdoaLoss`,
          decode with `seld_labels.accdoa_to_events`).
        - "multi_accdoa" (the DCASE2022 baseline's output): the same head with
          `3 * num_tracks * num_classes` units, reshaped to `"multi_accdoa"`
          `[T', num_tracks, num_classes, 3]` (train with `AdpitLoss`, decode
          with `seld_labels.multi_accdoa_to_events`).

    With the default pooling, `T' = floor(T / 5)`: 100 ms label frames from
    20 ms feature frames (600 input frames -> 120 output frames).

    Departures from the released baseline (all deliberate):
        - Channels-last, so the flattened CNN output is ordered frequency-major
          instead of filter-major; the size, hence the model, is the same.
        - The GRUs use Keras 3's `reset_after=True` (cuDNN-compatible) where
          the baseline's Keras 2.2 used `reset_after=False`; this adds one bias
          vector per gate (`3 * units` weights per direction and layer).
        - The DOA head's 42 outputs are read as `[class, xyz]`, the baseline's
          as `[xyz, class]`; only matters when porting trained weights.
        - `dropout` defaults to 0, the value in the released `parameter.py`.

    Args:
        input_shape: `(time, bins, channels)`; `bins` and `channels` must be
            known, `time` may be `None`.
        num_classes: int, number of sound event classes `K`.
        conv_filters: int, filters of every conv block.
        pool_time: time pooling of each conv block.
        pool_freq: frequency pooling of each conv block (same length).
        rnn_units: units of each bidirectional GRU layer.
        fc_units: int, hidden units of each head.
        dropout: float, dropout rate after each conv block, inside the GRUs
            (inputs and recurrent state) and in the heads.
        output_format: "classwise", "accdoa" or "multi_accdoa" (see above).
        num_tracks: int, ACCDOA tracks per class of "multi_accdoa" (3 in
            the DCASE2022 baseline); unused by the other formats.
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, bins, channels]` features to
        `{"sed": [B, T', K] activity probabilities, "doa": [B, T', K, 3]}`
        ("classwise"), `{"accdoa": [B, T', K, 3]}` or `{"multi_accdoa": [B,
        T', M, K, 3]}`.

    Example:

    ```python
    model = build_seldnet(input_shape=(None, 64, 10))  # MIC features
    outputs = model(np.zeros((1, 600, 64, 10)))
    outputs["sed"].shape, outputs["doa"].shape  # (1, 120, 14), (1, 120, 14, 3)
    ```

    References:
        - Adavanne et al., "Sound event localization and detection of
          overlapping sources using convolutional recurrent neural networks",
          IEEE JSTSP 2019.
        - Politis et al., "A dataset of reverberant spatial sound scenes with
          moving sources for sound event localization and detection", DCASE
          2020 Workshop (the Task 3 baseline).
        - Shimada et al., "ACCDOA: Activity-coupled Cartesian direction of
          arrival representation for sound event localization and
          detection", ICASSP 2021.
        - Shimada et al., "Multi-ACCDOA: Localizing and detecting overlapping
          sounds from the same class with auxiliary duplicating permutation
          invariant training", ICASSP 2022.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"output_format must be one of {OUTPUT_FORMATS}, received {output_format!r}")
    if num_tracks < 1:
        raise ConfigError(f"num_tracks must be at least 1, received {num_tracks}")
    if len(pool_time) != len(pool_freq):
        raise ConfigError(
            "pool_time and pool_freq need one entry per conv block, received "
            f"{len(pool_time)} and {len(pool_freq)} entries"
        )
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, bins, channels) with bins and channels known, "
            f"received {tuple(input_shape)}"
        )
    pooled_bins = input_shape[1] // math.prod(pool_freq)
    if pooled_bins < 1:
        raise ConfigError(
            f"frequency pooling {tuple(pool_freq)} leaves no bin of the {input_shape[1]} input bins"
        )

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    for index, pool_size in enumerate(zip(pool_time, pool_freq), start=1):
        x = apply_conv_block(x, conv_filters, pool_size, dropout, name=f"conv_block{index}")
    x = keras.layers.Reshape((-1, pooled_bins * conv_filters), name="flatten_frequency")(x)
    for index, units in enumerate(rnn_units, start=1):
        gru = keras.layers.GRU(
            units,
            activation="tanh",
            dropout=dropout,
            recurrent_dropout=dropout,
            return_sequences=True,
        )
        x = keras.layers.Bidirectional(gru, merge_mode="mul", name=f"bigru{index}")(x)

    if output_format != "classwise":
        tracks = 1 if output_format == "accdoa" else num_tracks
        accdoa = apply_head(x, fc_units, 3 * tracks * num_classes, "tanh", dropout, name=output_format)
        return keras.Model(inputs, {output_format: reshape_accdoa(accdoa, num_classes, tracks, output_format)}, name=name)
    sed = apply_head(x, fc_units, num_classes, "sigmoid", dropout, name="sed")
    doa = apply_head(x, fc_units, 3 * num_classes, "tanh", dropout, name="doa")
    doa = keras.layers.Reshape((-1, num_classes, 3), name="doa_xyz")(doa)
    return keras.Model(inputs, {"sed": sed, "doa": doa}, name=name)


def seldnet_from_preset(preset: str, **overrides) -> keras.Model:
    """Builds a SELDnet from `SELDNET_PRESETS[preset]`, updated by `overrides`.

    Args:
        preset: "paper" or "cpu".
        **overrides: any keyword argument of `build_seldnet`, e.g.
            `input_shape=(None, 64, 10)` for MIC features.
    """
    if preset not in SELDNET_PRESETS:
        raise ConfigError(
            f"unknown SELDnet preset {preset!r}, expected one of {sorted(SELDNET_PRESETS)}"
        )
    return build_seldnet(**{**SELDNET_PRESETS[preset], **overrides})
