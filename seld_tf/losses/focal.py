"""Focal losses of Nada et al. (2022), from logits: the multi-focal loss of joint scene and event training.

The paper's Eq. (3) weighs a scene and an event loss, `L = alpha L_scene +
beta L_event`; its proposed system replaces their cross-entropies by the
focal losses of Eqs. (5) and (6). Here one Keras loss per output, weighted
by `loss_weights` (with exponents 0 they are the plain cross-entropies, the
conventional multitask system):

```python
model.compile(
    optimizer=RAdam(2e-4),
    loss={"scene_logits": SceneFocalLoss(eta=0.5), "event_logits": EventFocalLoss(gamma=1.0, zeta=0.0625)},
    loss_weights={"scene_logits": 0.001, "event_logits": 1.0},  # alpha, beta
)
```

Both take LOGITS (the `*_logits` outputs of `seld_tf.models.nada2022`):
every probability and its complement is computed in log space, where
`(1 - p) ** 0.5` or `p ** 0.0625` would have an infinite derivative once a
probability rounds to 0 or 1 in float32. The focal factors are
differentiated through (as in Lin et al.'s focal loss; the paper is silent).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from seld_tf.errors import ConfigError

REDUCTION_MODES = ("mean", "sum")


def _check_exponent(name: str, value: float) -> float:
    if not value >= 0:
        raise ConfigError(f"{name} must be a non-negative focusing exponent, received {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="seld_tf")
class SceneFocalLoss(keras.losses.Loss):
    """Categorical focal loss of a clip's scene (Eq. 5 of Nada et al.), from logits.

    With `y = softmax(logits)` and target `z` (one-hot or soft) over `S`
    scenes, the loss of one clip is

        -sum_n (1 - y_n) ** eta * z_n * log(y_n),

    the categorical cross-entropy when `eta = 0`: then it equals
    `keras.losses.CategoricalCrossentropy(from_logits=True)` (to float
    rounding). `log(y_n)` is the log-softmax and `log(1 - y_n)` is
    `logsumexp(logits without class n) - logsumexp(logits)`, exact where `y_n`
    rounds to 1; the per-class exclusion costs `S * S` values per clip.

    Reduction: `call` returns one value per clip `[B]`; the default Keras
    `reduction="sum_over_batch_size"` averages them over the batch, the
    reduction of both the public code (`CrossEntropyLoss(reduction="mean")`)
    and the paper (a per-clip sum over the scenes, then the batch mean): for
    a clip-level output the two agree, so unlike `EventFocalLoss` there is no
    `reduction_mode`. A `sample_weight` of shape `[B]` multiplies each clip's
    value (the mean still divides by `B`, as Keras' own losses do).

    Args:
        eta: float >= 0, the focusing exponent (the paper: 0.5; Sec. IV-B's
            text says 1.0).
        name: string, name of the loss.
        reduction: string, Keras reduction of the per-clip values.
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    Raises:
        ConfigError: a negative `eta`.

    References:
        - Nada et al., "Multitask learning of acoustic scenes and events
          using dynamic weight adaptation based on multi-focal loss", 2022,
          Eq. (5).
        - Lin et al., "Focal loss for dense object detection", ICCV 2017.
    """

    def __init__(
        self,
        eta: float = 0.5,
        name: str = "scene_focal_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.eta = _check_exponent("eta", eta)

    def call(self, y_true, y_pred):
        log_probabilities = ops.log_softmax(y_pred, axis=-1)
        # Row n of [B, S, S] holds the logits with class n left out (-inf).
        left_out = ops.eye(y_pred.shape[-1], dtype="bool")
        others = ops.where(left_out, float("-inf"), ops.expand_dims(y_pred, axis=-2))
        log_complements = ops.logsumexp(others, axis=-1) - ops.logsumexp(y_pred, axis=-1, keepdims=True)
        modulation = ops.exp(self.eta * log_complements)
        return -ops.sum(modulation * y_true * log_probabilities, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "eta": self.eta}


@keras.saving.register_keras_serializable(package="seld_tf")
class EventFocalLoss(keras.losses.Loss):
    """Asymmetric focal binary cross-entropy of frame-wise events (Eq. 6 of Nada et al.), from logits.

    With `y = sigmoid(logits)` and targets `z` in [0, 1], each frame `t` and
    class `k` contributes

        l = -[(1 - y) ** gamma * z * log(y) + y ** zeta * (1 - z) * log(1 - y)]

    (Imoto et al.'s asymmetric focal loss: `gamma` down-weights confident
    active frames, `zeta` confident inactive ones, the easy negatives that
    dominate sparse event rolls). With `gamma = zeta = 0` it is the binary
    cross-entropy. Computed with `log(y) = log_sigmoid(x)`, `log(1 - y) =
    log_sigmoid(-x)` and the factors as `exp(exponent * log ...)`.

    Reduction, `reduction_mode`:
        - "mean" (the public code, `BCEWithLogitsLoss(reduction="mean")`): the
          mean of `l` over all `B * T * K` elements; with `gamma = zeta = 0`
          it equals `keras.losses.BinaryCrossentropy(from_logits=True)` (to
          float rounding), sample weights included.
        - "sum" (the paper's Eq. 6): the sum of `l` over a clip's frames and
          classes, averaged over the batch: `T * K` times "mean", which
          changes what a loss weight `alpha` means.
    Both under Keras' default `reduction="sum_over_batch_size"`, for which
    `call` returns one value per frame `[B, T]` (per clip `[B]` for a
    clip-level `[B, K]` output): the mean over `K` ("mean") or `T` times the
    sum over `K` ("sum"), so that the average over the `B * T` values is the
    loss above. A sample weight multiplies these values before that average:
    `[B, 1]` weighs clips, `[B, T]` frames (e.g. 0 on the padded frames of a
    clip's last window); the average still divides by `B * T`, as Keras' own
    losses do (so masked frames lower a "mean" loss rather than being
    averaged out; `reduction="mean_with_sample_weight"` divides by the
    weights' sum instead, which for a "mean" loss is the mean over the valid
    elements). A weight of shape `[B]` does not broadcast against `[B, T]`:
    give clip weights as `[B, 1]`, as `seld_tf.pipeline` does.

    Args:
        gamma: float >= 0, focusing exponent of the active targets (the
            paper: 1.0).
        zeta: float >= 0, focusing exponent of the inactive targets (the
            paper: 0.0625).
        reduction_mode: "mean" or "sum" (see above).
        name: string, name of the loss.
        reduction: string, Keras reduction of the per-frame values.
        dtype: string or `keras.DTypePolicy`, dtype of the computation.

    Raises:
        ConfigError: a negative exponent or an unknown `reduction_mode`.

    References:
        - Nada et al., "Multitask learning of acoustic scenes and events
          using dynamic weight adaptation based on multi-focal loss", 2022,
          Eq. (6).
        - Imoto et al., "Impact of sound duration and inactive frames on
          sound event detection performance", ICASSP 2021.
    """

    def __init__(
        self,
        gamma: float = 1.0,
        zeta: float = 0.0625,
        reduction_mode: str = "mean",
        name: str = "event_focal_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if reduction_mode not in REDUCTION_MODES:
            raise ConfigError(f"reduction_mode must be one of {REDUCTION_MODES}, received {reduction_mode!r}")
        self.gamma = _check_exponent("gamma", gamma)
        self.zeta = _check_exponent("zeta", zeta)
        self.reduction_mode = reduction_mode

    def call(self, y_true, y_pred):
        log_active = ops.log_sigmoid(y_pred)
        log_inactive = ops.log_sigmoid(-y_pred)
        losses = -(
            ops.exp(self.gamma * log_inactive) * y_true * log_active
            + ops.exp(self.zeta * log_active) * (1 - y_true) * log_inactive
        )
        if self.reduction_mode == "mean":
            return ops.mean(losses, axis=-1)
        # Values per sample between the batch and class axes (T), by which
        # Keras' average of these values divides.
        frames = math.prod(ops.shape(losses)[1:-1])
        return ops.cast(frames, self.dtype) * ops.sum(losses, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "zeta": self.zeta,
            "reduction_mode": self.reduction_mode,
        }
