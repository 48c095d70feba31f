"""Keras functional-API model builders, one module per paper's system."""

from seld_tf.models.seldnet import SELDNET_PRESETS, build_seldnet, seldnet_from_preset

__all__ = ["SELDNET_PRESETS", "build_seldnet", "seldnet_from_preset"]
