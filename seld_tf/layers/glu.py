"""The gated linear unit of the DCASE2021-2022 Task 4 baseline CRNN (DESED_task `desed_task/nnet/CNN.py`)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seld_tf")
class GLU(keras.layers.Layer):
    """A linear map of the channels gated by the sigmoid of the input itself.

    On `x` of shape `[..., C]` (channels last), with a learnable `W` (`C x C`)
    and `b` (`C`):

        y = (x W + b) * sigmoid(x)

    This is DESED_task's `GLU(C)` (a `Linear(C, C)` over the channels of a
    conv map, times `sigmoid` of the map), a per-position 1x1 convolution:
    `C^2 + C` parameters. It keeps the channel count, unlike the GLU of
    Dauphin et al. and `keras.activations.glu`, which split the channels into
    a linear half gated by the other half.

    Args:
        kernel_initializer: initializer of `W` (Keras' Dense default).
        bias_initializer: initializer of `b`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor `[..., C]` with `C` known.

    Example:

    ```python
    layer = GLU()
    layer(np.zeros((2, 626, 128, 16))).shape  # (2, 626, 128, 16); 272 parameters
    ```
    """

    def __init__(self, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"GLU needs the channel (last) axis' size, received shape {tuple(input_shape)}")
        self.kernel = self.add_weight(shape=(channels, channels), initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(channels,), initializer=self.bias_initializer, name="bias")

    def call(self, inputs):
        return (ops.matmul(inputs, self.kernel) + self.bias) * ops.sigmoid(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
