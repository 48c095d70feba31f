"""The weak tagging task trains and evaluates through the CLI on a tiny synthetic weak remix.

The builder lives here and is named by import path in the recipe, as
`test_task_seam` does for its toy task.
"""

import csv
import json

import keras
import yaml

from seld_tf.datasets.synth import weakmix as wm
from seld_tf.datasets.weak_remix import FSD_LABELS
from seld_tf.tasks.weak_tagging import OUTPUT_FILE
from cli_runner import run_cli

# 5 classes, 40 scenes of 4 s, 10 mixtures per fold, one SNR: seconds to generate and extract.
TINY = wm.WeakmixSynthConfig(
    classes=("Acoustic_guitar", "Bark", "Hi-hat", "Knock", "Telephone"), verified_per_class=(4, 5), cities=1,
    locations=2, segments=2, mixtures_per_fold=10, snrs=(20,), seed=3,
)  # fmt: skip
RECIPE = {
    "name": "weak",
    "task": "weak_tagging",
    # Test fold apart from the validation fold: train folds 3-4, validate 1, test 2.
    "data": {"snr": 20, "validation_fold": 1, "test_fold": 2},
    "loss": {"reconstruction_weight": 0.001},
    "pipeline": {"train_frames": 64, "batch_size": 4},
    "model": {"name": "test_task_weak_tagging:build_tiny_tagger", "preset": None, "args": {"filters": 4}},
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 2, "seed": 1},
}


def build_tiny_tagger(input_shape, num_classes, filters: int = 4) -> keras.Model:
    """Clip probabilities "clip" `[B, K]` and a reconstruction `[B, T, F]` of the scaled input."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    clip = keras.layers.Dense(num_classes, activation="sigmoid", name="clip")(keras.layers.GlobalMaxPooling2D()(x))
    reconstruction = keras.layers.Reshape(input_shape[:-1], name="reconstruction")(keras.layers.Conv2D(1, 1)(x))
    return keras.Model(inputs, {"clip": clip, "reconstruction": reconstruction})




def test_weak_tagging_trains_two_epochs_and_evaluates_into_the_output_table(tmp_path):
    wm.synthesize_weakmix_dataset(tmp_path / "weakmix", TINY, workers=1, progress=False)
    data = tmp_path / "weakmix" / wm.WORKSPACE_DIR
    recipe_path = tmp_path / "weak.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    run = tmp_path / "run"

    trained = run_cli("train", recipe_path, "--data", data, "--out", run)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout.strip().splitlines()[-1])["monitor"] == "val_ap_micro"
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert all(0 < float(row["val_ap_micro"]) <= 1 for row in rows)
    assert all(float(row["val_reconstruction_loss"]) > 0 for row in rows)

    evaluated = run_cli("evaluate", run, "--data", data, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads((run / "metrics_test.json").read_text())
    assert set(scores) == {"ap_micro", "ap_macro", "auc_macro", "f1_micro"}
    assert 0 < scores["ap_micro"] <= 1 and 0 <= scores["auc_macro"] <= 1

    with open(run / "outputs" / "test" / OUTPUT_FILE, newline="") as handle:
        table = list(csv.reader(handle, delimiter="\t"))
    assert table[0] == ["filename", *FSD_LABELS]
    # Fold 2 is mixtures 00010-00019 (named consecutively over the folds).
    assert [row[0] for row in table[1:]] == [f"{index:05d}.wav" for index in range(10, 20)]
    assert all(0 <= float(value) <= 1 for row in table[1:] for value in row[1:])
