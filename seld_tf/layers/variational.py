"""Latent bottleneck of a sequence VAE (Gaussian posterior per frame) and its deterministic ablation."""

from __future__ import annotations

import keras
from keras import ops

KL_ESTIMATORS = ("analytic", "mc")
REDUCTIONS = ("mean", "sum")


@keras.saving.register_keras_serializable(package="seld_tf")
class VariationalBottleneck(keras.layers.Layer):
    """Maps `[B, T, D]` features to a latent sequence `[B, T, L]` and its per-frame KL to N(0, I).

    Variational (the default), per frame, with one `Dense(2 L)` on the
    features split into `[mu, s]` (means first, as tensorflow_probability's
    `IndependentNormal` reads its parameters):

        sigma = softplus(s) + min_scale
        z     = mu + sigma * eps,  eps ~ N(0, I)     when sampling
        z     = mu                                   otherwise
        KL    = 0.5 * (mu^2 + sigma^2 - 1) - log(sigma)             "analytic"
        KL    = log q(z | x) - log p(z)
              = 0.5 * (z^2 - eps^2) - log(sigma)                    "mc"

    summed (the KL of the frame's diagonal Gaussian) or averaged over the `L`
    latent dimensions (`latent_reduction`). The "mc" estimate is the
    single-sample Monte-Carlo one of tensorflow_probability's
    `KLDivergenceRegularizer`; it needs the drawn `eps`, so when the layer
    returns the mean it reports the analytic KL, the estimate's expectation,
    and evaluation losses stay deterministic.

    The layer samples in training and returns the mean at inference, unless
    the call's `sample` says otherwise (`sample=True`: also at inference, as
    the authors' code does). Draws come from the layer's
    `keras.random.SeedGenerator`: with a `seed`, the sequence of samples is
    reproducible.

    Deterministic (`variational=False`): `z = Dense(L)(features)`, and the KL
    is zero, so a model keeps the same outputs and losses with or without the
    posterior.

    Args:
        latent_dim: int, latent size `L`.
        variational: bool, Gaussian posterior (True) or one linear projection.
        kl_estimator: "analytic" or "mc" (see above).
        latent_reduction: "sum" or "mean" of the KL over the latent dimensions.
        min_scale: float, floor added to every `sigma`; the softplus alone
            (0, the authors') lets `log(sigma)` reach -inf on large negative `s`.
        seed: int or None, seed of the `eps` draws.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[..., D]` tensor, e.g. `[B, T, D]`.
        training: bool, Keras' training flag.
        sample: bool or None; None samples in training only, True always,
            False never. Ignored by the deterministic bottleneck.

    Returns:
        The list `[z, kl]`: `z` `[..., L]` and the KL `[...]` (one value per
        frame; `[B, T]` for `[B, T, D]` inputs).

    Example:

    ```python
    layer = VariationalBottleneck(256, seed=1)
    z, kl = layer(np.zeros((2, 417, 512)), training=True)
    z.shape, kl.shape  # (2, 417, 256), (2, 417)
    ```

    References:
        - Kingma and Welling, "Auto-encoding variational Bayes", ICLR 2014.
        - Giannakopoulos and Pikrakis, "Multi-task learning for sound event
          detection using variational autoencoders", DCASE 2022 technical
          report.
    """

    def __init__(
        self,
        latent_dim: int,
        variational: bool = True,
        kl_estimator: str = "analytic",
        latent_reduction: str = "sum",
        min_scale: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, received {kl_estimator!r}")
        if latent_reduction not in REDUCTIONS:
            raise ValueError(f"latent_reduction must be one of {REDUCTIONS}, received {latent_reduction!r}")
        if min_scale < 0:
            raise ValueError(f"min_scale must be >= 0, received {min_scale}")
        self.latent_dim = int(latent_dim)
        self.variational = bool(variational)
        self.kl_estimator = kl_estimator
        self.latent_reduction = latent_reduction
        self.min_scale = float(min_scale)
        self.seed = seed
        units = 2 * self.latent_dim if self.variational else self.latent_dim
        name = "posterior" if self.variational else "projection"
        self.dense = keras.layers.Dense(units, name=name, dtype=self.dtype_policy)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                f"VariationalBottleneck needs a known feature (last) axis, received shape {tuple(input_shape)}"
            )
        self.dense.build(input_shape)

    def call(self, inputs, training=None, sample=None):
        if not self.variational:
            z = self.dense(inputs)
            return [z, ops.zeros_like(z[..., 0])]
        params = self.dense(inputs)
        mean, scale = params[..., : self.latent_dim], ops.softplus(params[..., self.latent_dim :]) + self.min_scale
        log_scale = ops.log(scale)
        analytic = 0.5 * (ops.square(mean) + ops.square(scale) - 1.0) - log_scale
        sampling = bool(training) if sample is None else bool(sample)
        if not sampling:
            return [mean, self._reduce(analytic)]
        noise = keras.random.normal(ops.shape(mean), dtype=self.compute_dtype, seed=self.seed_generator)
        z = mean + scale * noise
        kl = 0.5 * (ops.square(z) - ops.square(noise)) - log_scale if self.kl_estimator == "mc" else analytic
        return [z, self._reduce(kl)]

    def _reduce(self, kl):
        return ops.sum(kl, axis=-1) if self.latent_reduction == "sum" else ops.mean(kl, axis=-1)

    def compute_output_shape(self, input_shape):
        return [(*input_shape[:-1], self.latent_dim), tuple(input_shape[:-1])]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "variational": self.variational,
            "kl_estimator": self.kl_estimator,
            "latent_reduction": self.latent_reduction,
            "min_scale": self.min_scale,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="seld_tf")
class ReduceFrames(keras.layers.Layer):
    """`[B, T, ...] -> [B]`: the mean or the sum over every axis but the batch.

    Turns a per-frame quantity such as `VariationalBottleneck`'s KL into one
    value per clip, the shape that per-clip sample weights and a loss that
    averages its input (`seld_tf.losses.vae.OutputMeanLoss`) expect.

    Args:
        reduction: "mean" or "sum".
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, received {reduction!r}")
        self.reduction = reduction

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape)))
        return ops.sum(inputs, axis=axes) if self.reduction == "sum" else ops.mean(inputs, axis=axes)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self) -> dict:
        return {**super().get_config(), "reduction": self.reduction}
