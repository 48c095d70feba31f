"""Phan et al. (2020): the multitask-regression self-attention CRNN for SELD."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from seld_tf.errors import ConfigError
from seld_tf.layers.attention import ScaledDotProductSelfAttention

# Architecture sizes only: the input (FOA `(None, 64, 7)` or MIC
# `(None, 64, 10)`) and the class count are passed alongside, e.g.
# `build_model("phan2020", "cpu", input_shape=(None, 64, 10), num_classes=14)`.
PHAN2020_PRESETS = {
    # Section 2 and 3.3 of the paper.
    "paper": {
        "conv_filters": (64, 64, 128, 128, 256, 256),
        "rnn_units": 256,
        "attention_key_dim": 64,
        "attention_value_dim": 512,
        "fc_units": 512,
    },
    # A quarter of the widths (about 1/15 of the parameters): trains on a laptop CPU.
    "cpu": {
        "conv_filters": (16, 16, 32, 32, 64, 64),
        "rnn_units": 64,
        "attention_key_dim": 16,
        "attention_value_dim": 128,
        "fc_units": 128,
    },
}

# Name of the attention layer, which `attention_model` looks up.
ATTENTION_LAYER = "attention"


def apply_conv_block(
    x: keras.KerasTensor,
    filters: int,
    pool_size: Sequence[int] | None,
    dropout: float,
    name: str,
) -> keras.KerasTensor:
    """Conv2D 3x3 'same' -> BatchNorm -> ReLU [-> MaxPool(time, freq) -> Dropout].

    The convolution has no bias: the BatchNorm right after it has its own
    offset (beta), so a bias would be redundant (the released code has none
    either). Dropout follows each pooling, as in the released code; a block
    without pooling (the first one) feeds the next convolution directly.
    """
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    if pool_size is None:
        return x
    x = keras.layers.MaxPooling2D(tuple(pool_size), name=f"{name}_pool")(x)
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)


def apply_head(
    x: keras.KerasTensor,
    hidden_units: int,
    hidden_layers: int,
    output_units: int,
    activation: str,
    dropout: float,
    name: str,
) -> keras.KerasTensor:
    """`hidden_layers` x (Dense ReLU -> Dropout), then Dense with the output activation.

    `Dense` acts on the last axis of `[B, T, features]`, i.e. frame by frame.
    """
    for index in range(1, hidden_layers + 1):
        x = keras.layers.Dense(hidden_units, activation="relu", name=f"{name}_fc{index}")(x)
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout{index}")(x)
    return keras.layers.Dense(output_units, activation=activation, name=f"{name}_out")(x)


def build_phan2020(
    input_shape: Sequence[int | None] = (None, 64, 7),
    num_classes: int = 14,
    conv_filters: Sequence[int] = (64, 64, 128, 128, 256, 256),
    pool_sizes: Sequence[Sequence[int] | None] = (None, (5, 2), (1, 2), (1, 2), (1, 2), (1, 2)),
    conv_dropout: float = 0.5,
    rnn_units: int = 256,
    rnn_dropout: float = 0.1,
    attention_key_dim: int = 64,
    attention_value_dim: int = 512,
    fc_units: int = 512,
    fc_layers: int = 2,
    fc_dropout: float = 0.25,
    name: str = "phan2020",
) -> keras.Model:
    """Builds Phan et al.'s self-attention CRNN with class-wise SED and DOA heads.

    Input features are channels-last `[time, bins, channels]`: FOA `7 x 64`
    (4 log-mels + 3 intensity vectors) or MIC `10 x 64` (4 log-mels + 6
    GCC-PHAT). The time axis may be `None`, so whole clips can be predicted.

    Architecture (Figure 1 of the paper):
        - One conv block per entry of `conv_filters`: Conv2D 3x3 'same' (no
          bias), BatchNorm, ReLU, then, where `pool_sizes[i]` is not None,
          MaxPool `pool_sizes[i]` (time, frequency) and Dropout
          `conv_dropout`. The default pools nothing after the first
          convolution (the first two are back-to-back), 5x2 after the second
          and 1x2 after each later one: `T' = floor(T / 5)` frames of 100 ms,
          64 bins -> 2.
        - Frequency and filters flattened to `[T', F' * conv_filters[-1]]`
          (2 x 256 = 512 at paper size).
        - A bidirectional GRU of `rnn_units` per direction, outputs
          concatenated (`2 * rnn_units`), followed by Dropout `rnn_dropout`
          (on the outputs only, as in the released code).
        - `ScaledDotProductSelfAttention` (layer "attention") with
          `attention_key_dim` queries/keys and `attention_value_dim` values.
        - Two frame-wise heads of `fc_layers` x (Dense `fc_units` ReLU,
          Dropout `fc_dropout`): `num_classes` sigmoid (SED) and
          `3 * num_classes` tanh reshaped to `[T', num_classes, 3]` (DOA,
          x/y/z per class).

    Whether SED is trained as regression (MSE, the paper's proposal) or as
    classification (binary cross-entropy) is a loss choice
    (`seld_tf.losses.seld_losses`), not an architecture one: the SED output
    is a sigmoid either way.

    The attention weights are not a model output, so the model trains with a
    `{"sed", "doa"}` loss dict; `attention_model(model)` gives a second model
    sharing the weights that also returns them.

    Departures from the released code (all deliberate):
        - The GRU uses Keras 3's `reset_after=True` (cuDNN-compatible) where
          TF1's `GRUCell` has one bias per gate; this adds `3 * rnn_units`
          biases per direction.
        - Channels-last flattening is frequency-major; same size, same model.
        - No L2 weight penalty (its weight is 0 in the released parameters).

    Args:
        input_shape: `(time, bins, channels)`; `bins` and `channels` must be
            known, `time` may be `None`.
        num_classes: int, number of sound event classes `K`.
        conv_filters: filters of each conv layer, in order.
        pool_sizes: `(time, frequency)` max-pool size after each conv layer,
            or None for no pooling (and no dropout) there; one entry per conv layer.
        conv_dropout: float, dropout rate after each pooling.
        rnn_units: int, GRU units per direction.
        rnn_dropout: float, dropout rate on the BiGRU outputs.
        attention_key_dim: int, size of the attention queries and keys (`d_k`).
        attention_value_dim: int, size of the attention values, i.e. of the
            features that reach the heads.
        fc_units: int, units of each hidden Dense layer of the heads.
        fc_layers: int, number of hidden Dense layers per head.
        fc_dropout: float, dropout rate after each hidden Dense layer.
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, bins, channels]` features to
        `{"sed": [B, T', K] activity probabilities, "doa": [B, T', K, 3]}`.

    Raises:
        ConfigError: `pool_sizes` and `conv_filters` differ in length, or
            `input_shape` lacks the bins or channels, or the frequency
            pooling leaves no bin.

    Example:

    ```python
    model = build_phan2020(input_shape=(None, 64, 10))  # MIC features
    outputs = model(np.zeros((1, 600, 64, 10)))
    outputs["sed"].shape, outputs["doa"].shape  # (1, 120, 14), (1, 120, 14, 3)
    ```

    References:
        - Phan et al., "On multitask loss function for audio event detection
          and localization", DCASE 2020 Workshop; released code
          github.com/pquochuy/dcase2020-seld.
    """
    if len(pool_sizes) != len(conv_filters):
        raise ConfigError(
            "pool_sizes needs one entry (or None) per conv layer, received "
            f"{len(pool_sizes)} pool sizes for {len(conv_filters)} conv layers"
        )
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, bins, channels) with bins and channels known, "
            f"received {tuple(input_shape)}"
        )
    freq_pooling = math.prod(pool[1] for pool in pool_sizes if pool is not None)
    pooled_bins = input_shape[1] // freq_pooling
    if pooled_bins < 1:
        raise ConfigError(
            f"the frequency pooling (x{freq_pooling} in all) leaves no bin of the {input_shape[1]} input bins"
        )

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    for index, (filters, pool_size) in enumerate(zip(conv_filters, pool_sizes), start=1):
        x = apply_conv_block(x, filters, pool_size, conv_dropout, name=f"conv_block{index}")
    x = keras.layers.Reshape((-1, pooled_bins * conv_filters[-1]), name="flatten_frequency")(x)
    gru = keras.layers.GRU(rnn_units, return_sequences=True)
    x = keras.layers.Bidirectional(gru, merge_mode="concat", name="bigru")(x)
    x = keras.layers.Dropout(rnn_dropout, name="bigru_dropout")(x)
    # The attention weights are computed anyway; returning them from the
    # layer's only call lets `attention_model` expose them without calling the
    # layer a second time (Keras' functional graph expects every call of a
    # layer to return the same structure).
    attention = ScaledDotProductSelfAttention(attention_key_dim, attention_value_dim, name=ATTENTION_LAYER)
    x, _ = attention(x, return_attention_scores=True)

    sed = apply_head(x, fc_units, fc_layers, num_classes, "sigmoid", fc_dropout, name="sed")
    doa = apply_head(x, fc_units, fc_layers, 3 * num_classes, "tanh", fc_dropout, name="doa")
    doa = keras.layers.Reshape((-1, num_classes, 3), name="doa_xyz")(doa)
    return keras.Model(inputs, {"sed": sed, "doa": doa}, name=name)


def attention_model(model: keras.Model, layer_name: str = ATTENTION_LAYER) -> keras.Model:
    """A model sharing `model`'s layers that also returns its attention weights.

    `build_phan2020` calls its `ScaledDotProductSelfAttention` layer with
    `return_attention_scores=True` and leaves the weights out of the model's
    outputs (so training needs no loss for them). This function adds those
    weights, `[B, T', T']`, as the output "attention" beside the model's own
    outputs. No weight is copied: training or loading `model` changes what
    this model returns. Works on a model reloaded from a `.keras` file as well
    as on a freshly built one.

    Args:
        model: a functional model with dict outputs, e.g. from `build_phan2020`.
        layer_name: name of its attention layer.

    Returns:
        A `keras.Model` with the inputs of `model` and outputs
        `{**model outputs, "attention": [B, T', T']}` (row `t`: the weights
        with which frame `t` attends to every frame; each row sums to 1).

    Raises:
        ConfigError: `model` has no `ScaledDotProductSelfAttention` layer
            `layer_name` called with `return_attention_scores=True`, or
            already has an "attention" output.

    Example:

    ```python
    weights = attention_model(model).predict(features)["attention"]
    ```
    """
    layer = next((layer for layer in model.layers if layer.name == layer_name), None)
    if not isinstance(layer, ScaledDotProductSelfAttention) or not isinstance(layer.output, (tuple, list)):
        raise ConfigError(
            f"model {model.name!r} has no ScaledDotProductSelfAttention layer named {layer_name!r} "
            "called with return_attention_scores=True"
        )
    outputs = dict(model.output)
    if "attention" in outputs:
        raise ConfigError(f"model {model.name!r} already has an output named 'attention'")
    _, weights = layer.output
    return keras.Model(model.input, {**outputs, "attention": weights}, name=f"{model.name}_attention")
