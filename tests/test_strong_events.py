"""Tests of the strong/weak/scene label converters, against sed_eval and hand-worked values."""

import math

import numpy as np
import pytest
import scipy.signal
from sed_eval.util.event_roll import event_list_to_event_roll

from seld_tf.datasets.strong_events import (
    StrongEvent,
    check_events,
    clip_events,
    events_to_roll,
    events_to_weak,
    roll_to_events,
    scene_to_onehot,
    weak_to_multihot,
)

CLASSES = ["Alarm", "Cat", "Dog"]
RATES = [15.625, 31.25, 50.0, 1.0, 1 / 0.024]


def sed_eval_roll(events, class_names, frame_rate):
    dicts = [{"event_label": label, "onset": onset, "offset": offset} for onset, offset, label in events]
    return event_list_to_event_roll(dicts, list(class_names), time_resolution=1 / frame_rate)


@pytest.mark.parametrize("frame_rate", RATES)
def test_roll_matches_sed_eval_on_random_events(frame_rate):
    rng = np.random.default_rng(int(frame_rate * 1000))
    onsets = rng.uniform(0, 9, 60)
    events = [StrongEvent(on, on + rng.uniform(0, 1.5), rng.choice(CLASSES)) for on in onsets]
    expected = sed_eval_roll(events, CLASSES, frame_rate)
    roll = events_to_roll(events, CLASSES, expected.shape[0], frame_rate)
    assert roll.dtype == np.float32
    np.testing.assert_array_equal(roll, expected)


def test_roll_covers_every_overlapped_frame_with_exclusive_offset():
    events = [(0.25, 0.31, "Alarm"), (0.2, 0.3, "Cat"), (0.25, 0.25, "Dog"), (0.5, 0.5, "Dog")]
    roll = events_to_roll(events, CLASSES, 6, 10.0)
    # Alarm touches frames 2 and 3; Cat ends exactly on the 3rd frame boundary so frame 3 is free;
    # a zero-length event covers its frame unless it sits on a boundary, as in sed_eval.
    np.testing.assert_array_equal(roll[:, 0], [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(roll[:, 1], [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(roll[:, 2], [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(roll[:5], sed_eval_roll(events, CLASSES, 10.0))


@pytest.mark.parametrize(
    "event, ours, sed_eval_frames",
    [
        ((0.1, 0.14, "Cat"), [5, 6], [5, 6, 7]),  # 0.14 / 0.02 = 7.000000000000001
        ((0.58, 0.62, "Cat"), [29, 30], [28, 29, 30]),  # 0.58 / 0.02 = 28.999999999999996
    ],
)
def test_grid_times_ignore_float_error_unlike_sed_eval(event, ours, sed_eval_frames):
    roll = events_to_roll([event], CLASSES, 40, 50.0)
    assert np.flatnonzero(roll[:, 1]).tolist() == ours
    assert np.flatnonzero(sed_eval_roll([event], CLASSES, 50.0)[:, 1]).tolist() == sed_eval_frames


def test_events_past_the_end_are_cut_off():
    events = [(0.8, 1.5, "Dog"), (2.0, 3.0, "Cat")]
    roll = events_to_roll(events, CLASSES, 10, 10.0)
    np.testing.assert_array_equal(roll[:, 2], [0] * 8 + [1, 1])
    assert roll[:, 1].sum() == 0


def test_overlapping_events_of_one_class_merge():
    roll = events_to_roll([(0.0, 0.3, "Cat"), (0.2, 0.5, "Cat")], CLASSES, 6, 10.0)
    np.testing.assert_array_equal(roll[:, 1], [1, 1, 1, 1, 1, 0])


def test_unknown_label_names_the_label():
    with pytest.raises(ValueError, match="unknown class 'Horse'"):
        events_to_roll([(0.0, 1.0, "Horse")], CLASSES, 10, 10.0)


@pytest.mark.parametrize("event", [(-0.1, 1.0, "Cat"), (2.0, 1.0, "Cat"), (float("nan"), 1.0, "Cat"), (0.0, math.inf, "Cat")])
def test_invalid_event_times_raise(event):
    with pytest.raises(ValueError, match="Cat"):
        events_to_roll([event], CLASSES, 10, 10.0)


@pytest.mark.parametrize("frame_rate", [0.0, -50.0, math.nan])
def test_invalid_frame_rate_raises(frame_rate):
    with pytest.raises(ValueError, match="frame_rate"):
        events_to_roll([], CLASSES, 10, frame_rate)


def test_duplicate_class_names_raise():
    with pytest.raises(ValueError, match="Cat"):
        events_to_roll([], ["Cat", "Dog", "Cat"], 10, 10.0)


def test_check_events_returns_strong_events():
    assert check_events([(1, 2, "Cat")]) == [StrongEvent(1.0, 2.0, "Cat")]
    assert isinstance(check_events([(1, 2, "Cat")])[0], StrongEvent)


def test_clip_events_to_duration():
    events = [(9.5, 10.115, "Cat"), (10.0, 11.0, "Dog"), (1.0, 2.0, "Alarm")]
    assert clip_events(events, 10.0) == [StrongEvent(9.5, 10.0, "Cat"), StrongEvent(1.0, 2.0, "Alarm")]


def test_weak_labels_and_multihot():
    events = [(0.0, 1.0, "Dog"), (2.0, 3.0, "Alarm"), (4.0, 5.0, "Dog")]
    assert events_to_weak(events) == {"Dog", "Alarm"}
    np.testing.assert_array_equal(weak_to_multihot(events_to_weak(events), CLASSES), [1, 0, 1])
    assert weak_to_multihot([], CLASSES).dtype == np.float32
    with pytest.raises(ValueError, match="'Horse'"):
        weak_to_multihot(["Dog", "Horse"], CLASSES)


def test_scene_onehot():
    scenes = ["bus", "city_center", "home", "office"]
    onehot = scene_to_onehot("home", scenes)
    assert onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot, [0, 0, 1, 0])
    with pytest.raises(ValueError, match="unknown scene 'park'"):
        scene_to_onehot("park", scenes)


def random_grid_events(rng, frame_rate, num_frames, decimals=None):
    events = []
    for label in CLASSES:
        # Distinct sorted boundaries paired up give non-overlapping, non-touching runs.
        bounds = np.sort(rng.choice(num_frames + 1, size=8, replace=False))
        for start, end in bounds.reshape(-1, 2):
            onset, offset = start / frame_rate, end / frame_rate
            if decimals is not None:
                onset, offset = round(onset, decimals), round(offset, decimals)
            events.append(StrongEvent(onset, offset, label))
    return sorted(events, key=lambda event: (event.onset, CLASSES.index(event.label)))


@pytest.mark.parametrize("frame_rate", RATES)
def test_round_trip_of_grid_aligned_events_is_exact(frame_rate):
    rng = np.random.default_rng(3)
    num_frames = max(int(10 * frame_rate), 12)
    events = random_grid_events(rng, frame_rate, num_frames)
    roll = events_to_roll(events, CLASSES, num_frames, frame_rate)
    assert roll_to_events(roll, CLASSES, frame_rate) == events


@pytest.mark.parametrize("frame_rate", [15.625, 50.0])
def test_round_trip_of_three_decimal_times_is_exact(frame_rate):
    # DESED writes times with 3 decimals; these rates have 3-decimal frame boundaries.
    rng = np.random.default_rng(4)
    events = random_grid_events(rng, frame_rate, int(10 * frame_rate), decimals=3)
    roll = events_to_roll(events, CLASSES, int(10 * frame_rate), frame_rate)
    assert roll_to_events(roll, CLASSES, frame_rate) == events


def one_class(values):
    return np.asarray(values, dtype=np.float64)[:, None]


GAPPY = [0.9, 0.9, 0.2, 0.9, 0.9, 0.1, 0.1, 0.8, 0.1, 0.1]


def test_without_filter_every_run_is_an_event():
    assert roll_to_events(one_class(GAPPY), ["Cat"], 10.0) == [
        StrongEvent(0.0, 0.2, "Cat"),
        StrongEvent(0.3, 0.5, "Cat"),
        StrongEvent(0.7, 0.8, "Cat"),
    ]


@pytest.mark.parametrize("filter_on", ["probabilities", "binary"])
def test_median_filter_fills_gaps_and_removes_spikes(filter_on):
    # Window 3: frame 2's neighbours (0.9, 0.9) outvote its 0.2; frame 7's (0.1, 0.1) outvote its 0.8.
    events = roll_to_events(one_class(GAPPY), ["Cat"], 10.0, median_filter=3, filter_on=filter_on)
    assert events == [StrongEvent(0.0, 0.5, "Cat")]


def test_median_filter_of_one_frame_changes_nothing():
    assert roll_to_events(one_class(GAPPY), ["Cat"], 10.0, median_filter=1) == roll_to_events(one_class(GAPPY), ["Cat"], 10.0)


@pytest.mark.parametrize("median_edges, expected", [("reflect", [StrongEvent(0.0, 0.2, "Cat")]), ("zeros", [])])
def test_median_edges(median_edges, expected):
    # Window 5 at frame 0 sees [x, x, 0.9, 0.9, 0.1]: mirrored 0.9s keep the event, zeros remove it.
    probabilities = one_class([0.9, 0.9, 0.1, 0.1, 0.1, 0.1])
    assert roll_to_events(probabilities, ["Cat"], 10.0, median_filter=5, median_edges=median_edges) == expected


def test_zero_edges_match_scipy_signal_medfilt():
    rng = np.random.default_rng(5)
    probabilities = rng.uniform(size=(200, 3))
    expected_active = scipy.signal.medfilt(probabilities, (19, 1)) >= 0.51
    events = roll_to_events(probabilities, CLASSES, 50.0, threshold=0.51, median_filter=19, median_edges="zeros")
    roll = events_to_roll(events, CLASSES, 200, 50.0)
    np.testing.assert_array_equal(roll, expected_active)
    assert 0 < roll.sum() < roll.size


@pytest.mark.parametrize("median_edges", ["reflect", "zeros"])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_filter_order_does_not_matter_for_positive_thresholds(median_edges, threshold):
    rng = np.random.default_rng(6)
    probabilities = rng.uniform(size=(300, 3))
    options = dict(threshold=threshold, median_filter=7, median_edges=median_edges)
    on_probabilities = roll_to_events(probabilities, CLASSES, 50.0, filter_on="probabilities", **options)
    assert on_probabilities == roll_to_events(probabilities, CLASSES, 50.0, filter_on="binary", **options)
    assert on_probabilities != roll_to_events(probabilities, CLASSES, 50.0, threshold=threshold)


def test_filter_order_matters_at_zero_threshold_with_zero_edges():
    # Window 3 on one frame: the padded zeros pass a threshold of 0 as probabilities
    # but outvote the single active frame once binarised.
    probabilities = one_class([0.5])
    options = dict(threshold=0.0, median_filter=3, median_edges="zeros")
    assert roll_to_events(probabilities, ["Cat"], 10.0, filter_on="probabilities", **options) == [StrongEvent(0.0, 0.1, "Cat")]
    assert roll_to_events(probabilities, ["Cat"], 10.0, filter_on="binary", **options) == []


def test_threshold_is_inclusive():
    probabilities = one_class([0.49, 0.5, 0.51, 0.5, 0.2])
    assert roll_to_events(probabilities, ["Cat"], 10.0, threshold=0.5) == [StrongEvent(0.1, 0.4, "Cat")]
    assert roll_to_events(probabilities, ["Cat"], 10.0, threshold=0.51) == [StrongEvent(0.2, 0.3, "Cat")]


def test_threshold_extremes():
    probabilities = np.array([[0.0, 1.0], [1.0, 0.0], [0.3, 0.0]])
    # Threshold 0 activates every frame, one above 1 none; a run reaching the end closes at T / rate.
    assert roll_to_events(probabilities, ["Cat", "Dog"], 4.0, threshold=0.0) == [
        StrongEvent(0.0, 0.75, "Cat"),
        StrongEvent(0.0, 0.75, "Dog"),
    ]
    assert roll_to_events(probabilities, ["Cat", "Dog"], 4.0, threshold=1.0 + 1e-9) == []
    assert roll_to_events(np.zeros((0, 2)), ["Cat", "Dog"], 4.0) == []


def test_classes_are_decoded_and_filtered_independently():
    # A filter across classes (size 3 x 3) would keep Cat's spike: Dog's five 1s would outvote it.
    probabilities = np.array([[0, 1], [0, 1], [1, 1], [0, 1], [0, 1]], dtype=float)
    assert roll_to_events(probabilities, ["Cat", "Dog"], 10.0, median_filter=3) == [StrongEvent(0.0, 0.5, "Dog")]
    unfiltered = roll_to_events(probabilities, ["Cat", "Dog"], 10.0)
    assert unfiltered == [StrongEvent(0.0, 0.5, "Dog"), StrongEvent(0.2, 0.3, "Cat")]


def test_events_are_sorted_by_onset_then_class_order():
    probabilities = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0]], dtype=float)
    events = roll_to_events(probabilities, ["Dog", "Alarm", "Cat"], 10.0)
    assert [event.label for event in events] == ["Cat", "Dog", "Alarm"]
    assert all(type(value) is float for event in events for value in event[:2])


@pytest.mark.parametrize(
    "probabilities, options, message",
    [
        (np.zeros((4, 2)), {}, "expected probabilities"),
        (np.full((4, 3), np.nan), {}, "NaN"),
        (np.zeros((4, 3)), {"median_filter": 4}, "odd"),
        (np.zeros((4, 3)), {"median_filter": 0}, "odd"),
        (np.zeros((4, 3)), {"filter_on": "logits"}, "filter_on"),
        (np.zeros((4, 3)), {"median_edges": "nearest"}, "median_edges"),
    ],
)
def test_roll_to_events_rejects_bad_input(probabilities, options, message):
    with pytest.raises(ValueError, match=message):
        roll_to_events(probabilities, CLASSES, 10.0, **options)
