import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import seld_tf
from seld_tf.errors import ModelFileError
from seld_tf.models.registry import MODELS
from seld_tf.saving import load_model


def test_every_registered_model_is_checked_by_the_harness():
    """Each builder's tests load its model in a fresh process (`model_harness.check_saving`)."""
    for name in MODELS:
        source = (Path(__file__).parent / f"test_models_{name}.py").read_text()
        assert "fresh_process=True" in source, f"no fresh-process load of the registered model {name!r}"


@pytest.fixture(scope="module")
def scheduled_model(tmp_path_factory):
    """A model compiled with the package's schedule, whose `.keras` file names `seld_tf>WarmupExponentialDecay`."""
    import keras

    from seld_tf.schedules import WarmupExponentialDecay

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    schedule = WarmupExponentialDecay(1e-3, steps_per_epoch=10, decay_epochs=[2], decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    model.train_on_batch(np.ones((2, 3)), np.ones((2, 2)))  # builds the optimizer's variables, saved with it
    path = tmp_path_factory.mktemp("saved") / "scheduled.keras"
    model.save(path)
    return path


def registering_modules() -> list[str]:
    """The modules of seld_tf that apply `register_keras_serializable`, found in the source."""
    decorator = re.compile(r"^\s*@[\w.]*register_keras_serializable\(", re.MULTILINE)
    root = Path(seld_tf.__file__).parent
    return sorted(
        ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for path in root.rglob("*.py")
        if decorator.search(path.read_text())
    )


def test_register_all_is_needed_and_enough(scheduled_model):
    """The README's promise: `import seld_tf` alone registers nothing (it stays light), and
    `register_all()` registers every object the package defines.

    In a fresh process, so that nothing but these imports has registered anything.
    """
    script = textwrap.dedent(
        f"""
        import importlib, json, keras, seld_tf

        def registered():
            return {{
                name: obj.__module__
                for name, obj in keras.saving.get_custom_objects().items()
                if obj.__module__.startswith("seld_tf")
            }}

        report = {{"registered by import seld_tf": sorted(registered())}}
        try:
            keras.saving.load_model({str(scheduled_model)!r})
        except TypeError as error:
            report["plain load failed"] = "Could not locate class 'WarmupExponentialDecay'" in str(error)
        import seld_tf.saving
        seld_tf.saving.register_all()
        model = keras.saving.load_model({str(scheduled_model)!r})
        report["loaded schedule"] = model.optimizer.get_config()["learning_rate"]["class_name"]
        by_register_all = registered()
        for module in {registering_modules()!r}:
            importlib.import_module(module)
        report["registered only by importing its module"] = sorted(registered().keys() - by_register_all.keys())
        report["modules registering objects"] = sorted(set(registered().values()))
        print(json.dumps(report))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "registered by import seld_tf": [],
        "plain load failed": True,
        "loaded schedule": "WarmupExponentialDecay",
        # Fails when a module defining registered objects is outside `seld_tf.saving.OBJECT_MODULES`.
        "registered only by importing its module": [],
        # Fails when the search in the source misses how a module registers its objects.
        "modules registering objects": registering_modules(),
    }


@pytest.mark.parametrize(
    "module, found, remedy",
    [
        # What a file saved by another version looks like: a schedule this version does not define.
        ('"seld_tf.retired"', "module seld_tf.retired", "import seld_tf.retired"),
        # What Keras saves for an object that a script defined.
        ("null", "defined in a script", "register the script's objects"),
    ],
    ids=["another_version", "a_script"],
)
def test_an_unresolvable_object_is_named_with_the_file_and_what_to_import(
    scheduled_model, tmp_path, module, found, remedy
):
    renamed = tmp_path / "renamed.keras"
    with zipfile.ZipFile(scheduled_model) as source, zipfile.ZipFile(renamed, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                data = (
                    data.decode()
                    .replace('"seld_tf>WarmupExponentialDecay"', '"seld_tf>RetiredSchedule"')
                    .replace('"seld_tf.schedules"', module)
                    .encode()
                )
            target.writestr(item, data)
    with pytest.raises(ModelFileError) as caught:
        load_model(renamed)
    assert str(caught.value) == (
        f"{renamed}: references 'seld_tf>RetiredSchedule' ({found}), which nothing has registered: "
        f"{remedy} before loading, or load the file with the version that saved it"
    )
    schedule = load_model(scheduled_model).optimizer.get_config()["learning_rate"]
    assert (schedule["class_name"], schedule["config"]["decay_epochs"]) == ("WarmupExponentialDecay", [2])
