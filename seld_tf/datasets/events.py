"""The canonical SELD event list: one row per active event per label frame.

This is the DCASE2020 Task 3 metadata form (`frame, class, track, azimuth,
elevation`). Readers produce it, the label converters turn it into class-wise
or trackwise tensors and back, writers and the SELD metrics consume it.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class EventList:
    """Events of one clip as parallel 1-D arrays.

    Attributes:
        frame: label-frame index of each row (int64).
        cls: class index (int64).
        track: track / source index (int64); rows of one event share it.
        azimuth: degrees in [-180, 180), counter-clockwise from the front.
        elevation: degrees in [-90, 90].
        num_frames: clip length in label frames, when known.
    """

    frame: np.ndarray
    cls: np.ndarray
    track: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray
    num_frames: int | None = None

    def __post_init__(self):
        ints = {name: np.asarray(getattr(self, name), dtype=np.int64).reshape(-1) for name in ("frame", "cls", "track")}
        floats = {name: np.asarray(getattr(self, name), dtype=np.float64).reshape(-1) for name in ("azimuth", "elevation")}
        lengths = {len(v) for v in (*ints.values(), *floats.values())}
        if len(lengths) > 1:
            raise ValueError(f"EventList columns differ in length: {sorted(lengths)}")
        for name, value in {**ints, **floats}.items():
            object.__setattr__(self, name, value)

    @classmethod
    def empty(cls, num_frames: int | None = None) -> "EventList":
        return cls(*(np.zeros(0) for _ in range(5)), num_frames=num_frames)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple], num_frames: int | None = None) -> "EventList":
        """Build from `(frame, class, track, azimuth, elevation)` tuples."""
        rows = list(rows)
        if not rows:
            return cls.empty(num_frames)
        columns = list(zip(*rows))
        return cls(*columns, num_frames=num_frames)

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self) -> Iterator[tuple[int, int, int, float, float]]:
        for row in zip(self.frame, self.cls, self.track, self.azimuth, self.elevation):
            yield int(row[0]), int(row[1]), int(row[2]), float(row[3]), float(row[4])

    def sorted(self) -> "EventList":
        """Rows ordered by frame, then track, then class (the order files are written in)."""
        order = np.lexsort((self.cls, self.track, self.frame))
        return self.select(order)

    def select(self, index) -> "EventList":
        return EventList(
            self.frame[index], self.cls[index], self.track[index], self.azimuth[index], self.elevation[index], self.num_frames
        )

    def unit_vectors(self) -> np.ndarray:
        """`[N, 3]` Cartesian unit vectors (x front, y left, z up) of the rows' directions."""
        return polar_to_cartesian(self.azimuth, self.elevation)

    def equals(self, other: "EventList", angle_tolerance: float = 0.0) -> bool:
        """Same rows (in any order), angles within `angle_tolerance` degrees."""
        a, b = self.sorted(), other.sorted()
        if len(a) != len(b):
            return False
        same_ints = all(np.array_equal(getattr(a, n), getattr(b, n)) for n in ("frame", "cls", "track"))
        return bool(same_ints and angular_distance(a.azimuth, a.elevation, b.azimuth, b.elevation).max(initial=0.0) <= angle_tolerance + 1e-9)


def repeated_key_rows(events: EventList) -> tuple[int, int] | None:
    """Row indices `(first, repeat)` of two rows sharing frame, class and track, or None if no two do.

    Of all such pairs, the one whose repeat comes first in row order, paired
    with the earliest row of its key.
    """
    if len(events) < 2:
        return None
    columns = (events.frame, events.cls, events.track)
    low = [int(column.min()) for column in columns]
    span = [int(column.max()) - start + 1 for column, start in zip(columns, low)]
    if span[0] * span[1] * span[2] < 2**62:
        # Sorting one int64 key answers "any repeat?" several times faster than np.lexsort.
        key = ((events.frame - low[0]) * span[1] + events.cls - low[1]) * span[2] + events.track - low[2]
        key.sort()
        if np.all(key[1:] != key[:-1]):
            return None
    # Stable: the rows of one key stay in row order, the first of them leading.
    order = np.lexsort((events.track, events.cls, events.frame))
    # same[i]: sorted row i has the key of sorted row i - 1.
    same = np.ones(len(order), dtype=bool)
    same[0] = False
    for column in (events.frame, events.cls, events.track):
        ordered = column[order]
        same[1:] &= ordered[1:] == ordered[:-1]
    if not same.any():
        return None
    key_start = np.maximum.accumulate(np.where(same, 0, np.arange(len(order))))
    position = np.flatnonzero(same)[np.argmin(order[same])]
    return int(order[key_start[position]]), int(order[position])


def check_unique_keys(events: EventList) -> None:
    """Refuse two rows with the same frame, class and track: one source cannot be active twice in a frame.

    Raises:
        ValueError: naming the key and the two 0-based row indices.
    """
    rows = repeated_key_rows(events)
    if rows is not None:
        first, repeat = rows
        raise ValueError(
            f"duplicate event rows: frame {events.frame[repeat]}, class {events.cls[repeat]}, "
            f"track {events.track[repeat]} appears twice (rows {first} and {repeat})"
        )


def segment_events(events: EventList) -> np.ndarray:
    """Event index of each row: rows of one `(class, track)` that follow frame by frame form one event.

    A gap of one frame or more starts a new event with the same `(class, track)`.
    Events are numbered 0, 1, ... in order of onset frame, then track, then
    class, so that iterating over the numbers visits events as they start.

    Returns:
        int64 `[len(events)]`, aligned with the rows of `events` as given.

    Raises:
        ValueError: two rows share frame, class and track (`check_unique_keys`).
    """
    check_unique_keys(events)
    order = np.lexsort((events.frame, events.track, events.cls))
    frame, cls, track = events.frame[order], events.cls[order], events.track[order]
    same_source = (cls[1:] == cls[:-1]) & (track[1:] == track[:-1])
    starts = np.ones(len(frame), dtype=bool)
    starts[1:] = ~(same_source & (frame[1:] == frame[:-1] + 1))
    # Provisional ids in (class, track, frame) order, then renumbered by onset.
    provisional = np.cumsum(starts) - 1
    onset_order = np.lexsort((cls[starts], track[starts], frame[starts]))
    rank = np.empty_like(onset_order)
    rank[onset_order] = np.arange(len(onset_order))
    event_index = np.empty(len(events), dtype=np.int64)
    event_index[order] = rank[provisional]
    return event_index


def polar_to_cartesian(azimuth, elevation) -> np.ndarray:
    """Degrees to unit vectors `[..., 3]` in the DCASE convention."""
    azi = np.deg2rad(np.asarray(azimuth, dtype=np.float64))
    ele = np.deg2rad(np.asarray(elevation, dtype=np.float64))
    return np.stack([np.cos(ele) * np.cos(azi), np.cos(ele) * np.sin(azi), np.sin(ele)], axis=-1)


def cartesian_to_polar(xyz) -> tuple[np.ndarray, np.ndarray]:
    """Vectors `[..., 3]` (any length) to azimuth in [-180, 180) and elevation, degrees."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    azimuth = wrap_azimuth(np.rad2deg(np.arctan2(y, x)))
    elevation = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return azimuth, elevation


def wrap_azimuth(azimuth) -> np.ndarray:
    """Map degrees into [-180, 180)."""
    return (np.asarray(azimuth, dtype=np.float64) + 180.0) % 360.0 - 180.0


def angular_distance(azi1, ele1, azi2, ele2) -> np.ndarray:
    """Great-circle distance in degrees between directions given in degrees."""
    dot = np.sum(polar_to_cartesian(azi1, ele1) * polar_to_cartesian(azi2, ele2), axis=-1)
    return np.rad2deg(np.arccos(np.clip(dot, -1.0, 1.0)))
