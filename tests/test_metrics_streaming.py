"""Tests of the streaming Keras metrics against the numpy metrics on the concatenated batches."""

import keras
import numpy as np
import pytest

from seld_tf.datasets.seld_labels import classwise_to_events
from seld_tf.metrics.frame import frame_scores
from seld_tf.metrics.scene import scene_scores
from seld_tf.metrics.seld import Dcase2020SeldMetric
from seld_tf.metrics.streaming import (
    ClipAveragePrecision,
    ClipRocAuc,
    Dcase2020SeldScore,
    FrameErrorRate,
    FrameF1,
    SceneAccuracy,
    SceneMacroF1,
    pack_classwise,
)
from seld_tf.metrics.tagging import ap_macro, ap_micro, auc_macro

K = 5


def stream(metric, batches):
    """Update over the batches; the metric's float result."""
    metric.reset_state()
    for batch in batches:
        metric.update_state(*batch)
    return float(metric.result())


def check_reset_and_config(metric, batches):
    first = stream(metric, batches)
    metric.reset_state()
    for variable in metric.variables:
        assert not np.any(keras.ops.convert_to_numpy(variable))
    assert stream(metric, batches) == first  # reset leaves nothing behind
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(clone) is type(metric) and clone.get_config() == metric.get_config()
    assert stream(clone, batches) == first


def frame_batches(rng):
    out = []
    for frames in (7, 7, 7):
        ref = (rng.random((3, frames, K)) < 0.3).astype("float32")
        ref[..., 1] = 0.0  # absent class
        prob = np.clip(ref * 0.4 + rng.random(ref.shape), 0, 1).astype("float32")
        prob[..., 3] = 0.1  # never-predicted class
        weight = (rng.random((3, frames)) < 0.8).astype("float32")
        out.append((ref, prob, weight))
    return out


@pytest.mark.parametrize("cls, average, field", [
    (FrameF1, "micro", "micro_f"),
    (FrameF1, "macro", "macro_f"),
    (FrameErrorRate, "micro", "error_rate"),
    (FrameErrorRate, "macro", "macro_error_rate"),
])
def test_frame_metrics_equal_numpy_on_concatenation(cls, average, field):
    batches = frame_batches(np.random.default_rng(0))
    ref, prob, weight = (np.concatenate(parts) for parts in zip(*batches))
    expected = getattr(frame_scores(ref, prob >= 0.5, weight > 0), field)
    metric = cls(K, average)
    assert stream(metric, batches) == pytest.approx(expected, abs=1e-6)
    check_reset_and_config(metric, batches)
    # [B, T, 1] weights and no weights
    assert stream(metric, [(r, p, w[..., None]) for r, p, w in batches]) == pytest.approx(expected, abs=1e-6)
    unmasked = getattr(frame_scores(ref, prob >= 0.5), field)
    assert stream(metric, [(r, p) for r, p, _ in batches]) == pytest.approx(unmasked, abs=1e-6)


@pytest.mark.parametrize("one_hot", [True, False])
def test_scene_metrics_equal_numpy(one_hot):
    rng = np.random.default_rng(1)
    batches = []
    for _ in range(3):
        labels = rng.integers(0, 3, 6)  # scene 3 never present
        scores = rng.random((6, 4)).astype("float32")
        weight = np.array([1, 1, 0, 1, 1, 1], "float32")
        batches.append((np.eye(4, dtype="float32")[labels] if one_hot else labels[:, None], scores, weight))
    ref = np.concatenate([b[0] for b in batches])
    keep = np.concatenate([b[2] for b in batches]) > 0
    scores = np.concatenate([b[1] for b in batches])
    expected = scene_scores((ref if one_hot else ref[:, 0])[keep], scores[keep], num_classes=4)
    for metric, value in ((SceneAccuracy(4), expected.accuracy), (SceneMacroF1(4), expected.macro_f)):
        assert stream(metric, batches) == pytest.approx(value, abs=1e-6)
        check_reset_and_config(metric, batches)


@pytest.mark.parametrize("cls, average, numpy_metric", [
    (ClipRocAuc, "macro", auc_macro),
    (ClipAveragePrecision, "micro", ap_micro),
    (ClipAveragePrecision, "macro", ap_macro),
])
def test_clip_metrics_equal_sklearn_on_rounded_scores(cls, average, numpy_metric):
    rng = np.random.default_rng(2)
    y = (rng.random((24, K)) < 0.3).astype("float32")
    y[:2, 0] = 1.0
    y[:, 4] = 0.0  # no positives: left out of the macro averages
    p = np.clip(y * 0.3 + rng.random(y.shape), 0, 1).astype("float32")
    p[0, 1] = 1.0  # the top bin
    batches = [(y[i : i + 8], p[i : i + 8]) for i in range(0, 24, 8)]
    metric = cls(K, average, num_thresholds=50)
    rounded = np.floor(p * np.float32(49)) / 49
    assert stream(metric, batches) == pytest.approx(numpy_metric(y, rounded), abs=1e-6)
    check_reset_and_config(metric, batches)
    weighted = [(yb, pb, np.array([1, 0] * 4, "float32")) for yb, pb in batches]
    assert stream(metric, weighted) == pytest.approx(numpy_metric(y[::2], rounded[::2]), abs=1e-6)


def random_classwise(rng, clips, frames):
    """Reference activity and unit DOAs, and a prediction: noisy probabilities and perturbed directions."""
    activity = (rng.random((clips, frames, K)) < 0.35).astype("float32")
    doa = rng.normal(size=(clips, frames, K, 3))
    doa /= np.linalg.norm(doa, axis=-1, keepdims=True)
    doa *= activity[..., None]
    prob = np.clip(activity * 0.5 + rng.random(activity.shape) * 0.7, 0, 1)
    # errors from about 3 to 60 degrees, so blocks fall on both sides of the 20 degree threshold
    noise = rng.normal(size=doa.shape) * rng.choice([0.05, 0.3, 1.0], size=(clips, frames, K, 1))
    pred_doa = doa + noise
    pred_doa[0, 0, 0] = 0.0  # a zero vector decodes to the front
    return activity, doa.astype("float32"), prob.astype("float32"), pred_doa.astype("float32")


@pytest.mark.parametrize("score", ["ER", "F", "LE", "LR", "SELD"])
def test_seld_score_equals_dcase2020_metric(score):
    rng = np.random.default_rng(3)
    batches, reference = [], Dcase2020SeldMetric(num_classes=K)
    for _ in range(3):
        activity, doa, prob, pred_doa = random_classwise(rng, 2, 25)  # 25 frames: a partial last block
        batches.append((pack_classwise(activity, doa), pack_classwise(prob, pred_doa)))
        for clip in range(2):
            reference.update(classwise_to_events(activity[clip], doa[clip]), classwise_to_events(prob[clip], pred_doa[clip]))
    expected = reference.result()
    assert 0 < expected.tp < expected.de_tp  # both sides of the DOA threshold are exercised
    metric = Dcase2020SeldScore(K, score=score)
    assert stream(metric, batches) == pytest.approx(getattr(expected, score), rel=1e-6, abs=1e-6)
    check_reset_and_config(metric, batches)


def test_seld_score_frame_weights_and_empty_conventions():
    rng = np.random.default_rng(4)
    activity, doa, prob, pred_doa = random_classwise(rng, 2, 20)
    weight = np.ones((2, 20), "float32")
    weight[:, 10:] = 0.0
    metric = Dcase2020SeldScore(K)
    metric.update_state(pack_classwise(activity, doa), pack_classwise(prob, pred_doa), weight)
    reference = Dcase2020SeldMetric(num_classes=K)
    for clip in range(2):
        reference.update(
            classwise_to_events(activity[clip, :10], doa[clip, :10]), classwise_to_events(prob[clip, :10], pred_doa[clip, :10])
        )
    expected = reference.result().to_dict()
    got = {name: float(value) for name, value in metric.scores().items()}
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)
    empty = Dcase2020SeldScore(K)
    assert {name: float(v) for name, v in empty.scores().items()} == {"ER": 0.0, "F": 0.0, "LE": 180.0, "LR": 0.0, "SELD": 0.75}
    with pytest.raises(ValueError, match="score"):
        Dcase2020SeldScore(K, score="DOA")


def test_metrics_compile_fit_and_evaluate():
    keras.utils.set_random_seed(0)
    frames, features, scenes = 10, 4, 3
    inputs = keras.Input((frames, features))
    sed = keras.layers.Dense(K, activation="sigmoid", name="sed")(inputs)
    doa = keras.layers.Reshape((frames, K, 3))(keras.layers.Dense(3 * K, activation="tanh")(inputs))
    pooled = keras.layers.GlobalAveragePooling1D()(inputs)
    outputs = {
        "sed": sed,
        "seld": keras.layers.Identity(name="seld")(pack_classwise(sed, doa)),
        "scene": keras.layers.Dense(scenes, activation="softmax", name="scene")(pooled),
        "clip": keras.layers.Dense(K, activation="sigmoid", name="clip")(pooled),
    }
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss={"sed": "binary_crossentropy", "seld": "mse", "scene": "categorical_crossentropy", "clip": "binary_crossentropy"},
        metrics={
            "sed": [FrameF1(K, name="f1"), FrameErrorRate(K, "macro", name="er_macro")],
            "seld": [Dcase2020SeldScore(K)],
            "scene": [SceneAccuracy(scenes, name="acc"), SceneMacroF1(scenes, name="macro_f1")],
            "clip": [ClipRocAuc(K, name="auc"), ClipAveragePrecision(K, "micro", name="map")],
        },
    )
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, frames, features)).astype("float32")
    activity, doa_true, _, _ = random_classwise(rng, 16, frames)
    targets = {
        "sed": activity,
        "seld": keras.ops.convert_to_numpy(pack_classwise(activity, doa_true)),
        "scene": np.eye(scenes, dtype="float32")[rng.integers(0, scenes, 16)],
        "clip": activity.max(axis=1),
    }
    history = model.fit(x, targets, batch_size=4, epochs=1, verbose=0)
    for key in ("sed_f1", "sed_er_macro", "seld_seld", "scene_acc", "scene_macro_f1", "clip_auc", "clip_map"):
        assert key in history.history and np.isfinite(history.history[key][0]), key
    logged = model.evaluate(x, targets, batch_size=4, verbose=0, return_dict=True)
    predicted = model.predict(x, batch_size=4, verbose=0)
    assert logged["sed_f1"] == pytest.approx(frame_scores(activity, predicted["sed"] >= 0.5).micro_f, abs=1e-6)
    assert logged["scene_acc"] == pytest.approx(scene_scores(targets["scene"], predicted["scene"]).accuracy, abs=1e-6)
