"""Canonical SED labels: strong events, weak labels, scenes, and their tensors.

A clip's strong labels are a list of `StrongEvent(onset, offset, label)` with
times in seconds; a dataset's are a plain `dict[str, list[StrongEvent]]` keyed
by file. Weak labels are a set of label names per clip. Any `(onset, offset,
label)` tuple is accepted wherever a `StrongEvent` is.

Frame convention (sed_eval 0.2.1 `event_list_to_event_roll`, and dcase_util's
`EventRollEncoder`): at frame rate r, an event covers the half-open frame range

    [floor(onset * r), ceil(offset * r))

i.e. every frame that any part of the event overlaps; frame t spans
[t / r, (t + 1) / r). The one deviation: a time whose frame position
`time * r` lies within a relative 1e-9 of an integer counts as on that frame
boundary. sed_eval divides by `time_resolution = 1/r` and takes floor/ceil of
the float result, so a DESED-style 3-decimal time such as an offset of 0.14 s
at 50 Hz (0.14 / 0.02 = 7.000000000000001) gains a spurious frame there (about
one in eight 3-decimal frame boundaries at 50 Hz or 15.625 Hz); here it does
not. Times not within that tolerance of a boundary give exactly sed_eval's
frames.

`roll_to_events` inverts this: a run of active frames [s, e) becomes the event
(s / r, e / r), so grid-aligned events survive a round trip unchanged.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
import scipy.ndimage

# `time * rate` carries a few ulp (relative ~1e-16) of float error; a relative
# 1e-9 absorbs it while staying far below any real timing difference.
_BOUNDARY_TOLERANCE = 1e-9

_FILTER_TARGETS = ("probabilities", "binary")
# "zeros" is scipy.signal.medfilt's edge handling, "reflect" scipy.ndimage's default.
_MEDIAN_EDGES = {"reflect": "reflect", "zeros": "constant"}


class StrongEvent(NamedTuple):
    """One labelled event of a clip; times in seconds."""

    onset: float
    offset: float
    label: str


def _index(names: Sequence[str], kind: str) -> dict[str, int]:
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        duplicates = sorted({name for name in names if list(names).count(name) > 1})
        raise ValueError(f"{kind} names must be unique, found duplicates {duplicates}")
    return index


def _lookup(index: dict[str, int], name: str, kind: str) -> int:
    try:
        return index[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; expected one of {list(index)}") from None


def _check_rate(frame_rate: float) -> float:
    frame_rate = float(frame_rate)
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"frame_rate must be a positive finite number of frames per second, found {frame_rate}")
    return frame_rate


def _frame_boundary(position: float, rounding: Callable[[float], int]) -> int:
    nearest = round(position)
    if abs(position - nearest) <= _BOUNDARY_TOLERANCE * max(1.0, abs(position)):
        return int(nearest)
    return int(rounding(position))


def check_events(events: Iterable[tuple]) -> list[StrongEvent]:
    """Return the events as `StrongEvent`s after checking their times.

    Raises ValueError for a non-finite time, onset < 0 or offset < onset.
    Zero-length events are kept (sed_eval keeps them too).
    """
    checked = []
    for event in events:
        onset, offset, label = event
        event = StrongEvent(float(onset), float(offset), label)
        if not (math.isfinite(event.onset) and math.isfinite(event.offset)):
            raise ValueError(f"event {event} has a non-finite time")
        if event.onset < 0 or event.offset < event.onset:
            raise ValueError(f"event {event} needs 0 <= onset <= offset")
        checked.append(event)
    return checked


def clip_events(events: Iterable[tuple], duration: float) -> list[StrongEvent]:
    """Cut events to [0, duration]: offsets past the end are set to `duration`
    and events starting at or after it are dropped (DESED offsets overrun the
    audio by up to a second)."""
    return [
        StrongEvent(event.onset, min(event.offset, duration), event.label)
        for event in check_events(events)
        if event.onset < duration
    ]


def events_to_weak(events: Iterable[tuple]) -> set[str]:
    """The weak labels of a clip: the set of its event labels."""
    return {label for _, _, label in events}


def weak_to_multihot(labels: Iterable[str], class_names: Sequence[str]) -> np.ndarray:
    """Multi-hot float32 [K] in `class_names` order; unknown labels raise ValueError."""
    index = _index(class_names, "class")
    multihot = np.zeros(len(class_names), dtype=np.float32)
    for label in labels:
        multihot[_lookup(index, label, "class")] = 1.0
    return multihot


def scene_to_onehot(scene: str, scene_names: Sequence[str]) -> np.ndarray:
    """One-hot float32 [S] in `scene_names` order; an unknown scene raises ValueError."""
    onehot = np.zeros(len(scene_names), dtype=np.float32)
    onehot[_lookup(_index(scene_names, "scene"), scene, "scene")] = 1.0
    return onehot


def events_to_roll(events: Iterable[tuple], class_names: Sequence[str], num_frames: int, frame_rate: float) -> np.ndarray:
    """Frame roll float32 [num_frames, K], 1 where an event of the class is active.

    Frames follow the module's convention, [floor(onset * rate), ceil(offset * rate)).
    Frames past `num_frames` are cut off, so an event starting after the end adds
    nothing; pass `num_frames = ceil(duration * rate)` to keep every frame an
    event touches, as sed_eval sizes its roll. Overlapping events of one class
    merge. Unknown labels raise ValueError naming the label.
    """
    frame_rate = _check_rate(frame_rate)
    if int(num_frames) != num_frames or num_frames < 0:
        raise ValueError(f"num_frames must be a non-negative integer, found {num_frames}")
    index = _index(class_names, "class")
    roll = np.zeros((int(num_frames), len(class_names)), dtype=np.float32)
    for onset, offset, label in check_events(events):
        column = _lookup(index, label, "class")
        start = _frame_boundary(onset * frame_rate, math.floor)
        end = _frame_boundary(offset * frame_rate, math.ceil)
        roll[start:end, column] = 1.0
    return roll


def _median(frames: np.ndarray, window: int, edges: str) -> np.ndarray:
    # size 1 along classes keeps the filter within each class's own time series.
    return scipy.ndimage.median_filter(frames, size=(window, 1), mode=_MEDIAN_EDGES[edges], cval=0.0)


def roll_to_events(
    probabilities: np.ndarray,
    class_names: Sequence[str],
    frame_rate: float,
    *,
    threshold: float = 0.5,
    median_filter: int | None = None,
    filter_on: str = "probabilities",
    median_edges: str = "reflect",
) -> list[StrongEvent]:
    """Decode frame probabilities [T, K] into events.

    A frame is active when its probability is >= `threshold` (dcase_util's
    binarisation). `median_filter`, an odd window of w frames, replaces each
    frame of each class by the median of that class's frames t - w//2 .. t + w//2;
    `filter_on="probabilities"` filters before thresholding (MTL-VAE code:
    w=19, threshold 0.51, `median_edges="zeros"` as scipy.signal.medfilt),
    `filter_on="binary"` filters the thresholded 0/1 frames, where it is a
    majority vote (DCASE2022 baseline: w=7, threshold 0.5,
    `median_edges="reflect"` as scipy.ndimage.median_filter). `median_edges`
    says what lies beyond the clip: the mirrored frames ("reflect") or zeros.
    A median commutes with thresholding, so both `filter_on` orders give the
    same frames for any threshold > 0; they differ only for threshold <= 0
    with zero edges, where padded zeros count as active probabilities.

    Each run of active frames [s, e) of a class becomes StrongEvent(s / rate,
    e / rate, label). Events are sorted by onset, then class order.
    """
    frame_rate = _check_rate(frame_rate)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(f"expected probabilities [T, {len(class_names)}], found shape {probabilities.shape}")
    if np.isnan(probabilities).any():
        raise ValueError("probabilities contain NaN")
    _index(class_names, "class")
    if filter_on not in _FILTER_TARGETS:
        raise ValueError(f"filter_on must be one of {_FILTER_TARGETS}, found {filter_on!r}")
    if median_edges not in _MEDIAN_EDGES:
        raise ValueError(f"median_edges must be one of {tuple(_MEDIAN_EDGES)}, found {median_edges!r}")
    if median_filter is not None and (int(median_filter) != median_filter or median_filter < 1 or median_filter % 2 == 0):
        # An even window has no centre frame, which would shift events by half a frame.
        raise ValueError(f"median_filter must be an odd number of frames >= 1 or None, found {median_filter}")

    if median_filter is not None and filter_on == "probabilities":
        probabilities = _median(probabilities, int(median_filter), median_edges)
    active = (probabilities >= threshold).astype(np.int8)
    if median_filter is not None and filter_on == "binary":
        active = _median(active, int(median_filter), median_edges)

    # Padding with inactive frames makes every run start with +1 and end with -1.
    padded = np.pad(active, ((1, 1), (0, 0)))
    changes = np.diff(padded, axis=0)
    events = []
    for column, label in enumerate(class_names):
        starts = np.flatnonzero(changes[:, column] == 1)
        ends = np.flatnonzero(changes[:, column] == -1)
        events.extend(StrongEvent(int(start) / frame_rate, int(end) / frame_rate, label) for start, end in zip(starts, ends))
    order = {label: i for i, label in enumerate(class_names)}
    return sorted(events, key=lambda event: (event.onset, order[event.label]))
