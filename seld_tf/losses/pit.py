"""Permutation-invariant training (PIT) of trackwise SELD outputs (EINV2).

A trackwise model predicts, per frame, `M` tracks each holding at most one
event (class probabilities `[K]`) and its direction (`[3]`). Which track
predicts which reference event is arbitrary, so the loss compares the
predictions with every permutation of the reference tracks and keeps the
best one. The permutation must be the same for the SED and the DOA part of a
track, hence the loss needs both at once: it works on the model's packed
output "tracks" `[B, T, M, K + 3]` (`build_einv2(output_format="trackwise")`)
against the packed reference, made by `pack_trackwise_labels`.

Use `pit_compile_args` to get both:

```python
model = build_einv2(output_format="trackwise")
compile_kwargs, label_transform = pit_compile_args("tpit", sed_weight=0.5, doa_weight=0.5)
model.compile(optimizer="adam", **compile_kwargs)
train = make_train_dataset(clips, ..., label_transform=label_transform)
model.fit(train)
```
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from seld_tf.errors import ConfigError

PIT_MODES = ("tpit", "cpit", "none")
# The output (and target) key of the packed SED + DOA tracks.
TRACKS_KEY = "tracks"


@keras.saving.register_keras_serializable(package="seld_tf")
class PermutationInvariantSeldLoss(keras.losses.Loss):
    """Joint SED + DOA loss of trackwise outputs, minimised over track permutations.

    `y_true` and `y_pred` are `[B, T, M, K + 3]`: per track the `K` class
    values (reference: one-hot or all zero; prediction: sigmoid
    probabilities) followed by the `x, y, z` direction (reference: zero where
    the track is inactive).

    For a permutation `p` of the `M` tracks (prediction track `m` is compared
    with reference track `p(m)`), the loss of frame `t` is

        L(t, p) = sed_weight * mean_{m, k} BCE(y[t, p(m), k], y_hat[t, m, k])
                + doa_weight * mean_{m, xyz} a[t, p(m)] * (d_hat[t, m] - d[t, p(m)]) ** 2

    with `a[t, n] = max_k y[t, n, k]` the activity of reference track `n`:
    the DOA error only counts where the reference track holds an event. Both
    terms are means over all `M` tracks (not over the active ones), so a
    frame's loss, and hence the permutation it prefers, depends on that
    frame alone. The loss of a batch is the mean over its `B * T` frames of
    `L(t, p_t)`, with `p_t` chosen by `mode`:

    - "tpit" (frame-level PIT): per frame, the permutation of lowest loss.
    - "cpit" (chunk-level PIT): ONE permutation per chunk, the one of lowest
      loss summed over the chunk's frames. Section 3.3 of the paper defines a
      chunk as "a whole segment spanning from the start to the end of an
      event" and requires the frames of one event to keep one track. Events
      that overlap in time constrain each other (a track cannot take both),
      so a chunk is read here as a maximal run of frames linked by
      continuing events: a new chunk starts at frame `t` unless some
      reference track holds the same class in frames `t - 1` and `t`. Thus
      an event and every event overlapping it (transitively) share one
      permutation, and events separated in time, even back to back, choose
      freely. Frames without any reference event cost the same under every
      permutation. Event identity is read from the labels (same track, same
      class, consecutive frames), as the package's trackwise labels keep an
      event on one track for its whole duration; two back-to-back events of
      the same class on the same track therefore count as one.
    - "none": the identity permutation (the reference track order).

    With the same data, tPIT <= cPIT <= none. Every permutation of the `M!`
    is evaluated, as `sum_m C[t, m, p(m)]` over an `M x M` matrix of
    prediction-track x reference-track costs.

    Reduction semantics: `call` returns the `[B, T]` frame losses, so the
    default `reduction="sum_over_batch_size"` gives the mean over frames
    and a `sample_weight` may weight clips `[B]` or frames `[B, T]`.

    Args:
        mode: "tpit", "cpit" or "none".
        sed_weight: float, weight of the SED (binary cross-entropy) term;
            EINV2 uses 0.5.
        doa_weight: float, weight of the DOA (masked squared error) term;
            EINV2 uses 0.5.
        name: string, name of the loss.
        reduction: string, Keras reduction of the frame losses.
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    References:
        - Cao et al., "An improved event-independent network for polyphonic
          sound event localization and detection", ICASSP 2021, Section 3.3.
        - Yu et al., "Permutation invariant training of deep models for
          speaker-independent multi-talker speech separation", ICASSP 2017.
    """

    def __init__(
        self,
        mode: str = "tpit",
        sed_weight: float = 0.5,
        doa_weight: float = 0.5,
        name: str = "permutation_invariant_seld_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        if mode not in PIT_MODES:
            raise ConfigError(f"PIT mode must be one of {PIT_MODES}, received {mode!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.mode = mode
        self.sed_weight = float(sed_weight)
        self.doa_weight = float(doa_weight)

    def call(self, y_true, y_pred):
        num_tracks = y_pred.shape[2]
        # [P, M] permutations p; flat index m * M + p(m) of cost C[m, p(m)].
        permutations = np.array(list(itertools.permutations(range(num_tracks))), dtype="int32")
        pair_index = np.arange(num_tracks, dtype="int32") * num_tracks + permutations

        costs = self._pair_costs(y_true, y_pred)  # [B, T, M, M]
        costs = ops.reshape(costs, (*ops.shape(costs)[:2], num_tracks * num_tracks))
        frame_losses = ops.sum(ops.take(costs, pair_index, axis=-1), axis=-1)  # [B, T, P]

        if self.mode == "tpit":
            chosen = ops.argmin(frame_losses, axis=-1)
        elif self.mode == "cpit":
            chosen = self._chunk_permutations(frame_losses, y_true[..., :-3])
        else:  # itertools lists the identity permutation first
            chosen = ops.zeros(ops.shape(frame_losses)[:2], dtype="int32")
        return ops.squeeze(ops.take_along_axis(frame_losses, chosen[..., None], axis=-1), axis=-1)

    def _pair_costs(self, y_true, y_pred):
        """`C[b, t, m, n]`: weighted loss of prediction track `m` against reference track `n`."""
        num_tracks = y_pred.shape[2]
        # Both as [B, T, M (prediction m), M (reference n), K]: binary_crossentropy does not broadcast.
        true_classes = ops.repeat(y_true[..., None, :, :-3], num_tracks, axis=2)
        pred_classes = ops.repeat(y_pred[..., :, None, :-3], num_tracks, axis=3)
        sed = ops.mean(ops.binary_crossentropy(true_classes, pred_classes), axis=-1)
        activity = ops.max(y_true[..., None, :, :-3], axis=-1)
        squared_error = ops.square(y_pred[..., :, None, -3:] - y_true[..., None, :, -3:])
        doa = activity * ops.mean(squared_error, axis=-1)
        # / M: the frame loss is a mean over tracks.
        return (self.sed_weight * sed + self.doa_weight * doa) / num_tracks

    @staticmethod
    def _chunk_permutations(frame_losses, true_classes):
        """Per frame, the index of its chunk's best permutation (see the class docstring)."""
        batch, frames = ops.shape(frame_losses)[0], ops.shape(frame_losses)[1]
        label = ops.argmax(true_classes, axis=-1)  # [B, T, M]
        active = ops.max(true_classes, axis=-1) > 0.5
        same_event = ops.logical_and(
            ops.logical_and(active[:, 1:], active[:, :-1]), ops.equal(label[:, 1:], label[:, :-1])
        )
        continues = ops.any(same_event, axis=-1)  # [B, T - 1]: frame t + 1 continues an event of frame t
        starts = ops.concatenate(
            [ops.ones((batch, 1), dtype="int32"), ops.cast(ops.logical_not(continues), "int32")], axis=1
        )
        # Chunk ids unique over the batch: clip b's chunks are numbered from b * T.
        first_id = ops.arange(batch, dtype="int32")[:, None] * frames
        chunk = ops.reshape(first_id + ops.cumsum(starts, axis=1) - 1, (-1,))
        chunk_losses = ops.segment_sum(
            ops.reshape(frame_losses, (-1, ops.shape(frame_losses)[-1])), chunk, num_segments=batch * frames
        )
        best = ops.take(ops.argmin(chunk_losses, axis=-1), chunk)
        return ops.reshape(best, (batch, frames))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "mode": self.mode,
            "sed_weight": self.sed_weight,
            "doa_weight": self.doa_weight,
        }


def pack_trackwise_labels(labels: dict) -> dict:
    """Maps trackwise labels `{"sed": [..., M, K], "doa": [..., M, 3]}` to `{"tracks": [..., M, K + 3]}`.

    The `label_transform` of the training and evaluation datasets (it runs
    inside `tf.data`), matching the model's "tracks" output.
    """
    # Imported here: tf.data runs it on any Keras backend, and the loss itself needs no TensorFlow.
    import tensorflow as tf

    return {TRACKS_KEY: tf.concat([labels["sed"], labels["doa"]], axis=-1)}


def pit_compile_args(
    pit: str, sed_weight: float, doa_weight: float
) -> tuple[dict, Callable[[dict], dict]]:
    """`model.compile` arguments and the label transform of a trackwise EINV2 model.

    The loss acts on the "tracks" output only; "sed" and "doa" carry no loss
    (Keras allows losses on a subset of the outputs) and are there for
    decoding.

    Args:
        pit: "tpit", "cpit" or "none" (`LossSpec.pit`).
        sed_weight: float, weight of the SED term (`LossSpec.sed_weight`).
        doa_weight: float, weight of the DOA term (`LossSpec.doa_weight`).

    Returns:
        `(compile_kwargs, label_transform)`: pass `model.compile(optimizer=...,
        **compile_kwargs)` and `make_train_dataset(..., label_transform=
        label_transform)`.
    """
    loss = PermutationInvariantSeldLoss(mode=pit, sed_weight=sed_weight, doa_weight=doa_weight)
    return {"loss": {TRACKS_KEY: loss}}, pack_trackwise_labels
