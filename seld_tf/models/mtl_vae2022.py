"""Giannakopoulos & Pikrakis (2022): multi-task recurrent VAE for sound event detection (DESED)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from seld_tf.errors import ConfigError
from seld_tf.layers.variational import KL_ESTIMATORS, ReduceFrames, VariationalBottleneck

# Sizes only: the input (`(None, F, 1)` log-mels) and the class count are
# passed alongside, and so are the ablations (`variational`, `heads`,
# `attention`) and the KL options.
MTL_VAE2022_PRESETS = {
    # The authors' code (`state_size = num_latents = 256`); with 128 mel bins
    # and all three heads, 4,868,746 parameters.
    "paper": {"units": 256, "latent_dim": 256},
    # An eighth of the widths: 102,794 parameters with 64 mel bins; trains in
    # minutes on 2 CPU cores on the DESED stand-in.
    "cpu": {"units": 32, "latent_dim": 32},
}

HEADS = ("strong", "weak", "reconstruction")
# kl_reduction -> how the bottleneck reduces the latent axis and `ReduceFrames` the time axis.
KL_REDUCTIONS = {"mean": "mean", "sum_per_clip": "sum"}
INFERENCE_LATENTS = ("mean", "sample")


def apply_recurrent_block(x: keras.KerasTensor, units: int, attention: bool, name: str) -> keras.KerasTensor:
    """`[B, T, D] -> [B, T, 2 units]`: the encoder and the decoder of the MTL-VAE have this same shape.

    [Self-attention over time, Q = K = V = x, concatenated with x ->]
    BiGRU(units) -> BiGRU(units), plus a tanh `Dense(2 units)` shortcut from
    `x` itself. The attention is `keras.layers.Attention` with its defaults
    (unscaled dot product, no weights), as in the authors' code.
    """
    sequence = x
    if attention:
        attended = keras.layers.Attention(name=f"{name}_attention")([x, x])
        sequence = keras.layers.Concatenate(name=f"{name}_concat")([attended, x])
    for index in (1, 2):
        gru = keras.layers.GRU(units, return_sequences=True)
        sequence = keras.layers.Bidirectional(gru, name=f"{name}_bigru{index}")(sequence)
    shortcut = keras.layers.Dense(2 * units, activation="tanh", name=f"{name}_shortcut")(x)
    return keras.layers.Add(name=f"{name}_add")([sequence, shortcut])


def build_mtl_vae2022(
    input_shape: Sequence[int | None],
    num_classes: int = 10,
    *,
    units: int = 256,
    latent_dim: int = 256,
    attention: bool = True,
    variational: bool = True,
    heads: Sequence[str] = HEADS,
    kl_estimator: str = "analytic",
    kl_reduction: str = "mean",
    inference_latent: str = "mean",
    min_scale: float = 0.0,
    seed: int | None = None,
    name: str = "mtl_vae2022",
) -> keras.Model:
    """Builds the multi-task recurrent VAE of Giannakopoulos & Pikrakis (2022).

    Input features are `[B, T, F, C]` (log-mels, `C = 1`, already
    standardised); `T` may be `None`. Every clip goes through the same
    network, whatever its subset (synthetic strong, real weak, unlabeled,
    real strong): the paper's "encoders with shared weights" are this one
    network, and since no layer mixes the clips of a batch (no BatchNorm; the
    attention stays within a clip), one call on the subsets concatenated
    along the batch equals separate calls per subset.

    Architecture (the authors' code; the paper gives no sizes):
        - The `F * C` features of each frame as a sequence `[B, T, F C]`.
        - Encoder `apply_recurrent_block`: self-attention concatenated with
          the input, BiGRU(units) x 2, plus a tanh `Dense(2 units)` shortcut
          from the input: `h` `[B, T, 2 units]`.
        - `VariationalBottleneck` (layer "bottleneck"): per frame a Gaussian
          posterior `Dense(2 latent_dim)` -> mean and softplus scale, `z`
          sampled in training (reparameterised) and the mean at inference;
          with `variational=False` the deterministic ablation
          `z = Dense(latent_dim)(h)` and a zero KL.
        - Decoder: the same block on `z`, its shortcut from `z`: `d`.
        - Heads on `d`: the frame logits `Dense(num_classes)` (strong); their
          mean over time (weak: the authors' global average pooling followed
          by the same Dense, which is the same by linearity); a linear
          `Dense(F C)` reconstruction of the input.

    Outputs (by name; `K = num_classes`):
        - "strong_logits" `[B, T, K]`, "strong" their sigmoid (with "strong"
          in `heads`);
        - "weak_logits" `[B, K]` = the time mean of the strong logits, "weak"
          its sigmoid (with "weak" in `heads`);
        - "reconstruction" `[B, T, F, C]`, the shape of the input, so that its
          target is the input features themselves (with "reconstruction" in
          `heads`);
        - "kl" `[B]`: each clip's KL of the posterior to N(0, I), the mean
          over its frames (zero padding included) and latent dimensions
          (`kl_reduction="mean"`, the paper's Eq. 1) or their sum
          (`"sum_per_clip"`, the authors' code, which weighs it 1e-4). Zero
          with `variational=False`.

    Training (paper Eq. 1, all weights 1): binary cross-entropy from logits on
    "strong_logits" (synthetic and real strong clips) and on "weak_logits"
    (weak clips only), mean squared error between "reconstruction" and the
    input (unlabeled clips only), and `seld_tf.losses.vae.OutputMeanLoss` on
    "kl" (every clip) with the KL's beta as its loss weight; per-subset
    sample weights of 0 drop the clips a term does not use.
    `mtl_vae2022_inference_model` gives the deterministic `{"strong",
    "weak"}` model to evaluate and export.

    Args:
        input_shape: `(time, bins, channels)`; `bins` and `channels` must be
            known, `time` may be `None`.
        num_classes: int, number of event classes `K`.
        units: int, GRU units per direction `u`; the blocks output `2 u`.
        latent_dim: int, latent size `L`.
        attention: bool, the self-attention and concatenation before each
            block's first BiGRU (False: the authors' oldest version).
        variational: bool, Gaussian posterior (True) or the deterministic
            bottleneck of the paper's Fig. 3.
        heads: the outputs to build, a subset of "strong", "weak",
            "reconstruction" with "strong" or "weak" in it; the kl output is
            always there.
        kl_estimator: "analytic" (default) or "mc", the single-sample
            Monte-Carlo estimate of the authors' code (training only; the
            analytic KL at inference).
        kl_reduction: "mean" or "sum_per_clip" (see "kl" above).
        inference_latent: "mean" (default, reproducible scores) or "sample",
            as the authors' code, which samples `z` at inference too.
        min_scale: float, floor added to the posterior scale (0: softplus
            alone, as the authors).
        seed: int or None, seed of the bottleneck's draws.
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, bins, channels]` features to the
        outputs above.

    Raises:
        ConfigError: a bad `input_shape`, an unknown head, estimator,
            reduction or `inference_latent`, or neither "strong" nor "weak" in
            `heads`.

    Example:

    ```python
    model = build_mtl_vae2022((None, 128, 1))  # paper size, 4,868,746 parameters
    outputs = model(np.zeros((2, 417, 128, 1)))  # two 10 s clips
    outputs["strong"].shape, outputs["weak"].shape, outputs["kl"].shape  # (2, 417, 10), (2, 10), (2,)
    ```

    References:
        - Giannakopoulos and Pikrakis, "Multi-task learning for sound event
          detection using variational autoencoders", DCASE 2022 technical
          report; code github.com/petrosgk/SED_with_MultiTaskVAE.
    """
    heads = tuple(heads)
    _check_arguments(input_shape, heads, kl_estimator, kl_reduction, inference_latent)
    _, bins, channels = input_shape
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = keras.layers.Reshape((-1, bins * channels), name="frames")(inputs)

    h = apply_recurrent_block(x, units, attention, name="encoder")
    bottleneck = VariationalBottleneck(
        latent_dim,
        variational=variational,
        kl_estimator=kl_estimator,
        latent_reduction=KL_REDUCTIONS[kl_reduction],
        min_scale=min_scale,
        seed=seed,
        name="bottleneck",
    )
    # sample=None: sample in training only; True: at inference too.
    z, kl = bottleneck(h, sample=True if inference_latent == "sample" else None)
    d = apply_recurrent_block(z, units, attention, name="decoder")

    outputs = {}
    strong_logits = keras.layers.Dense(num_classes, name="strong_logits")(d)
    if "strong" in heads:
        outputs["strong_logits"] = strong_logits
        outputs["strong"] = keras.layers.Activation("sigmoid", name="strong")(strong_logits)
    if "weak" in heads:
        weak_logits = keras.layers.GlobalAveragePooling1D(name="weak_logits")(strong_logits)
        outputs["weak_logits"] = weak_logits
        outputs["weak"] = keras.layers.Activation("sigmoid", name="weak")(weak_logits)
    if "reconstruction" in heads:
        reconstruction = keras.layers.Dense(bins * channels, name="reconstruction_frames")(d)
        outputs["reconstruction"] = keras.layers.Reshape((-1, bins, channels), name="reconstruction")(reconstruction)
    outputs["kl"] = ReduceFrames(KL_REDUCTIONS[kl_reduction], name="kl")(kl)
    return keras.Model(inputs, outputs, name=name)


def mtl_vae2022_inference_model(model: keras.Model) -> keras.Model:
    """`features -> {"strong", "weak"}` probabilities of an MTL-VAE, with the bottleneck's mean as `z`.

    The model drops the training-only outputs (logits, reconstruction, KL)
    and never samples, even where `model` was built with
    `inference_latent="sample"`: its scores are reproducible. Its layers are
    `model`'s own (no weight is copied), so training or loading `model`
    changes what it returns. Works on a model reloaded from a `.keras` file
    and on a model that wraps the MTL-VAE (e.g. behind a feature scaler).

    Args:
        model: a functional model with "strong" and "weak" outputs, e.g. from
            `build_mtl_vae2022` with both heads.

    Returns:
        A `keras.Model` named `{model.name}_inference`.

    Raises:
        ConfigError: `model` lacks the "strong" or the "weak" output.
    """
    missing = sorted({"strong", "weak"} - set(model.output))
    if missing:
        raise ConfigError(f"model {model.name!r} has no {' or '.join(missing)} output; build it with that head")

    def call_with_mean(layer, *args, **kwargs):
        if isinstance(layer, VariationalBottleneck):
            kwargs = {**kwargs, "sample": False}
        return layer(*args, **kwargs)

    # Cloning with each layer mapped to itself re-traces the graph on the same layers.
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_with_mean, recursive=True
    )
    outputs = {"strong": clone.output["strong"], "weak": clone.output["weak"]}
    return keras.Model(clone.input, outputs, name=f"{model.name}_inference")


def _check_arguments(
    input_shape: Sequence[int | None],
    heads: tuple[str, ...],
    kl_estimator: str,
    kl_reduction: str,
    inference_latent: str,
) -> None:
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, bins, channels) with bins and channels known, received {tuple(input_shape)}"
        )
    unknown = [head for head in heads if head not in HEADS]
    if unknown or len(set(heads)) != len(heads):
        raise ConfigError(f"heads must be distinct names among {HEADS}, received {heads}")
    if "strong" not in heads and "weak" not in heads:
        raise ConfigError(f"heads must include 'strong' or 'weak' (the event detection heads), received {heads}")
    if kl_estimator not in KL_ESTIMATORS:
        raise ConfigError(f"kl_estimator must be one of {KL_ESTIMATORS}, received {kl_estimator!r}")
    if kl_reduction not in KL_REDUCTIONS:
        raise ConfigError(f"kl_reduction must be one of {tuple(KL_REDUCTIONS)}, received {kl_reduction!r}")
    if inference_latent not in INFERENCE_LATENTS:
        raise ConfigError(f"inference_latent must be one of {INFERENCE_LATENTS}, received {inference_latent!r}")
