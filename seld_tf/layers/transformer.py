"""Transformer encoder layer (multi-head self-attention + feed-forward), post-norm."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="seld_tf")
class TransformerEncoderBlock(keras.layers.Layer):
    """One transformer encoder layer on `[B, T, D]` sequences, as PyTorch's default.

    `torch.nn.TransformerEncoderLayer` with its defaults (post-norm, ReLU),
    the MHSA layer of EINV2:

        x = LayerNorm(x + Dropout(MultiHeadSelfAttention(x)))
        y = LayerNorm(x + Dropout(Dense_D(Dropout(Dense_ff(x, relu)))))

    with dropout also on the attention probabilities. The heads split `D`
    evenly (`key_dim = D / num_heads`), so the attention holds the same
    `4 * (D * D + D)` weights as PyTorch's packed projections. The layer
    norms use PyTorch's epsilon 1e-5. Inputs may have any length `T`.

    Args:
        num_heads: int, number of attention heads; must divide `D`.
        ff_dim: int, hidden units of the feed-forward network.
        dropout: float, dropout rate of the attention probabilities and of the
            three dropouts of the layer.
        layer_norm_epsilon: float, epsilon of both layer normalisations.
        **kwargs: base `keras.layers.Layer` arguments.

    References:
        - Vaswani et al., "Attention is all you need", NeurIPS 2017.
        - Cao et al., "An improved event-independent network for polyphonic
          sound event localization and detection", ICASSP 2021, Section 3.4.
    """

    def __init__(
        self,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.0,
        layer_norm_epsilon: float = 1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):
        model_dim = input_shape[-1]
        if len(input_shape) != 3 or model_dim is None or model_dim % self.num_heads:
            raise ValueError(
                f"TransformerEncoderBlock expects [batch, time, features] with features divisible by "
                f"num_heads={self.num_heads}, received shape {tuple(input_shape)}"
            )
        sublayer_args = {"dtype": self.dtype_policy}
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads, model_dim // self.num_heads, dropout=self.dropout, name="attention", **sublayer_args
        )
        self.attention.build(input_shape, input_shape)
        self.attention_dropout = keras.layers.Dropout(self.dropout, name="attention_dropout", **sublayer_args)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="attention_norm", **sublayer_args
        )
        self.attention_norm.build(input_shape)
        self.ff_inner = keras.layers.Dense(self.ff_dim, activation="relu", name="ff_inner", **sublayer_args)
        self.ff_inner.build(input_shape)
        self.ff_dropout = keras.layers.Dropout(self.dropout, name="ff_dropout", **sublayer_args)
        self.ff_outer = keras.layers.Dense(model_dim, name="ff_outer", **sublayer_args)
        self.ff_outer.build((*input_shape[:-1], self.ff_dim))
        self.output_dropout = keras.layers.Dropout(self.dropout, name="output_dropout", **sublayer_args)
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="output_norm", **sublayer_args
        )
        self.output_norm.build(input_shape)

    def call(self, inputs, training=None):
        attended = self.attention(inputs, inputs, training=training)
        x = self.attention_norm(inputs + self.attention_dropout(attended, training=training))
        hidden = self.ff_dropout(self.ff_inner(x), training=training)
        return self.output_norm(x + self.output_dropout(self.ff_outer(hidden), training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
