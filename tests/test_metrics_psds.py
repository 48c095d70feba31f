"""seld_tf.metrics.psds against psds_eval 0.5.3 (the reference, via pandas)."""

import math

import numpy as np
import pytest

from seld_tf.metrics.psds import PSDS_THRESHOLDS, intersection_f1, psds, psds1, psds2

pd = pytest.importorskip("pandas")
psds_eval = pytest.importorskip("psds_eval")

pytestmark = pytest.mark.filterwarnings("ignore")

SCENARIOS = {
    "psds1": dict(dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=0.3, alpha_ct=0.0, alpha_st=1.0),
    "psds2": dict(dtc_threshold=0.1, gtc_threshold=0.1, cttc_threshold=0.3, alpha_ct=0.5, alpha_st=1.0),
    "mixed": dict(dtc_threshold=0.5, gtc_threshold=0.3, cttc_threshold=0.2, alpha_ct=1.0, alpha_st=0.5),
    "plain": dict(dtc_threshold=0.0, gtc_threshold=0.0, cttc_threshold=0.0, alpha_ct=0.3, alpha_st=0.0),
}


def _frame(per_file):
    rows = [(name, on, off, label) for name, events in per_file.items() for on, off, label in events]
    return pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])


def _reference_eval(ground_truth, durations, dtc_threshold, gtc_threshold, cttc_threshold, duration_unit="hour"):
    metadata = pd.DataFrame(list(durations.items()), columns=["filename", "duration"])
    return psds_eval.PSDSEval(
        dtc_threshold, gtc_threshold, cttc_threshold, duration_unit=duration_unit,
        ground_truth=_frame(ground_truth), metadata=metadata,
    )


def _reference_psds(ground_truth, tables, durations, *, alpha_ct, alpha_st, max_efpr=100.0, **thresholds):
    evaluator = _reference_eval(ground_truth, durations, **thresholds)
    for table in tables:
        evaluator.add_operating_point(_frame(table))
    return evaluator.psds(alpha_ct, alpha_st, max_efpr).value


def _reference_f1(ground_truth, table, durations, **thresholds):
    return _reference_eval(ground_truth, durations, **thresholds).compute_macro_f_score(_frame(table))


def _runs(active, hop):
    """(onset, offset) of the runs of True in a frame mask."""
    edges = np.diff(np.concatenate([[0], active.astype(int), [0]]))
    return [(s * hop, e * hop) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def _random_case(seed, n_files=6, n_classes=4, n_thresholds=12):
    """Ground truth, nested detections from thresholded noisy scores (so they
    confuse classes and localise loosely), durations."""
    rng = np.random.default_rng(seed)
    classes = ["Speech", "alarm", "dog", "Cat", "frying"][:n_classes]
    hop = 0.064
    ground_truth, durations, scores = {}, {}, {}
    for i in range(n_files):
        name = f"f{i}.wav"
        duration = float(rng.uniform(6.0, 10.0))
        durations[name] = duration
        frames = int(duration / hop)
        truth = np.zeros((n_classes, frames))
        events = []
        for c, label in enumerate(classes):
            bounds = np.sort(rng.uniform(0.0, duration, 2 * int(rng.integers(0, 3))))
            for on, off in bounds.reshape(-1, 2):
                events.append((float(on), float(off), label))
                truth[c, int(on / hop):int(off / hop) + 1] = 1.0
        ground_truth[name] = events
        confusion = np.roll(truth, 1, axis=0) * rng.uniform(0.0, 0.6, (n_classes, 1))
        noise = np.cumsum(rng.normal(0, 0.15, (n_classes, frames)), axis=1) * 0.3
        scores[name] = np.clip(0.7 * truth + confusion + noise + rng.uniform(-0.2, 0.2), 0, 1)
    # A file with no events, a zero-length ground truth and a class only in detections.
    durations["quiet.wav"] = 7.5
    ground_truth["quiet.wav"] = [(2.0, 2.0, classes[0])]
    thresholds = np.linspace(0.05, 0.95, n_thresholds)
    tables = []
    for t in thresholds:
        table = {
            name: [(on, off, label) for c, label in enumerate(classes) for on, off in _runs(s[c] > t, hop)]
            for name, s in scores.items()
        }
        table["quiet.wav"] = [(1.0, 1.0 + t, classes[1]), (3.0, 3.0, classes[2]), (4.0, 5.0, "unknown")]
        table["elsewhere.wav"] = [(0.0, 1.0, classes[0])]
        table["f0.wav"] = table["f0.wav"] + [(durations["f0.wav"] + 1.0, durations["f0.wav"] + 2.0, "frying")]
        tables.append(table)
    return ground_truth, tables, durations


# About a minute of audio: per hour nearly every curve passes 100 FP/h at
# once, so per minute is where the random cases give mid-range scores.
@pytest.mark.parametrize("unit", ["hour", "minute"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_psds_matches_psds_eval_on_random_cases(seed, scenario, unit):
    ground_truth, tables, durations = _random_case(seed)
    params = dict(SCENARIOS[scenario], duration_unit=unit)
    expected = _reference_psds(ground_truth, tables, durations, **params)
    assert psds(ground_truth, tables, durations, **params) == pytest.approx(expected, abs=1e-9)
    if unit == "minute":
        assert 0.3 < expected < 1.0


@pytest.mark.parametrize("max_efpr", [None, 20.0, 3000.0])
def test_psds_max_efpr_matches_psds_eval(max_efpr):
    ground_truth, tables, durations = _random_case(7, n_files=4, n_classes=3, n_thresholds=8)
    params = SCENARIOS["psds2"]
    expected = _reference_psds(ground_truth, tables, durations, max_efpr=max_efpr, **params)
    assert psds(ground_truth, tables, durations, max_efpr=max_efpr, **params) == pytest.approx(expected, abs=1e-9)


def test_presets_on_fifty_thresholds_match_psds_eval():
    ground_truth, tables, durations = _random_case(3, n_files=5, n_classes=5, n_thresholds=PSDS_THRESHOLDS.size)
    by_threshold = dict(zip(PSDS_THRESHOLDS, tables))
    for preset, name in ((psds1, "psds1"), (psds2, "psds2")):
        expected = _reference_psds(ground_truth, tables, durations, **SCENARIOS[name])
        assert preset(ground_truth, by_threshold, durations) == pytest.approx(expected, abs=1e-9)
    assert PSDS_THRESHOLDS.size == 50
    assert PSDS_THRESHOLDS[0] == pytest.approx(0.01) and PSDS_THRESHOLDS[-1] == pytest.approx(0.99)


@pytest.mark.parametrize("seed", [0, 2, 4])
@pytest.mark.parametrize("thresholds", [(0.5, 0.5, 0.3), (0.7, 0.7, 0.3), (0.1, 0.1, 0.3)])
def test_intersection_f1_matches_psds_eval(seed, thresholds):
    ground_truth, tables, durations = _random_case(seed, n_thresholds=5)
    dtc, gtc, cttc = thresholds
    table = tables[2]
    expected_macro, expected_per_class = _reference_f1(
        ground_truth, table, durations, dtc_threshold=dtc, gtc_threshold=gtc, cttc_threshold=cttc
    )
    macro, per_class = intersection_f1(
        ground_truth, table, durations, dtc_threshold=dtc, gtc_threshold=gtc, cttc_threshold=cttc
    )
    assert macro == pytest.approx(expected_macro, abs=1e-9, nan_ok=True)
    assert per_class.keys() == expected_per_class.keys()
    for label, value in expected_per_class.items():
        assert per_class[label] == pytest.approx(value, abs=1e-9, nan_ok=True)


# Hand-worked: one hour-long file, so false positive counts are rates per hour.
HOUR = {"a.wav": 3600.0}
TWO_EVENTS = {"a.wav": [(10.0, 20.0, "A"), (30.0, 40.0, "B")]}
STRICT = {"a.wav": [(10.0, 20.0, "A")]}
LOOSE = {"a.wav": [(10.0, 20.0, "A"), (30.0, 40.0, "B"), (100.0, 110.0, "A"), (200.0, 210.0, "B")]}


@pytest.mark.parametrize(
    "alpha_st, expected",
    # eFPR points {0, 1}: TPR A = (1, 1), B = (0, 1). alpha_st 1: eTPR (0, 1),
    # area 1 * 99. alpha_st 0: eTPR (0.5, 1), area 0.5 + 99.
    [(1.0, 0.99), (0.0, 0.995)],
)
def test_hand_worked_psds(alpha_st, expected):
    params = dict(SCENARIOS["psds1"], alpha_st=alpha_st)
    value = psds(TWO_EVENTS, [STRICT, LOOSE], HOUR, **params)
    assert value == pytest.approx(expected, abs=1e-12)
    assert _reference_psds(TWO_EVENTS, [STRICT, LOOSE], HOUR, **params) == pytest.approx(expected, abs=1e-12)


def test_hand_worked_cross_trigger():
    # B at A's event fails B's DTC: a false positive (1/h) and a cross-trigger
    # on A (1 per 10 s of A = 360/h), so B's eFPR is 1 + 0.5 * 360 = 181 > 100
    # and only the (0, 0) point and A's TPR 1 at eFPR 0 count: mean 0.5, std 0.5.
    table = {"a.wav": [(10.0, 20.0, "A"), (10.0, 20.0, "B")]}
    params = dict(SCENARIOS["psds2"], alpha_st=0.0)
    assert psds(TWO_EVENTS, [table], HOUR, **params) == pytest.approx(0.5, abs=1e-12)
    assert _reference_psds(TWO_EVENTS, [table], HOUR, **params) == pytest.approx(0.5, abs=1e-12)


def test_hand_worked_f1():
    # A: [1.2, 3] covers 90 % of A's event (TP); [8, 9] is a false positive: F = 2/3.
    # B: [4, 5.5] is one third on B's event, under the DTC: no TP, so psds_eval's
    # F is NaN and the macro mean is over A alone.
    ground_truth = {"x.wav": [(1.0, 3.0, "A"), (5.0, 7.0, "B")]}
    table = {"x.wav": [(1.2, 3.0, "A"), (8.0, 9.0, "A"), (4.0, 5.5, "B")]}
    durations = {"x.wav": 10.0}
    macro, per_class = intersection_f1(ground_truth, table, durations)
    assert macro == pytest.approx(2 / 3, abs=1e-12)
    assert per_class["A"] == pytest.approx(2 / 3, abs=1e-12) and math.isnan(per_class["B"])
    expected_macro, expected_per_class = _reference_f1(
        ground_truth, table, durations, dtc_threshold=0.5, gtc_threshold=0.5, cttc_threshold=0.3
    )
    assert expected_macro == pytest.approx(2 / 3, abs=1e-12) and math.isnan(expected_per_class["B"])


def test_structured_arrays_give_the_same_scores():
    ground_truth, tables, durations = _random_case(5, n_files=3, n_classes=3, n_thresholds=6)
    dtype = [("onset", float), ("offset", float), ("event_label", "U16")]

    def structured(per_file):
        return {name: np.array(events, dtype=dtype) for name, events in per_file.items()}

    params = SCENARIOS["psds2"]
    assert psds(structured(ground_truth), [structured(t) for t in tables], durations, **params) == psds(
        ground_truth, tables, durations, **params
    )
    assert intersection_f1(structured(ground_truth), structured(tables[3]), durations)[0] == (
        intersection_f1(ground_truth, tables[3], durations)[0]
    )


def test_empty_operating_points_score_zero():
    assert psds(TWO_EVENTS, [{}, {"a.wav": []}], HOUR, **SCENARIOS["psds1"]) == 0.0


@pytest.mark.parametrize(
    "ground_truth, table, message",
    [
        ({"a.wav": [(5.0, 4.0, "A"), (0.0, 1.0, "B")]}, {}, "onset > offset"),
        ({"a.wav": [(0.0, 2.0, "A"), (1.0, 3.0, "A"), (0.0, 1.0, "B")]}, {}, "intersecting"),
        (TWO_EVENTS, {"a.wav": [(0.0, 5.0, "A"), (1.0, 2.0, "A")]}, "intersecting"),
    ],
)
def test_rejects_what_psds_eval_rejects(ground_truth, table, message):
    with pytest.raises(ValueError, match=message):
        psds(ground_truth, [table], HOUR, **SCENARIOS["psds1"])


def test_rejects_single_class_and_bad_parameters():
    with pytest.raises(ValueError, match="two"):
        psds(STRICT, [STRICT], HOUR, **SCENARIOS["psds1"])
    with pytest.raises(ValueError, match="alpha_ct"):
        psds(TWO_EVENTS, [STRICT], HOUR, **dict(SCENARIOS["psds1"], alpha_ct=1.5))
    with pytest.raises(ValueError, match="dtc"):
        intersection_f1(TWO_EVENTS, STRICT, HOUR, dtc_threshold=1.2)
