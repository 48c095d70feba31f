"""Pooling layers: PyTorch-style padded average pooling and the clip-level (MIL) poolings of weak-label SED.

Global average and global max pooling over the time-frequency bins are
`keras.layers.GlobalAveragePooling2D` and `keras.layers.GlobalMaxPooling2D`
(`[B, T, F, K] -> [B, K]`); the layers here are those Keras lacks.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _pair(value: int | tuple[int, int], argument: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{argument} must be an int or a pair of ints, received {value!r}")
    return int(pair[0]), int(pair[1])


@keras.saving.register_keras_serializable(package="seld_tf")
class PaddedAveragePooling2D(keras.layers.Layer):
    """2D average pooling with explicit zero padding, as PyTorch's `AvgPool2d` computes it.

    On channels-last `[B, H, W, C]` inputs, with `k` the pool size, `s` the
    strides and `p` the padding per axis, `x` zero-padded by `p` cells on
    both sides of each spatial axis:

        y[i, j] = sum_{m < k_h, n < k_w} x[s_h i + m, s_w j + n] / N[i, j]
        output size: floor((H + 2 p_h - k_h) / s_h) + 1 (and likewise W)

    where `N[i, j] = k_h k_w` with `count_include_pad=True` (PyTorch's
    default: the padding counts as zeros, so a 3x3 window at a corner with
    `p = 1` averages its 4 real cells over 9), or the number of real (not
    padding) cells in the window with `count_include_pad=False`.

    `keras.layers.AveragePooling2D(padding="same")` divides by the number of
    real cells and places any odd padding after the data, so it matches only
    the `count_include_pad=False`, symmetric-padding case. PyTorch's
    `ceil_mode` is not supported (the output size is always floored).

    Args:
        pool_size: int or `(k_h, k_w)`, the window.
        strides: int or `(s_h, s_w)`; None for `pool_size` (PyTorch's default).
        padding: int or `(p_h, p_w)`, zeros added before and after each
            spatial axis; at most half the window, as PyTorch requires.
        count_include_pad: bool, whether padding cells count in the divisor.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[B, H, W, C]`; `H` and `W` may be unknown.

    Example:

    ```python
    # The shape-keeping smoothing of Deshmukh et al.'s blocks: AvgPool2d(3, 1, 1).
    layer = PaddedAveragePooling2D(3, strides=1, padding=1)
    layer(np.ones((1, 311, 64, 8))).shape  # (1, 311, 64, 8); corners 4/9, edges 6/9
    ```
    """

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 3,
        strides: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        count_include_pad: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _pair(padding, "padding")
        self.count_include_pad = bool(count_include_pad)
        if any(pad < 0 or 2 * pad > size for pad, size in zip(self.padding, self.pool_size)):
            raise ValueError(
                f"padding {self.padding} must be between 0 and half the pool size {self.pool_size}"
            )

    def call(self, inputs):
        pad_h, pad_w = self.padding
        widths = ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0))
        pooled = ops.average_pool(ops.pad(inputs, widths), self.pool_size, self.strides, padding="valid")
        if self.count_include_pad:
            return pooled
        # The same pooling of a mask of the real cells gives each window's
        # real fraction; the ratio turns the mean over k_h k_w into the mean
        # over the real cells.
        mask = ops.pad(ops.ones_like(inputs[..., :1]), widths)
        return pooled / ops.average_pool(mask, self.pool_size, self.strides, padding="valid")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "count_include_pad": self.count_include_pad,
        }


@keras.saving.register_keras_serializable(package="seld_tf")
class GlobalWeightedRankPooling(keras.layers.Layer):
    """Global weighted rank pooling (GWRP, Kong et al. 2019): a weighted mean of the sorted bins.

    For each channel (class) `k`, with `s_(0) >= s_(1) >= ... >= s_(N-1)` the
    values of the `N` bins of `x[b, ..., k]` (all axes between the batch and
    the last) in descending order:

        y[b, k] = sum_j r^j s_(j) / sum_j r^j,    j = 0 .. N - 1

    `r = 1` is global average pooling and `r -> 0` global max pooling. The
    weights are constants (the layer has no parameters).

    A decay suits one number of bins: `r^N`, the weight of the lowest bin
    relative to the highest, shrinks as `N` grows. With `reference_bins`
    set, the decay is rescaled to the input's number of bins so that `r^N`
    stays what `decay` gives at `reference_bins`:

        r = decay ^ (reference_bins / N)

    e.g. Kong et al.'s `decay = 0.9998` on 311 x 64 = 19,904 bins (`r^N` =
    0.0187) becomes 0.998997 on 124 x 32 bins. `N` is taken from the input
    at each call, so the spatial axes may be unknown when building.

    Args:
        decay: float in (0, 1], the decay `r` (at `reference_bins`, if given).
        reference_bins: int or None; the number of bins `decay` was chosen
            for, or None to use `decay` as is whatever the input size.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[B, ..., K]` with at least one axis between the batch and
            the last; `K` must be known.

    Returns:
        `[B, K]`.

    Example:

    ```python
    layer = GlobalWeightedRankPooling(0.9998, reference_bins=311 * 64)
    layer(np.random.uniform(size=(2, 124, 32, 10))).shape  # (2, 10), r = 0.998997
    ```

    References:
        - Kong et al., "Sound event detection and time-frequency segmentation
          from weakly labelled data", IEEE/ACM TASLP 27(4), 2019.
    """

    def __init__(self, decay: float = 0.9998, reference_bins: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], received {decay}")
        if reference_bins is not None and reference_bins < 1:
            raise ValueError(f"reference_bins must be a positive number of bins or None, received {reference_bins}")
        self.decay = float(decay)
        self.reference_bins = None if reference_bins is None else int(reference_bins)

    def effective_decay(self, bins: int) -> float:
        """The decay `r` applied to an input of `bins` bins per channel."""
        if self.reference_bins is None:
            return self.decay
        return self.decay ** (self.reference_bins / bins)

    def call(self, inputs):
        channels = inputs.shape[-1]
        values = ops.reshape(inputs, (ops.shape(inputs)[0], -1, channels))
        # Ascending sort along the last axis: the value at position i has rank N - 1 - i.
        values = ops.sort(ops.transpose(values, (0, 2, 1)), axis=-1)
        bins = ops.shape(values)[-1]
        log_decay = math.log(self.decay)
        if self.reference_bins is not None:
            log_decay = log_decay * self.reference_bins / ops.cast(bins, self.compute_dtype)
        ranks = ops.arange(bins - 1, -1, -1, dtype=self.compute_dtype)
        weights = ops.exp(ranks * log_decay)
        return ops.sum(values * weights, axis=-1) / ops.sum(weights)

    def get_config(self) -> dict:
        return {**super().get_config(), "decay": self.decay, "reference_bins": self.reference_bins}


@keras.saving.register_keras_serializable(package="seld_tf")
class AttentionPooling(keras.layers.Layer):
    """Attention pooling along one axis, with a classification and an attention branch (one step of 2AP).

    With `x` moved so that the pooled axis (size `n`) is last, and
    learnable `W_c, W_a` (`n x n`) and `b_c, b_a` (`n`) mixing the positions
    of that axis:

        P = sigmoid(x W_c + b_c)            # classification branch, in (0, 1)
        A = softmax(x W_a + b_a)            # attention branch, sums to 1 over the n positions
        y = sum_over_axis(P * A)            # in (0, 1); the pooled axis is removed

    Both branches are fully connected across the pooled axis and shared over
    every other axis (classes, and frames in step 1). This is one step of
    Deshmukh et al.'s two-step attention pooling as their code computes it:
    on class maps `Z` `[B, T, F, K]`, `AttentionPooling(axis=2)` pools the
    mel bins (step 1, `Z_p1` `[B, T, K]`), and `AttentionPooling(axis=1)` on
    its output pools the frames (step 2, clip probabilities `[B, K]`). The
    paper's Eqs. (7)-(8) move the sigmoid onto the attention branch, which
    would not bound the output; the text's "sigma in both step's
    intermediate classification output" matches the code.

    The layer holds `2 (n^2 + n)` weights, so the pooled axis must have a
    fixed size. The default initialisers are PyTorch's `nn.Linear` ones,
    uniform(+-1/sqrt(n)) for kernels and biases, as in the authors' code.

    Args:
        axis: int, the pooled axis of the input (not the batch axis 0);
            negative values count from the end.
        kernel_initializer: initializer of `W_c` and `W_a`; None for
            PyTorch's default, `VarianceScaling(1/3, "fan_in", "uniform")`.
        bias_initializer: initializer of `b_c` and `b_a`; None for PyTorch's
            default, uniform(+-1/sqrt(n)).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of rank 3 or more, `inputs.shape[axis]` known.
        return_attention: bool; if True, return `(y, A)` with the attention
            weights `A` in the input's layout (the input's shape; they sum to
            1 along `axis`). Works on symbolic tensors, so a functional model
            can expose the weights as an output.

    Example:

    ```python
    class_maps = np.random.normal(size=(2, 311, 64, 41))  # [B, T, F, K]
    frames, frequency_weights = AttentionPooling(axis=2)(class_maps, return_attention=True)
    clip = AttentionPooling(axis=1)(frames)
    frames.shape, frequency_weights.shape, clip.shape  # (2, 311, 41), (2, 311, 64, 41), (2, 41)
    ```

    References:
        - Deshmukh, Raj and Singh, "Improving weakly supervised sound event
          detection with self-supervised auxiliary tasks", Interspeech 2021
          (arXiv 2008.07085), Eqs. (7)-(14).
    """

    def __init__(
        self,
        axis: int,
        kernel_initializer: str | dict | keras.initializers.Initializer | None = None,
        bias_initializer: str | dict | keras.initializers.Initializer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.kernel_initializer = None if kernel_initializer is None else keras.initializers.get(kernel_initializer)
        self.bias_initializer = None if bias_initializer is None else keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self.axis + rank if self.axis < 0 else self.axis
        if rank < 3 or not 1 <= axis < rank:
            raise ValueError(
                f"AttentionPooling(axis={self.axis}) needs an input of rank 3 or more and a non-batch axis, "
                f"received shape {tuple(input_shape)}"
            )
        size = input_shape[axis]
        if size is None:
            raise ValueError(
                f"AttentionPooling(axis={self.axis}) needs the pooled axis' size, received shape {tuple(input_shape)}"
            )
        self._pooled_axis = axis
        limit = 1.0 / math.sqrt(size)
        kernel_initializer = self.kernel_initializer or keras.initializers.VarianceScaling(
            1.0 / 3.0, mode="fan_in", distribution="uniform"
        )
        bias_initializer = self.bias_initializer or keras.initializers.RandomUniform(-limit, limit)
        for branch in ("classification", "attention"):
            kernel = self.add_weight(shape=(size, size), initializer=kernel_initializer, name=f"{branch}_kernel")
            bias = self.add_weight(shape=(size,), initializer=bias_initializer, name=f"{branch}_bias")
            setattr(self, f"{branch}_kernel", kernel)
            setattr(self, f"{branch}_bias", bias)

    def call(self, inputs, return_attention: bool = False):
        x = ops.moveaxis(inputs, self._pooled_axis, -1)
        probabilities = ops.sigmoid(ops.matmul(x, self.classification_kernel) + self.classification_bias)
        weights = ops.softmax(ops.matmul(x, self.attention_kernel) + self.attention_bias, axis=-1)
        pooled = ops.sum(probabilities * weights, axis=-1)
        if return_attention:
            return pooled, ops.moveaxis(weights, -1, self._pooled_axis)
        return pooled

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "kernel_initializer": None
            if self.kernel_initializer is None
            else keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": None
            if self.bias_initializer is None
            else keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="seld_tf")
class GlobalAttentionPooling(keras.layers.Layer):
    """Global attention pooling of class maps over all time-frequency bins (Ren et al. 2019, as Deshmukh ported it).

    From two maps of logits of the same shape `[B, ..., K]`, attention `u`
    and classification `v` (in the atrous model, two 1x1 convolutions of the
    last feature map), with the sums over all bins (the axes between the
    batch and the last):

        a = clip(sigmoid(u), attention_min, attention_max)
        c = log_softmax(v) over the classes (last axis), so c <= 0
        y[b, k] = sigmoid( sum_bins a[b, ..., k] c[b, ..., k] / sum_bins a[b, ..., k] )

    The attention is normalised per class over the bins, so `y` is the
    sigmoid of an attention-weighted mean of log class posteriors: `y` lies
    in (0, 0.5]. The bound does not limit rank metrics (AP, AUC), which is
    how the port was evaluated. No parameters.

    Args:
        attention_min: float, lower clip of the attention (0.1 in the port).
        attention_max: float, upper clip of the attention (0.9 in the port).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a list `[attention_logits, classification_logits]`, two
            tensors `[B, ..., K]` of the same shape.

    Returns:
        `[B, K]`.

    References:
        - Ren et al., "Attention-based atrous convolutional neural networks:
          visualisation and understanding perspectives of acoustic scenes",
          ICASSP 2019.
        - Deshmukh et al., arXiv 2008.07085, code `models_extension.py`
          (`AttrousCNN_2DAttention`).
    """

    def __init__(self, attention_min: float = 0.1, attention_max: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < attention_min <= attention_max <= 1.0:
            raise ValueError(
                f"need 0 < attention_min <= attention_max <= 1, received {attention_min} and {attention_max}"
            )
        self.attention_min = float(attention_min)
        self.attention_max = float(attention_max)

    def call(self, inputs):
        attention_logits, classification_logits = inputs
        attention = ops.clip(ops.sigmoid(attention_logits), self.attention_min, self.attention_max)
        log_probabilities = ops.log_softmax(classification_logits, axis=-1)
        bins = tuple(range(1, len(attention_logits.shape) - 1))
        weighted = ops.sum(attention * log_probabilities, axis=bins) / ops.sum(attention, axis=bins)
        return ops.sigmoid(weighted)

    def get_config(self) -> dict:
        return {**super().get_config(), "attention_min": self.attention_min, "attention_max": self.attention_max}
