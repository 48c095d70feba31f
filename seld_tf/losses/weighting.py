"""Loss weights that change during training: Dynamic Weight Average (Liu et al. 2019).

A Keras model compiles fixed `loss_weights`. `ScaledLoss` multiplies a loss
by a non-trainable variable, and the `DynamicWeightAverage` callback sets
that variable between epochs from the logged per-output losses, so the
weights adapt without recompiling.
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="seld_tf")
class ScaledLoss(keras.losses.Loss):
    """`scale * loss`, with `scale` a non-trainable variable (1 until a callback sets it).

    The wrapped loss's per-sample values are scaled and then reduced with the
    wrapped loss's own reduction, so sample weights act as on the loss alone.

    Args:
        loss: a Keras loss object (its `call` gives per-sample values).
        name: the loss name; the wrapped loss's name by default.
    """

    def __init__(self, loss, name: str | None = None, dtype=None):
        self.loss = keras.losses.get(loss)
        super().__init__(name=name or f"scaled_{self.loss.name}", reduction=self.loss.reduction, dtype=dtype)
        self.scale = keras.Variable(1.0, trainable=False, name=f"{self.name}_scale")

    def call(self, y_true, y_pred):
        return ops.cast(self.scale, y_pred.dtype) * self.loss.call(y_true, y_pred)

    def get_config(self):
        return {"loss": keras.losses.serialize(self.loss), "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(keras.losses.deserialize(config.pop("loss")), **config)


def dwa_weights(previous: np.ndarray, before: np.ndarray, temperature: float) -> np.ndarray:
    """Eq. (7) of Liu et al.: `K softmax(w / T)` with `w_k = L_k(t-1) / L_k(t-2)`, the relative descent rates."""
    rates = np.asarray(previous, dtype=np.float64) / np.asarray(before, dtype=np.float64)
    logits = rates / temperature
    weights = np.exp(logits - logits.max())
    return len(rates) * weights / weights.sum()


class DynamicWeightAverage(keras.callbacks.Callback):
    """Sets each `ScaledLoss`'s scale before every epoch by Dynamic Weight Average.

    A task whose loss fell more slowly over the last epoch gets a larger
    weight; the weights sum to the number of tasks, and they are 1 for the
    first two epochs (no descent rate yet). The unweighted epoch losses are
    the logged `<output>_loss` divided by the scale the epoch used (Keras logs
    an output's loss before its `loss_weights` but after `ScaledLoss`).
    The scales are logged as `<output>_dwa_weight`. After a resume the
    history of losses restarts, so the weights are 1 for two epochs again.

    Args:
        losses: output name -> its `ScaledLoss` (two or more).
        temperature: T of the softmax; large T gives equal weights.

    References:
        - Liu, Johns and Davison, "End-to-end multi-task learning with
          attention", CVPR 2019, Sec. 3.3.
    """

    def __init__(self, losses: Mapping[str, ScaledLoss], temperature: float = 2.0):
        super().__init__()
        if len(losses) < 2:
            raise ValueError(f"Dynamic Weight Average weighs two or more losses, found {sorted(losses)}")
        self.losses = dict(losses)
        self.temperature = temperature
        self.history: list[np.ndarray] = []

    def _scales(self) -> np.ndarray:
        return np.array([float(loss.scale.numpy()) for loss in self.losses.values()])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        missing = [f"{name}_loss" for name in self.losses if f"{name}_loss" not in logs]
        if missing:
            raise KeyError(f"Dynamic Weight Average needs the logged losses {missing}")
        scales = self._scales()
        for name, scale in zip(self.losses, scales):
            logs[f"{name}_dwa_weight"] = scale
        self.history.append(np.array([logs[f"{name}_loss"] for name in self.losses]) / scales)
        if len(self.history) >= 2:
            for loss, weight in zip(self.losses.values(), dwa_weights(self.history[-1], self.history[-2], self.temperature)):
                loss.scale.assign(weight)
