"""Fixed sinusoidal positional encoding (Vaswani et al.), scaled as in EINV2."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seld_tf")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Adds a scaled sinusoidal encoding of the time index to `[B, T, D]` sequences.

    Eq. (4) of Cao et al., for frame `t` and feature pair `i`:

        P[t, 2i]     = scale * sin(t / 10 ** (8 i / D))
        P[t, 2i + 1] = scale * cos(t / 10 ** (8 i / D))

    i.e. the transformer encoding (`10 ** (8 i / D) = 10000 ** (2 i / D)`)
    shrunk by `scale`: 0.1 in the paper and the EINV2 code, so that the
    encoding perturbs the conv features (of order 1 after BatchNorm and
    ReLU) without dominating them. The encoding is computed for the actual
    length `T` on every call, so sequences of any length are accepted; the
    layer has no weights. The whole encoding is switched on or off by
    including the layer or not (`build_einv2(positional_encoding=...)`).

    Args:
        scale: float, factor of the encoding.
        max_wavelength: float, the base `10000` of the wavelengths.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `[B, T, D]` tensor, `D` even.

    References:
        - Vaswani et al., "Attention is all you need", NeurIPS 2017.
        - Cao et al., "An improved event-independent network for polyphonic
          sound event localization and detection", ICASSP 2021, Eq. (4).
    """

    def __init__(self, scale: float = 0.1, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.max_wavelength = float(max_wavelength)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None or input_shape[-1] % 2:
            raise ValueError(
                f"SinusoidalPositionalEncoding expects [batch, time, features] with an even, known "
                f"feature size, received shape {tuple(input_shape)}"
            )

    def call(self, inputs):
        features = inputs.shape[-1]
        positions = ops.cast(ops.arange(ops.shape(inputs)[1]), self.compute_dtype)
        pair_index = ops.cast(ops.arange(0, features, 2), self.compute_dtype)  # the "2i" of Eq. (4)
        inverse_wavelengths = ops.power(self.max_wavelength, -pair_index / features)
        angles = positions[:, None] * inverse_wavelengths[None, :]
        # Interleave so that sin lands on even and cos on odd features.
        encoding = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (-1, features))
        return inputs + ops.cast(self.scale * encoding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "max_wavelength": self.max_wavelength}
