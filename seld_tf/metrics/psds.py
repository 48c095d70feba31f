"""PSDS1, PSDS2 and intersection-based F1, as psds_eval 0.5.3 computes them.

The 2022 DCASE task 4 baseline scores with psds_eval 0.5.3 at 50 operating
points (``PSDS_THRESHOLDS``). This module reproduces its definitions on flat
numpy arrays, all operating points at once, so that scoring needs neither
pandas nor psds_eval (they are only the reference in the tests):

* Every detection is paired with the ground-truth events of its file that it
  overlaps by a non-zero time; each file also gets a WORLD event spanning
  ``[0, duration]``.
* Detection tolerance criterion (DTC): a detection passes when the fraction of
  it covered by ground truth of its class is at least ``dtc_threshold``.
* Ground-truth intersection criterion (GTC): a ground-truth event is a true
  positive when the fraction of it covered by DTC-passing detections of its
  class is at least ``gtc_threshold``.
* Cross-trigger tolerance criterion (CTTC): a detection failing the DTC
  cross-triggers class ``k`` when at least ``cttc_threshold`` of it lies on
  ground truth of class ``k``; it is a false positive when it overlaps its
  file's WORLD event at all.
* PSD-ROC: per class, TPR against eFPR = FPR + alpha_ct * mean CT rate over
  the other classes, made a non-decreasing staircase; the classes are reduced
  to mean - alpha_st * std and the area up to ``max_efpr`` is divided by
  ``max_efpr``.

Events are given per file, ``{filename: events}``, where ``events`` is a
sequence of ``(onset, offset, label)`` tuples (seconds) or a numpy structured
array with fields ``onset``, ``offset`` and ``event_label``. ``durations``
maps every evaluated file to its length in seconds. The classes are the labels
of the ground truth; detections of other labels and of unknown files are
ignored, as psds_eval ignores them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

import numpy as np

EventTable = Union[Sequence[tuple], np.ndarray]
PerFile = Mapping[str, EventTable]

# np.arange(1/100, 1, 1/50): the 2022 baseline's operating points 0.01 ... 0.99.
PSDS_THRESHOLDS = np.arange(1 / 100, 1, 1 / 50)

_SECONDS_PER_UNIT = {
    "minute": 60,
    "hour": 3600,
    "day": 24 * 3600,
    "month": 30 * 24 * 3600,
    "year": 365 * 24 * 3600,
}


@dataclasses.dataclass(frozen=True)
class _Events:
    """One flat event table; ``op`` is the operating point of each row."""

    op: np.ndarray
    file: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    label: np.ndarray

    def take(self, rows: np.ndarray) -> "_Events":
        return _Events(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


def _columns(events: EventTable) -> tuple[list, list, list]:
    if isinstance(events, np.ndarray) and events.dtype.names:
        return events["onset"].tolist(), events["offset"].tolist(), events["event_label"].tolist()
    if len(events) == 0:
        return [], [], []
    return tuple(zip(*events))


def _flatten(tables: Sequence[PerFile], file_codes: dict[str, int]) -> tuple[_Events, np.ndarray]:
    """Concatenates per-file tables; returns the events (labels as indices into
    the returned sorted label names). Unseen file names are added to ``file_codes``."""
    groups, sizes, onsets, offsets, labels = [], [], [], [], []
    for op, table in enumerate(tables):
        for name, events in table.items():
            onset, offset, label = _columns(events)
            groups.append((op, file_codes.setdefault(name, len(file_codes))))
            sizes.append(len(onset))
            onsets.extend(onset)
            offsets.extend(offset)
            labels.extend(label)
    # Python-level conversion of all rows at once: per-file numpy calls
    # dominate the run time on DCASE-sized inputs.
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(str(label), len(index)) for label in labels), dtype=np.int64, count=len(labels))
    names = np.array(list(index), dtype=str)
    order = np.argsort(names)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    if groups:
        op, file = (np.repeat(np.array(column, dtype=np.int64), sizes) for column in zip(*groups))
    else:
        op = file = np.empty(0, dtype=np.int64)
    events = _Events(op, file, np.array(onsets, dtype=float), np.array(offsets, dtype=float), rank[codes])
    return events, names[order]


def _check(events: _Events, what: str) -> None:
    """Rejects what psds_eval rejects: onset after offset and intersecting
    events of one class in one file (identical duplicates are let through)."""
    if np.any(events.onset > events.offset):
        raise ValueError(f"The {what} has events with onset > offset.")
    order = np.lexsort((events.offset, events.onset, events.label, events.file, events.op))
    a, b = order[:-1], order[1:]
    # Sorted by onset within a class, any intersecting pair implies an
    # intersecting neighbour pair, so neighbours suffice.
    clash = (
        (events.op[a] == events.op[b])
        & (events.file[a] == events.file[b])
        & (events.label[a] == events.label[b])
        & (events.onset[b] < events.offset[a])
        & (events.onset[a] < events.offset[b])
        & ((events.onset[a] != events.onset[b]) | (events.offset[a] != events.offset[b]))
    )
    if clash.any():
        raise ValueError(f"The {what} has intersecting events for the same class.")


@dataclasses.dataclass(frozen=True)
class _GroundTruth:
    """Ground truth with one WORLD event (label ``len(classes)``) per file."""

    events: _Events
    classes: np.ndarray
    files: dict[str, int]
    counts: np.ndarray  # events per class
    class_seconds: np.ndarray  # summed event durations per class
    total_seconds: float  # summed file durations


def _ground_truth(ground_truth: PerFile, durations: Mapping[str, float]) -> _GroundTruth:
    files: dict[str, int] = {}
    events, names = _flatten([ground_truth], files)
    _check(events, "ground truth")
    world_files = np.array([files.setdefault(name, len(files)) for name in durations], dtype=np.int64)
    world_offsets = np.array([float(d) for d in durations.values()])
    # Zero-length (and NaN) events are dropped before the classes are read off.
    events = events.take(events.offset > events.onset)
    classes, labels = np.unique(names[events.label], return_inverse=True)
    n = classes.size
    world = world_offsets > 0
    events = _Events(
        op=np.zeros(events.label.size + int(world.sum()), dtype=np.int64),
        file=np.concatenate([events.file, world_files[world]]),
        onset=np.concatenate([events.onset, np.zeros(int(world.sum()))]),
        offset=np.concatenate([events.offset, world_offsets[world]]),
        label=np.concatenate([labels, np.full(int(world.sum()), n)]),
    )
    seconds = events.offset - events.onset
    return _GroundTruth(
        events=events,
        classes=classes,
        files=files,
        counts=np.bincount(events.label, minlength=n + 1)[:n],
        class_seconds=np.bincount(events.label, weights=seconds, minlength=n + 1)[:n],
        total_seconds=float(seconds[events.label == n].sum()),
    )


def _detections(gt: _GroundTruth, tables: Sequence[PerFile]) -> _Events:
    """Flattens and checks the detections; keeps the non-zero-length rows of
    ground-truth classes in evaluated files, labelled by class index."""
    files = dict(gt.files)
    events, names = _flatten(tables, files)
    _check(events, "detections")
    position = np.minimum(np.searchsorted(gt.classes, names), max(gt.classes.size - 1, 0))
    known = gt.classes[position] == names if gt.classes.size else np.zeros(names.size, dtype=bool)
    keep = (
        known[events.label]
        & (events.file < len(gt.files))
        & (events.offset > events.onset)
    )
    events = events.take(keep)
    return dataclasses.replace(events, label=position[events.label])


def _confusion(gt: _GroundTruth, det: _Events, n_ops: int, dtc: float, gtc: float, cttc: float):
    """Counts per operating point: true positives ``(ops, classes)`` and
    detections by detected class and ground-truth label ``(ops, classes,
    classes + 1)`` (WORLD last: false positives; off-diagonal: cross-triggers)."""
    n = gt.classes.size
    g = gt.events
    n_gt = g.label.size

    # Every (detection, ground truth) pair of the same file, then only those
    # overlapping by a non-zero time.
    by_file = np.argsort(g.file, kind="stable")
    first = np.searchsorted(g.file[by_file], det.file, side="left")
    count = np.searchsorted(g.file[by_file], det.file, side="right") - first
    d = np.repeat(np.arange(det.label.size), count)
    within = np.arange(d.size) - np.repeat(np.cumsum(count) - count, count)
    k = by_file[np.repeat(first, count) + within]
    overlap = (det.onset[d] < g.offset[k]) & (g.onset[k] < det.offset[d])
    d, k = d[overlap], k[overlap]

    inter = np.minimum(det.offset[d], g.offset[k]) - np.maximum(det.onset[d], g.onset[k])
    precision = inter / (det.offset - det.onset)[d]
    same = g.label[k] == det.label[d]

    dtc_pass = np.zeros(det.label.size, dtype=bool)
    dtc_pass[d[same]] = True
    dtc_pass &= np.bincount(d[same], weights=precision[same], minlength=det.label.size) >= dtc

    hit_pairs = same & dtc_pass[d]
    coverage = inter[hit_pairs] / (g.offset - g.onset)[k[hit_pairs]]
    keys, group = np.unique(det.op[d[hit_pairs]] * n_gt + k[hit_pairs], return_inverse=True)
    hits = keys[np.bincount(group, weights=coverage, minlength=keys.size) >= gtc]
    tp = np.bincount(
        (hits // n_gt) * n + g.label[hits % n_gt], minlength=n_ops * n
    ).reshape(n_ops, n)

    ct_pairs = ~same & ~dtc_pass[d]
    keys, group = np.unique(d[ct_pairs] * (n + 1) + g.label[k[ct_pairs]], return_inverse=True)
    share = np.bincount(group, weights=precision[ct_pairs], minlength=keys.size)
    keys = keys[(share >= cttc) | (keys % (n + 1) == n)]
    rows = keys // (n + 1)
    counts = np.bincount(
        (det.op[rows] * n + det.label[rows]) * (n + 1) + keys % (n + 1),
        minlength=n_ops * n * (n + 1),
    ).reshape(n_ops, n, n + 1)
    return tp, counts


def _validate(dtc: float, gtc: float, cttc: float) -> None:
    for name, value in (("dtc", dtc), ("gtc", gtc), ("cttc", cttc)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}_threshold must be between 0 and 1, got {value}")


def psds(
    ground_truth: PerFile,
    detections_by_threshold: Mapping[float, PerFile] | Iterable[PerFile],
    durations: Mapping[str, float],
    *,
    dtc_threshold: float,
    gtc_threshold: float,
    cttc_threshold: float,
    alpha_ct: float,
    alpha_st: float,
    max_efpr: float | None = 100.0,
    duration_unit: str = "hour",
) -> float:
    """PSDS of a system given its detections at several operating points.

    ``detections_by_threshold`` holds one ``{filename: events}`` table per
    operating point (a mapping's keys, e.g. the thresholds, are not used).
    ``max_efpr`` is in false positives per ``duration_unit``; ``None`` takes
    the largest eFPR reached. Equals
    ``PSDSEval(dtc, gtc, cttc, duration_unit=...)`` with every table added by
    ``add_operating_point``, then ``psds(alpha_ct, alpha_st, max_efpr).value``.
    """
    _validate(dtc_threshold, gtc_threshold, cttc_threshold)
    if not 0.0 <= alpha_ct <= 1.0:
        raise ValueError(f"alpha_ct must be between 0 and 1, got {alpha_ct}")
    if alpha_st < 0:
        raise ValueError(f"alpha_st can't be negative, got {alpha_st}")
    if duration_unit not in _SECONDS_PER_UNIT:
        raise ValueError(f"duration_unit must be one of {sorted(_SECONDS_PER_UNIT)}, got {duration_unit!r}")
    if isinstance(detections_by_threshold, Mapping):
        detections_by_threshold = detections_by_threshold.values()
    tables = list(detections_by_threshold)

    gt = _ground_truth(ground_truth, durations)
    n = gt.classes.size
    # With one class the cross-trigger mean is over no classes and psds_eval's
    # eFPR becomes NaN.
    if n < 2:
        raise ValueError(f"PSDS needs at least two ground-truth classes, got {n}")
    det = _detections(gt, tables)
    tp, counts = _confusion(gt, det, len(tables), dtc_threshold, gtc_threshold, cttc_threshold)

    seconds = _SECONDS_PER_UNIT[duration_unit]
    tpr = tp / gt.counts
    fpr = counts[:, :, n] * seconds / gt.total_seconds
    ctr = counts[:, :, :n] * seconds / gt.class_seconds
    ctr[:, np.arange(n), np.arange(n)] = np.nan
    efpr = fpr + alpha_ct * np.nanmean(ctr, axis=2)

    # The (0, 0) point anchors every class's curve; operating points are
    # along axis 1 from here on.
    tpr = np.concatenate([tpr.T, np.zeros((n, 1))], axis=1)
    efpr = np.concatenate([efpr.T, np.zeros((n, 1))], axis=1)
    x = np.unique(efpr)
    # Each class's TPR at x is the best TPR at an eFPR <= x (the staircase
    # keeps the curve non-decreasing, ignoring sub-optimal operating points).
    curve = np.where(efpr[:, :, None] <= x, tpr[:, :, None], 0.0).max(axis=1)
    etpr = np.nan_to_num(curve.mean(axis=0) - alpha_st * curve.std(axis=0), nan=0.0)
    etpr = np.where(etpr < 0, 0.0, etpr)

    if max_efpr is None:
        max_efpr = float(x.max())
    # Rectangles, not trapezoids, so a sparse curve is not overestimated; the
    # last step extends to max_efpr.
    left = x < max_efpr
    widths = np.diff(np.append(x[left], max_efpr))
    return float(np.sum(widths * etpr[left]) / max_efpr)


def psds1(ground_truth: PerFile, detections_by_threshold, durations: Mapping[str, float]) -> float:
    """DCASE PSDS scenario 1: tight localisation, cross-triggers not weighed."""
    return psds(
        ground_truth, detections_by_threshold, durations,
        dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=0.3,
        alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0,
    )


def psds2(ground_truth: PerFile, detections_by_threshold, durations: Mapping[str, float]) -> float:
    """DCASE PSDS scenario 2: loose localisation, cross-triggers weighed 0.5."""
    return psds(
        ground_truth, detections_by_threshold, durations,
        dtc_threshold=0.1, gtc_threshold=0.1, cttc_threshold=0.3,
        alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0,
    )


def intersection_f1(
    ground_truth: PerFile,
    detections: PerFile,
    durations: Mapping[str, float],
    *,
    dtc_threshold: float = 0.5,
    gtc_threshold: float = 0.5,
    cttc_threshold: float = 0.3,
    beta: float = 1.0,
) -> tuple[float, dict[str, float]]:
    """Macro and per-class intersection-based F-score of one detection table.

    Equals ``PSDSEval(dtc, gtc, cttc).compute_macro_f_score(detections, beta)``;
    the 2022 baseline scores its detections at threshold 0.5 this way. Every
    detection failing the DTC that lies in its file counts as a false positive.
    """
    _validate(dtc_threshold, gtc_threshold, cttc_threshold)
    gt = _ground_truth(ground_truth, durations)
    det = _detections(gt, [detections])
    tp, counts = _confusion(gt, det, 1, dtc_threshold, gtc_threshold, cttc_threshold)
    tp, fp = tp[0], counts[0, :, gt.classes.size]
    with np.errstate(divide="ignore", invalid="ignore"):
        # psds_eval recovers the event count as TP / TPR, which is NaN for a
        # class without true positives; its F is then NaN and the macro mean
        # leaves that class out. Kept for identical numbers.
        n_events = tp / (tp / gt.counts)
        k = 1 + beta**2
        f = k * tp / (k * tp + beta**2 * (n_events - tp) + fp)
    per_class = {str(name): float(value) for name, value in zip(gt.classes, f)}
    macro = float(np.mean(f[~np.isnan(f)])) if np.any(~np.isnan(f)) else float("nan")
    return macro, per_class
