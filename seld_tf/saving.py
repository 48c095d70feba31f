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
import pkgutil
import zipfile
from collections.abc import Iterator

import keras

from seld_tf.errors import ModelFileError

# Where registered objects may be defined: these modules, and every module of
# these packages, so that a new layer, loss or model module is registered
# without being listed. Only these are imported because importing the whole
# package would pull in the CLI, plotting and dataset code. tests/test_saving.py
# fails when a registered object is defined anywhere else.
OBJECT_MODULES = (
    "seld_tf.layers",
    "seld_tf.losses",
    "seld_tf.models",
    "seld_tf.schedules",
    "seld_tf.optimizers",
    "seld_tf.augment",
    "seld_tf.callbacks",
    "seld_tf.metrics.streaming",
)


def register_all() -> None:
    """Import every module that registers custom Keras objects."""
    for name in OBJECT_MODULES:
        module = importlib.import_module(name)
        for submodule in pkgutil.walk_packages(getattr(module, "__path__", ()), f"{name}."):
            importlib.import_module(submodule.name)


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
    # Keras saves no module (null) for an object that a script (`__main__`) defined.
    unresolved = sorted(
        {
            (name, module or "")
            for name, class_name, module in _registered_objects(config)
            if class_name not in custom_objects
            and keras.saving.get_registered_object(name, custom_objects=custom_objects) is None
        }
    )
    if unresolved:
        found = ", ".join(
            f"'{name}' ({f'module {module}' if module else 'defined in a script'})" for name, module in unresolved
        )
        modules = sorted({module for _, module in unresolved if module})
        remedies = [f"import {', '.join(modules)}"] if modules else []
        if not all(module for _, module in unresolved):
            remedies.append("register the script's objects")
        raise ModelFileError(
            path,
            f"references {found}, which nothing has registered: {' and '.join(remedies)} before loading, "
            "or load the file with the version that saved it",
        )


def _registered_objects(config) -> Iterator[tuple[str, str, str | None]]:
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
