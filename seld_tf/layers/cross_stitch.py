"""Cross-stitch unit: learnable linear mixing of two task streams (soft parameter sharing)."""

from __future__ import annotations

import keras
import numpy as np

STITCH_ORDERS = ("simultaneous", "sequential")


@keras.saving.register_keras_serializable(package="seld_tf")
class CrossStitch(keras.layers.Layer):
    """Mixes two same-shape feature maps with a learnable 2x2 matrix per channel.

    For channel `c` (the last axis), with `alpha[c]` a 2x2 matrix (Eq. 7 of
    Cao et al.):

        a'[..., c] = alpha[c, 0, 0] * a[..., c] + alpha[c, 0, 1] * b[..., c]
        b'[..., c] = alpha[c, 1, 0] * a[..., c] + alpha[c, 1, 1] * b[..., c]

    With `order="simultaneous"` (the default) both outputs are computed from
    the original `a` and `b`, as Eq. 7 states. With `order="sequential"`,
    as in the released EINV2 code (yinkalario/EIN-SELD, `EINV2.forward` in
    `seld/methods/ein_seld/models/seld.py`, with `a` its SED and `b` its DOA
    stream), `a` is updated first and the second output mixes the UPDATED
    `a'` with the original `b`:

        a'[..., c] = alpha[c, 0, 0] * a[..., c]  + alpha[c, 0, 1] * b[..., c]
        b'[..., c] = alpha[c, 1, 0] * a'[..., c] + alpha[c, 1, 1] * b[..., c]

    so that `b'` holds `alpha[c, 1, 0] * alpha[c, 0, 1]` of `b` through `a'`
    on top of `alpha[c, 1, 1]`. The weights and their initialisation are the
    same in both orders.

    The layer acts on any rank, e.g. conv maps `[B, T, F, C]` or sequences
    `[B, T, C]`, and holds `4 * C` weights.

    The default initialiser draws every `alpha` entry from uniform(0.1, 0.9),
    as the EINV2 code does: the streams start partly mixed in both directions
    rather than separate (identity) or fully shared.

    Args:
        alpha_initializer: initializer of the `[C, 2, 2]` mixing weights;
            None for uniform(0.1, 0.9).
        order: "simultaneous" (Eq. 7) or "sequential" (the released code),
            see above.
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

    def __init__(
        self,
        alpha_initializer: str | dict | keras.initializers.Initializer | None = None,
        order: str = "simultaneous",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if order not in STITCH_ORDERS:
            raise ValueError(f"CrossStitch order must be one of {STITCH_ORDERS}, received {order!r}")
        self.order = order
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
        first = mixed_a if self.order == "sequential" else a
        mixed_b = self.alpha[:, 1, 0] * first + self.alpha[:, 1, 1] * b
        return [mixed_a, mixed_b]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[0]), tuple(input_shape[1])]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
            "order": self.order,
        }


def cross_stitch_summary(model: keras.Model) -> list[dict]:
    """The mixing weights of every `CrossStitch` in `model`, averaged over the channels.

    Nested models are searched too, in layer order, so that the learned
    alphas can be read from a saved `.keras` model whatever wraps the
    network.

    Returns:
        One dict per cross-stitch:
            - "name": the layer name, prefixed by the names of the nested
              models that hold it (`"inner/block1_stitch"`), not by
              `model`'s own;
            - "order": the layer's `order`;
            - "channels": `C`;
            - "alpha": the channel mean of the `[C, 2, 2]` weights, a 2x2
              nested list (row 0 makes the first output, row 1 the second);
            - "self": the mean of `alpha[c, 0, 0]` and `alpha[c, 1, 1]` over
              the channels, the weight of each stream on itself;
            - "cross": the mean of `alpha[c, 0, 1]` and `alpha[c, 1, 0]`, the
              weight of each stream on the other.
    """
    summary = []
    for layer, prefix in _layers_with_prefix(model, ""):
        if not isinstance(layer, CrossStitch):
            continue
        alpha = keras.ops.convert_to_numpy(layer.alpha).astype("float64")
        summary.append(
            {
                "name": prefix + layer.name,
                "order": layer.order,
                "channels": alpha.shape[0],
                "alpha": alpha.mean(axis=0).tolist(),
                "self": float(np.mean(alpha[:, [0, 1], [0, 1]])),
                "cross": float(np.mean(alpha[:, [0, 1], [1, 0]])),
            }
        )
    return summary


def _layers_with_prefix(model: keras.Model, prefix: str):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers_with_prefix(layer, f"{prefix}{layer.name}/")
        else:
            yield layer, prefix
