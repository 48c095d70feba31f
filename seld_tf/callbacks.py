"""Training callbacks: validation by the task's score, a best snapshot and a
backup that a kill at any moment leaves loadable, and a clear stop on a
non-finite loss."""

from __future__ import annotations

import math
import os

import keras

from seld_tf.errors import RunError, SeldTfError
from seld_tf.faults import kill_point
from seld_tf.runs import RunFolder


class NonFiniteLossError(SeldTfError, FloatingPointError):
    """The training loss became NaN or infinite."""


@keras.saving.register_keras_serializable(package="seld_tf")
class Validation(keras.callbacks.Callback):
    """Scores the model on whole validation clips at the end of every `every`-th epoch.

    Writes the task's scores (`Evaluator.logged`, e.g. `val_seld`, `val_ER`)
    and the per-output validation losses into the epoch's `logs`, so that the
    callbacks after it in the list (`ModelCheckpoint(monitor=task.monitor)`,
    `CSVLogger`, `TensorBoard`) see them. It must therefore come first in the
    callback list.

    Args:
        evaluator: a `seld_tf.evaluation.Evaluator` over the validation clips.
        every: validate every this many epochs (and always after the first and the last
            epoch of a `fit` call).
        prefix: prefix of the logged names.
    """

    def __init__(self, evaluator, every: int = 1, prefix: str = "val_"):
        super().__init__()
        self.evaluator = evaluator
        self.every = every
        self.prefix = prefix
        self.last_scores = None

    def on_train_begin(self, logs=None):
        self._validated = False

    def on_epoch_end(self, epoch, logs=None):
        last_epoch = self.params.get("epochs") if self.params else None
        # The first epoch of every `fit` call is validated too: `CSVLogger` fixes its columns
        # at the first epoch it logs, and a resumed run appends to the same history file.
        if (epoch + 1) % self.every and epoch + 1 != last_epoch and getattr(self, "_validated", True):
            return
        self._validated = True
        kill_point("validation", epoch + 1)
        result = self.evaluator.evaluate(self.model)
        self.last_scores = result.scores
        if logs is not None:
            for name, value in self.evaluator.logged(result.scores).items():
                logs[f"{self.prefix}{name}"] = value
            for name, value in result.losses.items():
                logs[f"{self.prefix}{name}"] = value

    def get_config(self):
        return {"every": self.every, "prefix": self.prefix}


@keras.saving.register_keras_serializable(package="seld_tf")
class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` of a run's best snapshot that never leaves a corrupt file.

    Keras writes the `.keras` zip in place, so a run killed while saving would
    leave a corrupt best model behind. Here Keras saves an improving epoch to
    `best.partial.keras`; once that file is complete it is renamed, in the same
    call, to the epoch's pending candidate, which `CommitSnapshot` promotes to
    `best.keras` after the backup has recorded the epoch. A partial file left
    by a killed run is removed first, so it is never taken for this epoch's.

    Args:
        run_dir: the run folder (`seld_tf.runs.RunFolder`).
        monitor, mode: as for `keras.callbacks.ModelCheckpoint`.
    """

    def __init__(self, run_dir, monitor: str = "val_loss", mode: str = "min"):
        self.run_dir = os.fspath(run_dir)
        self.run = RunFolder(run_dir)
        super().__init__(os.fspath(self.run.best_partial), monitor=monitor, mode=mode, save_best_only=True)

    def on_epoch_end(self, epoch, logs=None):
        self.run.best_partial.unlink(missing_ok=True)
        super().on_epoch_end(epoch, logs)
        if self.run.best_partial.exists():
            kill_point("checkpoint_write", epoch + 1, self.run.best_partial)
            os.replace(self.run.best_partial, self.run.pending_best(epoch + 1))

    def get_config(self):
        return {"run_dir": self.run_dir, "monitor": self.monitor, "mode": self.mode}


@keras.saving.register_keras_serializable(package="seld_tf")
class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose files each appear whole.

    Keras writes the backup's weights and its epoch record in place, so a kill
    during the write leaves a backup that can never be loaded. Here each is
    written under a partial name and renamed when complete, the weights first:
    a kill between the two renames leaves the new weights with the previous
    epoch count, so the resumed run repeats that epoch and loses nothing. The
    backup is kept at the end of `fit`; the trainer removes it after the run's
    finished marker is written.
    """

    def __init__(self, backup_dir):
        super().__init__(os.fspath(backup_dir), save_freq="epoch", delete_checkpoint=False)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError, KeyError) as error:
            raise RunError(
                f"{self._weights_path}: the backup cannot be loaded ({error}); "
                f"delete {self.backup_dir} to restart the run from scratch"
            ) from None

    def _save_model(self):
        final = (self._weights_path, self._training_metadata_path)
        partial = (
            os.path.join(self.backup_dir, "latest.partial.weights.h5"),
            os.path.join(self.backup_dir, "training_metadata.partial.json"),
        )
        self._weights_path, self._training_metadata_path = partial
        try:
            super()._save_model()
        finally:
            self._weights_path, self._training_metadata_path = final
        kill_point("backup_write", self._current_epoch, partial[0])
        for source, target in zip(partial, final):
            os.replace(source, target)

    def get_config(self):
        return {"backup_dir": self.backup_dir}


@keras.saving.register_keras_serializable(package="seld_tf")
class CommitSnapshot(keras.callbacks.Callback):
    """Promotes the epoch's best-snapshot candidate once the backup has recorded the epoch.

    Goes after `AtomicBackupAndRestore` in the callback list: from then on a
    killed run resumes after this epoch, so its snapshot may become `best.keras`.
    """

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = os.fspath(run_dir)

    def on_epoch_end(self, epoch, logs=None):
        kill_point("commit", epoch + 1)
        RunFolder(self.run_dir).commit()

    def get_config(self):
        return {"run_dir": self.run_dir}


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
