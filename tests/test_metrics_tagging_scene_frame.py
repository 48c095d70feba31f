"""Tests of the numpy frame, scene and tagging metrics: hand-worked cases and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from seld_tf.metrics.frame import frame_counts, frame_scores
from seld_tf.metrics.scene import scene_confusion, scene_scores
from seld_tf.metrics.tagging import ap_macro, ap_micro, ap_table, auc_macro, class_ap, class_auc

# 4 frames x 3 classes; class 2 is present but never predicted.
REF = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 0]])
SYS = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]])


def test_frame_scores_hand_worked():
    # class 0: TP 1, FP 1, FN 1 -> F 1/2; class 1: TP 2, FP 1, FN 0 -> F 4/5; class 2: TP 0, FN 2 -> 0.
    counts = frame_counts(REF, SYS)
    np.testing.assert_array_equal(counts.tp, [1, 2, 0])
    np.testing.assert_array_equal(counts.fp, [1, 1, 0])
    np.testing.assert_array_equal(counts.fn, [1, 0, 2])
    scores = frame_scores(REF, SYS)
    assert scores.micro_f == pytest.approx(2 * 3 / (2 * 3 + 2 + 3), abs=1e-15)
    # The never-predicted class counts 0 in the macro average (sed_eval would drop it).
    assert scores.macro_f == pytest.approx((0.5 + 0.8 + 0.0) / 3, abs=1e-15)
    # Per frame (Nref, Nsys, TP): (2,1,1) D1; (2,1,1) D1; (2,2,1) S1; (0,1,0) I1 -> 4 errors / 6 refs.
    assert (counts.substitutions, counts.deletions, counts.insertions) == (1, 2, 1)
    assert scores.error_rate == pytest.approx(4 / 6, abs=1e-15)
    np.testing.assert_allclose(scores.class_er, [2 / 2, 1 / 2, 2 / 2])
    assert scores.macro_error_rate == pytest.approx(5 / 6, abs=1e-15)


def test_frame_mask_skips_frames_and_batches_pool():
    batch_ref, batch_sys = np.stack([REF, REF]), np.stack([SYS, np.zeros_like(SYS)])
    mask = np.array([[True] * 4, [False] * 4])
    masked = frame_scores(batch_ref, batch_sys, mask)
    plain = frame_scores(REF, SYS)
    assert masked.micro_f == plain.micro_f and masked.error_rate == plain.error_rate
    pooled = frame_counts(batch_ref, batch_sys)
    np.testing.assert_array_equal(pooled.fn, frame_counts(REF, SYS).fn + REF.sum(axis=0))
    with pytest.raises(ValueError, match="mask"):
        frame_scores(REF, SYS, mask=np.ones(3, bool))


def test_frame_empty_reference_conventions():
    none = np.zeros((3, 2))
    assert frame_scores(none, none).error_rate == 0.0
    assert frame_scores(none, none).macro_f == 0.0
    alarms = frame_scores(none, np.ones((3, 2)))
    assert alarms.error_rate == np.inf and alarms.macro_error_rate == np.inf


@pytest.mark.parametrize("seed", range(5))
def test_frame_f_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.random((6, 50, 7)) < rng.uniform(0.05, 0.5)
    sys = rng.random((6, 50, 7)) < rng.uniform(0.05, 0.5)
    ref[..., 3] = False  # absent class
    sys[..., 5] = False  # never-predicted class
    mask = rng.random((6, 50)) < 0.8
    scores = frame_scores(ref, sys, mask)
    r, s = ref[mask].astype(int), sys[mask].astype(int)
    assert abs(scores.micro_f - f1_score(r, s, average="micro", zero_division=0)) < 1e-12
    assert abs(scores.macro_f - f1_score(r, s, average="macro", zero_division=0)) < 1e-12
    np.testing.assert_allclose(scores.class_f, f1_score(r, s, average=None, zero_division=0), rtol=0, atol=1e-12)


def test_scene_hand_worked_and_input_forms():
    # Confusion rows = reference: scene 0: TP 1, FN 1 -> 2/3; scene 1: TP 1, FP 2 -> 1/2; scenes 2, 3: 0.
    scores = scene_scores([0, 0, 1, 2], [0, 1, 1, 1], num_classes=4)
    assert scores.accuracy == 0.5
    assert scores.macro_f == pytest.approx((2 / 3 + 1 / 2) / 4, abs=1e-15)
    one_hot = np.eye(4)[[0, 0, 1, 2]]
    probabilities = np.eye(4)[[0, 1, 1, 1]] * 0.7 + 0.1
    np.testing.assert_array_equal(scene_confusion(one_hot, probabilities), scores.confusion)
    with pytest.raises(ValueError, match="scene columns"):
        scene_scores(one_hot, probabilities, num_classes=3)


@pytest.mark.parametrize("seed", range(5))
def test_scene_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, 40)
    probabilities = rng.random((40, 5))
    probabilities[:, 4] = 0.0  # a scene never predicted nor present still counts 0
    scores = scene_scores(ref, probabilities)
    pred = probabilities.argmax(axis=1)
    assert abs(scores.accuracy - np.mean(ref == pred)) < 1e-12
    expected = f1_score(ref, pred, average="macro", labels=range(5), zero_division=0)
    assert abs(scores.macro_f - expected) < 1e-12


def test_tagging_matches_sklearn_when_every_class_scoreable():
    rng = np.random.default_rng(3)
    y = (rng.random((60, 6)) < 0.3).astype(int)
    y[0], y[1] = 1, 0
    p = np.clip(y * 0.3 + rng.random((60, 6)), 0, 1)
    p[:10] = np.round(p[:10], 1)  # ties
    assert abs(auc_macro(y, p) - roc_auc_score(y, p)) < 1e-12
    assert abs(ap_micro(y, p) - average_precision_score(y, p, average="micro")) < 1e-12
    assert abs(ap_macro(y, p) - average_precision_score(y, p, average="macro")) < 1e-12
    np.testing.assert_allclose(class_ap(y, p), average_precision_score(y, p, average=None), rtol=0, atol=1e-12)
    table = ap_table(y, p, [f"c{i}" for i in range(6)])
    assert [name for name, _ in table] == ["c0", "c1", "c2", "c3", "c4", "c5"]


def test_tagging_classes_without_positives_are_left_out():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    p = np.array([[0.9, 0.2, 0.3], [0.1, 0.3, 0.5], [0.5, 0.4, 0.2], [0.6, 0.1, 0.9]])
    # Class 0 ranks 0.9, 0.5 (pos) against 0.6, 0.1 (neg): 3 of 4 pairs right; its AP: 1/1, then 2/3.
    np.testing.assert_allclose(class_auc(y, p), [0.75, np.nan, np.nan])
    np.testing.assert_allclose(class_ap(y, p), [(1 + 2 / 3) / 2, np.nan, 1.0])
    assert auc_macro(y, p) == 0.75
    assert ap_macro(y, p) == pytest.approx(((1 + 2 / 3) / 2 + 1.0) / 2)
    assert np.isnan(ap_micro(np.zeros((2, 2)), np.ones((2, 2))))
