"""The weak tagging task trains and evaluates through the CLI on a tiny synthetic weak remix.

A toy builder lives here and is named by import path in the recipe, as
`test_task_seam` does for its toy task; the 2APAE itself (registered as
"apae2021", with its decoder) trains at tiny widths.
"""

import copy
import csv
import json

import keras
import numpy as np
import pytest
import soundfile as sf
import yaml

from seld_tf.audio import write_audio
from seld_tf.datasets.synth import weakmix as wm
from seld_tf.datasets.weak_remix import FSD_LABELS
from seld_tf.errors import ConfigError
from seld_tf.recipes import recipe_from_dict
from seld_tf.runs import evaluate_run, predict_file
from seld_tf.tasks import prepare_task
from seld_tf.tasks.weak_tagging import OUTPUT_FILE
from cli_runner import run_cli

# 5 classes, 40 scenes of 4 s, 10 mixtures per fold, one SNR: seconds to generate and extract.
TINY = wm.WeakmixSynthConfig(
    classes=("Acoustic_guitar", "Bark", "Hi-hat", "Knock", "Telephone"), verified_per_class=(4, 5), cities=1,
    locations=2, segments=2, mixtures_per_fold=10, snrs=(20,), seed=3,
)  # fmt: skip
# 4 s clips with the "apae2021" features (32 kHz, hop 1024, no centring): (128000 - 2048) // 1024 + 1 frames.
CLIP_FRAMES = 124
RECIPE = {
    "name": "weak",
    "task": "weak_tagging",
    # Test fold apart from the validation fold: train folds 3-4, validate 1, test 2.
    "data": {"snr": 20, "validation_fold": 1, "test_fold": 2},
    "loss": {"reconstruction_weight": 0.001},
    "pipeline": {"train_frames": CLIP_FRAMES, "batch_size": 4},
    "model": {"name": "test_task_weak_tagging:build_tiny_tagger", "preset": None, "args": {"filters": 4}},
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 2, "seed": 1},
}
# The 2APAE at tiny widths with its decoder, on the generator's 5 classes, trained as the paper
# (alpha = 0.001, plateau schedule on validation micro-AP).
APAE = {
    **RECIPE,
    "name": "weak_2apae",
    "data": {**RECIPE["data"], "classes": list(TINY.classes)},
    "model": {"name": "apae2021", "preset": None, "args": {"filters": [2, 3]}},
    "schedule": {"initial_learning_rate": 0.01, "plateau": {"factor": 0.1, "patience": 1}},
}


def build_tiny_tagger(input_shape, num_classes, filters: int = 4) -> keras.Model:
    """Clip probabilities "clip" `[B, K]` and a reconstruction `[B, T, F, C]` of the scaled input."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    clip = keras.layers.Dense(num_classes, activation="sigmoid", name="clip")(keras.layers.GlobalMaxPooling2D()(x))
    reconstruction = keras.layers.Conv2D(input_shape[-1], 1, name="reconstruction")(x)
    return keras.Model(inputs, {"clip": clip, "reconstruction": reconstruction})


@pytest.fixture(scope="module")
def weakmix(tmp_path_factory):
    """The tiny remix's workspace, shared by the tests (and so is its feature cache)."""
    root = tmp_path_factory.mktemp("weakmix")
    wm.synthesize_weakmix_dataset(root / "data", TINY, workers=1, progress=False)
    return root / "data" / wm.WORKSPACE_DIR


def write_recipe(tmp_path, values) -> str:
    path = tmp_path / f"{values['name']}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def read_history(run) -> list[dict]:
    with open(run / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def read_table(path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter="\t"))


def test_weak_tagging_trains_two_epochs_and_evaluates_into_the_output_table(tmp_path, weakmix):
    run = tmp_path / "run"
    trained = run_cli("train", write_recipe(tmp_path, RECIPE), "--data", weakmix, "--out", run)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout.strip().splitlines()[-1])["monitor"] == "val_ap_micro"
    rows = read_history(run)
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert all(0 < float(row["val_ap_micro"]) <= 1 for row in rows)
    assert all(float(row["val_reconstruction_loss"]) > 0 for row in rows)

    evaluated = run_cli("evaluate", run, "--data", weakmix, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads((run / "metrics_test.json").read_text())
    # Without data.classes, the 41 FSDKaggle2018 labels; those without a positive clip have no AP (NaN).
    assert set(scores) == {"ap_micro", "ap_macro", "auc_macro", "f1_micro", *(f"ap/{label}" for label in FSD_LABELS)}
    assert 0 < scores["ap_micro"] <= 1 and 0 <= scores["auc_macro"] <= 1
    assert {label for label in FSD_LABELS if not np.isnan(scores[f"ap/{label}"])} <= set(TINY.classes)

    table = read_table(run / "outputs" / "test" / OUTPUT_FILE)
    assert table[0] == ["filename", *FSD_LABELS]
    # Fold 2 is mixtures 00010-00019 (named consecutively over the folds).
    assert [row[0] for row in table[1:]] == [f"{index:05d}.wav" for index in range(10, 20)]
    assert all(0 <= float(value) <= 1 for row in table[1:] for value in row[1:])


def test_2apae_with_its_decoder_trains_and_scores_its_best_and_last_models(tmp_path, weakmix):
    run = tmp_path / "run"
    trained = run_cli("train", write_recipe(tmp_path, APAE), "--data", weakmix, "--out", run)
    assert trained.returncode == 0, trained.stderr
    rows = read_history(run)
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    # BCE + 0.001 MSE, both logged; the plateau schedule logs the rate. Per-class AP stays out of the history.
    for row in rows:
        assert float(row["loss"]) == pytest.approx(float(row["clip_loss"]) + 0.001 * float(row["reconstruction_loss"]), rel=1e-4)
        assert 0 < float(row["val_ap_micro"]) <= 1 and float(row["val_reconstruction_loss"]) > 0
    assert "learning_rate" in rows[0] and not any(key.startswith("val_ap/") for key in rows[0])

    # The last model through the CLI, the best snapshot in-process (one process start fewer).
    evaluated = run_cli("evaluate", run, "--data", weakmix, "--split", "validation", "--which", "last")
    assert evaluated.returncode == 0, evaluated.stderr
    scores = {
        "last": json.loads((run / "metrics_validation_last.json").read_text()),
        "best": evaluate_run(run, weakmix, "validation", progress=False, log=lambda *_: None),
    }
    assert json.loads(evaluated.stdout.strip().splitlines()[-1]) == pytest.approx(scores["last"], nan_ok=True)
    assert json.loads((run / "metrics_validation.json").read_text()) == pytest.approx(scores["best"], nan_ok=True)
    for which, suffix in (("best", ""), ("last", "_last")):
        assert set(scores[which]) == {"ap_micro", "ap_macro", "auc_macro", "f1_micro", *(f"ap/{label}" for label in TINY.classes)}
        # Every class has positives in every fold (stratified folds): macro AP is the mean of the classes'.
        assert scores[which]["ap_macro"] == pytest.approx(np.mean([scores[which][f"ap/{label}"] for label in TINY.classes]))
        table = read_table(run / "outputs" / f"validation{suffix}" / OUTPUT_FILE)
        assert table[0] == ["filename", *TINY.classes] and len(table) == 11
    # The best snapshot is the epoch of the highest validation micro-AP: its scores are that row's.
    best = max(rows, key=lambda row: float(row["val_ap_micro"]))
    assert scores["best"]["ap_micro"] == pytest.approx(float(best["val_ap_micro"]), rel=1e-5)
    assert scores["last"]["ap_micro"] == pytest.approx(float(rows[-1]["val_ap_micro"]), rel=1e-5)

    # One file: a whole clip is predicted into a one-row table; a shorter one is refused (fixed input length).
    # The first validation clip (fold 1 is mixtures 00000-00009).
    mixture = weakmix / "mixed_audio" / "snr_20" / "00000.wav"
    predict_file(run, mixture, tmp_path / "one.tsv")
    table = read_table(tmp_path / "one.tsv")
    assert table[0] == ["filename", *TINY.classes] and table[1][0] == "one.wav"
    assert [float(value) for value in table[1][1:]] == pytest.approx(
        [float(value) for value in read_table(run / "outputs" / "validation" / OUTPUT_FILE)[1][1:]], abs=1e-5
    )
    audio, rate = sf.read(mixture)
    write_audio(tmp_path / "short.wav", audio[: len(audio) // 2], rate)
    with pytest.raises(ConfigError, match="61 feature frames, but the model takes whole clips of 124"):
        predict_file(run, tmp_path / "short.wav", tmp_path / "short.tsv")


@pytest.mark.parametrize(
    "change, message",
    [
        # The 2APAE's input is a whole clip: another window length is a recipe error, not a shape traceback.
        ({"pipeline": {"train_frames": 64, "batch_size": 4}}, "pipeline.train_frames is 64, but the clips at SNR 20 dB have other lengths (clips: 40 with 124 frames)"),
        # A mixture's event outside the model's classes would have no output column.
        ({"data": {**APAE["data"], "classes": list(TINY.classes[:4])}}, "has events of ['Telephone'], which are not in data.classes"),
    ],
)  # fmt: skip
def test_recipes_that_do_not_fit_the_data_are_refused_before_training(weakmix, change, message):
    recipe = recipe_from_dict({**copy.deepcopy(APAE), **change})
    with pytest.raises(ConfigError) as error:
        prepare_task(recipe, weakmix, progress=False, log=lambda *_: None)
    assert message in str(error.value)


def test_classes_must_be_distinct_fsdkaggle2018_labels():
    with pytest.raises(ConfigError, match=r"data.classes: \['Dog'\] are not FSDKaggle2018 labels"):
        recipe_from_dict({**APAE, "data": {"classes": ["Bark", "Dog"]}})
    with pytest.raises(ConfigError, match=r"data.classes: \['Bark'\] appear more than once"):
        recipe_from_dict({**APAE, "data": {"classes": ["Bark", "Meow", "Bark"]}})
