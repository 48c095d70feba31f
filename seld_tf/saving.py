"""Loading saved models: every custom object must be registered first.

Keras resolves `seld_tf>...` names in a `.keras` file through the registry
that `register_keras_serializable` fills when a module is imported, so a
fresh process that never built the model must import those modules before
loading. `load_model` here does, and names the file and the module to import
when a file references an object that is still unregistered (one saved by
another version, or by code outside the package), where Keras would fail with
a TypeError about the optimizer or layer that holds it.
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile
from collections.abc import Iterator

import keras

from seld_tf.errors import ModelFileError
from seld_tf.models.registry import MODELS

# Modules defining registered objects that a saved model can reference
# besides the model builders' own modules (which import their layers).
_OBJECT_MODULES = ("seld_tf.schedules", "seld_tf.losses.seld", "seld_tf.losses.pit", "seld_tf.augment")


def register_all() -> None:
    """Import every module that registers custom Keras objects."""
    for module in (*_OBJECT_MODULES, *(entry[0] for entry in MODELS.values())):
        importlib.import_module(module)


def load_model(path: str | os.PathLike, **kwargs) -> keras.Model:
    """`keras.saving.load_model` with all of the package's custom objects registered.

    Raises:
        ModelFileError: a `.keras` file references a registered
            (`package>Name`) object that nothing registers.
    """
    register_all()
    _check_registered(path, kwargs.get("custom_objects") or {})
    return keras.saving.load_model(path, **kwargs)


def _check_registered(path: str | os.PathLike, custom_objects: dict) -> None:
    """Raise `ModelFileError` naming every `package>Name` object of a `.keras` file that nothing resolves."""
    if not zipfile.is_zipfile(path):
        return  # a legacy format, a remote path, or not a model: Keras says which
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            return
        config = json.loads(archive.read("config.json"))
    unresolved = sorted(
        {
            (name, module)
            for name, class_name, module in _registered_objects(config)
            if class_name not in custom_objects
            and keras.saving.get_registered_object(name, custom_objects=custom_objects) is None
        }
    )
    if unresolved:
        found = ", ".join(f"'{name}' (module {module})" for name, module in unresolved)
        modules = ", ".join(sorted({module for _, module in unresolved}))
        raise ModelFileError(
            path,
            f"references {found}, which nothing has registered: import {modules} before loading, "
            "or load the file with the version that saved it",
        )


def _registered_objects(config) -> Iterator[tuple[str, str, str]]:
    """`(registered name, class name, module)` of every `package>Name` object in a saved config."""
    if isinstance(config, dict):
        name = config.get("registered_name")
        if isinstance(name, str) and ">" in name:
            yield name, config.get("class_name"), config.get("module")
        values = config.values()
    elif isinstance(config, list):
        values = config
    else:
        return
    for value in values:
        yield from _registered_objects(value)
