"""The DESED SED task end to end: a tiny CRNN trains two epochs on mixed
strong / weak / unlabeled batches through `seld-tf train` and is evaluated by
`seld-tf evaluate` into a DESED prediction TSV."""

import csv
import json

import keras
import numpy as np
import pytest
import yaml

from seld_tf.datasets.desed import CLASS_NAMES
from seld_tf.datasets.strong_events import StrongEvent
from seld_tf.recipes import recipe_from_dict
from seld_tf.tasks.desed_sed import PREDICTION_HEADER, DesedEvaluationSpec, DesedSedTask, decode_strong
from cli_runner import run_cli

SIZES = {"synthetic_train": 4, "weak": 2, "unlabeled": 2, "validation": 3, "public_eval": 3}
RECIPE = {
    "name": "desed_tiny",
    "task": "desed_sed",
    "data": {"feature_overrides": {"n_mels": 32}},
    "pipeline": {"train_frames": 128, "subsets": {"synthetic_train": 2, "weak": 2, "unlabeled": 2}, "epoch_subset": "synthetic_train"},
    "model": {"name": "test_task_desed_sed:build_tiny_crnn", "preset": None, "args": {"filters": 4}},
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 2, "seed": 1},
}


def build_tiny_crnn(input_shape, num_classes, filters: int = 8) -> keras.Model:
    """Conv, 4x time pooling (the task's `frames_per_label`), a GRU, and the two DESED outputs."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D((4, 4), padding="same")(x)
    x = keras.layers.Reshape((-1, x.shape[2] * filters))(x)
    x = keras.layers.GRU(8, return_sequences=True)(x)
    strong = keras.layers.Dense(num_classes, activation="sigmoid", name="strong")(x)
    weak = keras.layers.GlobalAveragePooling1D(name="weak")(strong)
    return keras.Model(inputs, {"strong": strong, "weak": weak})




@pytest.fixture(scope="module")
def desed(tmp_path_factory):
    from seld_tf.datasets.synth.desed import DesedSynthConfig, synthesize_desed_dataset

    root = tmp_path_factory.mktemp("desed")
    synthesize_desed_dataset(root / "data", DesedSynthConfig(SIZES), workers=1, progress=False)
    recipe_path = root / "desed.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    return root, root / "data", recipe_path


def test_targets_follow_each_subsets_labels(desed):
    _, data, _ = desed
    task = DesedSedTask(recipe_from_dict(RECIPE))
    task.prepare(data, progress=False, log=lambda *_: None)
    strong, references = task.clips("synthetic_train")
    # 10 s at 16 kHz, hop 256: 625 frames, pooled by 4 into 157 label frames.
    assert strong[0].labels["strong"].shape == (157, len(CLASS_NAMES))
    assert np.array_equal(strong[0].clip_labels["weak"], strong[0].labels["strong"].max(axis=0))
    assert len(references) == SIZES["synthetic_train"]
    weak, weak_references = task.clips("weak")
    assert weak[0].labels == {} and weak[0].clip_labels["weak"].shape == (len(CLASS_NAMES),) and weak_references is None
    unlabeled, none = task.clips("unlabeled")
    assert unlabeled[0].labels == {} and unlabeled[0].clip_labels == {} and none is None
    test, _ = task.clips("test")
    assert len(test) == SIZES["public_eval"] and all(clip.name.endswith(".wav") for clip in test)


def test_decoding_turns_active_label_frames_into_events():
    probabilities = np.zeros((157, len(CLASS_NAMES)))
    probabilities[16:48, CLASS_NAMES.index("Dog")] = 0.9
    spec = DesedEvaluationSpec(median_filter=None)
    assert decode_strong(probabilities, 15.625, spec) == [StrongEvent(1.024, 3.072, "Dog")]


def test_the_desed_task_trains_and_evaluates_through_the_cli(desed):
    root, data, recipe_path = desed
    run = root / "run"
    trained = run_cli("train", recipe_path, "--data", data, "--out", run)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["monitor"] == "val_event_f1"

    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    scores = [float(row["val_event_f1"]) for row in rows]
    assert all(0 <= score <= 1 for score in scores)
    assert summary["best"] == pytest.approx(max(scores))

    evaluated = run_cli("evaluate", run, "--data", data, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert set(metrics) == {"event_f1", "event_f1_micro", "segment_f1", "segment_f1_micro"}
    assert 0 <= metrics["event_f1"] <= 1

    with open(run / "outputs" / "test" / "predictions.tsv", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        assert tuple(next(reader)) == PREDICTION_HEADER
        rows = list(reader)
    with open(data / "metadata" / "eval" / "public.tsv", newline="") as handle:
        test_files = {row["filename"] for row in csv.DictReader(handle, delimiter="\t")}
    for filename, onset, offset, label in rows:
        assert filename in test_files and label in CLASS_NAMES and 0 <= float(onset) < float(offset) <= 10.1
