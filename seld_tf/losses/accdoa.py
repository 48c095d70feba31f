"""Losses of ACCDOA outputs: one Cartesian vector per class whose length is the activity.

ACCDOA (activity-coupled Cartesian DOA, Shimada et al. 2021) replaces the
SED and DOA outputs by one: per frame and class a vector that should be the
unit DOA vector where the class is active and zero where it is not, trained
with the mean squared error alone (`AccdoaLoss`). Multi-ACCDOA (Shimada et
al. 2022) gives each class `M` such tracks, so that several events of one
class can be active at once; since which track takes which event is
arbitrary, it is trained with auxiliary duplicating permutation-invariant
training (ADPIT, `AdpitLoss`).

The targets are built by `seld_tf.datasets.seld_labels.events_to_accdoa` and
`events_to_multi_accdoa`; the model outputs come from the `output_format`
"accdoa" and "multi_accdoa" of `build_seldnet` and `build_einv2`:

```python
model = build_seldnet(output_format="multi_accdoa", num_tracks=3)
model.compile(optimizer="adam", loss={"multi_accdoa": AdpitLoss(num_tracks=3)})
```
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
from keras import ops

from seld_tf.datasets.seld_labels import adpit_slot, num_adpit_slots
from seld_tf.errors import ConfigError


@keras.saving.register_keras_serializable(package="seld_tf")
class AccdoaLoss(keras.losses.Loss):
    """Mean squared error between ACCDOA outputs and targets.

    `y_true` is `[B, T, K, 3]`, the activity times the unit DOA vector of
    each class (`events_to_accdoa`); `y_pred` the same, or flat `[B, T, 3 K]`
    read in (class, xyz) order. Every element counts, active or not: the
    zero target of an inactive class is what teaches the vector's length to
    be the activity, so no SED loss is needed.

    Reduction semantics: `call` returns the `[B, T]` frame means over the
    `3 K` elements, so the default `reduction="sum_over_batch_size"` gives
    the mean over all elements (the baseline's MSE), and a `sample_weight`
    may weight clips `[B]` or frames `[B, T]`.

    Args:
        name: string, name of the loss.
        reduction: string, Keras reduction of the frame losses.
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    References:
        - Shimada et al., "ACCDOA: Activity-coupled Cartesian direction of
          arrival representation for sound event localization and
          detection", ICASSP 2021.
    """

    def __init__(self, name: str = "accdoa_loss", reduction: str | None = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = ops.reshape(y_pred, ops.shape(y_true))
        return ops.mean(ops.square(y_pred - y_true), axis=(2, 3))


def adpit_patterns(num_tracks: int) -> np.ndarray:
    """The ADPIT duplication patterns of `num_tracks` output tracks: `[P, M]` target slots.

    For `n` same-class events (`1 <= n <= M`), a pattern gives each of the
    `M` output tracks one of the events, every event on at least one track
    (the extra tracks duplicate events): the surjections of the `M` tracks
    onto the `n` events. Row `p`, column `m` is the target slot
    (`adpit_slot(n, event)`) whose event track `m` should predict. Patterns
    are grouped by `n`, in lexicographic order within a group. For `M = 3`:
    1 pattern for one event, 6 for two (each event on one or two tracks), 6
    for three (the permutations): 13.
    """
    patterns = []
    for count in range(1, num_tracks + 1):
        for events in itertools.product(range(count), repeat=num_tracks):
            if len(set(events)) == count:
                patterns.append([adpit_slot(count, event) for event in events])
    return np.array(patterns, dtype=np.int64)


def adpit_selection(num_tracks: int) -> np.ndarray:
    """`[P, M, S]` 0/1 matrix: the target of pattern `p`'s track `m` is `sum_s W[p, m, s] * target[s]`.

    A class has events in the slots of one count only, so each pattern's own
    slots would leave the classes of every other count with a zero target.
    Instead, the pattern of count `n` takes its own slots for count `n` and
    the first pattern of every other count for the slots of that count (the
    baseline's padding): for any class, every pattern is then one of the
    valid patterns of the class's own count, and with no event all are zero.
    """
    patterns = adpit_patterns(num_tracks)
    # The count of a pattern is the number of its distinct slots; patterns are grouped by it.
    counts = np.array([len(set(pattern)) for pattern in patterns])
    first_of_count = {count: patterns[np.argmax(counts == count)] for count in range(1, num_tracks + 1)}
    selection = np.zeros((len(patterns), num_tracks, num_adpit_slots(num_tracks)), dtype=np.float32)
    tracks = np.arange(num_tracks)
    for index, (pattern, own_count) in enumerate(zip(patterns, counts)):
        for count, first in first_of_count.items():
            selection[index, tracks, pattern if count == own_count else first] = 1.0
    return selection


@keras.saving.register_keras_serializable(package="seld_tf")
class AdpitLoss(keras.losses.Loss):
    """Multi-ACCDOA loss: auxiliary duplicating permutation-invariant training (ADPIT).

    `y_true` is the `[B, T, S, K, 3]` target of `events_to_multi_accdoa`
    (`S = M (M + 1) / 2` slots), `y_pred` the `[B, T, M, K, 3]` tracks, or
    flat `[B, T, 3 M K]` read in (track, class, xyz) order.

    For each frame and class with `n` events, every pattern of
    `adpit_patterns` for `n` events gives a target for the `M` tracks; the
    loss of the frame and class is the least, over those patterns, mean
    squared error over the `M x 3` values (with no event, the target is zero
    and the loss the mean squared output). The frame's loss is the mean over
    classes. Taking the least per class is the least per frame over every
    combination of the classes' patterns, since the classes do not interact.
    Duplicating events onto spare tracks (rather than asking zero of them)
    keeps every track's target an event of the class, which is what lets
    decoding merge tracks that agree (`multi_accdoa_to_events`).

    Reduction semantics: `call` returns the `[B, T]` frame losses, so the
    default `reduction="sum_over_batch_size"` gives the mean over frames and
    classes of the least pattern losses, as the baseline's loss; a
    `sample_weight` may weight clips `[B]` or frames `[B, T]`.

    Args:
        num_tracks: int, tracks per class `M` (3 in the DCASE2022 baseline).
        name: string, name of the loss.
        reduction: string, Keras reduction of the frame losses.
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    References:
        - Shimada et al., "Multi-ACCDOA: Localizing and detecting overlapping
          sounds from the same class with auxiliary duplicating permutation
          invariant training", ICASSP 2022.
    """

    def __init__(
        self,
        num_tracks: int = 3,
        name: str = "adpit_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        if num_tracks < 1:
            raise ConfigError(f"num_tracks must be at least 1, received {num_tracks}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_tracks = int(num_tracks)
        self._selection = adpit_selection(self.num_tracks)

    def call(self, y_true, y_pred):
        slots = y_true.shape[2]
        if slots is not None and slots != self._selection.shape[-1]:
            raise ValueError(
                f"expected a target of {self._selection.shape[-1]} slots for {self.num_tracks} tracks, found "
                f"shape {tuple(y_true.shape)}"
            )
        shape = ops.shape(y_true)
        y_pred = ops.reshape(y_pred, (shape[0], shape[1], self.num_tracks, shape[3], 3))
        selection = ops.convert_to_tensor(self._selection, dtype=y_true.dtype)
        targets = ops.einsum("pms,btskx->btpmkx", selection, y_true)  # [B, T, P, M, K, 3]
        errors = ops.mean(ops.square(ops.expand_dims(y_pred, 2) - targets), axis=(3, 5))  # [B, T, P, K]
        return ops.mean(ops.min(errors, axis=2), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tracks": self.num_tracks}


def accdoa_compile_args(label_form: str, num_tracks: int) -> dict:
    """`model.compile` arguments of an "accdoa" or "multi_accdoa" model: its one output's loss.

    The targets are the label tensors themselves (no label transform).
    """
    if label_form == "accdoa":
        return {"loss": {"accdoa": AccdoaLoss()}}
    if label_form == "multi_accdoa":
        return {"loss": {"multi_accdoa": AdpitLoss(num_tracks=num_tracks)}}
    raise ConfigError(f"expected label form 'accdoa' or 'multi_accdoa', found {label_form!r}")
