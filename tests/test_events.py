"""Tests of the event list and direction helpers against hand-worked values."""

import numpy as np
import pytest

from seld_tf.datasets.events import (
    EventList,
    angular_distance,
    cartesian_to_polar,
    polar_to_cartesian,
    repeated_key_rows,
    segment_events,
    wrap_azimuth,
)

H = np.sqrt(0.5)


@pytest.mark.parametrize(
    "azimuth, elevation, xyz",
    [
        (0, 0, (1, 0, 0)),  # front
        (90, 0, (0, 1, 0)),  # left
        (-90, 0, (0, -1, 0)),  # right
        (-180, 0, (-1, 0, 0)),  # back
        (0, 90, (0, 0, 1)),  # up
        (45, 0, (H, H, 0)),
        (-90, 45, (0, -H, H)),
        (180, -60, (-0.5, 0, -np.sqrt(3) / 2)),
    ],
)
def test_polar_to_cartesian(azimuth, elevation, xyz):
    np.testing.assert_allclose(polar_to_cartesian(azimuth, elevation), xyz, atol=1e-12)


@pytest.mark.parametrize(
    "xyz, azimuth, elevation",
    [
        ((0, -2, 0), -90, 0),  # length is irrelevant
        ((-1, 0, 0), -180, 0),  # +180 wraps to -180
        ((1, 1, np.sqrt(2)), 45, 45),
        ((0, 0, -3), 0, -90),
        ((-1, -1, 0), -135, 0),
    ],
)
def test_cartesian_to_polar(xyz, azimuth, elevation):
    found_azimuth, found_elevation = cartesian_to_polar(xyz)
    assert found_azimuth == pytest.approx(azimuth)
    assert found_elevation == pytest.approx(elevation)


def test_wrap_azimuth():
    found = wrap_azimuth([180, 190, -190, 360, -180, 179.5, 540])
    np.testing.assert_allclose(found, [-180, -170, 170, 0, -180, 179.5, -180])


def test_angular_distance():
    found = angular_distance([0, 0, 10, 179, 30], [0, 90, 0, 0, 40], [90, 123, -170, -179, 30], [0, 0, 0, 0, 40])
    np.testing.assert_allclose(found, [90, 90, 180, 2, 0], atol=1e-6)


def test_event_list_sorted_and_equals():
    events = EventList.from_rows([(2, 1, 0, 10, 0), (1, 5, 1, 20, 5), (1, 3, 1, 30, 0), (1, 4, 0, -40, 0)])
    assert [row[:3] for row in events.sorted().rows()] == [(1, 4, 0), (1, 3, 1), (1, 5, 1), (2, 1, 0)]
    nudged = EventList.from_rows([(1, 4, 0, -40, 0.5), (2, 1, 0, 10, 0), (1, 3, 1, 30, 0), (1, 5, 1, 20, 5)])
    assert events.equals(nudged, angle_tolerance=0.5)
    assert not events.equals(nudged, angle_tolerance=0.4)
    assert not events.equals(nudged.select(np.arange(3)), angle_tolerance=1)


def test_event_list_rejects_ragged_columns():
    with pytest.raises(ValueError, match="differ in length"):
        EventList([0, 1], [0, 0], [0, 0], [0.0], [0.0, 0.0])


def test_segment_events_splits_at_gaps_and_numbers_by_onset():
    rows = [
        (5, 2, 0, 0, 0),  # class 2 track 0: frames 3-5 ...
        (3, 2, 0, 0, 0),
        (4, 2, 0, 0, 0),
        (8, 2, 0, 0, 0),  # ... then a gap: a new event at 8
        (4, 7, 1, 0, 0),  # class 7 track 1: frames 4-5
        (5, 7, 1, 0, 0),
        (3, 1, 1, 0, 0),  # class 1 track 1 starts at 3 too: after track 0 in onset order
        (0, 9, 0, 0, 0),  # earliest onset
    ]
    np.testing.assert_array_equal(segment_events(EventList.from_rows(rows)), [1, 1, 1, 4, 3, 3, 2, 0])


def test_segment_events_same_frame_different_tracks_are_different_events():
    events = EventList.from_rows([(0, 3, 0, 0, 0), (0, 3, 1, 0, 0), (1, 3, 1, 0, 0)])
    np.testing.assert_array_equal(segment_events(events), [0, 1, 1])


def test_segment_events_empty_and_duplicates():
    assert segment_events(EventList.empty()).shape == (0,)
    with pytest.raises(ValueError, match="frame 4, class 2, track 1 appears twice"):
        segment_events(EventList.from_rows([(4, 2, 1, 0, 0), (4, 2, 1, 10, 0)]))


@pytest.mark.parametrize(
    "keys, expected",
    [
        ([], None),
        ([(4, 2, 1)], None),
        ([(4, 2, 1), (4, 2, 0), (4, 1, 1), (3, 2, 1)], None),
        # Rows 3 and 4 both repeat an earlier row; row 3 comes first and repeats row 1.
        ([(2, 1, 0), (5, 1, 0), (2, 1, 1), (5, 1, 0), (2, 1, 0)], (1, 3)),
        # Three rows of one key: the first repeat, with the first row.
        ([(4, 2, 1), (1, 0, 0), (4, 2, 1), (4, 2, 1)], (0, 2)),
        ([(9, 0, 0), (4, 2, 1), (1, 0, 0), (4, 2, 1), (9, 0, 0)], (1, 3)),
        # Ranges too wide for one int64 key.
        ([(0, 0, 0), (2**40, 5, 2**30), (7, 1, 2**30)], None),
        ([(0, 0, 0), (2**40, 5, 2**30), (0, 0, 0)], (0, 2)),
    ],
)
def test_repeated_key_rows(keys, expected):
    events = EventList.from_rows([(*key, 0.0, 0.0) for key in keys])
    assert repeated_key_rows(events) == expected
