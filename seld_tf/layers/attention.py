"""Attention layers."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seld_tf")
class ScaledDotProductSelfAttention(keras.layers.Layer):
    """Single-head scaled dot-product self-attention over the time axis.

    With inputs `Z` of shape `[B, T, D]`, learned projections
    `Q = Z W_q + b_q`, `K = Z W_k + b_k` (both `[B, T, key_dim]`) and
    `V = Z W_v + b_v` (`[B, T, value_dim]`), the layer returns

        A = softmax(Q K^T / sqrt(key_dim))    # [B, T, T], rows sum to 1
        output = A V                          # [B, T, value_dim]

    i.e. Eq. (1) of Phan et al. (2020) with `Q = K = V = Z` projected as in
    their released code: one head, no output projection and no residual
    connection (unlike `keras.layers.MultiHeadAttention`, which always adds an
    output projection). Row `t` of `A` says how much each frame contributes
    to the output at frame `t`.

    Args:
        key_dim: int, size of the query and key projections (`d_k`).
        value_dim: int, size of the value projection, hence of the output.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: `[B, T, D]` tensor; `T` may be unknown.
        return_attention_scores: bool; if True, return
            `(output, attention_weights)` with the weights `A` `[B, T, T]`.
            Works on symbolic tensors too, so a functional model can expose
            the weights as an extra output.

    Example:

    ```python
    layer = ScaledDotProductSelfAttention(key_dim=64, value_dim=512)
    output, weights = layer(np.zeros((2, 120, 512)), return_attention_scores=True)
    output.shape, weights.shape  # (2, 120, 512), (2, 120, 120)
    ```

    References:
        - Vaswani et al., "Attention is all you need", NeurIPS 2017.
        - Phan et al., "On multitask loss function for audio event detection
          and localization", DCASE 2020 Workshop.
    """

    def __init__(self, key_dim: int = 64, value_dim: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim)
        self.query_dense = keras.layers.Dense(self.key_dim, name="query", dtype=self.dtype_policy)
        self.key_dense = keras.layers.Dense(self.key_dim, name="key", dtype=self.dtype_policy)
        self.value_dense = keras.layers.Dense(self.value_dim, name="value", dtype=self.dtype_policy)

    def build(self, input_shape):
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(input_shape)

    def call(self, inputs, return_attention_scores: bool = False):
        query = self.query_dense(inputs)
        key = self.key_dense(inputs)
        value = self.value_dense(inputs)
        scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / math.sqrt(self.key_dim)
        weights = ops.softmax(scores, axis=-1)
        output = ops.matmul(weights, value)
        if return_attention_scores:
            return output, weights
        return output

    def get_config(self) -> dict:
        return {**super().get_config(), "key_dim": self.key_dim, "value_dim": self.value_dim}
