"""Optimizers the papers use and Keras lacks: RAdam (Nada et al. 2022 train with it)."""

from __future__ import annotations

import keras
from keras import ops

# PyTorch's threshold on the length of the approximated simple moving average
# (and TensorFlow Addons'); Algorithm 2 of Liu et al. rectifies from 4 on.
RHO_THRESHOLD = 5.0


@keras.saving.register_keras_serializable(package="seld_tf")
class RAdam(keras.optimizers.Optimizer):
    """Rectified Adam (Liu et al. 2020), as `torch.optim.RAdam` computes it.

    Adam whose adaptive step is switched off while the variance of the
    adaptive learning rate is intractable, and scaled by a rectification
    term `r_t` after that: a warm-up without a schedule. At step `t` (from
    1), with gradient `g`:

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g ** 2
        m_hat = m / (1 - beta_1 ** t)
        rho_inf = 2 / (1 - beta_2) - 1
        rho_t = rho_inf - 2 * t * beta_2 ** t / (1 - beta_2 ** t)
        if rho_t > 5:
            r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            variable -= lr * r_t * m_hat * sqrt(1 - beta_2 ** t) / (sqrt(v) + epsilon)
        else:
            variable -= lr * m_hat

    With the default `beta_2 = 0.999` the first 5 steps are the
    unrectified (momentum SGD) ones. Epsilon is added to `sqrt(v)` before
    the bias correction, as in PyTorch, Liu et al.'s code and Keras' `Adam`.
    The step-dependent scalars (`rho_t`, `r_t`) are computed in float64:
    `rho_t` is the difference of two numbers near `rho_inf` (1999), which
    float32 (which cannot even hold `1 - beta_2` exactly) leaves about 0.01
    off, and `r_t` up to 0.2% off, in the first rectified steps.

    `weight_decay` is decoupled (AdamW-style, applied by the base class:
    `variable -= lr * weight_decay * variable` before the update), as
    `torch.optim.RAdam(decoupled_weight_decay=True)`; PyTorch's default L2
    form (the decay added to the gradient) is not offered.

    Args:
        learning_rate: float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments. Defaults to 0.001 (PyTorch's
            default; Nada et al.'s recipe trains with 2e-4).
        beta_1: float, decay rate of the first-moment estimates.
        beta_2: float, decay rate of the second-moment estimates.
        epsilon: float, added to `sqrt(v)` in the adaptive step (PyTorch's
            default 1e-8; Keras' `Adam` uses 1e-7).
        **kwargs: the base `keras.optimizers.Optimizer` arguments
            (`weight_decay`, `clipnorm`, `global_clipnorm`, `use_ema`,
            `gradient_accumulation_steps`, `name`, ...).

    Example:

    ```python
    model.compile(optimizer=RAdam(learning_rate=2e-4), loss=...)
    ```

    References:
        - Liu et al., "On the variance of the adaptive learning rate and
          beyond", ICLR 2020.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name="radam",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            name=name,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        """One first-moment (`momentum`) and one second-moment (`velocity`) slot per variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        """Update `variable` by one RAdam step (see the class docstring)."""
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, "float64")
        # convert_to_tensor, not cast: `ops.cast` of a Python float rounds it to float32 first.
        beta_1 = ops.convert_to_tensor(self.beta_1, dtype="float64")
        beta_2 = ops.convert_to_tensor(self.beta_2, dtype="float64")
        beta_1_power = ops.power(beta_1, step)
        beta_2_power = ops.power(beta_2, step)
        rho_inf = 2.0 / (1.0 - beta_2) - 1.0
        rho = rho_inf - 2.0 * step * beta_2_power / (1.0 - beta_2_power)
        # Clipped at 0: the unrectified steps select the other branch, but
        # their (rho - 4)(rho - 2) may be negative and its root NaN.
        rectification = ops.sqrt(
            ops.maximum((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho), 0.0)
        )
        rectified = rho > RHO_THRESHOLD
        # Scalars of the step, computed in float64, then in the variable's dtype.
        momentum_scale = ops.cast(1.0 / (1.0 - beta_1_power), variable.dtype)
        adaptive_scale = ops.cast(rectification * ops.sqrt(1.0 - beta_2_power), variable.dtype)
        lr = ops.cast(learning_rate, variable.dtype)

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        m_hat = ops.multiply(m, momentum_scale)
        adaptive = ops.divide(adaptive_scale, ops.add(ops.sqrt(v), self.epsilon))
        self.assign_sub(variable, lr * m_hat * ops.where(rectified, adaptive, ops.ones_like(adaptive)))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
