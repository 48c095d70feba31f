"""2APAE (Deshmukh, Raj and Singh 2021): two-step attention pooling with an auto-encoder
auxiliary task for weakly labelled SED, and the paper's pooling baselines (GAP, GMP, GWRP, atrous attention)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from seld_tf.errors import ConfigError
from seld_tf.layers.pooling import (
    AttentionPooling,
    GlobalAttentionPooling,
    GlobalWeightedRankPooling,
    PaddedAveragePooling2D,
)

POOLINGS = ("two_step_attention", "gap", "gmp", "gwrp", "atrous")
DECODER_ACTIVATIONS = ("relu", "linear")

# The paper's log-mel input: 10 s at 32 kHz, hop 1024 -> 311 frames of 64 mel bins.
PAPER_INPUT_SHAPE = (311, 64, 1)
# Kong et al.'s GWRP decay 0.9998 was set for all 311 x 64 bins of a clip.
PAPER_GWRP_BINS = 311 * 64

# Widths of each network in the paper, per `pooling`: 2APAE's encoder; Kong
# et al.'s VGG bottleneck (GAP, GMP, GWRP); the atrous layers of Ren et al.
# (Deshmukh's port keeps the first 3, Ren's original has all 4).
PAPER_FILTERS = {
    "two_step_attention": (32, 64, 128, 256),
    "gap": (32, 64, 128, 128),
    "gmp": (32, 64, 128, 128),
    "gwrp": (32, 64, 128, 128),
    "atrous": (64, 128, 256, 512),
}

_PAPER = {"input_shape": PAPER_INPUT_SHAPE, "num_classes": 41}
# The reduced synthetic features of the spec (4 s at 16 kHz, hop 512, 32 mel
# bins, 10 classes) and a quarter of every paper width.
_CPU = {"input_shape": (124, 32, 1), "num_classes": 10}

# Each entry is one row of Table IV at one size; other arguments (`decoder`,
# `atrous_layers`, ...) are passed alongside, e.g.
# `build_apae2021(**APAE2021_PRESETS["paper_atrous"], atrous_layers=4)` for
# Ren et al.'s 4-layer network. The paper presets leave `filters` to the
# pooling's paper widths.
APAE2021_PRESETS = {
    # 2APAE, Tables I-III: 1,970,186 parameters.
    "paper": {**_PAPER, "pooling": "two_step_attention"},
    # Kong et al.'s VGG bottleneck with each global pooling: 589,001 parameters.
    "paper_gap": {**_PAPER, "pooling": "gap"},
    "paper_gmp": {**_PAPER, "pooling": "gmp"},
    "paper_gwrp": {**_PAPER, "pooling": "gwrp"},
    # Deshmukh's 3-layer port of the atrous attention network: 1,048,466 parameters.
    "paper_atrous": {**_PAPER, "pooling": "atrous"},
    # 2APAE at a quarter of the widths on the reduced features: 144,771
    # parameters, about 0.45 GMAC per clip (the paper size: about 35).
    "cpu": {**_CPU, "pooling": "two_step_attention", "filters": (8, 16, 32, 64)},
    "cpu_gap": {**_CPU, "pooling": "gap", "filters": (8, 16, 32, 32)},
    "cpu_gmp": {**_CPU, "pooling": "gmp", "filters": (8, 16, 32, 32)},
    "cpu_gwrp": {**_CPU, "pooling": "gwrp", "filters": (8, 16, 32, 32)},
    "cpu_atrous": {**_CPU, "pooling": "atrous", "filters": (16, 32, 64)},
}

# Names of the layers that `apae2021_analysis_model` reads.
CLASS_MAPS_LAYER = "class_conv"
STEP1_LAYER = "frequency_attention"
STEP2_LAYER = "time_attention"


def apply_conv_block(
    x: keras.KerasTensor,
    filters: int,
    smoothing: bool,
    name: str,
    final_activation: str = "relu",
) -> keras.KerasTensor:
    """(Conv2D 3x3 'same' -> BatchNorm -> ReLU) x 2 [-> average pooling 3x3, stride 1, padding 1].

    The convolutions have no bias (the BatchNorm after each has its own
    shift; the authors' code has none either). The pooling keeps the size:
    it is PyTorch's `AvgPool2d(3, 1, 1)`, whose border windows count the
    zero padding. `final_activation="linear"` leaves out the last ReLU.
    """
    for index in (1, 2):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, kernel_initializer="he_uniform", name=f"{name}_conv{index}"
        )(x)
        x = _batch_norm(f"{name}_bn{index}")(x)
        if index == 1 or final_activation == "relu":
            x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
    if smoothing:
        x = PaddedAveragePooling2D(3, strides=1, padding=1, name=f"{name}_pool")(x)
    return x


def apply_atrous_layer(x: keras.KerasTensor, filters: int, dilation: int, name: str) -> keras.KerasTensor:
    """Conv2D 5x5 dilated 'same' (no bias) -> BatchNorm -> ReLU."""
    x = keras.layers.Conv2D(
        filters,
        5,
        padding="same",
        dilation_rate=dilation,
        use_bias=False,
        kernel_initializer="he_uniform",
        name=f"{name}_conv",
    )(x)
    x = _batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    # PyTorch's defaults (momentum 0.1 of the new batch, eps 1e-5), as the authors trained.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _class_conv(num_classes: int, name: str, activation: str | None = None, kernel_initializer: str = "he_uniform"):
    return keras.layers.Conv2D(
        num_classes, 1, activation=activation, kernel_initializer=kernel_initializer, name=name
    )


def build_apae2021(
    input_shape: Sequence[int | None] = PAPER_INPUT_SHAPE,
    num_classes: int = 41,
    *,
    pooling: str = "two_step_attention",
    filters: Sequence[int] | None = None,
    block_pooling: bool | None = None,
    decoder: bool | None = None,
    decoder_activation: str = "relu",
    gwrp_decay: float = 0.9998,
    gwrp_reference_bins: int | None = PAPER_GWRP_BINS,
    atrous_layers: int = 3,
    name: str = "apae2021",
) -> keras.Model:
    """Builds 2APAE or one of the baselines of Table IV of Deshmukh et al.

    Input: z-scored log-mel features `[T, F, C]` (the paper: 311 x 64 x 1).
    Every convolution has stride 1 and 'same' padding, so every feature
    map keeps the input's `T x F` (the paper: "keeps the T-F dimensions
    untouched").

    Networks, by `pooling`:
        - "two_step_attention" (2APAE, Tables I-III): an encoder of one
          block per entry of `filters` (paper 32, 64, 128, 256), each block
          (Conv 3x3 - BN - ReLU) x 2 then the size-keeping average pooling
          (3x3, stride 1, padding 1, zero padding counted as in PyTorch);
          a 1x1 class convolution (linear) to the class maps `Z` `[B, T, F,
          K]` (layer "class_conv"); then two `AttentionPooling` steps, over
          the mel bins (layer "frequency_attention", `Z_p1` `[B, T, K]`) and
          over the frames (layer "time_attention", clip probabilities). Their
          Dense weights are `F x F` and `T x T`, so T must be fixed.
        - "gap", "gmp", "gwrp" (Kong et al.'s VGG bottleneck): the same
          blocks without the average pooling (paper widths 32, 64, 128,
          128), a 1x1 class convolution with a sigmoid (T-F segmentation
          masks in (0, 1)), then global average, max or weighted rank
          pooling over all `T x F` bins. The GWRP decay `gwrp_decay` is
          rescaled from `gwrp_reference_bins` bins to the input's (see
          `GlobalWeightedRankPooling`; None keeps it as is).
        - "atrous" (Deshmukh's port of Ren et al.): `atrous_layers` layers
          of Conv 5x5 with dilation 1, 2, 4 (, 8) - BN - ReLU (paper widths
          64, 128, 256 (, 512)), then two 1x1 convolutions to attention
          (kernel zero-initialised: uniform attention at the start) and
          classification logits, combined by `GlobalAttentionPooling`
          (clip probabilities in (0, 0.5]). 3 layers is the port that
          produced Table IV; 4 is Ren et al.'s depth (with the port's
          pooling and sigmoid output, not Ren's NLL head).

    The auxiliary decoder (`decoder=True`, the default for
    "two_step_attention" only) reads the encoder's last block output (the
    class convolution's input: 256 channels at paper size) and mirrors the
    encoder: blocks of `filters[-2], ..., filters[0]` then one of `C`
    channels (paper 128, 64, 32, 1), each with the encoder's block pooling.
    It ends in ReLU then the average pooling, as in the authors' code and
    Table III, so the reconstruction is non-negative although the z-scored
    target is about half negative; `decoder_activation="linear"` drops
    that last ReLU (same parameters).

    Outputs (a dict):
        - "clip": `[B, K]` clip-level class probabilities (train with binary
          cross-entropy on probabilities).
        - "reconstruction" (with the decoder): `[B, T, F, C]`, the input's
          shape, so that the auxiliary loss is a plain MSE against the input
          features (the paper: `L = BCE + 0.001 * MSE`).

    `apae2021_analysis_model(model)` exposes the attention weights and
    intermediate probabilities of a 2APAE model (Fig. 3).

    Initialisation as in the authors' code: He-uniform convolutions, zero
    biases, PyTorch `nn.Linear` defaults in the attention steps, BatchNorm
    with PyTorch's momentum and epsilon.

    Departures from the authors' code (deliberate):
        - Channels-last maps `[B, T, F, K]` (the code permutes to `[B, K,
          T, F]` for the attention; same weights, same sums).
        - No final `clip(., 0, 1)` after step 2: a softmax-weighted mean of
          sigmoids is already in (0, 1).
        - One BatchNorm over the whole batch (the paper's 4-GPU DataParallel
          normalised over each GPU's quarter of it).

    Args:
        input_shape: `(T, F, C)`; `F` and `C` must be known; `T` may be None
            except with "two_step_attention".
        num_classes: int, number of classes `K`.
        pooling: "two_step_attention", "gap", "gmp", "gwrp" or "atrous".
        filters: widths of the encoder blocks (atrous: of its layers, one
            per layer); None for the paper's widths of `pooling`.
        block_pooling: bool, whether each block ends in the size-keeping
            average pooling; None for the paper's choice (only 2APAE's
            encoder and decoder have it). `pooling="two_step_attention",
            filters=(32, 64, 128, 128), block_pooling=False, decoder=False`
            is the 2-step head on the baselines' bottleneck (a
            fair-comparison variant, not in the paper). The atrous layers
            never pool; a decoder on them follows this flag.
        decoder: bool, add the auxiliary decoder and the "reconstruction"
            output; None for the paper's choice (with 2APAE only).
        decoder_activation: "relu" (the code) or "linear", the decoder's
            last activation.
        gwrp_decay: float in (0, 1], GWRP's decay `r` at
            `gwrp_reference_bins` bins (Kong et al.: 0.9998).
        gwrp_reference_bins: int or None, see above (default 311 x 64).
        atrous_layers: 3 or 4, the depth of the atrous network.
        name: string, name of the model.

    Returns:
        A `keras.Model` mapping `[B, T, F, C]` features to the outputs above.

    Raises:
        ConfigError: an unknown `pooling` or `decoder_activation`, an
            `input_shape` without `F` and `C` (or without `T` for 2-step
            attention), `atrous_layers` not 3 or 4, or `filters` empty (atrous:
            not one per layer).

    Example:

    ```python
    model = build_apae2021(**APAE2021_PRESETS["paper"])
    outputs = model(np.zeros((2, 311, 64, 1)))
    outputs["clip"].shape, outputs["reconstruction"].shape  # (2, 41), (2, 311, 64, 1)
    model.compile(loss={"clip": "binary_crossentropy", "reconstruction": "mse"},
                  loss_weights={"clip": 1.0, "reconstruction": 0.001})
    model.fit(features, {"clip": labels, "reconstruction": features})
    ```

    References:
        - Deshmukh, Raj and Singh, "Improving weakly supervised sound event
          detection with self-supervised auxiliary tasks", Interspeech 2021
          (arXiv 2008.07085); code soham97/MTL_Weakly_labelled_audio_data.
        - Kong et al., "Sound event detection and time-frequency segmentation
          from weakly labelled data", IEEE/ACM TASLP 27(4), 2019.
        - Ren et al., "Attention-based atrous convolutional neural networks:
          visualisation and understanding perspectives of acoustic scenes",
          ICASSP 2019.
    """
    _check_arguments(input_shape, pooling, filters, decoder_activation, atrous_layers)
    if filters is None:
        filters = PAPER_FILTERS[pooling][:atrous_layers] if pooling == "atrous" else PAPER_FILTERS[pooling]
    if block_pooling is None:
        block_pooling = pooling == "two_step_attention"
    if decoder is None:
        decoder = pooling == "two_step_attention"

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    for index, width in enumerate(filters, start=1):
        if pooling == "atrous":
            x = apply_atrous_layer(x, width, 2 ** (index - 1), name=f"encoder_layer{index}")
        else:
            x = apply_conv_block(x, width, block_pooling, name=f"encoder_block{index}")
    outputs = {"clip": _apply_pooling(x, pooling, num_classes, gwrp_decay, gwrp_reference_bins)}

    if decoder:
        widths = (*filters[-2::-1], input_shape[-1])
        for index, width in enumerate(widths, start=1):
            last = index == len(widths)
            x = apply_conv_block(
                x,
                width,
                block_pooling,
                name=f"decoder_block{index}",
                final_activation=decoder_activation if last else "relu",
            )
        outputs["reconstruction"] = x
    return keras.Model(inputs, outputs, name=name)


def _apply_pooling(
    x: keras.KerasTensor, pooling: str, num_classes: int, gwrp_decay: float, gwrp_reference_bins: int | None
) -> keras.KerasTensor:
    """The class convolution(s) and the clip-level pooling on the encoder's features: `[B, K]`."""
    if pooling == "two_step_attention":
        class_maps = _class_conv(num_classes, CLASS_MAPS_LAYER)(x)
        # Step 1's weights are returned by its only call so that the analysis
        # model can read them from the layer's output (a second call would
        # give the functional graph a second node).
        frames, _ = AttentionPooling(axis=2, name=STEP1_LAYER)(class_maps, return_attention=True)
        clip, _ = AttentionPooling(axis=1, name=STEP2_LAYER)(frames, return_attention=True)
        return clip
    if pooling == "atrous":
        attention = _class_conv(num_classes, "attention_conv", kernel_initializer="zeros")(x)
        classification = _class_conv(num_classes, "classification_conv")(x)
        return GlobalAttentionPooling(name="attention_pooling")([attention, classification])
    masks = _class_conv(num_classes, CLASS_MAPS_LAYER, activation="sigmoid")(x)
    if pooling == "gap":
        return keras.layers.GlobalAveragePooling2D(name="gap")(masks)
    if pooling == "gmp":
        return keras.layers.GlobalMaxPooling2D(name="gmp")(masks)
    return GlobalWeightedRankPooling(gwrp_decay, reference_bins=gwrp_reference_bins, name="gwrp")(masks)


def apae2021_analysis_model(model: keras.Model) -> keras.Model:
    """A model sharing a 2APAE model's layers that also returns its attention internals (Fig. 3).

    No weight is copied: training or loading `model` changes what this model
    returns. Works on a freshly built model and on one loaded from a
    `.keras` file. Its outputs are `model`'s ("clip", and "reconstruction"
    with the decoder) plus, channels-last like the features:
        - "class_maps": `[B, T, F, K]`, the class convolution's output `Z`.
        - "step1_attention": `[B, T, F, K]`, the step-1 weights over the mel
          bins (sum to 1 over `F`); class `k`'s mel x time image is
          `step1_attention[b, :, :, k].T`.
        - "step1_probabilities": `[B, T, K]`, `Z_p1`, the frame-level class
          probabilities after step 1.
        - "step2_attention": `[B, T, K]`, the step-2 weights over the frames
          (sum to 1 over `T`).

    Args:
        model: a model from `build_apae2021(pooling="two_step_attention")`.

    Returns:
        A `keras.Model` with `model`'s input and the outputs above.

    Raises:
        ConfigError: `model` has no two-step attention pooling.
    """
    layers = {layer.name: layer for layer in model.layers}
    steps = [layers.get(STEP1_LAYER), layers.get(STEP2_LAYER)]
    if not all(isinstance(step, AttentionPooling) and isinstance(step.output, (tuple, list)) for step in steps):
        raise ConfigError(
            f"model {model.name!r} has no two-step attention pooling (AttentionPooling layers "
            f"{STEP1_LAYER!r} and {STEP2_LAYER!r} called with return_attention=True)"
        )
    (frames, frequency_weights), (_, time_weights) = steps[0].output, steps[1].output
    outputs = {
        **model.output,
        "class_maps": layers[CLASS_MAPS_LAYER].output,
        "step1_attention": frequency_weights,
        "step1_probabilities": frames,
        "step2_attention": time_weights,
    }
    return keras.Model(model.input, outputs, name=f"{model.name}_analysis")


def _check_arguments(
    input_shape: Sequence[int | None],
    pooling: str,
    filters: Sequence[int] | None,
    decoder_activation: str,
    atrous_layers: int,
) -> None:
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {POOLINGS}, received {pooling!r}")
    if decoder_activation not in DECODER_ACTIVATIONS:
        raise ConfigError(
            f"decoder_activation must be one of {DECODER_ACTIVATIONS}, received {decoder_activation!r}"
        )
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ConfigError(
            f"input_shape must be (time, mel bins, channels) with bins and channels known, "
            f"received {tuple(input_shape)}"
        )
    if pooling == "two_step_attention" and input_shape[0] is None:
        raise ConfigError(
            "two-step attention pools the frames with a T x T Dense layer, so it needs a fixed number of "
            f"frames; received input_shape {tuple(input_shape)}"
        )
    if atrous_layers not in (3, 4):
        raise ConfigError(f"atrous_layers must be 3 (Deshmukh's port) or 4 (Ren et al.), received {atrous_layers}")
    if filters is not None and (
        not filters or (pooling == "atrous" and len(filters) != atrous_layers)
    ):
        raise ConfigError(
            f"filters needs one width per encoder block ({pooling}: atrous_layers = {atrous_layers} widths), "
            f"received {tuple(filters)}"
        )
