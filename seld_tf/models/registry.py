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

from seld_tf.errors import ConfigError

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
