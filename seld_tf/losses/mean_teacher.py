"""Mean teacher (Tarvainen & Valpola 2017) as the DCASE2022 Task 4 baseline trains it.

The teacher is a copy of the network whose weights are an exponential moving
average (EMA) of the student's; the student is trained on its supervised
losses plus a consistency term, the mean squared error between its outputs
and the teacher's on every clip of the batch, labelled or not, with a weight
ramped up over the first epochs. `MeanTeacherModel` is a functional model
(the student) that owns the teacher, so one `.keras` file, backup or
distributed variable set holds both, and the generic trainer needs nothing
else: the task wraps its network in it (`Task.functional_model`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import keras
from keras import ops

from seld_tf.schedules import rampup_factor

INFERENCE = ("student", "teacher")


@keras.saving.register_keras_serializable(package="seld_tf")
class MeanTeacherModel(keras.Model):
    """A functional model (the student) trained with a mean teacher.

    The teacher is `teacher`, a clone of the whole functional graph (feature
    scaler included) made at construction and starting as a copy of the
    student. Its weights are not trainable; they are model variables, so
    `.keras` files, backups and `tf.distribute` mirror them with the rest.

    Each training step, with `s` the optimizer step (1 at the first):

    - loss: the compiled losses of the student's outputs, plus
      `w(s) * sum_o mean((student_o - stop_gradient(teacher_o))^2)` over the
      outputs `o` of `consistency_outputs`, on every row of the batch, the
      teacher run in inference mode (no dropout, BatchNorm on its moving
      statistics), or with `teacher_training` in training mode, as PyTorch
      Lightning runs the baseline's teacher (dropout on, BatchNorm on the
      batch's statistics, updating the teacher's own moving statistics);
    - `w(s) = consistency_weight * rampup_factor(s, rampup_epochs x steps
      per epoch)`: DESED_task's `const_max` times its exponential warm-up,
      `exp(-5 (1 - s / R)^2)` until step R, then 1;
    - after the optimizer's update, every teacher weight becomes `a t + (1 -
      a) v` with `v` the student's, `a = min(ema, 1 - 1 / (s + 1))`:
      DESED_task's `update_ema`, the plain mean of the student's states so
      far (its initial one included) while `1 - 1 / (s + 1) < ema`. In
      inference mode that covers the BatchNorm moving statistics too (the
      teacher never updates its own); with `teacher_training`, as in the
      baseline, only the student's trainable weights are averaged.

    Under `tf.distribute` the update is a plain assignment on each replica's
    copy, as BatchNorm updates its moving statistics: the student's trained
    weights are synchronised, so their EMAs stay identical on every replica;
    the BatchNorm statistics are each replica's own, the student's as the
    teacher's.

    `fit` must be given `steps_per_epoch` when `rampup_epochs > 0` (the
    trainer always gives it): it sets `rampup_steps`, 0 (no ramp-up) until
    then, e.g. for `train_on_batch`.

    With `inference="teacher"`, every call outside training (`predict`,
    `evaluate`, the validation scores, evaluation, prediction, export)
    returns the teacher's outputs; with "student" (the default, and the
    baseline's published numbers) the student's. `teacher` is itself a
    model over the same inputs, to score one beside the other.

    Logged: `consistency_loss`, the unweighted consistency term (mean over
    the epoch's steps), and `consistency_weight`, `w(s)` of the last step.

    Args:
        *args, **kwargs: those of a functional `keras.Model` (`inputs`,
            `outputs`, `name`); `outputs` must be a dict.
        consistency_outputs: the outputs compared (probabilities: the
            baseline's "strong" and "weak").
        consistency_weight: float, the weight after the ramp-up.
        ema: float in [0, 1), the EMA factor.
        rampup_epochs: int, epochs of the ramp-up; 0 for none.
        inference: "student" or "teacher", the network that predicts.
        teacher_training: run the teacher in training mode for the
            consistency targets (the baseline's behaviour); else inference mode.

    References:
        - Tarvainen and Valpola, "Mean teachers are better role models",
          NeurIPS 2017.
        - DCASE2022 Task 4 baseline, github.com/DCASE-REPO/DESED_task,
          `recipes/dcase2022_task4_baseline/local/sed_trainer.py`.
    """

    def __init__(
        self,
        *args,
        consistency_outputs: Sequence[str] = ("strong", "weak"),
        consistency_weight: float = 2.0,
        ema: float = 0.999,
        rampup_epochs: int = 50,
        inference: str = "student",
        teacher_training: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not isinstance(self.output, Mapping):
            raise ValueError(f"{type(self).__name__} needs a model with named (dict) outputs")
        missing = sorted(set(consistency_outputs) - set(self.output))
        if missing:
            raise ValueError(f"consistency_outputs {missing} are not outputs of the model ({sorted(self.output)})")
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), received {ema}")
        if inference not in INFERENCE:
            raise ValueError(f"inference must be one of {INFERENCE}, received {inference!r}")
        self.consistency_outputs = tuple(consistency_outputs)
        self.consistency_weight = float(consistency_weight)
        self.ema = float(ema)
        self.rampup_epochs = int(rampup_epochs)
        self.inference = inference
        self.teacher_training = bool(teacher_training)
        self.rampup_steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="rampup_steps")
        self.consistency_tracker = keras.metrics.Mean(name="consistency_loss")
        # A clone of the graph made through a plain functional view of it (cloning `self` would clone the subclass).
        self.teacher = keras.models.clone_model(keras.Model(self.input, self.output, name="teacher"))
        self.teacher.trainable = False
        if self.teacher_training:
            # Keras' BatchNorm uses batch statistics only in a trainable layer; the optimizer still
            # skips the teacher (`trainable_weights`).
            for layer in _nested_layers(self.teacher):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = True
        for teacher, student in self._teacher_pairs():
            teacher.assign(student)

    @property
    def trainable_weights(self):
        teacher = {id(weight) for weight in self.teacher.weights}
        return [weight for weight in super().trainable_weights if id(weight) not in teacher]

    @property
    def trainable_variables(self):
        return self.trainable_weights

    def _teacher_pairs(self) -> list[tuple[keras.Variable, keras.Variable]]:
        """`(teacher weight, student weight)` pairs: the clone has the graph's layers, and their weights, in order."""
        student = [weight for layer in self.layers for weight in layer.weights]
        teacher = self.teacher.weights
        if len(student) != len(teacher) or any(s.shape != t.shape for s, t in zip(student, teacher)):
            raise ValueError(f"{type(self).__name__}: the teacher's weights do not match the student's")
        return list(zip(teacher, student))

    def call(self, inputs, training=None, mask=None, **kwargs):
        if self.inference == "teacher" and not training:
            return self.teacher(inputs, training=False)
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def consistency_weight_at(self, step):
        """`w(step)`, the consistency weight at optimizer step `step` (1 at the first)."""
        return self.consistency_weight * rampup_factor(step, self.rampup_steps)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        targets = self.teacher(x, training=self.teacher_training)
        consistency = ops.sum(
            ops.stack(
                [ops.mean(ops.square(y_pred[name] - ops.stop_gradient(targets[name]))) for name in self.consistency_outputs]
            )
        )
        rows = ops.shape(y_pred[self.consistency_outputs[0]])[0]
        self.consistency_tracker.update_state(consistency, sample_weight=rows)
        weighted = self.consistency_weight_at(self.optimizer.iterations + 1) * consistency
        return loss + _scaled_for_replicas(weighted)

    def train_step(self, data):
        logs = super().train_step(data)
        step = ops.cast(self.optimizer.iterations, "float32")
        decay = ops.minimum(self.ema, 1.0 - 1.0 / (step + 1.0))
        for teacher, student in self._teacher_pairs():
            if student.trainable or not self.teacher_training:
                teacher.assign(decay * teacher + (1.0 - decay) * student)
        return logs

    def fit(self, *args, steps_per_epoch=None, **kwargs):
        if self.rampup_epochs:
            if steps_per_epoch is None:
                raise ValueError(
                    f"{type(self).__name__}.fit needs steps_per_epoch: the consistency weight ramps up over "
                    f"{self.rampup_epochs} epochs of optimizer steps"
                )
            self.rampup_steps.assign(self.rampup_epochs * steps_per_epoch)
        return super().fit(*args, steps_per_epoch=steps_per_epoch, **kwargs)

    def get_metrics_result(self):
        return {
            **super().get_metrics_result(),
            "consistency_weight": self.consistency_weight_at(self.optimizer.iterations),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "consistency_outputs": list(self.consistency_outputs),
            "consistency_weight": self.consistency_weight,
            "ema": self.ema,
            "rampup_epochs": self.rampup_epochs,
            "inference": self.inference,
            "teacher_training": self.teacher_training,
        }


def _nested_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _nested_layers(layer)


def _scaled_for_replicas(value):
    # Keras divides each replica's compiled loss by the replica count (the replicas' gradients are
    # summed); a term added to it must be divided alike to keep its weight.
    import tensorflow as tf

    return value / tf.distribute.get_strategy().num_replicas_in_sync
