"""Losses of class-wise SELD models (outputs "sed" `[B, T, K]`, "doa" `[B, T, K, 3]`).

SED uses the stock Keras losses (binary cross-entropy in the DCASE2020
baseline, mean squared error in Phan et al.'s "multitask regression"); only the
activity-masked DOA regression needs a class of its own.

DOA target convention: a Keras loss sees the target of one output only, so the
DOA target carries the reference activity itself. It is `[B, T, K, 3]` with a
unit vector where class `k` is active in frame `t` and the ZERO vector where it
is inactive (exactly what the package's label converters produce). The mask is
derived as "target vector norm > 0".
"""

from __future__ import annotations

import keras
from keras import ops

from seld_tf.errors import ConfigError

SED_LOSSES = {
    "bce": keras.losses.BinaryCrossentropy,
    "mse": keras.losses.MeanSquaredError,
}
DOA_NORMALIZATIONS = ("mean", "sqrt_sum")


@keras.saving.register_keras_serializable(package="seld_tf")
class MaskedDoaMSE(keras.losses.Loss):
    """DOA mean squared error over the frames and classes active in the reference.

    With mask `m[b, t, k] = 1` where the target vector is non-zero, repeated
    over x, y, z, the loss of a batch is

        sum(m * (y_pred - y_true) ** 2) / sum(m)

    i.e. the squared error summed over the masked elements and divided by the
    number of masked elements of the whole batch (one ratio per batch, as in
    the reference code, not a mean of per-clip ratios). It is 0 when nothing in
    the batch is active. With `masked=False` every element counts: the plain
    MSE over all elements.

    `normalization="sqrt_sum"` gives what the released DCASE2020 baseline code
    computes instead, `sqrt(sum(m * err)) / sum(m)`: its 1:1000 loss weighting
    was tuned for that much smaller value (about `1 / sqrt(sum(m))` of the
    mean), and with the mean above the DOA term swamps the SED term's
    gradient in the shared layers. `"mean"` (the default) is the masked MSE
    as Phan et al.'s code and the baseline's description define it.

    Reduction semantics: the normaliser `sum(m)` belongs to the batch, so
    `call` returns per-clip values `sum_b(m * err) / (sum(m) / B)` whose mean
    over the `B` clips is the formula above. The default
    `reduction="sum_over_batch_size"` therefore gives exactly the reference
    loss; `"sum"` gives `B` times it; `"none"` the per-clip contributions; a
    `sample_weight` of shape `[B]` weights each clip's contribution to the
    numerator.

    Args:
        masked: bool, mask by the reference activity (True, the DCASE2020
            baseline and Phan et al.) or average over all elements (False, the
            original SELDnet).
        normalization: "mean" (sum / count) or "sqrt_sum" (sqrt(sum) /
            count, the released DCASE2020 baseline code), over the masked
            elements (every element with `masked=False`).
        name: string, name of the loss.
        reduction: string, Keras reduction of the per-clip values (see above).
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    Example:

    ```python
    model.compile(
        optimizer="adam",
        loss={"sed": keras.losses.BinaryCrossentropy(), "doa": MaskedDoaMSE()},
        loss_weights={"sed": 1.0, "doa": 1000.0},
    )
    ```

    References:
        - Adavanne et al., DCASE2020 Task 3 baseline
          (github.com/sharathadavanne/seld-dcase2020).
        - Phan et al., "On multitask loss function for audio event detection
          and localization", DCASE 2020 Workshop.
    """

    def __init__(
        self,
        masked: bool = True,
        normalization: str = "mean",
        name: str = "masked_doa_mse",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if normalization not in DOA_NORMALIZATIONS:
            raise ConfigError(f"DOA loss normalization must be one of {list(DOA_NORMALIZATIONS)}, received {normalization!r}")
        self.masked = masked
        self.normalization = normalization

    def call(self, y_true, y_pred):
        squared_error = ops.square(y_pred - y_true)
        if self.masked:
            active = ops.sum(ops.square(y_true), axis=-1, keepdims=True) > 0
            weights = ops.broadcast_to(ops.cast(active, self.dtype), ops.shape(squared_error))
        else:
            weights = ops.ones_like(squared_error)
        non_batch_axes = tuple(range(1, len(squared_error.shape)))
        clip_sums = ops.sum(weights * squared_error, axis=non_batch_axes)
        batch_size = ops.cast(ops.shape(squared_error)[0], self.dtype)
        mean_count = ops.sum(weights) / batch_size
        if self.normalization == "sqrt_sum":
            # Each clip's share of the batch's sum carries sqrt(sum): the shares average to
            # sqrt(sum) / count. The sum is kept off 0 inside the root, whose gradient is infinite there.
            total = ops.sum(clip_sums)
            clip_sums = ops.divide_no_nan(clip_sums, ops.sqrt(ops.where(total > 0, total, 1.0)))
        # divide_no_nan: a batch with no active event contributes 0, not NaN.
        return ops.divide_no_nan(clip_sums, mean_count)

    def get_config(self) -> dict:
        return {**super().get_config(), "masked": self.masked, "normalization": self.normalization}


def seld_losses(sed: str = "bce", doa_masked: bool = True, doa_normalization: str = "mean") -> dict[str, keras.losses.Loss]:
    """The `loss` dict for `model.compile` of a class-wise SELD model.

    Args:
        sed: "bce" (binary cross-entropy, the DCASE2020 baseline) or "mse"
            (mean squared error of the sigmoid outputs, Phan et al.).
        doa_masked: whether the DOA MSE is masked by the reference activity.
        doa_normalization: `MaskedDoaMSE`'s `normalization`.

    Returns:
        `{"sed": <SED loss>, "doa": MaskedDoaMSE(masked=doa_masked, normalization=doa_normalization)}`.
    """
    if sed not in SED_LOSSES:
        raise ConfigError(f"sed loss must be one of {sorted(SED_LOSSES)}, received {sed!r}")
    return {"sed": SED_LOSSES[sed](), "doa": MaskedDoaMSE(masked=doa_masked, normalization=doa_normalization)}


def seld_loss_weights(sed_weight: float, doa_weight: float) -> dict[str, float]:
    """The `loss_weights` dict for `model.compile` of a class-wise SELD model.

    The DCASE2020 baseline uses `(1, 1000)`, Phan et al. `(1, 1)`.

    Args:
        sed_weight: float, weight of the "sed" output's loss.
        doa_weight: float, weight of the "doa" output's loss.
    """
    return {"sed": float(sed_weight), "doa": float(doa_weight)}
