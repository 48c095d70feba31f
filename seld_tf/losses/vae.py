"""Losses of variational models: a model output that is itself a loss term (the KL of the posterior)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seld_tf")
class OutputMeanLoss(keras.losses.Loss):
    """The mean of `y_pred`, whatever `y_true` holds: for an output that already is a loss term.

    A VAE's KL term is computed inside the model (`seld_tf.layers.variational`)
    and has no target. Giving it this loss in `compile`, with its weight
    (the KL's beta) in `loss_weights`, makes Keras add it to the total and
    log it under its own name (e.g. `kl_loss`), like every other term. Keras
    still expects a target for the output: feed zeros of any shape with the
    same batch size.

    `call` returns one value per example, the mean of `y_pred` over every
    axis but the batch, so that per-example sample weights `[B]` apply; the
    default "sum_over_batch_size" reduction then gives the mean over the whole
    batch.

    Args:
        name: string, name of the loss.
        reduction: string, Keras reduction of the per-example values.
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    Example:

    ```python
    model.compile(
        optimizer="adam",
        loss={"strong_logits": keras.losses.BinaryCrossentropy(from_logits=True), "kl": OutputMeanLoss()},
        loss_weights={"strong_logits": 1.0, "kl": beta},
    )
    ```
    """

    def __init__(self, name: str = "output_mean", reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        return ops.mean(ops.reshape(y_pred, (ops.shape(y_pred)[0], -1)), axis=-1)
