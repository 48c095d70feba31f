"""Loading saved models: every custom object must be registered first.

Keras resolves `seld_tf>...` names in a `.keras` file through the registry
that `register_keras_serializable` fills when a module is imported, so a
fresh process that never built the model must import those modules before
loading.
"""

from __future__ import annotations

import importlib
import os

import keras

from seld_tf.models.registry import MODELS

# Modules defining registered objects that a saved model can reference
# besides the model builders' own modules (which import their layers).
_OBJECT_MODULES = ("seld_tf.schedules", "seld_tf.losses.seld", "seld_tf.losses.pit", "seld_tf.augment")


def register_all() -> None:
    """Import every module that registers custom Keras objects."""
    for module in (*_OBJECT_MODULES, *(entry[0] for entry in MODELS.values())):
        importlib.import_module(module)


def load_model(path: str | os.PathLike, **kwargs) -> keras.Model:
    """`keras.saving.load_model` with all of the package's custom objects registered."""
    register_all()
    return keras.saving.load_model(path, **kwargs)
