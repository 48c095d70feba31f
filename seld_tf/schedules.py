"""Learning-rate schedules of the papers, as Keras `LearningRateSchedule`s.

Papers describe schedules in epochs; an optimizer counts steps. The schedules
here take epoch-valued arguments plus `steps_per_epoch` and convert inside the
(graph-compatible) `__call__`, so a recipe can copy the paper's numbers as is.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from seld_tf.errors import ConfigError


def rampup_factor(step, rampup_steps, exponent: float = -5.0):
    """DESED_task's `ExponentialWarmup` factor at optimizer step `step` (1 at the first step):
    `exp(exponent (1 - min(step, R) / R)^2)` for `R = rampup_steps`, 1 when `R = 0`."""
    step = ops.cast(step, "float32")
    rampup_steps = ops.cast(rampup_steps, "float32")
    phase = 1.0 - ops.minimum(step, rampup_steps) / ops.maximum(rampup_steps, 1.0)
    return ops.where(rampup_steps > 0, ops.exp(exponent * phase * phase), 1.0)


@keras.saving.register_keras_serializable(package="seld_tf")
class WarmupExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant warm-up, then a rate decayed by a fixed factor at given epochs; optionally ramped up.

    With `epoch = step // steps_per_epoch` (0-based, warm-up epochs included):

    - `epoch < warmup_epochs`: `warmup_learning_rate`;
    - otherwise: `initial_learning_rate * decay_rate ** n`, where `n` is the
      number of boundaries in `decay_epochs` that are `<= epoch`. The decay is
      cumulative: after the second boundary the rate is scaled by
      `decay_rate ** 2`.

    A boundary `b` therefore means "the rate changes when epoch `b` starts",
    i.e. after `b` complete epochs.

    With `rampup_epochs = E > 0` that rate is multiplied by the sigmoid-shaped
    ramp-up of the DCASE2022 Task 4 baseline (DESED_task's `ExponentialWarmup`,
    stepped after every optimizer step): `exp(-5 (1 - min(s + 1, R) / R)^2)`
    at optimizer step `s` (0-based), `R = E * steps_per_epoch`. It starts at
    `exp(-5)` and reaches 1 after `R - 1` steps.

    Args:
        initial_learning_rate: float, the rate after warm-up and before the
            first decay boundary.
        steps_per_epoch: int, optimizer steps (batches) per epoch.
        decay_epochs: sorted sequence of non-negative ints, the epochs at which
            the rate is multiplied by `decay_rate`. Empty for no decay.
        decay_rate: float, the factor applied at each boundary.
        warmup_epochs: int, number of epochs at `warmup_learning_rate`.
        warmup_learning_rate: float, the constant rate during warm-up.
            Required when `warmup_epochs > 0`.
        rampup_epochs: int, length of the exponential ramp-up; 0 for none.
        name: string, name scope of the ops.

    Examples:

    Phan et al. (2020): 10 warm-up epochs at 2e-5, then 2e-4, x0.8 at epochs
    200, 600 and 1000.

    ```python
    schedule = WarmupExponentialDecay(
        initial_learning_rate=2e-4,
        steps_per_epoch=100,
        decay_epochs=[200, 600, 1000],
        decay_rate=0.8,
        warmup_epochs=10,
        warmup_learning_rate=2e-5,
    )
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    ```

    EINV2 (Cao et al., 2021): 5e-4, x0.1 after 80 epochs, no warm-up.

    ```python
    schedule = WarmupExponentialDecay(
        5e-4, steps_per_epoch=100, decay_epochs=[80], decay_rate=0.1
    )
    ```

    The DCASE2022 Task 4 baseline: Adam 1e-3 ramped up over 50 epochs.

    ```python
    schedule = WarmupExponentialDecay(1e-3, steps_per_epoch=118, rampup_epochs=50)
    ```

    References:
        - Phan et al., "On multitask loss function for audio event detection
          and localization", DCASE 2020 Workshop.
        - Cao et al., "An improved event-independent network for polyphonic
          sound event localization and detection", ICASSP 2021.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        steps_per_epoch: int,
        decay_epochs: Sequence[int] = (),
        decay_rate: float = 1.0,
        warmup_epochs: int = 0,
        warmup_learning_rate: float | None = None,
        rampup_epochs: int = 0,
        name: str = "WarmupExponentialDecay",
    ):
        super().__init__()
        decay_epochs = [int(epoch) for epoch in decay_epochs]
        if steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, received {steps_per_epoch}")
        if warmup_epochs < 0:
            raise ConfigError(f"warmup_epochs must be >= 0, received {warmup_epochs}")
        if warmup_epochs > 0 and warmup_learning_rate is None:
            raise ConfigError(
                f"warmup_learning_rate is required with warmup_epochs={warmup_epochs}, "
                "received None"
            )
        if rampup_epochs < 0:
            raise ConfigError(f"rampup_epochs must be >= 0, received {rampup_epochs}")
        if decay_epochs != sorted(decay_epochs) or any(epoch < 0 for epoch in decay_epochs):
            raise ConfigError(
                f"decay_epochs must be sorted non-negative epochs, received {decay_epochs}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.decay_epochs = decay_epochs
        self.decay_rate = float(decay_rate)
        self.warmup_epochs = int(warmup_epochs)
        self.warmup_learning_rate = (
            None if warmup_learning_rate is None else float(warmup_learning_rate)
        )
        self.rampup_epochs = int(rampup_epochs)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            # Integer arithmetic keeps the epoch exact however long training runs
            # (a float32 step loses integer precision past 2**24 steps).
            epoch = ops.floor_divide(ops.cast(step, "int32"), self.steps_per_epoch)
            boundaries = ops.convert_to_tensor(self.decay_epochs, dtype="int32")
            num_decays = ops.sum(ops.cast(ops.greater_equal(epoch, boundaries), "float32"))
            learning_rate = self.initial_learning_rate * ops.power(self.decay_rate, num_decays)
            if self.rampup_epochs:
                # The baseline's scheduler counts from 1 and steps after each update.
                learning_rate = learning_rate * rampup_factor(
                    ops.cast(step, "float32") + 1.0, self.rampup_epochs * self.steps_per_epoch
                )
            if self.warmup_epochs == 0:
                return learning_rate
            return ops.where(
                ops.less(epoch, self.warmup_epochs), self.warmup_learning_rate, learning_rate
            )

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "decay_epochs": list(self.decay_epochs),
            "decay_rate": self.decay_rate,
            "warmup_epochs": self.warmup_epochs,
            "warmup_learning_rate": self.warmup_learning_rate,
            "rampup_epochs": self.rampup_epochs,
            "name": self.name,
        }
