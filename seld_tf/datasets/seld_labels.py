"""Conversions between the SELD event list and the two label tensor forms.

- Class-wise (SELDnet baseline / Phan et al.): activity `[T, K]` and one
  unit DOA vector per class `[T, K, 3]`.
- Trackwise (EINV2): per track slot a one-hot class `[T, M, K]` and a DOA
  vector `[T, M, 3]`.

`T` is the number of label frames, `K` of classes, `M` of track slots. DOA
vectors are Cartesian (x front, y left, z up) and zero where nothing is active.
"""

from __future__ import annotations

import warnings

import numpy as np

from seld_tf.datasets.events import EventList, cartesian_to_polar, check_unique_keys, segment_events


def events_to_classwise(events: EventList, num_frames: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Build class-wise activity `[T, K]` and unit DOA vectors `[T, K, 3]` (float32).

    The class-wise form holds one direction per class and frame. When two
    events of the same class overlap in a frame (possible in DCASE2020), the
    row with the lowest track index gives the direction and the others are
    lost; use the trackwise form to keep both.

    Two rows with the same frame, class and track are refused, as in
    `events_to_trackwise`: they are not two overlapping events but two claims
    on one track, and keeping either would hide a broken annotation.

    Raises:
        ValueError: a row's frame or class is outside `[0, num_frames)` / `[0, num_classes)`,
            or two rows share frame, class and track.
    """
    _check_ranges(events, num_frames, num_classes)
    check_unique_keys(events)
    activity = np.zeros((num_frames, num_classes), dtype=np.float32)
    doa = np.zeros((num_frames, num_classes, 3), dtype=np.float32)
    order = np.lexsort((events.track, events.cls, events.frame))
    cell = events.frame[order] * num_classes + events.cls[order]
    # np.unique returns the first occurrence of each cell, i.e. its lowest track.
    _, first = np.unique(cell, return_index=True)
    keep = order[first]
    frame, cls = events.frame[keep], events.cls[keep]
    activity[frame, cls] = 1.0
    doa[frame, cls] = events.select(keep).unit_vectors()
    return activity, doa


def classwise_to_events(activity: np.ndarray, doa: np.ndarray, threshold: float = 0.5) -> EventList:
    """Decode class-wise predictions: one row (track 0) per frame and class with activity > `threshold`.

    The direction is that of the class's DOA vector, whatever its length; a
    zero vector decodes to azimuth 0, elevation 0.
    """
    activity = np.asarray(activity)
    doa = np.asarray(doa)
    if activity.ndim != 2 or doa.shape != (*activity.shape, 3):
        raise ValueError(f"expected activity [T, K] and doa [T, K, 3], found {activity.shape} and {doa.shape}")
    frame, cls = np.nonzero(activity > threshold)
    azimuth, elevation = cartesian_to_polar(doa[frame, cls])
    return EventList(frame, cls, np.zeros_like(frame), azimuth, elevation, num_frames=activity.shape[0])


def events_to_trackwise(
    events: EventList, num_frames: int, num_classes: int, num_tracks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Build trackwise one-hot activity `[T, M, K]` and unit DOA vectors `[T, M, 3]` (float32).

    The event list is first split into events (`segment_events`). Taking
    events in onset order, each goes to the lowest track slot that is free at
    its onset and stays on that slot until it ends, even if a lower slot frees
    up meanwhile: chunk-level permutation-invariant training (EINV2) assumes
    that a source does not jump between tracks inside a chunk.

    An event that finds every slot taken at its onset is dropped whole, with a
    warning, since `num_tracks` cannot represent more simultaneous events.

    Raises:
        ValueError: a row's frame or class is out of range, or two rows share
            frame, class and track.
    """
    _check_ranges(events, num_frames, num_classes)
    event_index = segment_events(events)
    num_events = int(event_index.max(initial=-1)) + 1
    onset = np.full(num_events, num_frames, dtype=np.int64)
    offset = np.zeros(num_events, dtype=np.int64)
    np.minimum.at(onset, event_index, events.frame)
    np.maximum.at(offset, event_index, events.frame)

    slot_of_event = np.full(num_events, -1, dtype=np.int64)
    # First frame at which each slot is free again.
    free_from = np.zeros(num_tracks, dtype=np.int64)
    for event in range(num_events):  # events are numbered in onset order
        free = np.flatnonzero(free_from <= onset[event])
        if len(free):
            slot_of_event[event] = free[0]
            free_from[free[0]] = offset[event] + 1
    dropped = int(np.sum(slot_of_event < 0))
    if dropped:
        warnings.warn(
            f"{dropped} of {num_events} events dropped: more than {num_tracks} events active at once", stacklevel=2
        )

    slot = slot_of_event[event_index]
    kept = slot >= 0
    activity = np.zeros((num_frames, num_tracks, num_classes), dtype=np.float32)
    doa = np.zeros((num_frames, num_tracks, 3), dtype=np.float32)
    activity[events.frame[kept], slot[kept], events.cls[kept]] = 1.0
    doa[events.frame[kept], slot[kept]] = events.select(kept).unit_vectors()
    return activity, doa


def trackwise_to_events(activity: np.ndarray, doa: np.ndarray, threshold: float = 0.5) -> EventList:
    """Decode trackwise predictions as EINV2 does.

    For each frame and track slot, the class is the argmax of the slot's
    probabilities if that probability exceeds `threshold`; the direction is
    the slot's DOA vector (any length) and the row's track is the slot index.
    """
    activity = np.asarray(activity)
    doa = np.asarray(doa)
    if activity.ndim != 3 or doa.shape != (*activity.shape[:2], 3):
        raise ValueError(f"expected activity [T, M, K] and doa [T, M, 3], found {activity.shape} and {doa.shape}")
    best = activity.argmax(axis=-1)
    frame, track = np.nonzero(activity.max(axis=-1) > threshold)
    azimuth, elevation = cartesian_to_polar(doa[frame, track])
    return EventList(frame, best[frame, track], track, azimuth, elevation, num_frames=activity.shape[0])


def _check_ranges(events: EventList, num_frames: int, num_classes: int) -> None:
    for name, values, limit in (("frame", events.frame, num_frames), ("class", events.cls, num_classes)):
        bad = (values < 0) | (values >= limit)
        if bad.any():
            raise ValueError(f"expected every {name} in [0, {limit}), found {values[bad][0]}")
