"""The task seam: a task that is not SELD goes through the same trainer and CLI.

`toy_task.ToyTaggingTask` (clip tags, monitor `val_ap_micro`, mode "max")
is named by its import path in the recipe, like a researcher's own task.
"""

import csv
import json
import signal

import pytest
import yaml

from seld_tf.errors import ConfigError
from seld_tf.recipes import load_recipe, recipe_from_dict
from seld_tf.runs import RunFolder, predict_file
from seld_tf.saving import load_model
from seld_tf.tasks import prepare_task, task_class
from cli_runner import run_cli

RECIPE = {
    "name": "toy",
    "task": "toy_task:ToyTaggingTask",
    # Every batch: 2 labelled windows and 2 unlabeled ones (no target: sample weight 0).
    "pipeline": {"train_frames": 32, "subsets": {"train": 2, "unlabeled": 2}, "epoch_subset": "train"},
    "model": {"name": "toy_task:build_toy_tagger", "preset": None, "args": {"filters": 4}},
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 3, "seed": 1},
}




@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from toy_task import write_toy_dataset

    root = tmp_path_factory.mktemp("toy")
    data = write_toy_dataset(root / "data")
    recipe_path = root / "toy.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    return root, data, recipe_path


def test_the_toy_task_trains_resumes_and_evaluates_through_the_cli(toy):
    root, data, recipe_path = toy
    run = RunFolder(root / "run")
    killed = run_cli("train", recipe_path, "--data", data, "--out", run.path, kill_at="commit@2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert run.committed_epochs() == 2 and not run.finished
    resumed = run_cli("train", recipe_path, "--data", data, "--out", run.path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["monitor"] == "val_ap_micro" and summary["epochs_run"] == 1

    with open(run.history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]
    scores = [float(row["val_ap_micro"]) for row in rows]
    # Mode "max": the best snapshot is the epoch with the highest validation AP, across the restart.
    assert summary["best"] == pytest.approx(max(scores))
    recipe = load_recipe(run.path / "recipe.yaml")
    evaluator = prepare_task(recipe, data, progress=False, log=lambda *_: None).evaluator("validation")
    best = evaluator.evaluate(load_model(run.best), with_losses=False).scores["ap_micro"]
    assert best == pytest.approx(max(scores), abs=1e-6)

    evaluated = run_cli("evaluate", run.path, "--data", data, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    test_scores = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert set(test_scores) == {"ap_micro"} and 0 < test_scores["ap_micro"] <= 1
    assert json.loads((run.path / "metrics_test.json").read_text()) == pytest.approx(test_scores)
    assert len(list((run.path / "outputs" / "test").glob("*.csv"))) == 4
    predicted = predict_file(run.path, data / "audio" / "test_00.wav", root / "test_00.csv")
    assert (root / "test_00.csv").read_text() == (run.path / "outputs" / "test" / "test_00.csv").read_text()
    assert predicted.shape == (3,)


def test_a_recipe_without_task_is_seld_and_task_groups_are_strict():
    assert recipe_from_dict({"name": "x"}).task == "seld"
    with pytest.raises(ConfigError, match=r"data: unknown key\(s\) \['n_mels'\]"):
        recipe_from_dict({"name": "x", "data": {"n_mels": 3}})
    toy = recipe_from_dict({"name": "x", "task": "toy_task:ToyTaggingTask", "data": {"n_mels": 3}})
    assert toy.data.n_mels == 3
    with pytest.raises(ConfigError, match=r"data: unknown key\(s\) \['label_form'\]"):
        recipe_from_dict({"name": "x", "task": "toy_task:ToyTaggingTask", "data": {"label_form": "trackwise"}})


def test_unknown_tasks_are_named():
    with pytest.raises(ConfigError, match="unknown task 'sed'; registered tasks: \\['desed_sed', 'scene_event', 'seld', 'weak_tagging'\\]"):
        task_class("sed")
    with pytest.raises(ConfigError, match="cannot import"):
        task_class("no_such_module:Task")
    with pytest.raises(ConfigError, match="is not a seld_tf.tasks.Task subclass"):
        task_class("toy_task:TaggingEvaluator")
