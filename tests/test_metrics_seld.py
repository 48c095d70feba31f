"""Tests of the DCASE2020 SELD metric and its 2021-style macro variant.

Expected values are worked out by hand from the metric's definition (blocks of
10 frames; one count per class per block; S/D/I from the block's FP and FN):
see each test's comments. Directions are on the horizon (elevation 0), where
the angular distance is the azimuth difference.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from seld_tf.datasets.events import EventList
from seld_tf.metrics import Dcase2020SeldMetric, Dcase2021SeldMetric, SeldScores, compute_seld_scores
from seld_tf.metrics import seld as seld_module
from seld_tf.metrics.seld import _min_pairing_costs, _reference_loop_scores

# arccos of a dot product rounded near 1 leaves up to ~1e-6 degrees for identical directions.
ANGLE_TOL = 1e-5


def events(rows: list[tuple], num_frames: int | None = None) -> EventList:
    """`(frame, class, azimuth)` rows on the horizon; each row its own track."""
    return EventList.from_rows(
        [(frame, cls, track, azimuth, 0.0) for track, (frame, cls, azimuth) in enumerate(rows)], num_frames=num_frames
    )


def score(reference: EventList, prediction: EventList, **kwargs) -> SeldScores:
    metric = Dcase2020SeldMetric(**kwargs)
    metric.update(reference, prediction)
    return metric.result()


def counts(scores: SeldScores) -> dict[str, int]:
    names = ("tp", "fp", "fn", "substitutions", "deletions", "insertions", "nref", "nsys", "de_tp")
    return {name: getattr(scores, name) for name in names}


def test_perfect_prediction():
    # Class 0 in frames 0-14 spans blocks 0 and 1; class 5 in frame 3 (block 0):
    # Nref = Nsys = TP = de_tp = 3 class-blocks, no error.
    reference = events([(f, 0, 30.0) for f in range(15)] + [(3, 5, -120.0)], num_frames=20)
    scores = score(reference, reference)
    assert counts(scores) == dict(tp=3, fp=0, fn=0, substitutions=0, deletions=0, insertions=0, nref=3, nsys=3, de_tp=3)
    assert (scores.ER, scores.F, scores.LR) == (0.0, 1.0, 1.0)
    assert scores.LE == pytest.approx(0.0, abs=ANGLE_TOL)
    assert scores.SELD == pytest.approx(0.0, abs=ANGLE_TOL)


def test_class_only_in_reference_is_a_deletion():
    # Nref 1, Nsys 0: FN 1 -> D 1. ER = 1/1; TP 0 -> F 0; de_tp 0 -> LE 180, LR 0.
    # SELD = (1 + (1 - 0) + 180/180 + (1 - 0)) / 4 = 1.
    scores = score(events([(0, 2, 0.0)], num_frames=10), events([], num_frames=10))
    assert counts(scores) == dict(tp=0, fp=0, fn=1, substitutions=0, deletions=1, insertions=0, nref=1, nsys=0, de_tp=0)
    assert scores.to_dict() == {"ER": 1.0, "F": 0.0, "LE": 180.0, "LR": 0.0, "SELD": 1.0}


def test_class_only_in_prediction_is_an_insertion():
    # Block 0: class 1 in both, same direction (TP); class 4 only predicted (FP) -> I 1.
    # Nref 1, Nsys 2, TP 1: ER = 1/1, P = 1/2, R = 1, F = 2(1/2)(1)/(3/2) = 2/3.
    # de_tp 1: LE 0, LR = F-measure of 1/2 and 1 = 2/3.
    # SELD = (1 + 1/3 + 0 + 1/3) / 4 = 5/12.
    reference = events([(0, 1, 45.0)])
    prediction = events([(0, 1, 45.0), (5, 4, 90.0)])
    scores = score(reference, prediction)
    assert counts(scores) == dict(tp=1, fp=1, fn=0, substitutions=0, deletions=0, insertions=1, nref=1, nsys=2, de_tp=1)
    assert scores.ER == 1.0
    assert scores.F == pytest.approx(2 / 3)
    assert scores.LR == pytest.approx(2 / 3)
    assert scores.SELD == pytest.approx(5 / 12, abs=ANGLE_TOL)


def test_fn_and_fp_of_different_classes_in_one_block_make_a_substitution():
    # Block 0: class 0 missed (FN), class 1 inserted (FP): S = min(1, 1) = 1, D = I = 0. ER = 1/1.
    scores = score(events([(2, 0, 0.0)]), events([(2, 1, 0.0)]))
    assert counts(scores) == dict(tp=0, fp=1, fn=1, substitutions=1, deletions=0, insertions=0, nref=1, nsys=1, de_tp=0)
    assert scores.ER == 1.0
    assert scores.F == 0.0


def test_class_in_both_without_common_frame_is_a_false_negative():
    # Class 3 in frame 2 (reference) and frame 7 (prediction), same block, no common frame:
    # FN (not FP, not localized). Nref 1, Nsys 1, D 1 -> ER 1, F 0, LE 180, LR 0.
    scores = score(events([(2, 3, 10.0)]), events([(7, 3, 10.0)]))
    assert counts(scores) == dict(tp=0, fp=0, fn=1, substitutions=0, deletions=1, insertions=0, nref=1, nsys=1, de_tp=0)
    assert scores.to_dict() == {"ER": 1.0, "F": 0.0, "LE": 180.0, "LR": 0.0, "SELD": 1.0}


def test_block_boundary_between_frames_9_and_10():
    # Frame 9 is the last frame of block 0, frame 10 the first of block 1: block 0 has an FN (D 1),
    # block 1 an FP (I 1). Nref 1, Nsys 1 -> ER = 2/1.
    apart = score(events([(9, 3, 0.0)], num_frames=20), events([(10, 3, 0.0)], num_frames=20))
    assert counts(apart) == dict(tp=0, fp=1, fn=1, substitutions=0, deletions=1, insertions=1, nref=1, nsys=1, de_tp=0)
    assert apart.ER == 2.0
    # Frames 0 and 9 share block 0 (but no frame): one FN only.
    together = score(events([(0, 3, 0.0)], num_frames=20), events([(9, 3, 0.0)], num_frames=20))
    assert (together.nref, together.fn, together.fp, together.ER) == (1, 1, 0, 1.0)


def test_distance_is_the_mean_over_common_frames_and_20_degrees_is_a_tp():
    # Frame 0 costs 40 degrees (0 vs 40; exactly 40.0 in floating point), frame 1 costs 0
    # (both at azimuth 0, the vector (1, 0, 0)), frame 2 is reference only and does not count:
    # block distance = (40 + 0) / 2 = 20.0 exactly, <= 20 -> TP.
    reference = events([(0, 6, 0.0), (1, 6, 0.0), (2, 6, 0.0)])
    scores = score(reference, events([(0, 6, 40.0), (1, 6, 0.0)]))
    assert scores.total_de == 20.0
    assert (scores.tp, scores.fn, scores.de_tp) == (1, 0, 1)
    assert (scores.ER, scores.F, scores.LE, scores.LR) == (0.0, 1.0, 20.0, 1.0)


def test_distance_just_above_20_degrees_is_a_false_negative_but_localized():
    # (40.002 + 0) / 2 = 20.001 > 20 -> FN, never FP; it is still counted in LE and LR:
    # Nref 1, Nsys 1, FN 1 -> D 1, ER 1, F 0; de_tp 1 -> LE 20.001, LR = F-measure(1/1, 1/1) = 1.
    reference = events([(0, 6, 0.0), (1, 6, 0.0)])
    scores = score(reference, events([(0, 6, 40.002), (1, 6, 0.0)]))
    assert counts(scores) == dict(tp=0, fp=0, fn=1, substitutions=0, deletions=1, insertions=0, nref=1, nsys=1, de_tp=1)
    assert (scores.ER, scores.F, scores.LR) == (1.0, 0.0, 1.0)
    assert scores.LE == pytest.approx(20.001)


def test_doa_threshold_is_a_parameter():
    scores = score(events([(0, 0, 0.0)]), events([(0, 0, 30.0)]), doa_threshold=45.0)
    assert scores.tp == 1


def test_same_class_overlap_uses_hungarian_matching_and_sums_the_costs():
    # Frame 0, class 0: reference at 0 and 12 degrees, prediction at 3 and -9.
    # Distances: 0-3: 3, 0-(-9): 9, 12-3: 9, 12-(-9): 21.
    # Greedy (closest pair first) or listing order pairs 0-3 and 12-(-9): 3 + 21 = 24 -> FN.
    # Hungarian pairs 0-(-9) and 12-3: 9 + 9 = 18 (summed, not averaged) -> TP, LE 18.
    reference = events([(0, 0, 0.0), (0, 0, 12.0)])
    prediction = events([(0, 0, 3.0), (0, 0, -9.0)])
    scores = score(reference, prediction)
    assert (scores.nref, scores.nsys, scores.tp, scores.fn, scores.de_tp) == (1, 1, 1, 0, 1)
    assert scores.LE == pytest.approx(18.0)


def test_same_class_costs_are_summed_over_instances():
    # Two instances each 15 degrees off: frame cost 15 + 15 = 30 > 20 -> FN (an official quirk).
    # One extra unmatched predicted instance adds no cost.
    reference = events([(0, 0, 0.0), (0, 0, 90.0)])
    prediction = events([(0, 0, 15.0), (0, 0, 105.0), (0, 0, -150.0)])
    scores = score(reference, prediction)
    assert (scores.tp, scores.fn, scores.de_tp) == (0, 1, 1)
    assert scores.LE == pytest.approx(30.0)


def test_empty_reference_and_prediction():
    # No class-block at all: ER = 0 (nothing to miss, nothing inserted); TP = de_tp = 0 ->
    # F 0, LE 180, LR 0 (the official tool's values), SELD = (0 + 1 + 1 + 1) / 4.
    scores = score(events([], num_frames=600), events([], num_frames=600))
    assert counts(scores) == dict(tp=0, fp=0, fn=0, substitutions=0, deletions=0, insertions=0, nref=0, nsys=0, de_tp=0)
    assert scores.to_dict() == {"ER": 0.0, "F": 0.0, "LE": 180.0, "LR": 0.0, "SELD": 0.75}


def test_insertions_into_an_empty_reference_give_infinite_error_rate():
    scores = score(events([], num_frames=10), events([(0, 0, 0.0)], num_frames=10))
    assert scores.insertions == 1
    assert math.isinf(scores.ER)


def test_counts_accumulate_over_files_before_scoring():
    # File A: one TP. File B: one deletion. Pooled: Nref 2, Nsys 1, TP 1, D 1:
    # ER = 1/2, P = 1, R = 1/2, F = 2/3 (the mean of the per-file F would be 1/2), LR = 2/3.
    file_a = (events([(0, 0, 0.0)]), events([(0, 0, 0.0)]))
    file_b = (events([(0, 1, 0.0)]), events([]))
    metric = Dcase2020SeldMetric()
    metric.update(*file_a)
    metric.update(*file_b)
    pooled = metric.result()
    separate = [score(*file_a), score(*file_b)]
    for name in counts(pooled):
        assert getattr(pooled, name) == sum(getattr(s, name) for s in separate), name
    assert pooled.ER == 0.5
    assert pooled.F == pytest.approx(2 / 3)
    assert pooled.LR == pytest.approx(2 / 3)
    assert compute_seld_scores([file_a, file_b]) == pooled

    metric.reset()
    metric.update(*file_b)
    assert metric.result() == separate[1]


def test_num_frames_argument_overrides_the_event_lists():
    reference = events([(12, 0, 0.0)], num_frames=10)
    with pytest.raises(ValueError, match="frame index 12 outside"):
        score(reference, reference)
    metric = Dcase2020SeldMetric()
    metric.update(reference, reference, num_frames=20)
    assert metric.result().tp == 1


def test_class_index_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="class index 3 outside"):
        score(events([(0, 3, 0.0)]), events([]), num_classes=3)


def test_to_dict_keys():
    assert list(score(events([]), events([])).to_dict()) == ["ER", "F", "LE", "LR", "SELD"]


def _random_file(rng: np.random.Generator, num_frames: int, num_classes: int) -> tuple[EventList, EventList]:
    """Dense random reference and a perturbed prediction, rich in same-class overlaps.

    Integer degrees as in the DCASE files; the prediction keeps each reference row
    with probability 0.8, moves it by up to 25 degrees, and adds random rows.
    """
    rows = [
        (frame, int(rng.integers(num_classes)), float(rng.integers(-180, 180)), float(rng.integers(-45, 46)))
        for frame in range(num_frames)
        for _ in range(rng.integers(0, 4))
    ]
    kept = [(f, c, a + rng.integers(-25, 26), e + rng.integers(-10, 11)) for f, c, a, e in rows if rng.random() < 0.8]
    extra = [
        (int(rng.integers(num_frames)), int(rng.integers(num_classes)), float(rng.integers(-180, 180)), 0.0)
        for _ in range(num_frames // 4)
    ]

    def to_events(table):
        return EventList.from_rows([(f, c, t, a, e) for t, (f, c, a, e) in enumerate(table)], num_frames=num_frames)

    return to_events(rows), to_events(kept + extra)


def _cell_counts(events: EventList, num_frames: int = 57, num_classes: int = 3) -> np.ndarray:
    """Instances per (frame, class)."""
    return np.bincount(events.frame * num_classes + events.cls, minlength=num_frames * num_classes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_metric_agrees_with_loop_reference(seed):
    rng = np.random.default_rng(seed)
    # 57 frames: the last block is partial.
    pairs = [_random_file(rng, num_frames=57, num_classes=3) for _ in range(20)]
    hungarian_cells = sum(int(np.sum((_cell_counts(ref) > 1) & (_cell_counts(pred) > 1))) for ref, pred in pairs)
    assert hungarian_cells > 100, "the random files should exercise the Hungarian path"

    fast = compute_seld_scores(pairs, num_classes=3)
    loop = _reference_loop_scores(pairs, num_classes=3)
    assert counts(fast) == counts(loop)
    assert (fast.ER, fast.F, fast.LR) == (loop.ER, loop.F, loop.LR)
    # Block distances are bit-identical; only the order of summing them over files differs.
    assert fast.total_de == pytest.approx(loop.total_de, rel=1e-12)
    assert fast.SELD == pytest.approx(loop.SELD, rel=1e-12)
    assert 0 < fast.tp < fast.nref, "the random files should give both TPs and errors"


def test_update_many_gives_the_counts_of_file_by_file_updates(monkeypatch):
    # Files of different lengths (57 frames: a partial last block; 13: a short list with no num_frames),
    # scored in batches that split the list: each file must keep blocks of its own.
    rng = np.random.default_rng(3)
    pairs = [_random_file(rng, num_frames=57, num_classes=3) for _ in range(6)]
    pairs.insert(2, tuple(dataclasses.replace(events, num_frames=None) for events in _random_file(rng, 13, 3)))
    one_by_one = Dcase2020SeldMetric(num_classes=3)
    for reference, prediction in pairs:
        one_by_one.update(reference, prediction)
    expected = one_by_one.result()
    for batch_frames in (100, 10_000):
        monkeypatch.setattr(seld_module, "_BATCH_FRAMES", batch_frames)
        batched = Dcase2020SeldMetric(num_classes=3)
        batched.update_many(iter(pairs))
        result = batched.result()
        assert counts(result) == counts(expected)
        assert result.total_de == pytest.approx(expected.total_de, rel=1e-12)
    assert 0 < expected.tp < expected.nref


def test_update_many_reports_the_first_file_out_of_range():
    good = (events([(0, 0, 0.0)], num_frames=10), events([(0, 0, 0.0)], num_frames=10))
    late = (events([(12, 0, 0.0)], num_frames=10), events([]))
    bad_class = (events([]), events([(0, 7, 0.0)]))
    metric = Dcase2020SeldMetric(num_classes=3)
    with pytest.raises(ValueError, match="reference event list: frame index 12 outside the clip's 10 label frames"):
        metric.update_many([good, late, bad_class])
    with pytest.raises(ValueError, match=r"prediction event list: class index 7 outside \[0, 3\)"):
        metric.update_many([good, bad_class, late])


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (3, 1), (2, 2), (2, 3), (3, 2), (3, 3), (4, 4), (4, 7), (8, 8)])
def test_least_cost_pairing_equals_the_hungarian_method(shape):
    # 4 x 7 and 8 x 8 have more pairings than are tried one by one: those go to scipy.
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(sum(shape))
    matrices = np.concatenate([rng.uniform(0, 180, (20, *shape)), rng.integers(0, 4, (20, *shape)).astype(float)])
    costs = _min_pairing_costs(matrices)
    for matrix, cost in zip(matrices, costs):
        rows, cols = scipy_optimize.linear_sum_assignment(matrix)
        assert cost == pytest.approx(matrix[rows, cols].sum(), rel=1e-12, abs=1e-12)


def test_2021_variant_macro_averages_class_scores():
    # Block 0: class 0 at 0 vs 10 degrees (TP, distance 10); class 1 only in the reference (FN).
    # Block 1: class 0 again TP at distance 10; class 1 only predicted (FP); class 2 only predicted (FP).
    # Class 0: Nref 2, Nsys 2, TP 2 -> ER 0, F 1, LE 10, LR 1.
    # Class 1: Nref 1, Nsys 1, FN 1 + FP 1 -> ER 2/1, F 0, LE undefined (de_tp 0), LR 0.
    # Class 2: never in the reference -> left out of the averages.
    # Macro: ER (0 + 2)/2 = 1, F (1 + 0)/2 = 0.5, LE over class 0 only = 10, LR 0.5,
    # SELD = (1 + 0.5 + 10/180 + 0.5) / 4.
    reference = events([(0, 0, 0.0), (2, 1, 0.0), (10, 0, 0.0)], num_frames=20)
    prediction = events([(0, 0, 10.0), (10, 0, 10.0), (12, 1, 0.0), (15, 2, 0.0)], num_frames=20)
    metric = Dcase2021SeldMetric(num_classes=3)
    metric.update(reference, prediction)
    per_class = metric.class_scores()
    assert [(s.nref, s.nsys, s.tp, s.fp, s.fn) for s in per_class] == [(2, 2, 2, 0, 0), (1, 1, 0, 1, 1), (0, 1, 0, 1, 0)]
    assert per_class[1].ER == 2.0
    assert math.isinf(per_class[2].ER)

    macro = metric.result()
    assert macro.ER == 1.0
    assert macro.F == 0.5
    assert macro.LE == pytest.approx(10.0)
    assert macro.LR == 0.5
    assert macro.SELD == pytest.approx((1 + 0.5 + 10 / 180 + 0.5) / 4)
    # The pooled 2020 metric on the same file: Nref 3, Nsys 4, TP 2; block 0 D 1, block 1 I 2:
    # ER = 3/3, P = 2/4, R = 2/3, F = 2(1/2)(2/3)/(7/6) = 4/7.
    pooled = score(reference, prediction, num_classes=3)
    assert (macro.nref, macro.nsys, macro.tp) == (pooled.nref, pooled.nsys, pooled.tp) == (3, 4, 2)
    assert pooled.ER == 1.0
    assert pooled.F == pytest.approx(4 / 7)
