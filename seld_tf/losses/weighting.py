"""Loss weights that change during training: Dynamic Weight Average (Liu et al. 2019)
and uncertainty weighting (Kendall et al. 2018).

A Keras model compiles fixed `loss_weights`. `ScaledLoss` multiplies a loss
by a non-trainable variable, and the `DynamicWeightAverage` callback sets
that variable between epochs from the logged per-output losses, so the
weights adapt without recompiling. Uncertainty weights are trained by the
optimizer, which only trains model variables, and compile-time losses hold
none: `UncertaintyWeightedModel` is a functional model that owns them and
computes its own loss.
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


def _unscaled(value):
    # Under tf.distribute Keras divides each replica's loss by the replica count
    # (summed gradients then average); the logs show the loss itself, as Keras's own do.
    import tensorflow as tf

    return value * tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="seld_tf")
class UncertaintyWeightedModel(keras.Model):
    """A functional model whose per-output losses are weighted by learned task uncertainties.

    Its loss is

        sum_i exp(-s_i) w_i L_i + s_i

    over the outputs i of `task_weights`: L_i is the loss that `compile`
    gave output i, w_i its fixed weight, and s_i a trainable log-variance,
    initialised to 0 and trained by the model's optimizer with the other
    weights (it is a model variable, so `.keras` files and backups keep it).
    This is the simplified form most implementations use for classification
    and regression alike: the 1/2 factors of Kendall et al.'s derivation are
    dropped. Beyond the paper, the fixed weights w_i still multiply L_i. The
    gradient with respect to s_i is `1 - exp(-s_i) w_i L_i`, so s_i moves
    toward `log(w_i L_i)`, where each weighted term is 1: w_i sets where the
    weighting starts (s = 0 weighs by w alone), not where it settles.

    `compile`'s `loss` must be a dict holding a loss for each of these
    outputs and no other; its `loss_weights` are not used (the fixed weights
    are the model's). Losses that layers add (`add_loss`, regularisers) are
    added to the total.

    Logged: `<output>_loss`, L_i before any weight (as Keras logs each loss
    of a multi-output model), and `<output>_log_variance`, s_i after the step.

    Args:
        *args, **kwargs: those of a functional `keras.Model` (`inputs`,
            `outputs`, `name`).
        task_weights: output name -> its fixed weight w_i.

    References:
        - Kendall, Gal and Cipolla, "Multi-task learning using uncertainty to
          weigh losses for scene geometry and semantics", CVPR 2018.
    """

    def __init__(self, *args, task_weights: Mapping[str, float], **kwargs):
        super().__init__(*args, **kwargs)
        self.task_weights = dict(task_weights)
        self.log_variances = [
            self.add_weight(shape=(), initializer="zeros", name=f"{name}_log_variance") for name in self.task_weights
        ]
        self.task_loss_trackers = [keras.metrics.Mean(name=f"{name}_loss") for name in self.task_weights]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Keras keeps the compiled dict in a trackable wrapper that is not a Mapping.
        compiled = self.loss.items() if hasattr(self.loss, "items") else ()
        losses = {name: keras.losses.get(loss) for name, loss in compiled if loss is not None}
        if set(losses) != set(self.task_weights):
            raise ValueError(
                f"{type(self).__name__} weighs the losses of {sorted(self.task_weights)}; "
                f"compile gave losses for {sorted(losses)}"
            )
        terms = []
        trackers = self.task_loss_trackers
        for (name, weight), log_variance, tracker in zip(self.task_weights.items(), self.log_variances, trackers):
            weights = sample_weight.get(name) if isinstance(sample_weight, Mapping) else sample_weight
            value = losses[name](y[name], y_pred[name], weights)
            tracker.update_state(_unscaled(value), sample_weight=ops.shape(y_pred[name])[0])
            log_variance = ops.cast(log_variance, value.dtype)
            # s_i is a regulariser: scaled per replica as the layers' losses are, its gradient counts once.
            terms += [ops.exp(-log_variance) * weight * value, self._aggregate_additional_loss(log_variance)]
        terms.extend(self._aggregate_additional_loss(loss) for loss in self.losses)
        return ops.sum(ops.stack(terms))

    def get_metrics_result(self):
        return {
            **super().get_metrics_result(),
            **{f"{name}_log_variance": ops.convert_to_tensor(s) for name, s in zip(self.task_weights, self.log_variances)},
        }

    def get_config(self):
        return {**super().get_config(), "task_weights": dict(self.task_weights)}
