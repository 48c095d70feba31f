"""The DESED SED task end to end: a tiny CRNN trains two epochs on mixed
strong / weak / unlabeled batches through `seld-tf train` and is evaluated by
`seld-tf evaluate` into a DESED prediction TSV; a tiny MTL-VAE (Giannakopoulos
& Pikrakis 2022) does the same with all four of its loss terms and is exported."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from seld_tf.datasets.desed import CLASS_NAMES, split_names
from seld_tf.datasets.strong_events import StrongEvent, events_to_roll, weak_to_multihot
from seld_tf.errors import ConfigError
from seld_tf.pipeline import ClipRecord
from seld_tf.recipes import recipe_from_dict
from seld_tf.tasks.desed_sed import (
    PREDICTION_HEADER,
    DesedEvaluationSpec,
    DesedEvaluator,
    DesedSedTask,
    clip_outputs,
    decode_strong,
)
from cli_runner import run_cli

SIZES = {"synthetic_train": 4, "weak": 2, "unlabeled": 2, "audioset_strong": 2, "validation": 3, "public_eval": 3}
RECIPE = {
    "name": "desed_tiny",
    "task": "desed_sed",
    "data": {"feature_overrides": {"n_mels": 32}},
    "pipeline": {"train_frames": 128, "subsets": {"synthetic_train": 2, "weak": 2, "unlabeled": 2}, "epoch_subset": "synthetic_train"},
    "model": {"name": "test_task_desed_sed:build_tiny_crnn", "preset": None, "args": {"filters": 4}},
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 2, "seed": 1},
}
# The MTL-VAE at a few units, all four Fig. 2 tasks: 40 ms frames, no time pooling.
VAE_RECIPE = {
    "name": "mtl_vae_tiny",
    "task": "desed_sed",
    "data": {
        "features": "mtl_vae2022",
        "feature_overrides": {"n_mels": 16, "n_fft": 1024, "win_length": 1024, "hop_length": 640},
        "frames_per_label": 1,
    },
    "pipeline": {
        "train_frames": 256,
        "subsets": {"train": 2, "weak": 2, "unlabeled": 2, "audioset_strong": 2},
        "epoch_subset": "train",
    },
    "model": {"name": "mtl_vae2022", "preset": "cpu", "args": {"units": 4, "latent_dim": 4, "seed": 1}},
    "loss": {"weak_weight": 1.0, "reconstruction_weight": 1.0, "kl_weight": 1.0, "weak_from_strong": False},
    "schedule": {"initial_learning_rate": 5.0e-4},
    "training": {"epochs": 1, "seed": 1},
    "evaluation": {
        "threshold": 0.51,
        "median_filter": 11,
        "filter_on": "probabilities",
        "median_edges": "zeros",
        "percentage_of_length": 0.5,
        "extra_percentages_of_length": [0.2],
        "psds": True,
        "monitor": "frame_f1",
    },
}


def build_tiny_crnn(input_shape, num_classes, filters: int = 8) -> keras.Model:
    """Conv, 4x time pooling (the task's `frames_per_label`), a GRU, and the DESED outputs with their logits."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D((4, 4), padding="same")(x)
    x = keras.layers.Reshape((-1, x.shape[2] * filters))(x)
    x = keras.layers.GRU(8, return_sequences=True)(x)
    strong_logits = keras.layers.Dense(num_classes, name="strong_logits")(x)
    weak_logits = keras.layers.GlobalAveragePooling1D(name="weak_logits")(strong_logits)
    return keras.Model(
        inputs,
        {
            "strong_logits": strong_logits,
            "strong": keras.layers.Activation("sigmoid", name="strong")(strong_logits),
            "weak_logits": weak_logits,
            "weak": keras.layers.Activation("sigmoid", name="weak")(weak_logits),
        },
    )


@pytest.fixture(scope="module")
def desed(tmp_path_factory):
    from seld_tf.datasets.synth.desed import DesedSynthConfig, synthesize_desed_dataset

    root = tmp_path_factory.mktemp("desed")
    synthesize_desed_dataset(root / "data", DesedSynthConfig(SIZES), workers=1, progress=False)
    return root, root / "data"


def test_targets_follow_each_subsets_labels(desed):
    _, data = desed
    task = DesedSedTask(recipe_from_dict(RECIPE))
    task.prepare(data, progress=False, log=lambda *_: None)
    strong, references = task.clips("synthetic_train")
    # 10 s at 16 kHz, hop 256: 625 frames, pooled by 4 into 157 label frames.
    assert strong[0].labels["strong_logits"].shape == (157, len(CLASS_NAMES))
    assert np.array_equal(strong[0].clip_labels["weak_logits"], strong[0].labels["strong_logits"].max(axis=0))
    assert len(references) == SIZES["synthetic_train"]
    weak, weak_references = task.clips("weak")
    assert weak[0].labels == {} and weak[0].clip_labels["weak_logits"].shape == (len(CLASS_NAMES),) and weak_references is None
    unlabeled, none = task.clips("unlabeled")
    assert unlabeled[0].labels == {} and unlabeled[0].clip_labels == {} and none is None
    test, _ = task.clips("test")
    assert len(test) == SIZES["public_eval"] and all(clip.name.endswith(".wav") for clip in test)


def test_each_loss_term_reads_its_subsets_as_the_mean_of_each(desed):
    """MTL-VAE wiring: strong frames from both strong subsets, weak tags from the weak subset only,
    reconstruction of the standardised input on unlabeled rows only, KL on every row; each subset's
    rows weighted batch / count, so Keras's batch mean is the sum of the subsets' means."""
    _, data = desed
    recipe = recipe_from_dict(VAE_RECIPE)
    task = DesedSedTask(recipe)
    task.prepare(data, progress=False, log=lambda *_: None)
    assert set(task.targets()) == {"strong_logits", "weak_logits"}
    assert "weak_logits" not in task.clips("synthetic_train")[0][0].clip_labels  # weak_from_strong: false
    compiled, transform = task.compile_args()
    assert set(compiled["loss"]) == {"strong_logits", "weak_logits", "reconstruction", "kl"} and transform is None
    assert compiled["loss"]["strong_logits"].get_config()["from_logits"]
    dataset, steps = task.train_dataset(None)
    # 10 s at hop 640: 251 frames, one 256-frame window per clip in a pass of the epoch subset.
    assert steps == SIZES["synthetic_train"] // 2
    features, labels, weights = next(iter(dataset))
    # Rows: synthetic 0-1, weak 2-3, unlabeled 4-5, AudioSet strong 6-7; 8 rows, 2 per subset: weight 4.
    present = {name: np.reshape(value.numpy(), (8,)) for name, value in weights.items()}
    np.testing.assert_array_equal(present["strong_logits"], [4, 4, 0, 0, 0, 0, 4, 4])
    np.testing.assert_array_equal(present["weak_logits"], [0, 0, 4, 4, 0, 0, 0, 0])
    np.testing.assert_array_equal(present["reconstruction"], [0, 0, 0, 0, 4, 4, 0, 0])
    np.testing.assert_array_equal(present["kl"], np.ones(8))
    assert labels["kl"].shape == (8,) and labels["reconstruction"].shape == features.shape == (8, 256, 16, 1)
    mean, scale = task.feature_scaler()
    np.testing.assert_allclose(labels["reconstruction"], (features - mean) / scale, rtol=1e-5, atol=1e-5)

    # The strong term equals BCE(synthetic) + BCE(AudioSet strong), each a mean over its clips.
    loss = compiled["loss"]["strong_logits"]
    logits = tf.random.stateless_normal(labels["strong_logits"].shape, seed=(1, 2))
    keras_value = float(loss(labels["strong_logits"], logits, sample_weight=weights["strong_logits"]))
    per_subset = [float(loss(labels["strong_logits"][rows], logits[rows])) for rows in (slice(0, 2), slice(6, 8))]
    assert keras_value == pytest.approx(sum(per_subset), rel=1e-5)


def test_loss_terms_need_their_subsets_and_frames():
    with pytest.raises(ConfigError, match="reconstruction_weight > 0 needs data.frames_per_label 1"):
        DesedSedTask(recipe_from_dict({**VAE_RECIPE, "data": {"frames_per_label": 4}}))
    no_unlabeled = {**VAE_RECIPE, "pipeline": {**VAE_RECIPE["pipeline"], "subsets": {"train": 2, "weak": 2}}}
    with pytest.raises(ConfigError, match="loss.reconstruction_weight > 0 but no training subset"):
        DesedSedTask(recipe_from_dict(no_unlabeled))
    with pytest.raises(ConfigError, match="evaluation.monitor"):
        recipe_from_dict({**VAE_RECIPE, "evaluation": {"monitor": "psds1"}})
    with pytest.raises(ConfigError, match=r"evaluation.objective: \['weak_f1'\] are not scores"):
        recipe_from_dict({**RECIPE, "evaluation": {"psds": True, "objective": ["intersection_f1", "weak_f1"]}})
    with pytest.raises(ConfigError, match="evaluation.weak_f1 needs held-out weak clips: data.weak_split < 1"):
        DesedSedTask(recipe_from_dict({**RECIPE, "evaluation": {"weak_f1": True}}))
    with pytest.raises(ConfigError, match="a score is named twice"):
        recipe_from_dict({**RECIPE, "evaluation": {"objective": ["event_f1", "event_f1"]}})
    held_out_trained = {**RECIPE, "pipeline": {**RECIPE["pipeline"], "subsets": {"synthetic_train": 2, "weak_validation": 2}}}
    with pytest.raises(ConfigError, match="weak_validation is held out for validation"):
        DesedSedTask(recipe_from_dict(held_out_trained))


def test_decoding_turns_active_label_frames_into_events():
    probabilities = np.zeros((157, len(CLASS_NAMES)))
    probabilities[16:48, CLASS_NAMES.index("Dog")] = 0.9
    spec = DesedEvaluationSpec(median_filter=None)
    assert decode_strong(probabilities, 15.625, spec) == [StrongEvent(1.024, 3.072, "Dog")]


def test_perfect_strong_outputs_score_one_on_every_metric():
    """Outputs equal to the reference rolls: F1 1 (event, segment), PSDS 1, intersection F1 1; a
    file without events counts for PSDS (its duration) and is dropped with `scored_files: with_events`."""
    rate = 25.0
    references = [
        [StrongEvent(0.4, 2.0, "Dog"), StrongEvent(3.0, 8.0, "Speech")],
        [StrongEvent(1.0, 9.0, "Frying"), StrongEvent(5.0, 6.0, "Cat")],
        [],
    ]
    rolls = [events_to_roll(events, CLASS_NAMES, 250, rate) for events in references]
    clips = [ClipRecord(f"{index}.wav", "unused.npy", {}) for index in range(3)]
    for scored in ("all", "with_events"):
        spec = DesedEvaluationSpec(median_filter=None, psds=True, extra_percentages_of_length=(0.5,), scored_files=scored)
        evaluator = DesedEvaluator(
            clips, references, frames_per_label=1, frame_rate=rate, spec=spec, durations=[10.0, 10.0, 10.0]
        )
        predictions = [decode_strong(roll, rate, spec) for roll in rolls]
        assert predictions[:2] == references[:2]
        scores = evaluator.score(references, predictions, [{"strong": roll} for roll in rolls])
        summary = evaluator.summary(scores)
        assert list(summary) == spec.summary_keys
        # The frame macro F1 averages all 10 classes, the 6 absent ones with F 0 (as the MTL-VAE code's metric).
        assert summary.pop("frame_f1") == pytest.approx(0.4)
        assert all(value == pytest.approx(1.0) for value in summary.values()), summary
        assert scores["event"]["evaluated_files"] == (3 if scored == "all" else 2)


def test_weak_f1_is_scikit_learns_macro_f1_of_the_held_out_clips(tmp_path):
    """The weak clips' "weak" outputs above 0.5 against their tags, every class counted (a class never tagged nor
    predicted scores 0, as torchmetrics' MultilabelF1Score); the objective adds it to the event F1."""
    from sklearn.metrics import f1_score

    keras.utils.set_random_seed(3)
    model = build_tiny_crnn((None, 16, 1), len(CLASS_NAMES))
    kernel, bias = model.get_layer("strong_logits").get_weights()
    bias[0] = -20.0  # class 0: never predicted, and (below) never tagged
    model.get_layer("strong_logits").set_weights([kernel, bias])
    rng = np.random.default_rng(0)

    def record(name):
        path = tmp_path / f"{name}.npy"
        np.save(path, rng.normal(size=(64, 16, 1)).astype(np.float32))
        return ClipRecord(f"{name}.wav", str(path), {})

    clips, weak_clips = [record(f"v{index}") for index in range(2)], [record(f"w{index}") for index in range(12)]
    weak_references = (rng.random((12, len(CLASS_NAMES))) < 0.3).astype(np.float32)
    weak_references[:, 0] = 0  # a class no clip is tagged with
    spec = DesedEvaluationSpec(median_filter=None, weak_f1=True, objective=("event_f1", "weak_f1"), monitor="objective")
    evaluator = DesedEvaluator(
        clips,
        [[], [StrongEvent(0.5, 2.0, "Dog")]],
        frames_per_label=4,
        frame_rate=15.625,
        spec=spec,
        weak_clips=weak_clips,
        weak_references=weak_references,
    )
    summary = evaluator.summary(evaluator.evaluate(model, with_losses=False).scores)
    assert list(summary) == spec.summary_keys
    features = np.stack([np.load(clip.feature_path) for clip in weak_clips])
    probabilities = model.predict(features, verbose=0)["weak"]
    expected = f1_score(weak_references, probabilities > 0.5, average="macro", zero_division=0)
    assert 0 < expected < 1 and not (probabilities[:, 0] > 0.5).any()
    assert summary["weak_f1"] == pytest.approx(expected, abs=1e-6)
    assert summary["objective"] == pytest.approx(summary["event_f1"] + expected, abs=1e-6)


def _prediction_rows(path, data):
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        assert tuple(next(reader)) == PREDICTION_HEADER
        rows = list(reader)
    with open(data / "metadata" / "eval" / "public.tsv", newline="") as handle:
        test_files = {row["filename"] for row in csv.DictReader(handle, delimiter="\t")}
    for filename, onset, offset, label in rows:
        assert filename in test_files and label in CLASS_NAMES and 0 <= float(onset) < float(offset) <= 10.1
    return rows


def _train(root, recipe: dict, name: str):
    """`seld-tf train` of `recipe` on the fixture's data into ROOT/NAME: the run folder, the printed summary and
    the history rows."""
    recipe_path = root / f"{name}.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    run = root / name
    trained = run_cli("train", recipe_path, "--data", root / "data", "--out", run)
    assert trained.returncode == 0, trained.stderr
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return run, json.loads(trained.stdout.strip().splitlines()[-1]), rows


def test_the_desed_task_trains_and_evaluates_through_the_cli(desed):
    root, data = desed
    run, summary, rows = _train(root, RECIPE, "run")
    assert summary["monitor"] == "val_event_f1"
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    scores = [float(row["val_event_f1"]) for row in rows]
    assert all(0 <= score <= 1 for score in scores)
    assert summary["best"] == pytest.approx(max(scores))

    evaluated = run_cli("evaluate", run, "--data", data, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert set(metrics) == {"event_f1", "event_f1_micro", "segment_f1", "segment_f1_micro", "frame_f1"}
    assert 0 <= metrics["event_f1"] <= 1
    _prediction_rows(run / "outputs" / "test" / "predictions.tsv", data)


def test_the_mtl_vae_trains_on_every_term_evaluates_and_exports(desed):
    from seld_tf.export import export_run

    root, data = desed
    run, summary, (row,) = _train(root, VAE_RECIPE, "mtl_vae_run")
    assert summary["monitor"] == "val_frame_f1"
    # Every term logged by Keras, the validation scores beside.
    for key in ("loss", "strong_logits_loss", "weak_logits_loss", "reconstruction_loss", "kl_loss", "val_strong_logits_loss"):
        assert np.isfinite(float(row[key])), key
    for key in ("val_event_f1", "val_event_f1_pol20", "val_segment_f1", "val_frame_f1"):
        assert 0 <= float(row[key]) <= 1, key
    assert {"val_psds1", "val_psds2", "val_intersection_f1"} <= set(row)

    evaluated = run_cli("evaluate", run, "--data", data, "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert {"event_f1", "event_f1_pol20", "frame_f1", "psds1", "psds2", "intersection_f1"} <= set(metrics)
    _prediction_rows(run / "outputs" / "test" / "predictions.tsv", data)

    # The export serves the probabilities only, as the inference model gives them.
    out = export_run(run, root / "mtl_vae_export")
    signature = tf.saved_model.load(str(out)).signatures["serving_default"]
    features = np.random.default_rng(0).normal(size=(1, 40, 16, 1)).astype(np.float32)
    served = {name: value.numpy() for name, value in signature(features=tf.constant(features)).items()}
    assert sorted(served) == ["strong", "weak"]
    assert served["strong"].shape == (1, 40, len(CLASS_NAMES)) and served["weak"].shape == (1, len(CLASS_NAMES))
    from seld_tf.runs import load_run

    _, _, model = load_run(run)
    expected = model.predict_on_batch(features)
    np.testing.assert_allclose(served["strong"], expected["strong"], atol=1e-5)


def test_the_baselines_weak_split_and_objective_through_the_cli(desed):
    """`data.weak_split` trains on the baseline's draw of the weak clips and holds out the rest; the validation
    scores their "weak" outputs (macro F1 above 0.5 over every class: scikit-learn's, zero_division 0) and the
    objective, a sum of scores with the weak F1 (the baseline's adds the intersection F1, undefined on these three
    validation clips of one class), keeps the best snapshot; the test split has neither."""
    from sklearn.metrics import f1_score

    from seld_tf.pipeline import predict_features
    from seld_tf.runs import load_run

    root, data = desed
    recipe = {
        **RECIPE,
        "name": "desed_weak_split",
        "data": {**RECIPE["data"], "weak_split": 0.5, "weak_split_seed": 0},
        "evaluation": {"weak_f1": True, "objective": ["event_f1", "weak_f1"], "monitor": "objective"},
    }
    task = DesedSedTask(recipe_from_dict(recipe))
    task.prepare(data, progress=False, log=lambda *_: None)
    kept, held_out = split_names(task.dataset.listed("weak"), 0.5, 0)
    assert len(kept) == len(held_out) == SIZES["weak"] // 2
    assert [clip.name for clip in task.clips("weak")[0]] == [name for name in task.dataset.listed("weak") if name in kept]
    assert [clip.name for clip in task.clips("weak_validation")[0]] == held_out
    # The scaler is fitted on the training clips only.
    with np.load(data / "feature_cache" / "desed" / "scaler.npz") as scaler:
        fitted = set(scaler["train_names"])
    assert {f"weak-{name[:-4]}" for name in kept} <= fitted and not {f"weak-{name[:-4]}" for name in held_out} & fitted
    untouched = DesedSedTask(recipe_from_dict(RECIPE))
    untouched.prepare(data, progress=False, log=lambda *_: None)
    with pytest.raises(ConfigError, match="split weak_validation needs held-out weak clips"):
        untouched.clips("weak_validation")

    run, summary, rows = _train(root, recipe, "weak_split_run")
    assert summary["monitor"] == "val_objective"
    assert summary["best"] == pytest.approx(max(float(row["val_objective"]) for row in rows))
    for row in rows:
        total = float(row["val_event_f1"]) + float(row["val_weak_f1"])
        assert float(row["val_objective"]) == pytest.approx(total)

    for split in ("validation", "test"):
        evaluated = run_cli("evaluate", run, "--data", data, "--split", split)
        assert evaluated.returncode == 0, evaluated.stderr
    validation = json.loads((run / "metrics_validation.json").read_text())
    assert not {"weak_f1", "objective"} & set(json.loads((run / "metrics_test.json").read_text()))
    _, _, model = load_run(run)
    records, _ = task.clips("weak_validation")
    probabilities = [
        predict_features(model, np.load(record.feature_path), frames_per_label=4, clip_outputs=clip_outputs(model))["weak"]
        for record in records
    ]
    references = [weak_to_multihot(clip.weak, CLASS_NAMES) for clip in task.dataset.clips("weak") if clip.name in held_out]
    expected = f1_score(np.array(references), np.array(probabilities) > 0.5, average="macro", zero_division=0)
    assert validation["weak_f1"] == pytest.approx(expected)
    assert validation["objective"] == pytest.approx(validation["event_f1"] + expected)
