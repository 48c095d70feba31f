"""Batch normalization of channels-last feature maps through TensorFlow's fused kernel; per-example min-max scaling."""

from __future__ import annotations

import keras

# The fused kernels (cuDNN among them) reject a smaller epsilon.
_MIN_FUSED_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package="seld_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by one fused op on `[B, H, W, C]` maps.

    Keras 3 normalises with separate mean, variance, subtract, multiply and
    add ops (and their gradients), each one pass over the feature map, and
    upcasts bfloat16 and float16 maps to float32 first. TensorFlow's
    `FusedBatchNormV3` (oneDNN on CPU, cuDNN on GPU) does the forward in one
    op and the backward in one more, in the map's own dtype with float32
    statistics. For the paper-size EINV2 this is the largest cost outside the
    convolutions: see `benchmarks/README.md`.

    The results are those of `keras.layers.BatchNormalization` with the same
    arguments: the same weights, the normalisation by the biased batch
    variance in training, and the same moving-average updates (the fused op
    returns the unbiased batch variance; it is rescaled to the biased one
    that Keras averages). Inputs the fused op does not cover (another rank,
    a normalised axis other than the last, a mask, renorm, synchronized
    statistics, epsilon below 1.001e-5, another backend) take the Keras
    computation, so the layer is a drop-in replacement.

    Args: those of `keras.layers.BatchNormalization`.
    """

    def _fused(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and not self.renorm
            and not self.synchronized
            and self.epsilon >= _MIN_FUSED_EPSILON
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        # Imported here so that the layer (and the models using it) also load on Keras' other backends.
        import tensorflow as tf

        channels = inputs.shape[-1]
        # The fused op's statistics, scale and offset are float32 for any input dtype.
        scale = self.gamma if self.scale else tf.ones([channels], tf.float32)
        offset = self.beta if self.center else tf.zeros([channels], tf.float32)
        x = tf.cast(inputs, self.compute_dtype)
        if training and self.trainable:
            outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
                x, scale, offset, epsilon=self.epsilon, data_format="NHWC", is_training=True
            )
            shape = tf.shape(x)
            count = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
            variance = unbiased_variance * tf.maximum(count - 1.0, 0.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                scale,
                offset,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return outputs


@keras.saving.register_keras_serializable(package="seld_tf")
class InstanceMinMaxScaling(keras.layers.Layer):
    """Scales each example to [0, 1] by its own minimum and maximum: `(x - min) / (max - min + epsilon)`.

    The minimum and maximum are taken over every axis but the batch axis
    (frames, bins and channels of a `[B, T, F, C]` feature map): the
    DCASE2022 Task 4 baseline's input scaling (DESED_task's
    `TorchScaler("instance", "minmax", dims=(1, 2))`, epsilon 1e-8). It has
    no weights, so a model scaled this way needs no training statistics.

    Args:
        epsilon: added to the range, > 0.
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, received {epsilon}")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape)))
        low = keras.ops.min(inputs, axis=axes, keepdims=True)
        high = keras.ops.max(inputs, axis=axes, keepdims=True)
        return (inputs - low) / (high - low + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}
