"""Tests of `seld_tf.metrics.sed` against sed_eval 0.2.1 itself.

Every case is scored by sed_eval (one `evaluate()` per file, then
`results()`) and by the package, and every number sed_eval reports must agree
to 1e-9 (NaN where sed_eval gives NaN); the package's extra counts must equal
sed_eval's `overall` / `class_wise` accumulators. The hand-worked cases also
state the expected values, worked out from the definitions in the module
docstring.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from seld_tf.metrics.sed import event_based_metrics, segment_based_metrics

sed_eval = pytest.importorskip("sed_eval")

TOL = 1e-9
LABELS = ["a", "b", "c"]


def _files(reference, estimated):
    return list(reference) + [name for name in estimated if name not in reference]


def _as_dicts(name, events):
    return [{"filename": name, "onset": on, "offset": off, "event_label": label} for on, off, label in events]


def sed_eval_segment(reference, estimated, labels, time_resolution=1.0, durations=None, zero_score=False):
    metric = sed_eval.sound_event.SegmentBasedMetrics(list(labels), time_resolution=float(time_resolution))
    if zero_score:
        metric.empty_system_output_handling = "zero_score"
    for name in _files(reference, estimated):
        metric.evaluate(
            _as_dicts(name, reference.get(name, [])),
            _as_dicts(name, estimated.get(name, [])),
            evaluated_length_seconds=(durations or {}).get(name),
        )
    return metric


def sed_eval_event(reference, estimated, labels, **kwargs):
    metric = sed_eval.sound_event.EventBasedMetrics(list(labels), **kwargs)
    for name in _files(reference, estimated):
        metric.evaluate(_as_dicts(name, reference.get(name, [])), _as_dicts(name, estimated.get(name, [])))
    return metric


def sed_eval_results(metric):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN classes
        return metric.results()


def assert_same(ours, theirs, path="results"):
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        for key, value in theirs.items():
            assert key in ours, f"{path}[{key!r}] missing"
            assert_same(ours[key], value, f"{path}[{key!r}]")
        return
    theirs, ours = float(theirs), float(ours)
    if math.isnan(theirs):
        assert math.isnan(ours), f"{path}: {ours} != NaN"
    else:
        assert abs(ours - theirs) <= TOL, f"{path}: {ours} != {theirs}"


def assert_same_counts(ours, metric, labels):
    for key, value in metric.overall.items():
        if key != "ER":  # sed_eval's segment accumulator keeps an unused 'ER' slot
            assert ours["overall"]["count"][key] == value, key
    for label in labels:
        for key, value in metric.class_wise[label].items():
            if key in ours["class_wise"][label]["count"]:
                assert ours["class_wise"][label]["count"][key] == value, (label, key)


def check_segment(reference, estimated, labels=LABELS, **kwargs):
    zero_score = kwargs.get("empty_system_output_handling") == "zero_score"
    metric = sed_eval_segment(
        reference,
        estimated,
        labels,
        time_resolution=kwargs.get("time_resolution", 1.0),
        durations=kwargs.get("durations"),
        zero_score=zero_score,
    )
    ours = segment_based_metrics(reference, estimated, labels, **kwargs)
    assert_same(ours, sed_eval_results(metric))
    assert_same_counts(ours, metric, labels)
    assert ours["evaluated_files"] == metric.evaluated_files
    assert ours["evaluated_length_seconds"] == pytest.approx(metric.evaluated_length_seconds, abs=TOL)
    return ours


def check_event(reference, estimated, labels=LABELS, **kwargs):
    metric = sed_eval_event(reference, estimated, labels, **kwargs)
    ours = event_based_metrics(reference, estimated, labels, **kwargs)
    assert_same(ours, sed_eval_results(metric))
    assert_same_counts(ours, metric, labels)
    assert ours["evaluated_files"] == metric.evaluated_files
    assert ours["evaluated_length"] == pytest.approx(metric.evaluated_length, abs=TOL)
    return ours


# ---------------------------------------------------------------- hand-worked, segment-based


def test_segment_overlap_activates_every_touched_segment():
    # ref a 0.5-2.2 -> segments 0,1,2; est a 1.9-3.0 -> segments 1,2; est b 0.0-0.1 -> segment 0.
    # Length max(2.2, 3.0) = 3 s -> 3 segments. Segment 0: ref {a}, sys {b}: S=1.
    # Segments 1, 2: a in both: TP. Overall Ntp=2, Nref=3, Nsys=3, S=1.
    ref = {"f": [(0.5, 2.2, "a")]}
    est = {"f": [(1.9, 3.0, "a"), (0.0, 0.1, "b")]}
    out = check_segment(ref, est)
    assert out["overall"]["count"]["Ntp"] == 2
    assert out["overall"]["count"]["S"] == 1
    assert out["overall"]["f_measure"]["f_measure"] == pytest.approx(2 / 3)
    assert out["overall"]["error_rate"]["error_rate"] == pytest.approx(1 / 3)
    # Class b: no reference -> recall, F NaN; dropped from the macro F, as is c (nothing at all),
    # leaving a's F: P = 2/2, R = 2/3 -> 0.8.
    assert math.isnan(out["class_wise"]["b"]["f_measure"]["f_measure"])
    assert out["class_wise_average"]["f_measure"]["f_measure"] == pytest.approx(0.8)


def test_segment_zero_length_events_and_durations():
    # onset == offset on a boundary (2.0) activates nothing; inside a segment (3.5) it activates it.
    ref = {"f": [(2.0, 2.0, "a"), (3.5, 3.5, "b")]}
    est = {"f": [(3.2, 3.6, "b")]}
    out = check_segment(ref, est)
    assert out["class_wise"]["a"]["count"]["Nref"] == 0
    assert out["class_wise"]["b"]["count"]["Ntp"] == 1
    # A duration shorter than the events cuts them; a longer one adds empty (true negative) segments.
    check_segment(ref, est, durations={"f": 3.0})
    out = check_segment(ref, est, durations={"f": 10.0})
    assert out["overall"]["count"]["Ntn"] == 10 * 3 - 1  # every cell but b in segment 3


def test_segment_time_resolution_and_empty_sides():
    ref = {"f": [(0.25, 0.31, "a"), (0.0, 1.0, "c")], "g": [], "h": [(1.0, 2.5, "b")]}
    est = {"f": [(0.3, 0.45, "a")], "g": [(0.0, 0.5, "c")], "only_est": [(0.0, 1.0, "a")]}
    for resolution in (0.1, 0.25, 1.0):
        check_segment(ref, est, time_resolution=resolution)
    out = check_segment(ref, {})
    assert math.isnan(out["overall"]["f_measure"]["precision"])
    assert out["overall"]["error_rate"]["deletion_rate"] == pytest.approx(1.0)
    check_segment({}, est)
    out = check_segment(ref, {}, empty_system_output_handling="zero_score")
    assert out["overall"]["f_measure"]["f_measure"] == 0.0
    assert out["class_wise_average"]["f_measure"]["f_measure"] == 0.0


def test_segment_rejects_unknown_labels():
    with pytest.raises(ValueError, match="not in event_labels"):
        segment_based_metrics({"f": [(0.0, 1.0, "zzz")]}, {}, LABELS)


# ---------------------------------------------------------------- hand-worked, event-based


def test_event_collar_edges():
    # Onset differences 0.2 (inside the collar) and 0.25 (outside), in exactly representable steps.
    ref = {"f": [(1.0, 2.0, "a"), (5.0, 6.0, "a")]}
    est = {"f": [(1.25, 2.0, "a"), (5.25, 6.0, "a")]}
    out = check_event(ref, est, t_collar=0.25)
    assert out["overall"]["count"]["Ntp"] == 2
    out = check_event(ref, est, t_collar=0.125)
    assert out["overall"]["count"]["Ntp"] == 0
    assert out["overall"]["error_rate"]["error_rate"] == pytest.approx(2.0)


def test_event_offset_percentage_of_length():
    # Reference of 4 s: offset tolerance max(0.2, 0.5 * 4) = 2 s; with 0.2 it is max(0.2, 0.8) = 0.8 s.
    ref = {"f": [(0.0, 4.0, "a")]}
    est = {"f": [(0.1, 5.5, "a")]}
    assert check_event(ref, est)["overall"]["count"]["Ntp"] == 1
    assert check_event(ref, est, percentage_of_length=0.2)["overall"]["count"]["Ntp"] == 0
    # Offset only: onset ignored, offset 1.5 s off is still within 2 s.
    est_late = {"f": [(3.0, 5.5, "a")]}
    assert check_event(ref, est_late, evaluate_onset=False)["overall"]["count"]["Ntp"] == 1
    assert check_event(ref, est_late, evaluate_offset=False)["overall"]["count"]["Ntp"] == 0
    # Zero-length reference: the tolerance falls back to the collar.
    assert check_event({"f": [(1.0, 1.0, "a")]}, {"f": [(1.0, 1.2, "a")]})["overall"]["count"]["Ntp"] == 1


def test_event_substitution_and_unknown_labels():
    # ref a and est b at the same times: a substitution, ER = 1/1, F = 0.
    # An estimate with a label outside the list counts as an overall insertion only.
    ref = {"f": [(1.0, 2.0, "a")]}
    est = {"f": [(1.0, 2.0, "b"), (7.0, 8.0, "other")]}
    out = check_event(ref, est)
    assert out["overall"]["count"] == {"Nref": 1, "Nsys": 2, "Nsubs": 1, "Ntp": 0, "Nfp": 1, "Nfn": 0}
    assert out["overall"]["error_rate"]["error_rate"] == pytest.approx(2.0)
    assert out["class_wise"]["b"]["count"]["Nfp"] == 1


def test_event_optimal_beats_greedy_and_decides_substitutions():
    # a1 hits est0 (|1.0 - 1.2| = 0.2) and est1 (0.05); a2 hits est0 only (|1.4 - 1.05| = 0.35).
    # Greedy: a1 takes est0, its first hit, and a2 is left with nothing -> 1 TP; optimal: 2 TP.
    ref = {"f": [(1.0, 2.0, "a"), (1.4, 2.0, "a")]}
    est = {"f": [(1.2, 2.0, "a"), (1.05, 2.0, "a")]}
    greedy = check_event(ref, est, event_matching_type="greedy")
    optimal = check_event(ref, est, event_matching_type="optimal")
    assert greedy["overall"]["count"]["Ntp"] == 1
    assert optimal["overall"]["count"]["Ntp"] == 2


def test_event_contested_estimates_with_substitutions():
    # Several same-class references contest the same estimates; the leftover references then
    # substitute with other-class estimates, so which ones stay unmatched matters.
    ref = {"f": [(1.0, 2.0, "a"), (1.1, 2.0, "a"), (1.2, 2.0, "a"), (1.1, 2.1, "b")]}
    est = {"f": [(1.1, 2.05, "a"), (1.15, 2.0, "c"), (1.0, 2.0, "a"), (1.2, 2.1, "c")]}
    for matching in ("optimal", "greedy"):
        out = check_event(ref, est, event_matching_type=matching)
        assert out["overall"]["count"]["Ntp"] == 2
        assert out["overall"]["count"]["Nsubs"] == 2


def test_event_empty_outputs():
    ref = {"f": [(1.0, 2.0, "a")], "g": [(0.0, 0.5, "b")], "empty": []}
    out = check_event(ref, {})
    assert math.isnan(out["overall"]["f_measure"]["f_measure"])
    assert math.isnan(out["class_wise_average"]["f_measure"]["f_measure"])
    out = check_event(ref, {}, empty_system_output_handling="zero_score")
    assert out["overall"]["f_measure"]["f_measure"] == 0.0
    assert out["class_wise"]["a"]["f_measure"]["f_measure"] == 0.0
    # Class c: no reference, no output -> NaN even with zero_score (recall NaN).
    assert math.isnan(out["class_wise"]["c"]["f_measure"]["f_measure"])
    assert out["class_wise_average"]["f_measure"]["f_measure"] == 0.0
    out = check_event({}, {"f": [(1.0, 2.0, "a")]})
    assert math.isnan(out["overall"]["f_measure"]["recall"])
    assert out["overall"]["error_rate"]["insertion_rate"] > 1e15
    check_event({}, {})


def test_event_argument_checks():
    with pytest.raises(ValueError):
        event_based_metrics({}, {}, LABELS, evaluate_onset=False, evaluate_offset=False)
    with pytest.raises(ValueError):
        event_based_metrics({}, {}, LABELS, event_matching_type="hungarian")
    with pytest.raises(ValueError):
        event_based_metrics({"f": [(-1.0, 1.0, "a")]}, {}, LABELS)


# ---------------------------------------------------------------- random cases


def random_case(rng: np.random.Generator, n_files: int, labels: list[str], grid: float | None, span: float = 9.0):
    """References with same-class overlaps and near-duplicates; estimates jittered, relabelled or spurious.

    A short `span` crowds the events so that estimates are contested by several references.
    """

    def t(x):
        return float(np.round(x / grid) * grid) if grid else float(x)

    reference, estimated = {}, {}
    for index in range(n_files):
        ref = []
        for _ in range(rng.integers(0, 7)):
            onset = rng.uniform(0, span)
            length = rng.choice([0.0, rng.uniform(0.05, 0.6), rng.uniform(0.5, 4.0)], p=[0.05, 0.45, 0.5])
            ref.append((t(onset), t(min(onset + length, 10.0)), str(rng.choice(labels))))
            if rng.random() < 0.3:  # a same-class near-duplicate, to contest estimates
                ref.append((t(onset + rng.uniform(-0.3, 0.3) + 0.3), t(min(onset + length + 0.2, 10.0)), ref[-1][2]))
        est = []
        for on, off, label in ref:
            if rng.random() < 0.8:
                on2 = max(0.0, on + rng.normal(0, 0.15))
                off2 = max(on2, off + rng.normal(0, 0.3))
                new_label = label if rng.random() < 0.8 else str(rng.choice(labels))
                est.append((t(on2), t(off2), new_label))
        for _ in range(rng.integers(0, 3)):
            onset = rng.uniform(0, span + 0.5)
            est.append((t(onset), t(onset + rng.uniform(0.1, 2.0)), str(rng.choice(labels))))
        rng.shuffle(ref)
        rng.shuffle(est)
        reference[f"file{index}"] = ref
        if est or rng.random() < 0.5:
            estimated[f"file{index}"] = est
    return reference, estimated


@pytest.mark.parametrize("seed", range(6))
def test_random_segment_based(seed):
    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c", "d"][: 2 + seed % 3]
    for case in range(8):
        grid = 0.1 if case % 2 else None
        reference, estimated = random_case(rng, n_files=int(rng.integers(1, 7)), labels=labels, grid=grid)
        resolution = [1.0, 0.5, 0.1, 0.25][case % 4]
        check_segment(reference, estimated, labels, time_resolution=resolution)
        durations = {name: float(rng.choice([5.0, 10.0, 12.0])) for name in list(reference)[::2]}
        check_segment(reference, estimated, labels, time_resolution=resolution, durations=durations)


EVENT_SETTINGS = [
    dict(evaluate_onset=True, evaluate_offset=True),
    dict(evaluate_onset=True, evaluate_offset=False),
    dict(evaluate_onset=False, evaluate_offset=True),
    dict(percentage_of_length=0.2, empty_system_output_handling="zero_score"),
]


@pytest.mark.parametrize("matching", ["optimal", "greedy"])
@pytest.mark.parametrize("setting", range(len(EVENT_SETTINGS)))
def test_random_event_based(matching, setting):
    rng = np.random.default_rng(100 + setting)
    for case in range(30):
        labels = ["a", "b", "c", "d"][: 2 + case % 3]
        reference, estimated = random_case(
            rng,
            n_files=int(rng.integers(1, 7)),
            labels=labels,
            grid=0.1 if case % 2 else None,
            span=1.5 if case % 3 == 0 else 9.0,
        )
        check_event(reference, estimated, labels, event_matching_type=matching, **EVENT_SETTINGS[setting])
