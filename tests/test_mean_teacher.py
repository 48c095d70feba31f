"""Tests of seld_tf.losses.mean_teacher (the DCASE2022 baseline's mean teacher) on tiny CRNNs: the EMA
update and its warm-up, the consistency term and its ramp-up against hand computations, no gradient into
the teacher, `.keras` round trips, teacher inference, the recipe hook, and `train()` on a tiny DESED tree."""

import csv
import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.errors import ConfigError
from seld_tf.losses.mean_teacher import MeanTeacherModel
from seld_tf.models.crnn_dcase2022 import build_crnn_dcase2022
from seld_tf.recipes import recipe_from_dict
from seld_tf.saving import load_model
from seld_tf.schedules import rampup_factor

BINS, CLASSES, FRAMES = 16, 3, 8
SIZES = {"synthetic_train": 4, "weak": 2, "unlabeled": 2, "validation": 3, "public_eval": 3}
# The baseline's recipe shape at a few units: [synthetic, weak, unlabeled] batches, BCE on the probabilities,
# weak tags of the weak clips only, the mean teacher with a one-epoch ramp-up.
RECIPE = {
    "name": "crnn_mean_teacher_tiny",
    "task": "desed_sed",
    "data": {"features": "desed_baseline", "feature_overrides": {"n_mels": 32}},
    "pipeline": {"train_frames": 128, "subsets": {"train": 2, "weak": 2, "unlabeled": 2}, "epoch_subset": "train"},
    "model": {
        "name": "crnn_dcase2022",
        "preset": "cpu",
        "args": {"filters": [2, 2, 2, 2, 2], "pooling": [[2, 2], [2, 2], [1, 2], [1, 2], [1, 2]], "units": 3},
    },
    "loss": {
        "from_logits": False,
        "weak_from_strong": False,
        "mean_teacher": {"consistency_weight": 2.0, "ema": 0.9, "rampup_epochs": 1},
    },
    "schedule": {"initial_learning_rate": 0.01},
    "training": {"epochs": 2, "seed": 1},
}


def tiny_mean_teacher(seed=0, **options) -> MeanTeacherModel:
    """A tiny CRNN (BatchNorm, GLU, dropout, BiGRU, attention head) behind a feature scaler, compiled as the task does."""
    keras.utils.set_random_seed(seed)
    network = build_crnn_dcase2022(
        (None, BINS, 1), CLASSES, filters=(2, 2, 2, 2), pooling=((2, 2), (2, 2), (1, 2), (1, 2)), units=3
    )
    inputs = keras.Input((None, BINS, 1), name="features")
    scaled = keras.layers.Normalization(
        axis=(-2, -1), mean=np.zeros((BINS, 1)), variance=np.ones((BINS, 1)), name="feature_scaler"
    )(inputs)
    model = MeanTeacherModel(inputs, network(scaled), name="tiny", **options)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss={"strong": keras.losses.BinaryCrossentropy(), "weak": keras.losses.BinaryCrossentropy()},
    )
    return model


def batch(seed=0, rows=4):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, FRAMES, BINS, 1)).astype("float32")
    labels = {
        "strong": (rng.random((rows, FRAMES // 4, CLASSES)) > 0.5).astype("float32"),
        "weak": (rng.random((rows, CLASSES)) > 0.5).astype("float32"),
    }
    return features, labels


def values(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def nested_layers(model) -> list:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if isinstance(layer, keras.Model):
            layers.extend(nested_layers(layer))
    return layers


def student_weights(model) -> list:
    return [weight for layer in model.layers for weight in layer.weights]


def trained_teacher_weights(model) -> list:
    """The teacher's copies of the student's trainable weights (the teacher's own are all non-trainable)."""
    return [teacher for teacher, student in zip(model.teacher.weights, student_weights(model)) if student.trainable]


def perturb_teacher(model, seed=1):
    """Moves the teacher away from the student, so that their outputs differ."""
    rng = np.random.default_rng(seed)
    for weight in trained_teacher_weights(model):
        weight.assign(keras.ops.convert_to_numpy(weight) + rng.normal(scale=0.3, size=weight.shape).astype("float32"))


def test_teacher_starts_as_a_copy_and_is_not_trained():
    model = tiny_mean_teacher()
    assert len(model.teacher.weights) == len(student_weights(model))
    for teacher, student in zip(values(model.teacher.weights), values(student_weights(model))):
        np.testing.assert_array_equal(teacher, student)
    assert not model.teacher.trainable_weights
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in student_weights(model) if w.trainable}


def test_ema_update_after_a_step():
    """Teacher after the step = ema * teacher before + (1 - ema) * student after, every weight (BatchNorm
    moving statistics too); at step 1 DESED_task's bound 1 - 1/(s + 1) = 0.5 is above ema = 0.3."""
    model = tiny_mean_teacher(ema=0.3, rampup_epochs=0)
    perturb_teacher(model)
    before = values(model.teacher.weights)
    model.train_on_batch(*batch())
    after, student = values(model.teacher.weights), values(student_weights(model))
    assert any(not np.allclose(b, s) for b, s in zip(before, student))
    for b, a, s in zip(before, after, student):
        np.testing.assert_allclose(a, 0.3 * b + 0.7 * s, rtol=1e-5, atol=1e-6)


def test_a_teacher_in_training_mode_keeps_its_own_batchnorm_statistics():
    """With `teacher_training` (the baseline's teacher): the consistency targets come from the teacher in
    training mode (dropout on, BatchNorm on the batch's statistics), the EMA covers the student's trainable
    weights only, and the teacher's BatchNorm moving statistics are updated by its own forward pass."""
    model = tiny_mean_teacher(ema=0.3, rampup_epochs=0, teacher_training=True)
    # The teacher's BatchNorm layers are trainable (batch statistics) but the optimizer sees the student only.
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in student_weights(model) if w.trainable}
    assert not model.teacher.trainable_weights
    perturb_teacher(model)
    before = values(model.teacher.weights)
    features, labels = batch()
    model.train_on_batch(features, labels)
    after, students = values(model.teacher.weights), student_weights(model)
    moving = [i for i, weight in enumerate(students) if "moving" in weight.path]
    assert moving
    for b, a, student in zip(before, after, students):
        if student.trainable:
            np.testing.assert_allclose(a, 0.3 * b + 0.7 * keras.ops.convert_to_numpy(student), rtol=1e-5, atol=1e-6)
    for i in moving:
        # Moved, by the teacher's own update (momentum 0.01 in Keras' convention), not by the EMA.
        assert not np.allclose(after[i], before[i])
        assert not np.allclose(after[i], 0.3 * before[i] + 0.7 * keras.ops.convert_to_numpy(students[i]), atol=1e-6)
    # The first BatchNorm's moving mean, by hand: momentum m keeps m of the old value and adds (1 - m) of the
    # batch mean of its input, the first convolution (the teacher's weights before the step) of the features
    # (the scaler is the identity here).
    index = {id(weight): i for i, weight in enumerate(students)}
    conv = next(layer for layer in nested_layers(model) if isinstance(layer, keras.layers.Conv2D))
    norm = next(layer for layer in nested_layers(model) if isinstance(layer, keras.layers.BatchNormalization))
    kernel, bias = before[index[id(conv.kernel)]], before[index[id(conv.bias)]]
    inputs = keras.ops.convert_to_numpy(keras.ops.conv(features, kernel, padding=conv.padding)) + bias
    i = index[id(norm.moving_mean)]
    expected = norm.momentum * before[i] + (1 - norm.momentum) * inputs.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(after[i], expected, rtol=1e-4, atol=1e-5)
    # The consistency target differs from the inference-mode one (dropout, batch statistics).
    train_mode = model.teacher(features, training=True)["strong"]
    inference_mode = model.teacher(features, training=False)["strong"]
    assert not np.allclose(keras.ops.convert_to_numpy(train_mode), keras.ops.convert_to_numpy(inference_mode))
    assert not model.teacher.trainable


def test_ema_is_a_plain_average_at_first():
    """With ema = 0.999 the factor is min(0.999, 1 - 1/(s + 1)): 1/2 at step 1, 2/3 at step 2."""
    model = tiny_mean_teacher(ema=0.999, rampup_epochs=0)
    perturb_teacher(model)
    teacher = values(model.teacher.weights)
    for step, seed in ((1, 0), (2, 1)):
        model.train_on_batch(*batch(seed))
        decay = min(0.999, 1 - 1 / (step + 1))
        teacher = [decay * t + (1 - decay) * s for t, s in zip(teacher, values(student_weights(model)))]
        for expected, actual in zip(teacher, values(model.teacher.weights)):
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_rampup_factor_by_hand():
    # R = 12 steps: exp(-5 (1 - s/12)^2); s = 4: exp(-5 (2/3)^2) = exp(-20/9); s = 8: exp(-5/9); from s = 12 on: 1.
    steps = np.array([0, 4, 8, 12, 20])
    expected = [math.exp(-5.0), 0.10836802322189586, 0.5737534207374327, 1.0, 1.0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rampup_factor(steps, 12)), expected, rtol=1e-6)
    assert float(rampup_factor(7, 0)) == 1.0  # no ramp-up


def test_consistency_term_is_the_weighted_mse_of_student_and_teacher():
    """The loss is the compiled losses plus w(s) x [MSE(strong) + MSE(weak)] between the student's outputs
    and the teacher's (inference mode), over every row; w(s) = 2 exp(-5 (1 - s/R)^2) at s = 8, R = 12."""
    model = tiny_mean_teacher(consistency_weight=2.0, rampup_epochs=3)
    perturb_teacher(model)
    model.rampup_steps.assign(12.0)  # what fit(steps_per_epoch=4) sets for 3 epochs
    model.optimizer.iterations.assign(7)  # compute_loss runs before the update of step 8
    features, labels = batch()
    student = {name: keras.ops.convert_to_numpy(value) for name, value in model(features, training=False).items()}
    teacher = {name: keras.ops.convert_to_numpy(value) for name, value in model.teacher(features, training=False).items()}
    total = float(model.compute_loss(features, labels, student, training=True))
    supervised = float(keras.Model.compute_loss(model, features, labels, student))
    mse = np.mean((student["strong"] - teacher["strong"]) ** 2) + np.mean((student["weak"] - teacher["weak"]) ** 2)
    assert mse > 1e-4
    assert total - supervised == pytest.approx(2.0 * 0.5737534207374327 * mse, rel=1e-4)
    assert float(model.consistency_tracker.result()) == pytest.approx(mse, rel=1e-5)


def test_the_teacher_gets_no_gradient():
    model = tiny_mean_teacher()
    perturb_teacher(model)
    features, labels = batch()
    teacher_weights = trained_teacher_weights(model)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([weight.value for weight in teacher_weights])
        loss = model.compute_loss(features, labels, model(features, training=True), training=True)
    assert all(gradient is None for gradient in tape.gradient(loss, [w.value for w in teacher_weights]))
    assert all(gradient is not None for gradient in tape.gradient(loss, model.trainable_weights))


def test_fit_logs_the_consistency_and_its_ramped_weight():
    """2 steps per epoch, ramp-up over 4 epochs (R = 8): the weight logged at the end of epoch e
    (step 2e) is 2 exp(-5 (1 - e/4)^2): 0.12011, 0.57301, 1.46323."""
    model = tiny_mean_teacher(consistency_weight=2.0, rampup_epochs=4)
    dataset = tf.data.Dataset.from_tensors(batch()).repeat()
    history = model.fit(dataset, epochs=3, steps_per_epoch=2, verbose=0, shuffle=False).history
    assert float(model.rampup_steps.numpy()) == 8.0
    np.testing.assert_allclose(history["consistency_weight"], [0.12010934, 0.57300959, 1.46323126], rtol=1e-5)
    assert all(np.isfinite(history["consistency_loss"])) and len(history["consistency_loss"]) == 3
    with pytest.raises(ValueError, match="needs steps_per_epoch"):
        model.fit(dataset.take(2), epochs=1, verbose=0)


def test_keras_file_keeps_the_teacher(tmp_path):
    model = tiny_mean_teacher(ema=0.5, rampup_epochs=0, inference="teacher", teacher_training=True)
    model.train_on_batch(*batch())
    features, _ = batch(seed=5)
    path = tmp_path / "mean_teacher.keras"
    model.save(path)
    restored = load_model(path)
    assert isinstance(restored, MeanTeacherModel)
    assert (restored.ema, restored.consistency_weight, restored.inference) == (0.5, 2.0, "teacher") and restored.teacher_training
    for expected, actual in zip(values(model.teacher.weights), values(restored.teacher.weights)):
        np.testing.assert_array_equal(actual, expected)
    for expected, actual in zip(values(student_weights(model)), values(student_weights(restored))):
        np.testing.assert_array_equal(actual, expected)
    # inference="teacher": predictions are the teacher's, not the student's.
    predicted = restored.predict_on_batch(features)
    teacher = restored.teacher(features, training=False)
    student = keras.Model(restored.input, restored.output)(features, training=False)
    np.testing.assert_allclose(predicted["strong"], keras.ops.convert_to_numpy(teacher["strong"]), rtol=1e-6)
    assert not np.allclose(predicted["strong"], keras.ops.convert_to_numpy(student["strong"]))


MIRRORED = textwrap.dedent(
    """
    import sys

    import tensorflow as tf

    TEACHER_TRAINING = sys.argv[1] == "1"
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    from seld_tf.losses.mean_teacher import MeanTeacherModel
    from seld_tf.models.crnn_dcase2022 import build_crnn_dcase2022

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        pooling = ((2, 2), (2, 2), (1, 2), (1, 2))
        network = build_crnn_dcase2022((None, 16, 1), 3, filters=(2, 2, 2, 2), pooling=pooling, units=3)
        inputs = keras.Input((None, 16, 1))
        model = MeanTeacherModel(inputs, network(inputs), ema=0.3, rampup_epochs=1, teacher_training=TEACHER_TRAINING)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss={"strong": "binary_crossentropy", "weak": "binary_crossentropy"})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 16, 1)).astype("float32")
    y = {"strong": (rng.random((4, 2, 3)) > 0.5).astype("float32"), "weak": (rng.random((4, 3)) > 0.5).astype("float32")}
    pairs = model._teacher_pairs()
    before = [teacher.numpy() for teacher, _ in pairs]
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    logs = model.fit(data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False).history
    assert np.isfinite(logs["consistency_loss"][0]) and logs["consistency_weight"] == [2.0], logs
    for (teacher, student), old in zip(pairs, before):
        if student.trainable or not TEACHER_TRAINING:
            np.testing.assert_allclose(teacher.numpy(), 0.3 * old + 0.7 * student.numpy(), rtol=1e-5, atol=1e-6)
        elif "moving" in student.path:
            # The teacher's own statistics, updated by its forward pass in training mode.
            assert not np.allclose(teacher.numpy(), old)
        if student.trainable:
            first, second = (value.numpy() for value in teacher.value.values)
            np.testing.assert_array_equal(first, second)
    """
)


@pytest.mark.parametrize("teacher_training", [False, True])
def test_ema_under_a_mirrored_strategy(teacher_training):
    """Two replicas (two logical CPUs, a fresh process): the teacher's copies of the trained weights stay
    identical on both; the BatchNorm statistics are each replica's own, as Keras keeps the student's (and,
    with the teacher in training mode, the teacher's own)."""
    command = [sys.executable, "-c", MIRRORED, "1" if teacher_training else "0"]
    child = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]


def test_recipe_schema_and_hook():
    from seld_tf.tasks.desed_sed import DesedSedTask

    recipe = recipe_from_dict(RECIPE)
    assert recipe.loss.mean_teacher.consistency_weight == 2.0 and recipe.loss.mean_teacher.inference == "student"
    inputs = keras.Input((None, BINS, 1))
    network = build_crnn_dcase2022((None, BINS, 1), CLASSES, filters=(2, 2), pooling=((2, 2), (2, 8)), units=2)
    model = DesedSedTask(recipe).functional_model(inputs, network(inputs), "hooked")
    assert isinstance(model, MeanTeacherModel) and (model.ema, model.rampup_epochs) == (0.9, 1) and not model.teacher_training
    trained_mode = recipe.replace(loss={"mean_teacher": {"consistency_weight": 2.0, "teacher_training": True}})
    assert DesedSedTask(trained_mode).functional_model(inputs, network(inputs), "hooked").teacher_training
    plain = recipe.replace(loss={"mean_teacher": {"consistency_weight": 0.0}})
    assert not isinstance(DesedSedTask(plain).functional_model(inputs, network(inputs), "plain"), MeanTeacherModel)
    with pytest.raises(ConfigError, match="loss.mean_teacher.inference"):
        recipe.replace(loss={"mean_teacher": {"inference": "both"}})
    with pytest.raises(ConfigError, match="inference: teacher needs a mean teacher"):
        recipe.replace(loss={"mean_teacher": {"consistency_weight": 0.0, "inference": "teacher"}})
    with pytest.raises(ConfigError, match="inference: teacher needs a model whose only outputs"):
        recipe.replace(loss={"from_logits": True, "mean_teacher": {"consistency_weight": 2.0, "inference": "teacher"}})
    with pytest.raises(ConfigError, match="loss.mean_teacher.ema"):
        recipe.replace(loss={"mean_teacher": {"ema": 1.0}})


def test_train_runs_on_a_tiny_desed_tree_and_logs_the_consistency(tmp_path):
    from seld_tf.datasets.synth.desed import DesedSynthConfig, synthesize_desed_dataset
    from seld_tf.runs import evaluate_run, load_run
    from seld_tf.training import train

    data = tmp_path / "data"
    synthesize_desed_dataset(data, DesedSynthConfig(SIZES), workers=1, progress=False)
    run = tmp_path / "run"
    train(recipe_from_dict(RECIPE), data, run, verbose=0, progress=False, log=lambda *_: None)
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert all(float(row["consistency_loss"]) >= 0 and math.isfinite(float(row["consistency_loss"])) for row in rows)
    # One epoch of 2 steps ramps up over R = 2 steps: w = 2 exp(-5 (1 - 2/2)^2) = 2 at the end of each epoch.
    assert [float(row["consistency_weight"]) for row in rows] == pytest.approx([2.0, 2.0])
    _, _, model = load_run(run)
    assert isinstance(model, MeanTeacherModel) and model.inference == "student"
    scores = evaluate_run(run, data, "test", progress=False, log=lambda *_: None)
    assert 0 <= scores["event_f1"] <= 1


def test_pipeline_mixup_mixes_the_weak_and_strong_rows_and_leaves_the_unlabeled_ones(tmp_path):
    from seld_tf.datasets.synth.desed import DesedSynthConfig, synthesize_desed_dataset
    from seld_tf.tasks import prepare_task

    data = tmp_path / "data"
    synthesize_desed_dataset(data, DesedSynthConfig(SIZES), workers=1, progress=False)
    plain = recipe_from_dict(RECIPE)
    mixing = plain.replace(pipeline={"mixup": {"alpha": 0.2, "probability": 1.0, "mix_unlabeled": False}})
    batches = {}
    for name, recipe in (("plain", plain), ("mixing", mixing)):
        task = prepare_task(recipe, data, tmp_path / "features", progress=False, log=lambda *_: None)
        dataset, _ = task.train_dataset(None)
        batches[name] = [tf.nest.map_structure(np.asarray, batch) for batch in dataset.take(2)]
    for (features, labels, weights), (mixed, mixed_labels, mixed_weights) in zip(batches["plain"], batches["mixing"]):
        # Rows: 2 synthetic (strong), 2 weak, 2 unlabeled; the same windows in both datasets.
        np.testing.assert_array_equal(mixed[4:], features[4:])
        assert not np.allclose(mixed[:4], features[:4])
        # Soft labels: a convex combination of the two rows of the same subset.
        strong = labels["strong"][:2]
        low, high = np.minimum(strong[0], strong[1]), np.maximum(strong[0], strong[1])
        assert np.all(mixed_labels["strong"][:2] >= low - 1e-6) and np.all(mixed_labels["strong"][:2] <= high + 1e-6)
        tf.nest.map_structure(np.testing.assert_array_equal, mixed_weights, weights)
    with pytest.raises(ConfigError, match="pipeline.mixup: unknown keys"):
        plain.replace(pipeline={"mixup": {"beta": 0.2}})
    with pytest.raises(ConfigError, match="pipeline.mixup does not apply to task 'seld'"):
        recipe_from_dict({"name": "x", "pipeline": {"mixup": {"alpha": 0.2}}})


def test_baseline_recipes_load_build_and_state_the_baseline():
    from pathlib import Path

    from recipe_diff import changed_keys

    from seld_tf.features import get_preset
    from seld_tf.models.registry import build_model
    from seld_tf.recipes import load_recipe
    from seld_tf.tasks.desed_sed import DesedSedTask

    folder = Path(__file__).parent.parent / "experiments" / "dcase2022_baseline"
    paper, cpu = load_recipe(folder / "crnn_mean_teacher.yaml"), load_recipe(folder / "cpu" / "crnn_mean_teacher.yaml")
    assert paper.task == "desed_sed" and paper.data.features == "desed_baseline" and paper.data.frames_per_label == 4
    assert (paper.data.train, paper.data.validation, paper.data.test) == ("synthetic_train", "synthetic_validation", "validation")
    assert paper.pipeline.subsets == {"train": 12, "weak": 12, "unlabeled": 24} and paper.pipeline.epoch_subset == "weak"
    assert paper.pipeline.train_frames == 628  # 10 s at hop 256 (625 frames), a multiple of the 4x pooling
    assert (paper.model.name, paper.model.preset, paper.model.scaler) == ("crnn_dcase2022", "paper", "instance_minmax")
    loss = paper.loss
    assert (loss.strong_weight, loss.weak_weight, loss.reconstruction_weight, loss.kl_weight) == (1.0, 1.0, 0.0, 0.0)
    assert not loss.from_logits and not loss.weak_from_strong
    teacher = loss.mean_teacher
    assert (teacher.consistency_weight, teacher.ema, teacher.rampup_epochs, teacher.inference) == (2.0, 0.999, 50, "student")
    assert teacher.teacher_training
    assert paper.optimizer.name == "adam" and paper.schedule.initial_learning_rate == 1e-3 and paper.training.epochs == 200
    assert paper.schedule.rampup_epochs == teacher.rampup_epochs
    assert paper.pipeline.mixup == {"alpha": 0.2, "probability": 0.5, "mode": "soft", "mix_unlabeled": False}
    evaluation = paper.evaluation
    assert (evaluation.threshold, evaluation.median_filter, evaluation.filter_on) == (0.5, 7, "binary")
    assert (evaluation.t_collar, evaluation.percentage_of_length, evaluation.psds) == (0.2, 0.2, True)
    # The baseline's model selection: 90 % of the weak clips trained on (its pandas draw, seed 42), the best
    # `val/obj_metric` = intersection F1 + weak F1 of the other 10 %.
    assert (paper.data.weak_split, paper.data.weak_split_seed) == (0.9, 42)
    assert evaluation.weak_f1 and evaluation.objective == ("intersection_f1", "weak_f1") and evaluation.monitor == "objective"

    # The CPU file changes only the size and the budget.
    assert changed_keys(paper.to_dict(), cpu.to_dict()) == {
        "name",
        "model.preset",
        "loss.mean_teacher.ema",
        "loss.mean_teacher.rampup_epochs",
        "schedule.rampup_epochs",
        "training.epochs",
    }
    assert (cpu.loss.mean_teacher.ema, cpu.loss.mean_teacher.rampup_epochs, cpu.training.epochs) == (0.95, 10, 40)

    bins = get_preset(paper.data.features).n_mels
    for recipe, trainable in ((paper, 1_112_420), (cpu, 71_576)):
        task = DesedSedTask(recipe)
        network = build_model(recipe.model.name, recipe.model.preset, input_shape=(None, bins, 1), **task.model_args())
        assert sum(int(np.prod(w.shape)) for w in network.trainable_weights) == trainable
        model = task.functional_model(network.input, network.output, recipe.name)
        assert isinstance(model, MeanTeacherModel) and model.consistency_outputs == ("strong", "weak")
        assert (model.ema, model.rampup_epochs) == (recipe.loss.mean_teacher.ema, recipe.loss.mean_teacher.rampup_epochs)
