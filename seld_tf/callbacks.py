"""Training callbacks: validation by the DCASE SELD score, atomic best snapshots,
and a clear stop on a non-finite loss."""

from __future__ import annotations

import math
import os

import keras

from seld_tf.errors import SeldTfError


class NonFiniteLossError(SeldTfError, FloatingPointError):
    """The training loss became NaN or infinite."""


@keras.saving.register_keras_serializable(package="seld_tf")
class SeldValidation(keras.callbacks.Callback):
    """Scores the model on whole validation clips at the end of every `every`-th epoch.

    Writes `{prefix}seld`, `{prefix}ER`, `{prefix}F`, `{prefix}LE`, `{prefix}LR`
    and the per-output validation losses into the epoch's `logs`, so that the
    callbacks after it in the list (`ModelCheckpoint(monitor="val_seld",
    mode="min")`, `CSVLogger`, `TensorBoard`) see them. It must therefore come
    first in the callback list.

    Args:
        evaluator: a `seld_tf.evaluation.SeldEvaluator` over the validation clips.
        every: validate every this many epochs (and always after the last one).
        prefix: prefix of the logged names.
    """

    def __init__(self, evaluator, every: int = 1, prefix: str = "val_"):
        super().__init__()
        self.evaluator = evaluator
        self.every = every
        self.prefix = prefix
        self.last_scores = None

    def on_epoch_end(self, epoch, logs=None):
        last_epoch = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and epoch + 1 != last_epoch:
            return
        result = self.evaluator.evaluate(self.model)
        self.last_scores = result.scores
        if logs is not None:
            for name, value in result.scores.to_dict().items():
                key = "seld" if name == "SELD" else name
                logs[f"{self.prefix}{key}"] = value
            for name, value in result.losses.items():
                logs[f"{self.prefix}{name}"] = value

    def get_config(self):
        return {"every": self.every, "prefix": self.prefix}


@keras.saving.register_keras_serializable(package="seld_tf")
class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` whose file appears atomically.

    Keras writes the `.keras` zip in place, so a run killed while saving would
    leave a corrupt best model behind. Here Keras saves to `<name>.partial.keras`
    and the finished file is renamed over `filepath`. `filepath` must be a
    fixed name (no `{epoch}` placeholders) and saving happens per epoch.
    """

    def __init__(self, filepath, **kwargs):
        self.final_path = os.fspath(filepath)
        root, extension = os.path.splitext(self.final_path)
        super().__init__(f"{root}.partial{extension}", **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)

    def get_config(self):
        return {"filepath": self.final_path, "monitor": self.monitor, "mode": self.mode}


@keras.saving.register_keras_serializable(package="seld_tf")
class RaiseOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with `NonFiniteLossError` at the first NaN/inf batch loss.

    Unlike `keras.callbacks.TerminateOnNaN`, which stops silently, the error
    says where it happened and where the last good snapshot is.
    """

    def __init__(self, checkpoint_path: str | None = None):
        super().__init__()
        self.checkpoint_path = checkpoint_path
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            where = f"epoch {self._epoch + 1}, batch {batch + 1}"
            snapshot = f"; the last good snapshot is {self.checkpoint_path}" if self.checkpoint_path else ""
            raise NonFiniteLossError(f"training loss became {float(loss)} at {where}{snapshot}")

    def get_config(self):
        return {"checkpoint_path": self.checkpoint_path}
