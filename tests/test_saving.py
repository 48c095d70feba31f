import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from seld_tf.errors import ModelFileError
from seld_tf.saving import load_model


def test_a_fresh_process_loads_every_registered_model(tmp_path):
    """Saved in one interpreter, loaded in another that never imported the model's modules."""
    save = textwrap.dedent(
        f"""
        from seld_tf.models.registry import MODELS, build_model
        from seld_tf.models.phan2020 import PHAN2020_PRESETS
        small = {{"seldnet": {{"conv_filters": 4, "rnn_units": [4], "fc_units": 4}},
                 "phan2020": {{**PHAN2020_PRESETS["cpu"], "conv_filters": [4, 4, 4, 4, 4, 4], "rnn_units": 4}},
                 "einv2": {{"filters": [4, 4, 4, 8], "num_heads": 2, "ff_dim": 8, "mhsa_layers": 1}}}}
        assert set(small) == set(MODELS), "a registered model is missing from this test"
        for name, args in small.items():
            bins = 256 if name == "einv2" else 64
            build_model(name, input_shape=(None, bins, 7), num_classes=14, **args).save({str(tmp_path)!r} + f"/{{name}}.keras")
        """
    )
    load = textwrap.dedent(
        f"""
        import numpy as np
        from seld_tf.saving import load_model
        for name in ("seldnet", "phan2020", "einv2"):
            model = load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            bins = 256 if name == "einv2" else 64
            outputs = model.predict_on_batch(np.zeros((1, 40, bins, 7), "float32"))
            assert {{"sed", "doa"}} <= set(outputs), (name, list(outputs))
        print("loaded")
        """
    )
    for script in (save, load):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("loaded")


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


def test_plain_keras_loading_needs_the_registrations(scheduled_model):
    """The README's promise: `import seld_tf` alone is not enough (it stays light), `register_all()` is."""
    script = textwrap.dedent(
        f"""
        import keras, seld_tf
        try:
            keras.saving.load_model({str(scheduled_model)!r})
        except TypeError as error:
            print("plain load failed:", "Could not locate class 'WarmupExponentialDecay'" in str(error))
        import seld_tf.saving
        seld_tf.saving.register_all()
        model = keras.saving.load_model({str(scheduled_model)!r})
        print("registered load:", model.optimizer.get_config()["learning_rate"]["class_name"])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-2:] == ["plain load failed: True", "registered load: WarmupExponentialDecay"]


def test_an_unresolvable_object_is_named_with_the_file_and_what_to_import(scheduled_model, tmp_path):
    # What a file saved by another version looks like: a schedule this version does not define.
    renamed = tmp_path / "renamed.keras"
    with zipfile.ZipFile(scheduled_model) as source, zipfile.ZipFile(renamed, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                data = (
                    data.decode()
                    .replace('"seld_tf>WarmupExponentialDecay"', '"seld_tf>RetiredSchedule"')
                    .replace('"seld_tf.schedules"', '"seld_tf.retired"')
                    .encode()
                )
            target.writestr(item, data)
    with pytest.raises(ModelFileError) as caught:
        load_model(renamed)
    assert str(caught.value) == (
        f"{renamed}: references 'seld_tf>RetiredSchedule' (module seld_tf.retired), which nothing has registered: "
        "import seld_tf.retired before loading, or load the file with the version that saved it"
    )
    schedule = load_model(scheduled_model).optimizer.get_config()["learning_rate"]
    assert (schedule["class_name"], schedule["config"]["decay_epochs"]) == ("WarmupExponentialDecay", [2])
