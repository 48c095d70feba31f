"""Tests of the class-wise and trackwise SELD label converters.

Round trips go through float32 unit vectors, so decoded angles are compared
with a tolerance of 0.01 degrees (float32 carries about 1e-5 degrees).
"""

import numpy as np
import pytest

from seld_tf.datasets.events import EventList, angular_distance, cartesian_to_polar
from seld_tf.datasets.seld_labels import (
    classwise_to_events,
    events_to_classwise,
    events_to_trackwise,
    trackwise_to_events,
)

ANGLE_TOLERANCE = 0.01
H = np.sqrt(0.5)


def _event(cls, track, frames, azimuth, elevation=0):
    return [(frame, cls, track, azimuth, elevation) for frame in frames]


def test_classwise_hand_worked():
    events = EventList.from_rows(_event(1, 0, [0, 1], 90) + _event(2, 1, [1], 45, 0) + _event(0, 0, [2], 0, -90))
    activity, doa = events_to_classwise(events, num_frames=4, num_classes=3)
    assert activity.dtype == np.float32 and doa.dtype == np.float32
    np.testing.assert_array_equal(activity, [[0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]])
    expected_doa = np.zeros((4, 3, 3))
    expected_doa[0, 1] = expected_doa[1, 1] = (0, 1, 0)
    expected_doa[1, 2] = (H, H, 0)
    expected_doa[2, 0] = (0, 0, -1)
    np.testing.assert_allclose(doa, expected_doa, atol=1e-7)


def test_classwise_same_class_overlap_keeps_lowest_track():
    # Class 4 twice in frame 1: track 2 at azimuth 90 is listed first, track 0 at -90 wins.
    events = EventList.from_rows(_event(4, 2, [0, 1], 90) + _event(4, 0, [1, 2], -90))
    activity, doa = events_to_classwise(events, num_frames=3, num_classes=5)
    np.testing.assert_array_equal(activity[:, 4], [1, 1, 1])
    np.testing.assert_allclose(doa[:, 4], [(0, 1, 0), (0, -1, 0), (0, -1, 0)], atol=1e-7)
    assert activity.sum() == 3


def test_classwise_round_trip():
    rows = (
        _event(0, 0, range(0, 10), 30, 10)
        + _event(3, 1, range(5, 20), -150, -40)
        + _event(13, 0, range(15, 25), -180, 45)
        + _event(0, 0, range(30, 33), 170, 0)
    )
    events = EventList.from_rows(rows, num_frames=40)
    decoded = classwise_to_events(*events_to_classwise(events, 40, 14))
    assert decoded.num_frames == 40
    # The class-wise form has no track: every decoded row is on track 0.
    expected = EventList(events.frame, events.cls, np.zeros(len(events)), events.azimuth, events.elevation)
    assert decoded.equals(expected, angle_tolerance=ANGLE_TOLERANCE)


def test_classwise_decoding_threshold_and_unnormalised_vectors():
    activity = np.array([[0.2, 0.9], [0.5, 0.51]])
    doa = np.array([[[1, 0, 0], [0, 0, 0.3]], [[0, 1, 0], [-2, 2, 0]]])
    decoded = classwise_to_events(activity, doa, threshold=0.5)
    expected = EventList.from_rows([(0, 1, 0, 0, 90), (1, 1, 0, 135, 0)])
    assert decoded.equals(expected, angle_tolerance=1e-9)


def test_classwise_shape_and_range_errors():
    with pytest.raises(ValueError, match=r"doa \[T, K, 3\]"):
        classwise_to_events(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"class in \[0, 3\), found 3"):
        events_to_classwise(EventList.from_rows([(0, 3, 0, 0, 0)]), num_frames=2, num_classes=3)
    with pytest.raises(ValueError, match=r"frame in \[0, 2\), found 2"):
        events_to_classwise(EventList.from_rows([(2, 0, 0, 0, 0)]), num_frames=2, num_classes=3)


@pytest.mark.parametrize("form", ["classwise", "trackwise"])
def test_both_label_forms_refuse_a_repeated_frame_class_track(form):
    # Class-wise used to keep one of the two rows silently; both forms now refuse them alike.
    events = EventList.from_rows([(0, 2, 0, 10, 0), (1, 2, 0, 10, 0), (1, 2, 0, -90, 0)])
    with pytest.raises(ValueError, match=r"frame 1, class 2, track 0 appears twice \(rows 1 and 2\)"):
        if form == "classwise":
            events_to_classwise(events, num_frames=4, num_classes=3)
        else:
            events_to_trackwise(events, num_frames=4, num_classes=3, num_tracks=2)


def test_trackwise_hand_worked_event_stays_on_its_track():
    # A (class 1) frames 0-3; B (class 5) frames 2-7 takes slot 1 and must keep it after A ends,
    # C (class 0) starts at 5 and takes the freed slot 0.
    events = EventList.from_rows(
        _event(1, 0, range(0, 4), 0) + _event(5, 0, range(2, 8), 90) + _event(0, 3, range(5, 7), -90)
    )
    activity, doa = events_to_trackwise(events, num_frames=9, num_classes=6, num_tracks=2)
    assert activity.shape == (9, 2, 6) and doa.shape == (9, 2, 3)
    expected_class = np.full((9, 2), -1)
    expected_class[0:4, 0] = 1
    expected_class[2:8, 1] = 5
    expected_class[5:7, 0] = 0
    found_class = np.where(activity.sum(-1) > 0, activity.argmax(-1), -1)
    np.testing.assert_array_equal(found_class, expected_class)
    assert set(np.unique(activity)) == {0.0, 1.0} and activity.sum(-1).max() == 1
    np.testing.assert_allclose(doa[2:8, 1], np.tile([0, 1, 0], (6, 1)), atol=1e-7)
    np.testing.assert_allclose(doa[5:7, 0], np.tile([0, -1, 0], (2, 1)), atol=1e-7)
    np.testing.assert_array_equal(doa[8], 0)
    np.testing.assert_array_equal(doa[4, 0], 0)


def test_trackwise_round_trip_same_class_overlap_and_track_reuse():
    # Two class-2 events at different directions overlap in frames 3-5; after the first ends,
    # the second stays on track 1, and a later event reuses track 0.
    rows = (
        _event(2, 0, range(0, 6), 30, 10)
        + _event(2, 1, range(3, 12), -120, -20)
        + _event(7, 0, range(8, 15), 175, 40)
        + _event(7, 1, range(20, 22), -10, 0)  # alone: back on track 0
    )
    events = EventList.from_rows(rows, num_frames=30)
    decoded = trackwise_to_events(*events_to_trackwise(events, 30, 14, num_tracks=2))
    assert decoded.num_frames == 30
    expected_track = np.concatenate([np.zeros(6), np.ones(9), np.zeros(7), np.zeros(2)])
    expected = EventList(events.frame, events.cls, expected_track, events.azimuth, events.elevation)
    assert decoded.equals(expected, angle_tolerance=ANGLE_TOLERANCE)


def test_trackwise_gap_starts_a_new_event():
    # Same (class, track) with a gap: the second part is a new event and takes the lowest free slot.
    events = EventList.from_rows(_event(3, 1, [0, 1], 0) + _event(4, 0, range(0, 6), 90) + _event(3, 1, [4, 5], 0))
    activity, _ = events_to_trackwise(events, num_frames=6, num_classes=5, num_tracks=3)
    assert activity[0, 0, 4] == 1 and activity[0, 1, 3] == 1  # onset tie: lower original track first
    assert activity[4, 1, 3] == 1 and activity[4, 2].sum() == 0


def test_trackwise_drops_events_beyond_num_tracks_with_warning():
    events = EventList.from_rows(
        _event(0, 0, range(0, 4), 0) + _event(1, 1, range(0, 4), 90) + _event(2, 2, range(1, 3), -90)
    )
    with pytest.warns(UserWarning, match="1 of 3 events dropped: more than 2 events active at once"):
        activity, _ = events_to_trackwise(events, num_frames=4, num_classes=3, num_tracks=2)
    assert activity[:, :, 2].sum() == 0
    assert activity[:, :, :2].sum() == 8


def test_trackwise_decoding_argmax_and_threshold():
    activity = np.array([[[0.1, 0.7, 0.6], [0.3, 0.2, 0.4]]])
    doa = np.array([[[0, 0, 5], [1, 0, 0]]])
    decoded = trackwise_to_events(activity, doa, threshold=0.5)
    assert decoded.equals(EventList.from_rows([(0, 1, 0, 0, 90)]), angle_tolerance=1e-9)


def test_trackwise_600_frame_clip_keeps_each_event_on_one_slot():
    rng = np.random.default_rng(0)
    events_rows = []
    for track in range(3):  # three independent sources: never more than 3 events at once
        onset = 0
        while onset < 590:
            length = int(rng.integers(5, 40))
            frames = range(onset, min(onset + length, 600))
            direction = rng.uniform(-180, 180), rng.uniform(-45, 45)
            events_rows.append(_event(int(rng.integers(14)), track, frames, *direction))
            onset += length + int(rng.integers(1, 20))
    events = EventList.from_rows([row for rows in events_rows for row in rows], num_frames=600)
    activity, doa = events_to_trackwise(events, 600, 14, num_tracks=3)
    assert activity.sum() == len(events)
    for rows in events_rows:
        frames = [row[0] for row in rows]
        cls, azimuth, elevation = rows[0][1], rows[0][3], rows[0][4]
        slots = {
            int(np.flatnonzero(activity[frame, :, cls] * _matches(doa[frame], azimuth, elevation))[0])
            for frame in frames
        }
        assert len(slots) == 1, f"event of class {cls} at frames {frames[0]}-{frames[-1]} moved between slots {slots}"


def _matches(vectors: np.ndarray, azimuth: float, elevation: float) -> np.ndarray:
    """Which of the `[M, 3]` vectors point to (azimuth, elevation) within the tolerance."""
    return angular_distance(*cartesian_to_polar(vectors), azimuth, elevation) <= ANGLE_TOLERANCE
