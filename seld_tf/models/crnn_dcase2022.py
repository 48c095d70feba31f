"""The DCASE2022 Task 4 baseline CRNN (DESED_task `desed_task/nnet/{CNN,CRNN,RNN}.py`, `confs/default.yaml`)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from seld_tf.errors import ConfigError
from seld_tf.layers.glu import GLU

# (time, frequency) average pooling after each conv block: 4x in time (626 frames -> 156), 128x in frequency.
POOLING = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2))

# Sizes only: the input and the class count are passed alongside.
CRNN_DCASE2022_PRESETS = {
    # confs/default.yaml `net`: 1,112,420 trainable parameters with 128 mel bins (as PyTorch counts
    # them), plus 1,248 BatchNorm moving statistics.
    "paper": {"filters": (16, 32, 64, 128, 128, 128, 128), "units": 128},
    # A quarter of the widths: 71,576 trainable parameters with 128 mel bins (plus 312 moving statistics).
    "cpu": {"filters": (4, 8, 16, 32, 32, 32, 32), "units": 32},
}


@keras.saving.register_keras_serializable(package="seld_tf")
class AttentionWeightedMean(keras.layers.Layer):
    """The baseline's weak head: frame probabilities averaged over time with attention weights.

    From frame probabilities `p` and attention weights `a`, both `[B, T, K]`:

        y[b, k] = sum_t p[b, t, k] a'[b, t, k] / sum_t a'[b, t, k],   a' = clip(a, min_weight, 1)

    In the baseline `a` is a softmax over the *classes* of each frame
    (`nn.Softmax(dim=-1)` on `[B, T, K]`), not over time; the weighted mean
    over time normalises it per class. The clip keeps the denominator away
    from zero (PyTorch's `torch.clamp(sof, min=1e-7, max=1)`).

    Args:
        min_weight: float, the lower clip of the weights.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a list `[probabilities, weights]`, two tensors `[B, T, K]`.

    Returns:
        `[B, K]`.
    """

    def __init__(self, min_weight: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < min_weight <= 1.0:
            raise ValueError(f"min_weight must be in (0, 1], received {min_weight}")
        self.min_weight = float(min_weight)

    def call(self, inputs):
        probabilities, weights = inputs
        weights = ops.clip(weights, self.min_weight, 1.0)
        return ops.sum(probabilities * weights, axis=1) / ops.sum(weights, axis=1)

    def compute_output_shape(self, input_shape):
        probabilities_shape, _ = input_shape
        return (probabilities_shape[0], probabilities_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "min_weight": self.min_weight}


def build_crnn_dcase2022(
    input_shape: Sequence[int | None],
    num_classes: int = 10,
    *,
    filters: Sequence[int] = (16, 32, 64, 128, 128, 128, 128),
    pooling: Sequence[Sequence[int]] = POOLING,
    kernel_size: int = 3,
    units: int = 128,
    rnn_layers: int = 2,
    dropout: float = 0.5,
    batch_norm_momentum: float = 0.01,
    batch_norm_epsilon: float = 1e-3,
    name: str = "crnn_dcase2022",
) -> keras.Model:
    """Builds the CRNN of the DCASE2022 Task 4 baseline (and of 2021's), trained with a mean teacher.

    Input features are `[B, T, F, C]` (log-mels, `C = 1`, already scaled);
    `T` may be `None`.

    Architecture (DESED_task `CRNN`, `CNN`, `BidirectionalGRU` with
    `confs/default.yaml`):
        - One block per entry of `filters`: `Conv2D(filters[i], kernel_size,
          "same")` -> `BatchNormalization` -> `GLU` (a linear map of the
          channels gated by their sigmoid) -> `Dropout(dropout)` ->
          `AveragePooling2D(pooling[i])` on (time, frequency), floored as
          PyTorch's `AvgPool2d`. Default pooling: 4x in time, 128x in
          frequency.
        - The last map `[B, T / 4, F', C']` as a sequence of `F' C'` features
          per frame (`F' = 1` with 128 mel bins).
        - `rnn_layers` bidirectional GRUs of `units` per direction
          (concatenated), no dropout between them, then `Dropout(dropout)`.
        - Strong head: `Dense(num_classes, sigmoid)` per frame. Weak head:
          `Dense(num_classes, softmax)` per frame (a softmax over the
          classes) as attention weights of the strong probabilities' mean
          over time (`AttentionWeightedMean`).

    The BatchNorm settings are PyTorch's `BatchNorm2d(eps=0.001,
    momentum=0.99)`: PyTorch's momentum weighs the new batch, so Keras'
    `momentum` (the weight of the running value) is 1 - 0.99 = 0.01. Weights
    start from Keras' default initialisers, not PyTorch's.

    Outputs (by name; `K = num_classes`): "strong" `[B, T / 4, K]` and
    "weak" `[B, K]`, probabilities. There are no logits: the weak output is
    not a sigmoid of anything, and the baseline trains on the probabilities
    (the task's `loss.from_logits: false`).

    Args:
        input_shape: `(time, bins, channels)`; `bins` and `channels` must be
            known, `time` may be `None`.
        num_classes: int, number of event classes `K`.
        filters: the conv blocks' channel counts.
        pooling: one `(time, frequency)` average pooling per block.
        kernel_size: int, the square conv kernel.
        units: int, GRU units per direction.
        rnn_layers: int, stacked bidirectional GRUs.
        dropout: float, dropout after every conv block and after the GRUs.
        batch_norm_momentum: float, Keras' BatchNormalization momentum.
        batch_norm_epsilon: float, BatchNormalization epsilon.
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, bins, channels]` features to
        `{"strong", "weak"}`.

    Raises:
        ConfigError: a bad `input_shape`, `pooling` not one pair per block,
            or a frequency pooling that leaves no bin.

    Example:

    ```python
    model = build_crnn_dcase2022((None, 128, 1))  # paper size
    outputs = model(np.zeros((2, 628, 128, 1)))  # two 10 s clips (hop 256), padded to a multiple of 4
    outputs["strong"].shape, outputs["weak"].shape  # (2, 157, 10), (2, 10)
    ```

    References:
        - DCASE2022 Task 4 baseline, github.com/DCASE-REPO/DESED_task,
          `recipes/dcase2022_task4_baseline`.
        - L. Delphin-Poulat and C. Plapous, "Mean teacher with data
          augmentation for DCASE 2019 Task 4", technical report, 2019.
    """
    pooling = tuple(tuple(int(size) for size in pair) for pair in pooling)
    _check_arguments(input_shape, filters, pooling)
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    for index, (width, pool) in enumerate(zip(filters, pooling), start=1):
        x = keras.layers.Conv2D(width, kernel_size, padding="same", name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization(
            momentum=batch_norm_momentum, epsilon=batch_norm_epsilon, name=f"batch_norm{index}"
        )(x)
        x = GLU(name=f"glu{index}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
        x = keras.layers.AveragePooling2D(pool, name=f"pool{index}")(x)
    x = keras.layers.Reshape((-1, x.shape[2] * x.shape[3]), name="frames")(x)
    for index in range(1, rnn_layers + 1):
        gru = keras.layers.GRU(units, return_sequences=True)
        x = keras.layers.Bidirectional(gru, name=f"bigru{index}")(x)
    x = keras.layers.Dropout(dropout, name="rnn_dropout")(x)
    strong = keras.layers.Dense(num_classes, activation="sigmoid", name="strong")(x)
    attention = keras.layers.Dense(num_classes, activation="softmax", name="attention")(x)
    weak = AttentionWeightedMean(name="weak")([strong, attention])
    return keras.Model(inputs, {"strong": strong, "weak": weak}, name=name)


def _check_arguments(input_shape, filters, pooling) -> None:
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, bins, channels) with bins and channels known, received {tuple(input_shape)}"
        )
    if len(pooling) != len(filters) or any(len(pair) != 2 for pair in pooling):
        raise ConfigError(f"pooling must give one (time, frequency) pair per conv block ({len(filters)}), received {pooling}")
    bins = input_shape[1]
    for _, frequency in pooling:
        bins //= frequency
    if bins < 1:
        raise ConfigError(f"the frequency pooling {[pair[1] for pair in pooling]} leaves no bin of {input_shape[1]}")
