import csv
import json
import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from seld_tf.callbacks import NonFiniteLossError, RaiseOnNonFiniteLoss
from seld_tf.errors import ConfigError, RunError
from seld_tf.metrics.scoring import score_folders
from seld_tf.recipes import load_recipe, recipe_from_dict
from seld_tf.runs import evaluate_run, predict_file
from seld_tf.tasks import prepare_task
from seld_tf.tasks.seld import SeldEvaluator
from seld_tf.training import train

TINY = {
    "name": "tiny",
    "pipeline": {"train_frames": 50, "batch_size": 4},
    "model": {"name": "seldnet", "preset": None, "args": {"conv_filters": 8, "rnn_units": [8], "fc_units": 8}},
    "schedule": {"initial_learning_rate": 0.003},
    "training": {"epochs": 2, "seed": 3},
}


def history(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def finished_run(tiny_seld_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    train(recipe_from_dict(TINY), tiny_seld_dataset, run_dir, verbose=0, progress=False, log=lambda *_: None)
    return run_dir


def test_best_snapshot_is_the_epoch_with_the_lowest_validation_seld(finished_run, tiny_seld_dataset):
    rows = history(finished_run)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    val_seld = [float(r["val_seld"]) for r in rows]
    assert all(math.isfinite(v) for v in val_seld) and "val_sed_loss" in rows[0] and "sed_loss" in rows[0]

    recipe = load_recipe(finished_run / "recipe.yaml")
    data = prepare_task(recipe, tiny_seld_dataset, progress=False, log=lambda *_: None)
    clips, references = data.clips("validation")
    evaluator = SeldEvaluator(clips, references, label_form="classwise", frames_per_label=data.frames_per_label)
    best = keras.saving.load_model(finished_run / "best.keras")
    assert evaluator.evaluate(best).scores.SELD == pytest.approx(min(val_seld), abs=1e-6)
    last = keras.saving.load_model(finished_run / "last.keras")
    assert evaluator.evaluate(last).scores.SELD == pytest.approx(val_seld[-1], abs=1e-6)


def test_evaluate_writes_official_files_whose_score_matches(finished_run, tiny_seld_dataset):
    scores = evaluate_run(finished_run, tiny_seld_dataset, split="test", progress=False, log=lambda *_: None)
    outputs = sorted(p.stem for p in (finished_run / "outputs" / "test").glob("*.csv"))
    assert outputs == ["fold1_room1_mix001_ov1", "fold1_room1_mix002_ov2"]
    assert json.loads((finished_run / "metrics_test.json").read_text()) == pytest.approx(scores)
    # Scoring the written files from disk (the `seld-tf score` path) gives the same numbers.
    reference_dir = finished_run / "test_reference"
    reference_dir.mkdir()
    for name in outputs:
        (reference_dir / f"{name}.csv").write_text((tiny_seld_dataset / "metadata_dev" / f"{name}.csv").read_text())
    from_files = score_folders(reference_dir, finished_run / "outputs" / "test").to_dict()
    assert from_files["ER"] == pytest.approx(scores["ER"]) and from_files["F"] == pytest.approx(scores["F"])
    assert from_files["LE"] == pytest.approx(scores["LE"], abs=0.05)  # outputs are written to 4 decimals


def test_predict_one_file_equals_the_evaluation_output(finished_run, tiny_seld_dataset, tmp_path):
    name = "fold1_room1_mix002_ov2"
    evaluate_run(finished_run, tiny_seld_dataset, split="test", progress=False, log=lambda *_: None)
    predict_file(finished_run, tiny_seld_dataset / "foa_dev" / f"{name}.wav", tmp_path / "p.csv")
    expected = (finished_run / "outputs" / "test" / f"{name}.csv").read_text().splitlines()
    found = (tmp_path / "p.csv").read_text().splitlines()
    assert len(found) == len(expected)
    for a, b in zip(found, expected):
        assert a.split(",")[:3] == b.split(",")[:3]
        np.testing.assert_allclose([float(v) for v in a.split(",")[3:]], [float(v) for v in b.split(",")[3:]], atol=0.05)


def test_a_finished_run_folder_is_not_overwritten(finished_run, tiny_seld_dataset):
    with pytest.raises(RunError, match="finished run"):
        train(recipe_from_dict(TINY), tiny_seld_dataset, finished_run, verbose=0, progress=False, log=lambda *_: None)


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("killed")


def test_a_killed_run_resumes_where_it_stopped(tiny_seld_dataset, tmp_path):
    recipe = recipe_from_dict({**TINY, "training": {"epochs": 3, "seed": 3}})
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(recipe, tiny_seld_dataset, run_dir, verbose=0, progress=False, extra_callbacks=(_Crash(),), log=lambda *_: None)
    assert (run_dir / "backup").exists()
    best_before = min(float(r["val_seld"]) for r in history(run_dir))
    resumed = train(recipe, tiny_seld_dataset, run_dir, verbose=0, progress=False, log=lambda *_: None)
    assert resumed.epoch == [2]
    rows = history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert not (run_dir / "backup").exists()
    # The best snapshot is only replaced by a better epoch, also across the restart.
    assert min(float(r["val_seld"]) for r in rows) <= best_before


def test_non_finite_loss_stops_with_a_clear_error():
    callback = RaiseOnNonFiniteLoss("runs/x/best.keras")
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    callback.on_epoch_begin(4)
    callback.on_train_batch_end(0, {"loss": 1.0})
    with pytest.raises(NonFiniteLossError, match=r"nan at epoch 5, batch 8; the last good snapshot is runs/x/best.keras"):
        callback.on_train_batch_end(7, {"loss": float("nan")})


def test_recipe_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel:\n  nmae: seldnet\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: model: unknown key\(s\) \['nmae'\]"):
        load_recipe(path)
    path.write_text("name: x\ntraining: {epochs: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)


def test_mirrored_strategy_follows_the_single_device_trajectory(tiny_seld_dataset, tmp_path):
    """Two replicas on two logical CPUs (configured before TensorFlow starts: a fresh interpreter).

    Losses that average over elements split exactly across replicas, so the
    trajectories agree up to batch-norm statistics, which each replica takes
    over its half batch (measured: 0.3% apart after two epochs). The masked
    DOA loss, a ratio per batch, is computed per replica, hence unmasked here.
    """
    script = textwrap.dedent(
        f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from seld_tf.recipes import recipe_from_dict
        from seld_tf.training import train
        recipe = recipe_from_dict({{**{TINY!r}, "loss": {{"doa_masked": False, "doa_weight": 1.0}}}})
        losses = {{}}
        for strategy in ("default", "mirrored"):
            history = train(recipe, {str(tiny_seld_dataset)!r}, {str(tmp_path)!r} + "/" + strategy,
                            strategy=strategy, verbose=0, progress=False, log=lambda *_: None)
            losses[strategy] = history.history["loss"]
        print(json.dumps(losses))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(losses["mirrored"], losses["default"], rtol=0.01)


def test_radam_and_a_plateau_schedule_come_from_the_recipe():
    from seld_tf.optimizers import RAdam
    from seld_tf.training import make_optimizer

    recipe = recipe_from_dict(
        {"name": "x", "optimizer": {"name": "radam"}, "schedule": {"initial_learning_rate": 2e-4, "plateau": {"factor": 0.5}}}
    )
    optimizer = make_optimizer(recipe, steps_per_epoch=10)
    assert isinstance(optimizer, RAdam)
    # A plain rate, which ReduceLROnPlateau can lower.
    assert float(optimizer.learning_rate) == pytest.approx(2e-4)
    with pytest.raises(ConfigError, match="cannot be combined"):
        recipe_from_dict({"name": "x", "schedule": {"plateau": {"factor": 0.5}, "decay_epochs": [3]}})
    with pytest.raises(ConfigError, match="cannot be combined"):
        recipe_from_dict({"name": "x", "schedule": {"plateau": {"factor": 0.5}, "rampup_epochs": 5}})
    with pytest.raises(ConfigError, match="unknown keys"):
        recipe_from_dict({"name": "x", "schedule": {"plateau": {"monitor": "val_loss"}}})


def test_the_rampup_comes_from_the_recipe():
    from seld_tf.training import make_optimizer

    recipe = recipe_from_dict({"name": "x", "schedule": {"initial_learning_rate": 1e-3, "rampup_epochs": 2}})
    optimizer = make_optimizer(recipe, steps_per_epoch=5)
    schedule = keras.saving.deserialize_keras_object(optimizer.get_config()["learning_rate"])
    rates = [float(schedule(step)) for step in (0, 9, 20)]
    np.testing.assert_allclose(rates, [1e-3 * np.exp(-5 * 0.9**2), 1e-3, 1e-3], rtol=1e-6)


def test_mixed_bfloat16_precision_trains_and_saves_a_bfloat16_model_with_float32_outputs(tiny_seld_dataset, tmp_path):
    recipe = recipe_from_dict({**TINY, "training": {**TINY["training"], "precision": "mixed_bfloat16"}})
    run_dir = tmp_path / "bf16"
    train(recipe, tiny_seld_dataset, run_dir, verbose=0, progress=False, log=lambda *_: None)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    rows = history(run_dir)
    assert all(math.isfinite(float(row["loss"])) for row in rows)

    best = keras.saving.load_model(run_dir / "best.keras")
    core = next(layer for layer in best.layers if isinstance(layer, keras.Model))
    convs = [layer for layer in core.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32" for layer in convs)
    features = np.zeros((1, 50, *best.input_shape[2:]), np.float32)
    outputs = best(features)
    assert set(outputs) == set(best.output_names) and all(value.dtype == "float32" for value in outputs.values())

    data = prepare_task(recipe, tiny_seld_dataset, progress=False, log=lambda *_: None)
    clips, references = data.clips("validation")
    evaluator = SeldEvaluator(clips, references, label_form="classwise", frames_per_label=data.frames_per_label)
    assert evaluator.evaluate(best).scores.SELD == pytest.approx(min(float(row["val_seld"]) for row in rows), abs=1e-6)


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="training.precision"):
        recipe_from_dict({**TINY, "training": {"precision": "bfloat16"}})
