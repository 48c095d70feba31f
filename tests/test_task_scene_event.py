"""The scene + event task (Nada 2022) trains two epochs through `seld-tf train` on a
tiny synthetic TUT set and `seld-tf evaluate` writes its output TSVs and scores."""

import csv
import json

import keras
import numpy as np
import pytest
import yaml

from seld_tf.datasets.synth.tut import TutSynthConfig, synthesize_tut_dataset
from seld_tf.datasets.tut import EVENT_CLASSES, SCENE_CLASSES
from seld_tf.errors import ConfigError
from seld_tf.pipeline import ClipRecord
from seld_tf.recipes import recipe_from_dict
from seld_tf.tasks.scene_event import SceneEventEvaluator, SceneEventReference, decode_scene_event
from seld_tf.runs import RunFolder
from cli_runner import run_cli

TASK = "scene_event"
# Every scene in every fold, short recordings: one fold's validation part holds each scene once.
SMALL = {
    "dev_home": 4, "dev_residential_area": 4, "dev_city_center": 4, "dev_office": 4,
    "eval_home": 1, "eval_residential_area": 1, "eval_city_center": 1, "eval_office": 1, "eval_city_center_10s": 1,
}
RECIPE = {
    "name": "scene_event_tiny",
    "task": TASK,
    "data": {"fold": 1},
    "pipeline": {"train_frames": 100, "batch_size": 4},
    "model": {"name": "test_task_scene_event:build_tiny_scene_event", "preset": None, "args": {"filters": 4}},
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 2, "steps_per_epoch": 2, "seed": 0},
    "evaluation": {"segment_frames": 500},
}


def build_tiny_scene_event(input_shape, num_events, num_scenes, branches=("scene", "event"), filters: int = 4) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    frames = keras.layers.MaxPooling2D((1, input_shape[1]))(x)
    frames = keras.layers.Reshape((-1, filters))(frames)
    outputs = {}
    if "event" in branches:
        outputs["event_logits"] = keras.layers.Dense(num_events, name="event_logits")(frames)
        outputs["event"] = keras.layers.Activation("sigmoid", name="event")(outputs["event_logits"])
    if "scene" in branches:
        outputs["scene_logits"] = keras.layers.Dense(num_scenes, name="scene_logits")(keras.layers.GlobalMaxPooling2D()(x))
        outputs["scene"] = keras.layers.Activation("softmax", name="scene")(outputs["scene_logits"])
    return keras.Model(inputs, outputs)




@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("scene_event")
    data = root / "data"
    synthesize_tut_dataset(data, TutSynthConfig(SMALL, se_seconds=(10.0, 11.0), seed=0), workers=2, progress=False)
    recipe_path = root / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    return root, data, recipe_path


def _rows(path, delimiter=","):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_the_scene_event_task_trains_and_evaluates_through_the_cli(tiny):
    root, data, recipe_path = tiny
    run = root / "run"
    trained = run_cli("train", recipe_path, "--data", data, "--out", run)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["monitor"] == "val_event_f1_micro"
    history = _rows(RunFolder(run).history)
    assert [int(row["epoch"]) for row in history] == [0, 1]
    scores = [float(row["val_event_f1_micro"]) for row in history]
    assert all(0 <= score <= 1 for score in scores)
    assert summary["best"] == pytest.approx(max(scores))

    evaluated = run_cli("evaluate", run, "--data", data, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / "metrics_test.json").read_text())
    table_iv = {"event_f1_micro", "event_f1_macro", "scene_accuracy", "scene_f1_macro"}
    table_v = {f"event_f1/{label}" for label in EVENT_CLASSES}
    assert set(metrics) == table_iv | table_v | {"segment_f1_micro", "segment_er"}
    assert all(0 <= metrics[name] <= 1 for name in table_iv | table_v)
    assert "val_event_f1/car" not in history[0]

    outputs = run / "outputs" / "test"
    scenes = _rows(outputs / "scenes.tsv", "\t")
    test_files = {row["path"] for row in _rows(data / "meta" / "meta_evaluation.txt", "\t")}
    assert {row["filename"] for row in scenes} == test_files
    assert {row["scene_label"] for row in scenes} <= set(SCENE_CLASSES)
    for row in _rows(outputs / "events.tsv", "\t"):
        assert row["filename"] in test_files and row["event_label"] in EVENT_CLASSES
        assert 0 <= float(row["onset"]) < float(row["offset"])


@pytest.mark.parametrize(
    "loss, monitor, scores",
    [
        ({"alpha": 0.0}, "val_event_f1_micro", {"event_f1_micro", "event_f1_macro"}),
        ({"beta": 0.0}, "val_scene_accuracy", {"scene_accuracy", "scene_f1_macro"}),
    ],
    ids=["cnn_bigru_sed", "cnn_asc"],
)
def test_a_zero_task_weight_trains_the_single_task_baseline(tiny, loss, monitor, scores):
    root, data, _ = tiny
    recipe_path = root / f"{monitor}.yaml"
    recipe = {**RECIPE, "loss": loss, "training": {**RECIPE["training"], "epochs": 1}}
    recipe_path.write_text(yaml.safe_dump(recipe))
    run = root / f"run_{monitor}"
    trained = run_cli("train", recipe_path, "--data", data, "--out", run)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout.strip().splitlines()[-1])["monitor"] == monitor
    model = keras.saving.load_model(RunFolder(run).best, compile=False)
    assert set(model.output) == {name for branch in recipe_branches(loss) for name in (branch, f"{branch}_logits")}
    evaluated = run_cli("evaluate", run, "--data", data, "--split", "validation")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / "metrics_validation.json").read_text())
    assert scores <= set(metrics)
    assert not ({"event_f1_micro", "scene_accuracy"} - scores) & set(metrics)


def test_dynamic_weight_average_reweights_the_two_losses_each_epoch(tiny):
    root, data, _ = tiny
    recipe_path = root / "dwa.yaml"
    recipe = {**RECIPE, "loss": {"weighting": "dwa"}, "training": {**RECIPE["training"], "epochs": 3}}
    recipe_path.write_text(yaml.safe_dump(recipe))
    run = root / "run_dwa"
    trained = run_cli("train", recipe_path, "--data", data, "--out", run)
    assert trained.returncode == 0, trained.stderr
    history = _rows(RunFolder(run).history)
    scene = [float(row["scene_logits_dwa_weight"]) for row in history]
    event = [float(row["event_logits_dwa_weight"]) for row in history]
    assert scene[:2] == event[:2] == [1.0, 1.0]
    assert scene[2] + event[2] == pytest.approx(2.0) and scene[2] != 1.0
    with pytest.raises(ConfigError, match="both alpha and beta"):
        recipe_from_dict({**RECIPE, "loss": {"weighting": "dwa", "alpha": 0.0}})


def recipe_branches(loss):
    return recipe_from_dict({**RECIPE, "loss": loss}).loss.branches


def test_scenes_are_scored_per_10_s_window_as_the_paper_counts_clips():
    # Recording a (office) has three windows, two classified office; b (home) one window, classified home.
    office, home = SCENE_CLASSES.index("office"), SCENE_CLASSES.index("home")
    windows = np.eye(len(SCENE_CLASSES))[[office, home, office]]
    rolls = {"a": np.zeros((1500, len(EVENT_CLASSES))), "b": np.zeros((500, len(EVENT_CLASSES)))}
    predictions = [
        decode_scene_event({"scene": windows, "event": rolls["a"]}, frame_rate=50.0),
        decode_scene_event({"scene": np.eye(len(SCENE_CLASSES))[[home]], "event": rolls["b"]}, frame_rate=50.0),
    ]
    assert predictions[0].scene == "office" and list(predictions[0].window_scenes) == [office, home, office]
    clips = [ClipRecord("a", "unused", {}), ClipRecord("b", "unused", {})]
    references = [SceneEventReference(rolls["a"], office), SceneEventReference(rolls["b"], home)]
    scores = SceneEventEvaluator(clips, references, frame_rate=50.0).score(references, predictions, None)
    assert scores["scene_accuracy"] == pytest.approx(3 / 4)  # per recording it would be 2 / 2


def test_the_multi_focal_loss_settings_are_checked():
    with pytest.raises(ConfigError, match="both 0"):
        recipe_from_dict({"name": "x", "task": TASK, "loss": {"alpha": 0, "beta": 0}})
    with pytest.raises(ConfigError, match="loss.reduction"):
        recipe_from_dict({"name": "x", "task": TASK, "loss": {"reduction": "max"}})
    proposed = recipe_from_dict({"name": "x", "task": TASK, "loss": {"eta": 0.5, "gamma": 1.0, "zeta": 0.0625}}).loss
    assert proposed.branches == ("scene", "event")


def test_the_fold_must_be_one_of_imotos_four():
    with pytest.raises(ConfigError, match="data.fold"):
        recipe_from_dict({"name": "x", "task": TASK, "data": {"fold": 5}})
    assert recipe_from_dict({"name": "x", "task": TASK}).loss.alpha == 0.001
