"""EINV2 (Cao et al. 2021): trackwise SELD with soft parameter sharing between SED and DOA."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from seld_tf.errors import ConfigError
from seld_tf.layers.cross_stitch import STITCH_ORDERS, CrossStitch
from seld_tf.layers.normalization import FusedBatchNormalization
from seld_tf.layers.positional import SinusoidalPositionalEncoding
from seld_tf.layers.transformer import TransformerEncoderBlock
from seld_tf.models.seldnet import reshape_accdoa

# Sizes only: the input and class count are passed alongside, and so are the
# variants of Table 3 (`sharing`, `output_format`).
EINV2_PRESETS = {
    # Table 1 of the paper (and the released EIN-SELD configuration).
    "paper": {
        "filters": (64, 128, 256, 512),
        "mhsa_layers": 2,
        "num_heads": 8,
        "ff_dim": 1024,
        "dropout": 0.2,
    },
    # A quarter of the widths, one attention layer per stream: 1.1 M
    # parameters (paper: 26.2 M), trains on a laptop CPU.
    "cpu": {
        "filters": (16, 32, 64, 128),
        "mhsa_layers": 1,
        "num_heads": 4,
        "ff_dim": 256,
        "dropout": 0.2,
    },
}

SHARING_MODES = ("soft", "hard", "none")
OUTPUT_FORMATS = ("trackwise", "classwise", "accdoa", "multi_accdoa")
ACCDOA_FORMATS = ("accdoa", "multi_accdoa")
# Input channels 0..3 are the four log-mel spectrograms of the feature presets
# (FOA and MIC alike): the SED branch sees only them.
NUM_LOG_MEL_CHANNELS = 4


def apply_double_conv_block(
    x: keras.KerasTensor, filters: int, pool_size: tuple[int, int], name: str
) -> keras.KerasTensor:
    """(Conv2D 3x3 'same' -> BatchNorm -> ReLU) x 2 -> AveragePooling (time, freq).

    The convolutions have no bias: the BatchNorm right after each one adds
    its own shift, which would make a bias redundant (the EINV2 code omits it
    too). The batch norm is Keras' computed by one fused op (`FusedBatchNormalization`).
    """
    for index in (1, 2):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
        x = FusedBatchNormalization(name=f"{name}_bn{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
    return keras.layers.AveragePooling2D(pool_size, name=f"{name}_pool")(x)


def apply_frequency_mean(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """`[B, T, F, C] -> [B, T, C]`: the mean over the (static) frequency bins."""
    bins, channels = x.shape[2], x.shape[3]
    x = keras.layers.AveragePooling2D((1, bins), name=f"{name}_pool")(x)
    return keras.layers.Reshape((-1, channels), name=f"{name}_squeeze")(x)


def apply_mhsa_stack(
    x: keras.KerasTensor, layers: int, num_heads: int, ff_dim: int, dropout: float, name: str
) -> keras.KerasTensor:
    """`layers` transformer encoder layers, named `{name}_mhsa1`, `{name}_mhsa2`, ..."""
    for index in range(1, layers + 1):
        x = TransformerEncoderBlock(num_heads, ff_dim, dropout=dropout, name=f"{name}_mhsa{index}")(x)
    return x


def apply_track_heads(
    sed: keras.KerasTensor,
    doa: keras.KerasTensor,
    num_classes: int,
    output_format: str,
    name: str,
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Frame-wise heads of one output stream.

    Trackwise: `num_classes` sigmoid and 3 tanh units (the track's one event
    and its direction). Class-wise: `num_classes` sigmoid and `3 *
    num_classes` tanh units reshaped to `[T, K, 3]` (SELDnet format).
    """
    doa_units = 3 if output_format == "trackwise" else 3 * num_classes
    sed = keras.layers.Dense(num_classes, activation="sigmoid", name=f"{name}_sed_out")(sed)
    doa = keras.layers.Dense(doa_units, activation="tanh", name=f"{name}_doa_out")(doa)
    if output_format == "classwise":
        doa = keras.layers.Reshape((-1, num_classes, 3), name=f"{name}_doa_xyz")(doa)
    return sed, doa


def stack_tracks(tracks: Sequence[keras.KerasTensor], name: str) -> keras.KerasTensor:
    """`M` tensors `[B, T, U]` -> `[B, T, M, U]`."""
    units = tracks[0].shape[-1]
    expanded = [
        keras.layers.Reshape((-1, 1, units), name=f"{name}_track{index}")(track)
        for index, track in enumerate(tracks, start=1)
    ]
    if len(expanded) == 1:
        return expanded[0]
    return keras.layers.Concatenate(axis=2, name=name)(expanded)


def build_einv2(
    input_shape: Sequence[int | None] = (None, 256, 7),
    num_classes: int = 14,
    num_tracks: int = 2,
    filters: Sequence[int] = (64, 128, 256, 512),
    pool_sizes: Sequence[Sequence[int]] = ((2, 2), (2, 2), (1, 2), (1, 2)),
    mhsa_layers: int = 2,
    num_heads: int = 8,
    ff_dim: int = 1024,
    dropout: float = 0.2,
    positional_encoding: bool = True,
    sharing: str = "soft",
    output_format: str = "trackwise",
    stitch_order: str = "simultaneous",
    mhsa_stitch: bool = True,
    name: str = "einv2",
) -> keras.Model:
    """Builds EINV2, the event-independent network V2 (Table 1 of Cao et al.).

    Input features are channels-last `[time, bins, channels]`, channels 0..3
    the log-mel spectrograms and the rest spatial features (FOA: 3 intensity
    vectors, the paper's input; MIC: GCC-PHAT). The time axis may be `None`.

    Architecture, with `sharing="soft"` (EINV2 itself):
        - SED branch on the 4 log-mels, DOA branch on all channels; each is
          one double-conv block per entry of `filters` ((Conv 3x3 - BN -
          ReLU) x 2, average pooling `pool_sizes[i]`), then the mean over the
          remaining frequency bins: `[B, T', filters[-1]]`.
        - A `CrossStitch` between the two branches after every conv block but
          the last (Table 1: alpha @ 64, 128, 256).
        - A fixed sinusoidal positional encoding (Eq. 4), unless
          `positional_encoding=False`.
        - Per output track and task, its own stack of `mhsa_layers`
          transformer encoder layers (`d_model = filters[-1]`; Table 1: 512,
          8 heads, feed-forward 1024, dropout 0.2); after them a
          `CrossStitch` between the track's SED and DOA streams (alpha @ 512),
          unless `mhsa_stitch=False`.
        - Per track, Dense heads: `num_classes` sigmoid (SED) on the SED
          stream, 3 tanh (x, y, z) on the DOA stream.

    `sharing` selects the parameter-sharing strategy of Fig. 2 and Table 3:
        - "none": the same two branches without any cross-stitch.
        - "hard": ONE conv trunk, fed with all input channels, and per track
          ONE transformer stack, whose output feeds both the SED and the DOA
          head. The two tasks have different inputs in the other modes; a
          shared trunk can only take their union (log-mels + spatial
          features), as SELDnet does, since DOA cannot do without the
          spatial channels and SED's log-mels are among them.
        - "soft": as described above.

    `output_format` selects the outputs (Table 3 compares both):
        - "trackwise": `"sed"` `[B, T', M, K]` per-track class probabilities,
          `"doa"` `[B, T', M, 3]` per-track direction, and `"tracks"` `[B, T',
          M, K + 3]`, both concatenated: the single target of the
          permutation-invariant losses (`seld_tf.losses.pit`), which must
          choose one track permutation for SED and DOA jointly. Decode from
          "sed" and "doa".
        - "classwise": the SELDnet format, `"sed"` `[B, T', K]` and `"doa"`
          `[B, T', K, 3]` (train with `seld_tf.losses.seld`). There are no
          tracks, so `num_tracks` is ignored: one stream per task, with one
          transformer stack each.
        - "accdoa": `"accdoa"` `[B, T', K, 3]`, per class a vector whose
          length is the activity and whose direction is the DOA (train with
          `seld_tf.losses.accdoa.AccdoaLoss`).
        - "multi_accdoa": `"multi_accdoa"` `[B, T', M, K, 3]`, `M =
          num_tracks` such vectors per class (train with `AdpitLoss`).

    The ACCDOA formats have one stream per task, as "classwise", and one
    head: a Dense tanh layer (`3 K`, or `3 M K` units) on the concatenated
    SED and DOA streams (with hard sharing, on the one shared stream). An
    ACCDOA vector is at once the SED output (its length) and the DOA output
    (its direction), so it reads both streams rather than the DOA stream
    alone; both branches and the cross-stitches then stay as in the other
    formats, and `sharing` keeps its meaning: "none" joins the branches
    only at the head, "soft" mixes them throughout, "hard" has one trunk.
    The multi-ACCDOA tracks come from that one head, as in the DCASE2022
    baseline, not from a transformer stack each as the trackwise tracks.

    With the default pooling, `T' = floor(T / 4)`: at the EINV2 feature rate
    (hop 600 at 24 kHz, 40 frames/s) the outputs have the 100 ms label rate.

    Departures from the released EINV2 code (deliberate):
        - Channels-last features.
        - The SED head ends in a sigmoid (the code outputs logits for a
          logits BCE), so that "sed" holds probabilities.

    Where the paper and the released code disagree, the defaults follow the
    paper and an argument selects the code's choice;
    `stitch_order="sequential", mhsa_stitch=False, positional_encoding=False`
    is the code's soft-sharing network (the cross-stitch initialisation,
    uniform(0.1, 0.9), is the same in both):
        - `stitch_order`: every cross-stitch computes both outputs from the
          original streams, as Eq. (7) states ("simultaneous"), or updates
          the SED stream first and mixes the updated one into the DOA stream,
          as the code does ("sequential"; see `CrossStitch`).
        - `mhsa_stitch`: Table 1's cross-stitch after each track's
          transformer stacks, which the code does not have.
        - `positional_encoding`: on in the paper, off in the code's default
          configuration.

    Args:
        input_shape: `(time, bins, channels)`; `bins` and `channels` (at least
            4) must be known, `time` may be `None`.
        num_classes: int, number of sound event classes `K`.
        num_tracks: int, number of output tracks `M` (trackwise and
            multi_accdoa formats).
        filters: filters of each double-conv block; the last is the
            transformer width `d_model`.
        pool_sizes: `(time, freq)` average pooling after each conv block.
        mhsa_layers: int, transformer encoder layers per stream.
        num_heads: int, attention heads; must divide `filters[-1]`.
        ff_dim: int, feed-forward units of each transformer layer.
        dropout: float, dropout rate inside the transformer layers.
        positional_encoding: bool, add the scaled sinusoidal encoding before
            the transformers.
        sharing: "soft", "hard" or "none" (see above).
        output_format: "trackwise", "classwise", "accdoa" or "multi_accdoa"
            (see above).
        stitch_order: "simultaneous" (Eq. 7) or "sequential" (the released
            code), the `order` of every cross-stitch (soft sharing only).
        mhsa_stitch: bool, a cross-stitch after each track's transformer
            stacks (Table 1; soft sharing only).
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, bins, channels]` features to the dict
        of outputs described above.

    Example:

    ```python
    model = build_einv2()  # paper size, FOA features with 256 mel bins
    outputs = model(np.zeros((1, 160, 256, 7)))  # a 4 s chunk
    outputs["sed"].shape, outputs["doa"].shape  # (1, 40, 2, 14), (1, 40, 2, 3)
    ```

    References:
        - Cao et al., "An improved event-independent network for polyphonic
          sound event localization and detection", ICASSP 2021.
        - Cao et al., "Event-independent network for polyphonic sound event
          localization and detection", DCASE 2020 Workshop.
        - Shimada et al., "ACCDOA: Activity-coupled Cartesian direction of
          arrival representation for sound event localization and
          detection", ICASSP 2021; "Multi-ACCDOA: Localizing and detecting
          overlapping sounds from the same class with auxiliary duplicating
          permutation invariant training", ICASSP 2022.
    """
    _check_arguments(input_shape, filters, pool_sizes, num_heads, sharing, output_format, stitch_order)
    num_streams = num_tracks if output_format == "trackwise" else 1
    inputs = keras.Input(shape=tuple(input_shape), name="features")

    if sharing == "hard":
        shared = inputs
        for index, (width, pool_size) in enumerate(zip(filters, pool_sizes), start=1):
            shared = apply_double_conv_block(shared, width, tuple(pool_size), name=f"shared_block{index}")
        shared = apply_frequency_mean(shared, name="shared_frequency_mean")
        if positional_encoding:
            shared = SinusoidalPositionalEncoding(name="shared_positional_encoding")(shared)
        streams = []
        for track in range(1, num_streams + 1):
            features = apply_mhsa_stack(shared, mhsa_layers, num_heads, ff_dim, dropout, name=f"track{track}")
            streams.append((features, features))
    else:
        sed, doa = inputs[..., :NUM_LOG_MEL_CHANNELS], inputs
        for index, (width, pool_size) in enumerate(zip(filters, pool_sizes), start=1):
            sed = apply_double_conv_block(sed, width, tuple(pool_size), name=f"sed_block{index}")
            doa = apply_double_conv_block(doa, width, tuple(pool_size), name=f"doa_block{index}")
            if sharing == "soft" and index < len(filters):
                sed, doa = CrossStitch(order=stitch_order, name=f"block{index}_stitch")([sed, doa])
        sed = apply_frequency_mean(sed, name="sed_frequency_mean")
        doa = apply_frequency_mean(doa, name="doa_frequency_mean")
        if positional_encoding:
            sed = SinusoidalPositionalEncoding(name="sed_positional_encoding")(sed)
            doa = SinusoidalPositionalEncoding(name="doa_positional_encoding")(doa)
        streams = []
        for track in range(1, num_streams + 1):
            track_sed = apply_mhsa_stack(sed, mhsa_layers, num_heads, ff_dim, dropout, name=f"track{track}_sed")
            track_doa = apply_mhsa_stack(doa, mhsa_layers, num_heads, ff_dim, dropout, name=f"track{track}_doa")
            if sharing == "soft" and mhsa_stitch:
                stitch = CrossStitch(order=stitch_order, name=f"track{track}_stitch")
                track_sed, track_doa = stitch([track_sed, track_doa])
            streams.append((track_sed, track_doa))

    if output_format in ACCDOA_FORMATS:
        sed, doa = streams[0]
        # Hard sharing has one stream for both tasks: concatenating it with itself would only double the head.
        features = doa if sharing == "hard" else keras.layers.Concatenate(name="sed_doa_streams")([sed, doa])
        tracks = 1 if output_format == "accdoa" else num_tracks
        accdoa = keras.layers.Dense(3 * tracks * num_classes, activation="tanh", name=f"{output_format}_out")(features)
        return keras.Model(inputs, {output_format: reshape_accdoa(accdoa, num_classes, tracks, output_format)}, name=name)
    heads = [
        apply_track_heads(sed, doa, num_classes, output_format, name=f"track{track}")
        for track, (sed, doa) in enumerate(streams, start=1)
    ]
    if output_format == "classwise":
        sed, doa = heads[0]
        return keras.Model(inputs, {"sed": sed, "doa": doa}, name=name)
    sed = stack_tracks([sed for sed, _ in heads], name="sed_tracks")
    doa = stack_tracks([doa for _, doa in heads], name="doa_tracks")
    tracks = keras.layers.Concatenate(axis=-1, name="tracks")([sed, doa])
    return keras.Model(inputs, {"sed": sed, "doa": doa, "tracks": tracks}, name=name)


def _check_arguments(
    input_shape: Sequence[int | None],
    filters: Sequence[int],
    pool_sizes: Sequence[Sequence[int]],
    num_heads: int,
    sharing: str,
    output_format: str,
    stitch_order: str,
) -> None:
    if sharing not in SHARING_MODES:
        raise ConfigError(f"sharing must be one of {SHARING_MODES}, received {sharing!r}")
    if stitch_order not in STITCH_ORDERS:
        raise ConfigError(f"stitch_order must be one of {STITCH_ORDERS}, received {stitch_order!r}")
    if output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"output_format must be one of {OUTPUT_FORMATS}, received {output_format!r}")
    if len(filters) != len(pool_sizes):
        raise ConfigError(
            f"filters and pool_sizes need one entry per conv block, received {len(filters)} and "
            f"{len(pool_sizes)} entries"
        )
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, bins, channels) with bins and channels known, received {tuple(input_shape)}"
        )
    if input_shape[2] < NUM_LOG_MEL_CHANNELS:
        raise ConfigError(
            f"input_shape needs the {NUM_LOG_MEL_CHANNELS} log-mel channels first, received "
            f"{input_shape[2]} channels"
        )
    if input_shape[1] // math.prod(pool[1] for pool in pool_sizes) < 1:
        raise ConfigError(
            f"frequency pooling {[tuple(pool) for pool in pool_sizes]} leaves no bin of the "
            f"{input_shape[1]} input bins"
        )
    if filters[-1] % num_heads:
        raise ConfigError(
            f"num_heads ({num_heads}) must divide the transformer width filters[-1] ({filters[-1]})"
        )
