"""Conversions between the SELD event list and the label tensor forms.

- Class-wise (SELDnet baseline / Phan et al.): activity `[T, K]` and one
  unit DOA vector per class `[T, K, 3]`.
- Trackwise (EINV2): per track slot a one-hot class `[T, M, K]` and a DOA
  vector `[T, M, 3]`.
- ACCDOA (Shimada et al. 2021): one vector per class `[T, K, 3]`, the
  activity times the unit DOA vector, so that its length is the activity.
- Multi-ACCDOA (Shimada et al. 2022): `M` ACCDOA tracks per class; its
  target `[T, M (M + 1) / 2, K, 3]` holds each class's events in slots by
  how many there are, from which auxiliary duplicating permutation-invariant
  training (ADPIT) builds the duplicated tracks (`events_to_multi_accdoa`).

`T` is the number of label frames, `K` of classes, `M` of track slots. DOA
vectors are Cartesian (x front, y left, z up) and zero where nothing is active.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from seld_tf.datasets.events import EventList, cartesian_to_polar, check_unique_keys, segment_events

# Multi-ACCDOA decoding: two active tracks of one class closer than this (degrees) are one event, the
# DCASE2022 baseline's `thresh_unify`.
MERGE_ANGLE = 15.0


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


def events_to_accdoa(events: EventList, num_frames: int, num_classes: int) -> np.ndarray:
    """Build the ACCDOA target `[T, K, 3]` (float32): activity times the unit DOA vector of each class.

    These are the class-wise DOA labels (`events_to_classwise`), whose
    vectors are already unit where the class is active and zero where it is
    not. Like them, it holds one direction per class and frame: of two
    overlapping events of one class the lowest track's (multi-ACCDOA keeps
    both).
    """
    return events_to_classwise(events, num_frames, num_classes)[1]


def accdoa_to_events(accdoa: np.ndarray, threshold: float = 0.5) -> EventList:
    """Decode ACCDOA vectors `[T, K, 3]`: one row (track 0) per frame and class whose vector is longer than `threshold`."""
    accdoa = np.asarray(accdoa)
    if accdoa.ndim != 3 or accdoa.shape[-1] != 3:
        raise ValueError(f"expected ACCDOA vectors [T, K, 3], found {accdoa.shape}")
    return classwise_to_events(np.linalg.norm(accdoa, axis=-1), accdoa, threshold)


def adpit_slot(count, index):
    """Slot of the multi-ACCDOA target that holds event `index` of `count` same-class events.

    The slots are grouped by count: `count * (count - 1) / 2` events come before those of `count`.
    """
    return count * (count - 1) // 2 + index


def num_adpit_slots(num_tracks: int) -> int:
    """Slots of the multi-ACCDOA target of `num_tracks` tracks: one group of `n` slots per `n = 1 ... num_tracks`."""
    return adpit_slot(num_tracks + 1, 0)


def events_to_multi_accdoa(events: EventList, num_frames: int, num_classes: int, num_tracks: int = 3) -> np.ndarray:
    """Build the multi-ACCDOA (ADPIT) target `[T, S, K, 3]` (float32), `S = M (M + 1) / 2` slots for `M` tracks.

    In frame `t`, a class with `n` events (`1 <= n <= M`) holds their unit DOA
    vectors, in track order, in the `n` slots of its count: slot
    `adpit_slot(n, i)` for the `i`-th; every other slot of the class is zero.
    For `M = 3` the six slots are the DCASE2022 baseline's A0 (one event), B0,
    B1 (two), C0, C1, C2 (three), and the array is the baseline's `[T, 6, 4,
    K]` target with the activity folded into the vectors (unit: active, zero:
    inactive) and the class axis before the xyz one, which lets the label
    rotations of `seld_tf.augment` act on its last axis. From the count, the
    loss (`seld_tf.losses.accdoa.AdpitLoss`) knows which duplication patterns
    of the events over the `M` output tracks to try.

    A frame with more than `M` events of one class keeps the `M` of lowest
    track, with a warning.

    Raises:
        ValueError: a row's frame or class is out of range, or two rows share
            frame, class and track.
    """
    _check_ranges(events, num_frames, num_classes)
    check_unique_keys(events)
    order = np.lexsort((events.track, events.cls, events.frame))
    cell = events.frame[order] * num_classes + events.cls[order]
    _, first, inverse, counts = np.unique(cell, return_index=True, return_inverse=True, return_counts=True)
    rank = np.arange(len(cell)) - first[inverse]
    kept = rank < num_tracks
    dropped = int(np.sum(~kept))
    if dropped:
        warnings.warn(
            f"{dropped} of {len(events)} event rows dropped: more than {num_tracks} events of one class in a frame",
            stacklevel=2,
        )
    rows = order[kept]
    slot = adpit_slot(np.minimum(counts[inverse][kept], num_tracks), rank[kept])
    target = np.zeros((num_frames, num_adpit_slots(num_tracks), num_classes, 3), dtype=np.float32)
    target[events.frame[rows], slot, events.cls[rows]] = events.select(rows).unit_vectors()
    return target


def multi_accdoa_to_events(tracks: np.ndarray, threshold: float = 0.5, merge_angle: float = MERGE_ANGLE) -> EventList:
    """Decode multi-ACCDOA outputs `[T, M, K, 3]` as the DCASE2022 baseline does.

    A track is active for a class where its vector is longer than
    `threshold`. Two active tracks of one class whose directions are less
    than `merge_angle` degrees apart are one event, as are chains of such
    pairs: ADPIT teaches the model to repeat an event on spare tracks, so
    near-identical tracks are one source, not several. Each group of linked
    tracks gives one row, with the direction of the mean of its vectors and
    the lowest track of the group as its track. (The baseline unifies three
    tracks explicitly: no link, one linked pair, or all three; the groups are
    the same.)
    """
    tracks = np.asarray(tracks, dtype=np.float64)
    if tracks.ndim != 4 or tracks.shape[-1] != 3:
        raise ValueError(f"expected multi-ACCDOA tracks [T, M, K, 3], found {tracks.shape}")
    num_tracks = tracks.shape[1]
    norms = np.linalg.norm(tracks, axis=-1)
    active = norms > threshold
    unit = tracks / np.maximum(norms, np.finfo(np.float64).tiny)[..., None]
    # Each active track ends up labelled with the lowest track of its group: every round passes the
    # lowest label one link further, and a group of M tracks is at most M - 1 links across.
    group = np.broadcast_to(np.arange(num_tracks)[:, None], active.shape).copy()
    for _ in range(num_tracks - 1):
        for a, b in itertools.combinations(range(num_tracks), 2):
            cosine = np.clip(np.sum(unit[:, a] * unit[:, b], axis=-1), -1.0, 1.0)
            linked = active[:, a] & active[:, b] & (np.rad2deg(np.arccos(cosine)) < merge_angle)
            lowest = np.minimum(group[:, a], group[:, b])
            group[:, a] = np.where(linked, lowest, group[:, a])
            group[:, b] = np.where(linked, lowest, group[:, b])
    # members[t, m, k, g]: active track m of class k belongs to group g.
    members = active[..., None] & (group[..., None] == np.arange(num_tracks))
    sums = np.einsum("tmkg,tmkx->tgkx", members.astype(np.float64), tracks)
    frame, track, cls = np.nonzero(active & (group == np.arange(num_tracks)[:, None]))
    azimuth, elevation = cartesian_to_polar(sums[frame, track, cls])
    return EventList(frame, cls, track, azimuth, elevation, num_frames=tracks.shape[0])


def _check_ranges(events: EventList, num_frames: int, num_classes: int) -> None:
    for name, values, limit in (("frame", events.frame, num_frames), ("class", events.cls, num_classes)):
        bad = (values < 0) | (values >= limit)
        if bad.any():
            raise ValueError(f"expected every {name} in [0, {limit}), found {values[bad][0]}")
