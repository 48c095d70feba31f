"""Cross-stitch unit: learnable linear mixing of two task streams (soft parameter sharing)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="seld_tf")
class CrossStitch(keras.layers.Layer):
    """Mixes two same-shape feature maps with a learnable 2x2 matrix per channel.

    For channel `c` (the last axis), with `alpha[c]` a 2x2 matrix (Eq. 7 of
    Cao et al.):

        a'[..., c] = alpha[c, 0, 0] * a[..., c] + alpha[c, 0, 1] * b[..., c]
        b'[..., c] = alpha[c, 1, 0] * a[..., c] + alpha[c, 1, 1] * b[..., c]

    Both outputs are computed from the original `a` and `b`. The layer acts
    on any rank, e.g. conv maps `[B, T, F, C]` or sequences `[B, T, C]`, and
    holds `4 * C` weights.

    The default initialiser draws every `alpha` entry from uniform(0.1, 0.9),
    as the EINV2 code does: the streams start partly mixed in both directions
    rather than separate (identity) or fully shared.

    Args:
        alpha_initializer: initializer of the `[C, 2, 2]` mixing weights;
            None for uniform(0.1, 0.9).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a list `[a, b]` of two tensors of the same shape.

    Returns:
        The list `[a', b']`.

    References:
        - Misra et al., "Cross-stitch networks for multi-task learning", CVPR 2016.
        - Cao et al., "An improved event-independent network for polyphonic
          sound event localization and detection", ICASSP 2021, Eq. (7).
    """

    def __init__(self, alpha_initializer: str | dict | keras.initializers.Initializer | None = None, **kwargs):
        super().__init__(**kwargs)
        if alpha_initializer is None:
            alpha_initializer = keras.initializers.RandomUniform(minval=0.1, maxval=0.9)
        self.alpha_initializer = keras.initializers.get(alpha_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2 or tuple(input_shape[0]) != tuple(input_shape[1]):
            raise ValueError(f"CrossStitch expects two inputs of the same shape, received shapes {input_shape}")
        channels = input_shape[0][-1]
        if channels is None:
            raise ValueError(f"CrossStitch needs a known channel (last) axis, received shapes {input_shape}")
        self.alpha = self.add_weight(
            shape=(channels, 2, 2), initializer=self.alpha_initializer, trainable=True, name="alpha"
        )

    def call(self, inputs):
        a, b = inputs
        # Slices of [C, 2, 2] are [C] vectors: they broadcast over every axis but the last.
        mixed_a = self.alpha[:, 0, 0] * a + self.alpha[:, 0, 1] * b
        mixed_b = self.alpha[:, 1, 0] * a + self.alpha[:, 1, 1] * b
        return [mixed_a, mixed_b]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[0]), tuple(input_shape[1])]

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha_initializer": keras.initializers.serialize(self.alpha_initializer)}
