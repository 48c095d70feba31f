"""Model registry: recipe name -> builder and its size presets.

Builders are imported lazily so that a recipe for one paper does not import
every other paper's layers. A recipe may also name any builder by its import
path ("my_package.models:build_my_model"). Each builder takes `input_shape` and
`num_classes` plus its own keyword arguments, and returns a `keras.Model`
with named outputs.
"""

from __future__ import annotations

import importlib

import keras
import numpy as np

from seld_tf.errors import ConfigError
from seld_tf.recipes import SCALERS

# name -> (module, builder function, presets dict)
MODELS = {
    "seldnet": ("seld_tf.models.seldnet", "build_seldnet", "SELDNET_PRESETS"),
    "phan2020": ("seld_tf.models.phan2020", "build_phan2020", "PHAN2020_PRESETS"),
    "einv2": ("seld_tf.models.einv2", "build_einv2", "EINV2_PRESETS"),
    "nada2022": ("seld_tf.models.nada2022", "build_nada2022", "NADA2022_PRESETS"),
    "apae2021": ("seld_tf.models.apae2021", "build_apae2021", "APAE2021_PRESETS"),
    "mtl_vae2022": ("seld_tf.models.mtl_vae2022", "build_mtl_vae2022", "MTL_VAE2022_PRESETS"),
    "crnn_dcase2022": ("seld_tf.models.crnn_dcase2022", "build_crnn_dcase2022", "CRNN_DCASE2022_PRESETS"),
}


def _entry(name: str):
    """`(builder, presets)` of a registered name, or of a "module:function" builder path (no presets)."""
    if name in MODELS:
        module_name, builder, presets = MODELS[name]
        module = importlib.import_module(module_name)
        return getattr(module, builder), getattr(module, presets)
    module_name, _, function = name.partition(":")
    if not function:
        raise ConfigError(f"unknown model {name!r}; registered models: {sorted(MODELS)}, or a 'module:function' path")
    try:
        return getattr(importlib.import_module(module_name), function), {}
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"model {name!r}: cannot import {name} ({error})") from None


def model_presets(name: str) -> dict:
    return _entry(name)[1]


def build_model(name: str, preset: str | None = None, **kwargs) -> keras.Model:
    """Build registered model `name` from `preset` (a size variant), updated by `kwargs`."""
    builder, presets = _entry(name)
    if preset is not None and preset not in presets:
        raise ConfigError(f"unknown preset {preset!r} of model {name!r}; expected one of {sorted(presets)}")
    return builder(**{**(presets[preset] if preset else {}), **kwargs})


def build_scaled_network(name: str, preset: str | None, args: dict, mean, scale, input_frames: int | None = None,
                         precision: str = "float32", scaler: str = "dataset"):
    """`(inputs, outputs)` of model `name` (`build_model`) with the features' scaler as its first layer.

    The scaler lives in the model so that a saved or exported model takes raw
    features, as the feature extractor writes them. `scaler` "dataset":
    `(features - mean) / scale` with the training features' statistics, both
    `[F, C]`; "instance_minmax": each example to [0, 1] by its own range
    (`seld_tf.layers.normalization.InstanceMinMaxScaling`; `mean` and
    `scale` give only the shape). The input is `[B, input_frames, F, C]`.

    The network's layers take the Keras dtype policy `precision` (a recipe's
    `training.precision`): each layer keeps its policy (a saved model too),
    and the global one is restored. The scaler and the outputs stay float32:
    features arrive in float32, and the losses, metrics and decoders see
    float32 probabilities and directions. Only Keras is used, so the network
    builds on any Keras backend.
    """
    if scaler not in SCALERS:
        raise ConfigError(f"model.scaler: expected one of {list(SCALERS)}, found {scaler!r}")
    input_shape = (input_frames, *np.shape(mean))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        core = build_model(name, preset, input_shape=input_shape, **args)
    finally:
        keras.config.set_dtype_policy(previous)
    inputs = keras.Input(input_shape, name="features")
    if scaler == "instance_minmax":
        from seld_tf.layers.normalization import InstanceMinMaxScaling

        scaled = InstanceMinMaxScaling(name="feature_scaler")(inputs)
    else:
        scaled = keras.layers.Normalization(
            axis=(-2, -1), mean=mean, variance=np.square(scale), name="feature_scaler"
        )(inputs)
    outputs = core(scaled)
    if precision != "float32":
        outputs = {key: _float32_output(key, output) for key, output in outputs.items()}
    return inputs, outputs


def _float32_output(name: str, output):
    # An identity layer named as the output keeps the output names the losses and decoders look up.
    return keras.layers.Activation("linear", dtype="float32", name=name)(output)
