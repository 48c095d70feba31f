"""Tests of the ACCDOA and multi-ACCDOA targets and decoding of seld_tf.datasets.seld_labels."""

import warnings

import numpy as np
import pytest

from seld_tf.datasets.events import EventList, polar_to_cartesian
from seld_tf.datasets.seld_labels import (
    accdoa_to_events,
    adpit_slot,
    events_to_accdoa,
    events_to_multi_accdoa,
    multi_accdoa_to_events,
    num_adpit_slots,
)
from seld_tf.losses.accdoa import AdpitLoss


def without_tracks(events: EventList) -> EventList:
    """The rows with track 0: the decoded tracks are output slots, not the reference's source numbers."""
    return EventList(events.frame, events.cls, np.zeros_like(events.track), events.azimuth, events.elevation)


def same_events(decoded: EventList, reference: EventList) -> bool:
    return without_tracks(decoded).equals(without_tracks(reference), angle_tolerance=1e-4)


def direction(azimuth, elevation=0.0):
    return polar_to_cartesian(*np.broadcast_arrays(azimuth, elevation))


def test_accdoa_target_by_hand():
    events = EventList.from_rows(
        [
            (0, 1, 0, 90.0, 0.0),  # class 1 to the left
            (2, 0, 3, 0.0, 90.0),  # class 0 above, on track 3
            (2, 0, 1, 180.0, 0.0),  # and behind on track 1: the lower track is kept
        ]
    )
    target = events_to_accdoa(events, num_frames=3, num_classes=2)
    assert target.shape == (3, 2, 3) and target.dtype == np.float32
    expected = np.zeros((3, 2, 3))
    expected[0, 1] = [0, 1, 0]
    expected[2, 0] = [-1, 0, 0]
    np.testing.assert_allclose(target, expected, atol=1e-7)


def test_accdoa_decoding_thresholds_the_vector_length():
    accdoa = np.zeros((2, 3, 3))
    accdoa[0, 0] = 0.6 * direction(30.0, 10.0)  # long enough: an event, with the vector's direction
    accdoa[0, 1] = 0.4 * direction(-60.0)  # too short
    accdoa[1, 2] = 0.5 * direction(0.0)  # at the threshold: not above it
    events = accdoa_to_events(accdoa, threshold=0.5)
    assert list(events.rows()) == [(0, 0, 0, pytest.approx(30.0), pytest.approx(10.0))]
    assert events.num_frames == 2
    assert len(accdoa_to_events(accdoa, threshold=0.3)) == 3
    with pytest.raises(ValueError, match=r"\[T, K, 3\]"):
        accdoa_to_events(np.zeros((2, 3)))


def test_accdoa_round_trip():
    events = EventList.from_rows(
        [(0, 0, 0, 10.0, 20.0), (0, 2, 1, -100.0, -30.0), (1, 0, 0, 12.0, 20.0), (3, 1, 0, 170.0, 0.0)],
        num_frames=4,
    )
    assert same_events(accdoa_to_events(events_to_accdoa(events, 4, 3)), events)


def test_multi_accdoa_target_by_hand():
    events = EventList.from_rows(
        [
            (0, 1, 0, 0.0, 0.0),  # frame 0: one event of class 1
            (1, 1, 2, 90.0, 0.0),  # frame 1: two, on tracks 2 and 0
            (1, 1, 0, 0.0, 0.0),
            (2, 0, 0, 0.0, 0.0),  # frame 2: three of class 0
            (2, 0, 1, 90.0, 0.0),
            (2, 0, 2, 0.0, 90.0),
        ]
    )
    target = events_to_multi_accdoa(events, num_frames=3, num_classes=2, num_tracks=3)
    assert target.shape == (3, 6, 2, 3) and target.dtype == np.float32
    front, left, up = np.eye(3)
    expected = np.zeros((3, 6, 2, 3))
    expected[0, 0, 1] = front  # A0
    expected[1, 1, 1], expected[1, 2, 1] = front, left  # B0, B1 in track order
    expected[2, 3, 0], expected[2, 4, 0], expected[2, 5, 0] = front, left, up  # C0, C1, C2
    np.testing.assert_allclose(target, expected, atol=1e-7)
    assert [adpit_slot(n, i) for n in (1, 2, 3) for i in range(n)] == [0, 1, 2, 3, 4, 5]
    assert [num_adpit_slots(m) for m in (1, 2, 3)] == [1, 3, 6]


def test_multi_accdoa_target_keeps_the_lowest_tracks_beyond_its_capacity():
    events = EventList.from_rows([(0, 0, track, 90.0 * track, 0.0) for track in (3, 0, 2, 1)])
    with pytest.warns(UserWarning, match="1 of 4 event rows dropped"):
        target = events_to_multi_accdoa(events, num_frames=1, num_classes=1, num_tracks=3)
    np.testing.assert_allclose(target[0, 3:, 0], direction([0.0, 90.0, 180.0]), atol=1e-7)
    with pytest.warns(UserWarning):
        two_tracks = events_to_multi_accdoa(events, num_frames=1, num_classes=1, num_tracks=2)
    assert two_tracks.shape == (1, 3, 1, 3)
    np.testing.assert_allclose(two_tracks[0, 1:, 0], direction([0.0, 90.0]), atol=1e-7)
    with pytest.raises(ValueError, match="duplicate"):
        events_to_multi_accdoa(EventList.from_rows([(0, 0, 1, 0.0, 0.0)] * 2), 1, 1)


def test_multi_accdoa_decoding_merges_close_tracks_of_a_class():
    tracks = np.zeros((4, 3, 2, 3))
    # Frame 0, class 0: tracks 0 and 1 are 10 degrees apart (one event, the mean direction), track 2 apart.
    tracks[0, :, 0] = 0.9 * direction([0.0, 10.0, 100.0])
    # Frame 1, class 1: a chain 0 - 12 - 24 degrees: linked pairwise, one event (the baseline's "two flags").
    tracks[1, :, 1] = 0.8 * direction([0.0, 12.0, 24.0])
    # Frame 2, class 0: track 1 is inactive, however close; tracks 0 and 2 are 20 degrees apart.
    tracks[2, :, 0] = [0.9 * direction(50.0), 0.3 * direction(52.0), 0.9 * direction(70.0)]
    # Frame 3: nothing active.
    tracks[3] = 0.2
    events = multi_accdoa_to_events(tracks, threshold=0.5, merge_angle=15.0)
    assert events.num_frames == 4
    rows = sorted(events.rows())
    assert [row[:3] for row in rows] == [(0, 0, 0), (0, 0, 2), (1, 1, 0), (2, 0, 0), (2, 0, 2)]
    assert [row[3] for row in rows] == pytest.approx([5.0, 100.0, 12.0, 50.0, 70.0])
    # A wider angle merges the last pair too; no angle merges nothing.
    assert len(multi_accdoa_to_events(tracks, merge_angle=25.0)) == 4
    assert len(multi_accdoa_to_events(tracks, merge_angle=0.0)) == 8
    with pytest.raises(ValueError, match=r"\[T, M, K, 3\]"):
        multi_accdoa_to_events(np.zeros((4, 2, 3)))


def as_tracks(target: np.ndarray, num_tracks: int) -> np.ndarray:
    """`[T, M, K, 3]` outputs that hold a target's events: track m takes event min(m, n - 1) of n."""
    tracks = np.zeros((target.shape[0], num_tracks, *target.shape[2:]), target.dtype)
    for count in range(1, num_tracks + 1):
        for track in range(num_tracks):
            tracks[:, track] += target[:, adpit_slot(count, min(track, count - 1))]
    return tracks


def test_multi_accdoa_round_trip_with_same_class_overlaps():
    rng = np.random.default_rng(4)
    rows = []
    for frame in range(12):
        for cls in range(3):
            count = int(rng.integers(0, 4))
            # Directions 40 degrees apart or more: no merging.
            azimuths = rng.choice(np.arange(-160, 180, 40), size=count, replace=False)
            rows += [(frame, cls, track, float(az), float(rng.uniform(-30, 30))) for track, az in enumerate(azimuths)]
    events = EventList.from_rows(rows, num_frames=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        target = events_to_multi_accdoa(events, 12, 3, num_tracks=3)
    tracks = as_tracks(target, 3)
    assert same_events(multi_accdoa_to_events(tracks), events)
    # And these outputs are a zero of the ADPIT loss: one of its patterns.
    assert float(AdpitLoss()(target[None], tracks[None])) == pytest.approx(0.0, abs=1e-7)
