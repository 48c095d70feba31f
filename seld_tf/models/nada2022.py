"""Nada et al. (2022): the multitask CNN-BiGRU of Tonami et al. for joint scene classification and event detection."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from seld_tf.errors import ConfigError

# Architecture sizes and the paper-vs-code variants only: the input (64 mel
# bins, one channel) and the class counts are passed alongside, e.g.
# `build_model("nada2022", "cpu", input_shape=(None, 64, 1), num_events=25, num_scenes=4)`.
NADA2022_PRESETS = {
    # Table II of the paper: 1,252,221 parameters with 25 events and 4 scenes.
    "paper": {
        "filters": 128,
        "scene_filters": 256,
        "gru_units": 32,
        "event_dense": 32,
        "scene_dense": 32,
        "scene_pool": "global",
        "activation": "leaky_relu",
        "dropout": 0.15,
    },
    # The public code (KeisukeImoto/mtl_sed_asc): 64 GRU units per direction,
    # the scene maps pooled over time only (a 512-unit FC input) and ReLU:
    # 1,330,429 parameters.
    "code": {
        "filters": 128,
        "scene_filters": 256,
        "gru_units": 64,
        "event_dense": 32,
        "scene_dense": 32,
        "scene_pool": "time",
        "activation": "relu",
        "dropout": 0.15,
    },
    # A quarter of the convolution widths and half the GRU: 87,101
    # parameters (about 1/14 of the paper's; the wide convolutions, which run
    # at the full 500-frame resolution, do 1/16 of the work), trains on a
    # laptop CPU.
    "cpu": {
        "filters": 32,
        "scene_filters": 64,
        "gru_units": 16,
        "event_dense": 32,
        "scene_dense": 32,
        "scene_pool": "global",
        "activation": "leaky_relu",
        "dropout": 0.15,
    },
}

BRANCHES = ("scene", "event")
SCENE_POOLS = ("global", "time")
ACTIVATIONS = ("leaky_relu", "relu")


def apply_activation(x: keras.KerasTensor, activation: str, negative_slope: float, name: str) -> keras.KerasTensor:
    """Leaky ReLU (the paper) or ReLU (the code), as a layer of its own so that it sits after the BatchNorm."""
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=negative_slope, name=name)(x)
    return keras.layers.ReLU(name=name)(x)


def apply_conv_block(
    x: keras.KerasTensor,
    filters: int,
    pool_size: tuple[int, int] | None,
    activation: str,
    negative_slope: float,
    name: str,
) -> keras.KerasTensor:
    """Conv2D 3x3 'same' -> BatchNorm -> activation [-> MaxPool (time, freq)].

    The convolution keeps its bias although a BatchNorm follows: the paper's
    network (PyTorch's default `Conv2d`) has one, and Table II's parameter
    count includes it. The BatchNorm takes PyTorch's defaults (momentum 0.1
    there, i.e. 0.9 for the moving averages here, and epsilon 1e-5). The
    pooling pads ("same", i.e. rounds the output size up): a 25-frame pool
    then keeps every frame of a clip whose length is no multiple of 25, and
    a clip shorter than the pool still gives one frame; on the paper's sizes
    (500 frames, 64 bins) it equals PyTorch's unpadded pooling.
    """
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    x = apply_activation(x, activation, negative_slope, name=f"{name}_{activation}")
    if pool_size is None:
        return x
    return keras.layers.MaxPooling2D(pool_size, padding="same", name=f"{name}_pool")(x)


def apply_dense_head(
    x: keras.KerasTensor,
    hidden_units: int,
    output_units: int,
    output_activation: str,
    activation: str,
    negative_slope: float,
    dropout: float,
    name: str,
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Dense -> activation -> Dropout -> Dense logits -> probabilities; returns `(probabilities, logits)`.

    The output layers are named `name` (probabilities) and `{name}_logits`,
    the keys of the model's outputs. `Dense` acts on the last axis, so on a
    sequence `[B, T, features]` the head is applied frame by frame.
    """
    x = keras.layers.Dense(hidden_units, name=f"{name}_fc")(x)
    x = apply_activation(x, activation, negative_slope, name=f"{name}_fc_{activation}")
    x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    logits = keras.layers.Dense(output_units, name=f"{name}_logits")(x)
    return keras.layers.Activation(output_activation, name=name)(logits), logits


def build_nada2022(
    input_shape: Sequence[int | None] = (None, 64, 1),
    num_events: int = 25,
    num_scenes: int = 4,
    *,
    branches: Sequence[str] = BRANCHES,
    filters: int = 128,
    freq_pools: Sequence[int] = (8, 2, 2),
    scene_filters: int = 256,
    scene_time_pool: int = 25,
    scene_pool: str = "global",
    scene_dense: int = 32,
    gru_units: int = 32,
    event_dense: int = 32,
    activation: str = "leaky_relu",
    negative_slope: float = 0.01,
    dropout: float = 0.15,
    name: str = "nada2022",
) -> keras.Model:
    """Builds the multitask ASC + SED network of Table II (Tonami et al.'s network, used by Nada et al.).

    Input features are channels-last `[time, mel bins, channels]` (the
    paper: 500 frames of 64 scaled log-mel bins, one channel). The time axis
    may be `None`.

    Architecture:
        - Shared: one block per entry of `freq_pools`, each Conv 3x3
          (`filters`) - BatchNorm - activation - max pooling over frequency
          only (Table II: 8, 2, 2), so the event outputs keep the input's
          frame rate (20 ms).
        - Event branch: the remaining bins and channels of each frame
          flattened (`bins * filters` features), a BiGRU of `gru_units` per
          direction returning sequences, a frame-wise Dense `event_dense`
          with the activation, dropout, and a frame-wise Dense `num_events`
          with a sigmoid.
        - Scene branch: Conv 3x3 (`scene_filters`) - BatchNorm - activation -
          max pooling over `scene_time_pool` frames, another such Conv
          without pooling, then `scene_pool`: "global" (the paper), the
          maximum over time and frequency (`scene_filters` features), or
          "time" (the code), the maximum over time of each bin and channel
          (`bins * scene_filters` features); a Dense `scene_dense` with the
          activation, dropout, and a Dense `num_scenes` with a softmax.

    `branches` selects the tasks: both (multitask learning, the paper's MTL
    systems), `("scene",)` (the CNN ASC baseline of Table IV: shared +
    scene layers) or `("event",)` (the CNN-BiGRU SED baseline: shared +
    event layers).

    Outputs, per branch: `"scene"` `[B, S]` softmax probabilities and
    `"scene_logits"` `[B, S]` the values before the softmax; `"event"` `[B,
    T, K]` sigmoid probabilities and `"event_logits"` `[B, T, K]`. Train the
    focal losses of `seld_tf.losses.focal` on the logits (numerically
    stable at saturation) and decode the probabilities.

    Departures from the paper and the public code (deliberate, each an
    option): dropout (`dropout`, code only) after the hidden Dense of both
    heads; Leaky ReLU slope 0.01 (PyTorch's default; the paper gives none,
    the code uses ReLU: `activation="relu"`); the GRU input flattens each
    frame's bins and channels bin-major (the code: channel-major), which
    matters only for porting weights; the scene pooling pads the time axis
    (see `apply_conv_block`); the convolutions keep PyTorch's default bias.

    Args:
        input_shape: `(time, bins, channels)`; `bins` and `channels` must be
            known, `time` may be `None`.
        num_events: int, number of sound event classes `K` (25 in the paper).
        num_scenes: int, number of acoustic scenes `S` (4 in the paper).
        branches: the task branches to build, a non-empty subset of
            `("scene", "event")`.
        filters: int, filters of each shared convolution.
        freq_pools: frequency max-pooling factor after each shared
            convolution; one shared block per entry.
        scene_filters: int, filters of the two scene convolutions.
        scene_time_pool: int, time max-pooling factor after the first scene
            convolution (25: 500 frames -> 20).
        scene_pool: "global" or "time" (see above).
        scene_dense: int, units of the scene branch's hidden Dense layer.
        gru_units: int, GRU units per direction.
        event_dense: int, units of the event branch's hidden Dense layer.
        activation: "leaky_relu" or "relu", after every BatchNorm and hidden
            Dense layer.
        negative_slope: float, the Leaky ReLU's slope for negative inputs.
        dropout: float, dropout rate after each hidden Dense layer.
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, bins, channels]` features to the dict
        of outputs described above.

    Example:

    ```python
    model = build_nada2022(**NADA2022_PRESETS["paper"])
    outputs = model(np.zeros((2, 500, 64, 1)))  # two 10 s clips
    outputs["scene"].shape, outputs["event"].shape  # (2, 4), (2, 500, 25)
    ```

    References:
        - Nada, Imoto, Iwamae, Tsuchiya, "Multitask learning of acoustic
          scenes and events using dynamic weight adaptation based on
          multi-focal loss", 2022, Table II.
        - Tonami et al., "Joint analysis of acoustic events and scenes based
          on multitask learning", WASPAA 2019.
    """
    branches = tuple(branches)
    _check_arguments(input_shape, branches, scene_pool, activation)
    inputs = keras.Input(shape=tuple(input_shape), name="features")

    shared = inputs
    for index, pool in enumerate(freq_pools, start=1):
        shared = apply_conv_block(shared, filters, (1, pool), activation, negative_slope, name=f"shared{index}")

    outputs = {}
    if "scene" in branches:
        scene = apply_conv_block(
            shared, scene_filters, (scene_time_pool, 1), activation, negative_slope, name="scene1"
        )
        scene = apply_conv_block(scene, scene_filters, None, activation, negative_slope, name="scene2")
        if scene_pool == "global":
            scene = keras.layers.GlobalMaxPooling2D(name="scene_global_pool")(scene)
        else:
            # One vector per frame, then the maximum over the (variable) time axis.
            scene = keras.layers.Reshape((-1, scene.shape[2] * scene.shape[3]), name="scene_flatten")(scene)
            scene = keras.layers.GlobalMaxPooling1D(name="scene_time_pool")(scene)
        outputs["scene"], outputs["scene_logits"] = apply_dense_head(
            scene, scene_dense, num_scenes, "softmax", activation, negative_slope, dropout, name="scene"
        )
    if "event" in branches:
        event = keras.layers.Reshape((-1, shared.shape[2] * shared.shape[3]), name="event_flatten")(shared)
        event = keras.layers.Bidirectional(
            keras.layers.GRU(gru_units, return_sequences=True), name="event_bigru"
        )(event)
        outputs["event"], outputs["event_logits"] = apply_dense_head(
            event, event_dense, num_events, "sigmoid", activation, negative_slope, dropout, name="event"
        )
    return keras.Model(inputs, outputs, name=name)


def _check_arguments(
    input_shape: Sequence[int | None],
    branches: tuple[str, ...],
    scene_pool: str,
    activation: str,
) -> None:
    if not branches or len(set(branches)) != len(branches) or not set(branches) <= set(BRANCHES):
        raise ConfigError(f"branches must be a non-empty subset of {BRANCHES}, received {branches!r}")
    if scene_pool not in SCENE_POOLS:
        raise ConfigError(f"scene_pool must be one of {SCENE_POOLS}, received {scene_pool!r}")
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {ACTIVATIONS}, received {activation!r}")
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, bins, channels) with bins and channels known, received {tuple(input_shape)}"
        )
