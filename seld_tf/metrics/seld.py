"""DCASE2020 Task 3 SELD metrics in numpy, and a DCASE2021-style macro variant.

The DCASE2020 metric (Politis et al., seld-dcase2020 `SELD_evaluation_metrics.py`),
reproduced with its quirks:

* Label frames (100 ms) are grouped into 1 s blocks of `BLOCK_FRAMES` frames.
* Per block and class, `Nref` counts the class once if it is active anywhere in
  the reference block, `Nsys` once if anywhere in the predicted block, however
  many instances or frames.
* A class in the reference block only is a false negative (FN); in the
  prediction only, a false positive (FP).
* A class in both: every frame where it is active in both gets a cost, the
  angular distance in degrees between reference and predicted direction. With
  several same-class instances in a frame they are paired by the Hungarian
  method and the paired distances are SUMMED (not averaged: a quirk of the
  official code). The class's block distance is the mean frame cost over those
  common frames. No common frame: an FN. Otherwise the distance adds to
  `total_de`, `de_tp` grows by one, and the class is a TP if the distance is at
  most `doa_threshold` (20 degrees) and an FN otherwise, never an FP.
* Per block, over classes: `S += min(FP, FN)`, `D += max(0, FN - FP)`,
  `I += max(0, FP - FN)`.
* Counts accumulate over all files; the scores are computed once at the end:
  `ER = (S + D + I) / Nref`, `F = 2PR / (P + R)` with `P = TP / Nsys`,
  `R = TP / Nref`, `LE = total_de / de_tp`, `LR` = the F-measure of
  `de_tp / Nsys` and `de_tp / Nref` (what the official code computes under that
  name), `SELD = mean(ER, 1 - F, LE / 180, 1 - LR)`.

Zero denominators, where the official code divides by `count + eps`:
`F = 0` when `TP = 0` and `LR = 0` when `de_tp = 0` (the official values);
`LE = 180` when `de_tp = 0` (official); `ER = 0` when there is no reference
and no error, and `inf` when there is no reference but there are insertions
(the official code returns about 4.5e15 per insertion there).

`Dcase2020SeldMetric` is the vectorised implementation used for scoring;
`_reference_loop_scores` is the same algorithm written as plain loops, kept as
the readable specification that the tests and `benchmarks/bench_seld_metrics.py`
compare the vectorised code against.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Iterable, Sequence

import numpy as np

from seld_tf.datasets.events import EventList

BLOCK_FRAMES = 10
"""Label frames per 1 s scoring block (10 x 100 ms)."""

DOA_THRESHOLD = 20.0
"""Degrees: a detected class is a TP only if its block distance is at most this."""

NUM_CLASSES = 14
"""Classes of TAU-NIGENS Spatial Sound Events 2020."""

_MAX_ENUMERATED_PAIRINGS = 720
"""Pairings of one frame's same-class instances tried one by one (6 x 6 has 720); more go to scipy."""

_BATCH_FRAMES = 1 << 14
"""Label frames (27 one-minute clips) that `update_many` scores in one go: enough to spread
numpy's per-call cost, few enough to keep a batch's arrays at a few MiB."""


@dataclasses.dataclass(frozen=True)
class SeldScores:
    """SELD scores and the raw counts they were computed from.

    Attributes:
        ER: location-sensitive error rate, `(S + D + I) / Nref`.
        F: location-sensitive F-score in [0, 1].
        LE: class-sensitive localization error in degrees.
        LR: class-sensitive localization recall (F-measure form, see module docstring).
        SELD: `mean(ER, 1 - F, LE / 180, 1 - LR)`; lower is better.
        tp, fp, fn: true positives, false positives, false negatives (class-blocks).
        substitutions, deletions, insertions: `S`, `D`, `I`.
        nref, nsys: class-blocks active in the reference / prediction.
        de_tp: class-blocks in both with at least one common frame.
        total_de: sum of their block distances, degrees.
    """

    ER: float
    F: float
    LE: float
    LR: float
    SELD: float
    tp: int
    fp: int
    fn: int
    substitutions: int
    deletions: int
    insertions: int
    nref: int
    nsys: int
    de_tp: int
    total_de: float

    def to_dict(self) -> dict[str, float]:
        """The five scores, keyed `ER`, `F`, `LE`, `LR`, `SELD` (for logs and callbacks)."""
        return {"ER": self.ER, "F": self.F, "LE": self.LE, "LR": self.LR, "SELD": self.SELD}


def _f_measure(hits: int, nsys: int, nref: int) -> float:
    """`2PR / (P + R)` with `P = hits / nsys`, `R = hits / nref`; 0 when `hits` is 0."""
    if hits == 0:
        return 0.0
    precision, recall = hits / nsys, hits / nref
    return 2.0 * precision * recall / (precision + recall)


def _scores_from_counts(
    *,
    tp: int,
    fp: int,
    fn: int,
    substitutions: int,
    deletions: int,
    insertions: int,
    nref: int,
    nsys: int,
    de_tp: int,
    total_de: float,
) -> SeldScores:
    """The DCASE2020 formulas, with the zero-denominator conventions of the module docstring."""
    errors = substitutions + deletions + insertions
    if nref:
        error_rate = errors / nref
    else:
        error_rate = math.inf if errors else 0.0
    f_score = _f_measure(tp, nsys, nref)
    localization_error = total_de / de_tp if de_tp else 180.0
    localization_recall = _f_measure(de_tp, nsys, nref)
    return SeldScores(
        ER=error_rate,
        F=f_score,
        LE=localization_error,
        LR=localization_recall,
        SELD=_seld_score(error_rate, f_score, localization_error, localization_recall),
        tp=int(tp),
        fp=int(fp),
        fn=int(fn),
        substitutions=int(substitutions),
        deletions=int(deletions),
        insertions=int(insertions),
        nref=int(nref),
        nsys=int(nsys),
        de_tp=int(de_tp),
        total_de=float(total_de),
    )


def _seld_score(error_rate: float, f_score: float, localization_error: float, localization_recall: float) -> float:
    return (error_rate + (1.0 - f_score) + localization_error / 180.0 + (1.0 - localization_recall)) / 4.0


def _angle_between(azimuth1, elevation1, azimuth2, elevation2) -> np.ndarray:
    """Great-circle distance in degrees between directions given in degrees (broadcasting).

    The spherical law of cosines, as the official code's polar variant: five
    trigonometric functions per pair, against eight for two unit vectors.
    """
    elevation1, elevation2 = np.deg2rad(elevation1), np.deg2rad(elevation2)
    cosine = np.sin(elevation1) * np.sin(elevation2) + np.cos(elevation1) * np.cos(elevation2) * np.cos(
        np.deg2rad(np.subtract(azimuth1, azimuth2))
    )
    return np.rad2deg(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _min_pairing_costs(distances: np.ndarray) -> np.ndarray:
    """Least total distance of a one-to-one pairing, for each of `n` distance matrices `[n, n_ref, n_pred]`.

    `min(n_ref, n_pred)` pairs are made; unpaired instances cost nothing
    (official behaviour). The official code finds the pairing by the
    Hungarian method (scipy's `linear_sum_assignment`). A frame rarely holds
    more than three instances of one class, so here every pairing is tried,
    all matrices at once: importing scipy alone takes longer and more memory
    (~0.3 s, ~45 MiB) than scoring a folder. Matrices with more than
    `_MAX_ENUMERATED_PAIRINGS` pairings go to scipy.

    Returns:
        float `[n]`. Each pairing's distances are summed in order of the
        smaller side's instances, so equal inputs give equal sums bit for bit.
    """
    if distances.shape[1] > distances.shape[2]:
        distances = distances.transpose(0, 2, 1)
    _, rows, cols = distances.shape
    if math.perm(cols, rows) > _MAX_ENUMERATED_PAIRINGS:
        from scipy.optimize import linear_sum_assignment

        return np.array([matrix[linear_sum_assignment(matrix)].sum() for matrix in distances])
    pairings = np.array(list(itertools.permutations(range(cols), rows)))  # [P, rows]
    chosen = distances[:, np.arange(rows), pairings]  # [n, P, rows]
    totals = chosen[..., 0]
    for row in range(1, rows):
        totals = totals + chosen[..., row]
    return totals.min(axis=1)


def _frame_costs(reference: EventList, prediction: EventList, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame cost of every (frame, class) cell active in both lists.

    A cell's cost is the least total angular distance of a one-to-one pairing
    of its reference and predicted instances (the nearest pair when either
    side has one instance).

    Returns:
        The cells, `frame * num_classes + class`, in increasing order, and their costs in degrees.
    """
    num_ref_rows = len(reference)
    # One stable sort of both lists' rows by (cell, side): per cell, its reference rows,
    # then its predicted rows, each in row order.
    key = np.concatenate([reference.frame * num_classes + reference.cls, prediction.frame * num_classes + prediction.cls])
    key <<= 1
    key[num_ref_rows:] += 1
    order = np.argsort(key, kind="stable")
    key = key[order]
    cell = key >> 1
    new_cell = np.ones(len(key), dtype=bool)
    np.not_equal(cell[1:], cell[:-1], out=new_cell[1:])
    start = np.flatnonzero(new_cell)
    size = np.diff(start, append=len(key))
    num_ref = np.add.reduceat(1 - (key & 1), start) if len(key) else np.zeros(0, dtype=np.int64)
    both = (num_ref > 0) & (num_ref < size)
    start, num_ref, num_pred = start[both], num_ref[both], size[both] - num_ref[both]
    # All (reference, predicted) pairs of each cell, reference-instance-major, so that
    # a cell's run of pairs reshapes to its [num_ref, num_pred] distance matrix.
    num_pairs = num_ref * num_pred
    first_pair = np.cumsum(num_pairs) - num_pairs
    rank = np.arange(first_pair[-1] + num_pairs[-1] if len(num_pairs) else 0) - np.repeat(first_pair, num_pairs)
    pair_pred = np.repeat(num_pred, num_pairs)
    pair_start = np.repeat(start, num_pairs)
    ref_row = order[pair_start + rank // pair_pred]
    pred_row = order[pair_start + np.repeat(num_ref, num_pairs) + rank % pair_pred] - num_ref_rows
    distance = _angle_between(
        reference.azimuth[ref_row], reference.elevation[ref_row], prediction.azimuth[pred_row], prediction.elevation[pred_row]
    )
    # One instance on either side: the optimal pairing is the nearest pair.
    cost = np.minimum.reduceat(distance, first_pair) if len(distance) else np.zeros(0)
    # Several on both sides (rare): the least-cost pairing, cells of one shape at once.
    several = np.flatnonzero((num_ref > 1) & (num_pred > 1))
    shapes = np.stack([num_ref[several], num_pred[several]], axis=1)
    for shape in np.unique(shapes, axis=0).tolist():
        group = several[(shapes == shape).all(axis=1)]
        runs = first_pair[group, None] + np.arange(shape[0] * shape[1])
        cost[group] = _min_pairing_costs(distance[runs].reshape(-1, *shape))
    return cell[start], cost


def _clip_frames(reference: EventList, prediction: EventList, num_frames: int | None) -> int:
    """Clip length: the argument, else the lists' `num_frames`, else the last active frame + 1."""
    if num_frames is not None:
        return int(num_frames)
    known = [n for n in (reference.num_frames, prediction.num_frames) if n is not None]
    if known:
        return max(known)
    return int(max(reference.frame.max(initial=-1), prediction.frame.max(initial=-1))) + 1


def _in_range(event_lists: Sequence[EventList], lengths: Sequence[int], num_classes: int) -> bool:
    """Whether every event of every list lies in its clip, `[0, length)`, and in `[0, num_classes)`."""
    frame = np.concatenate([events.frame for events in event_lists])
    cls = np.concatenate([events.cls for events in event_lists])
    if not len(frame):
        return True
    limit = np.repeat(lengths, [len(events) for events in event_lists])
    return bool(cls.min() >= 0 and cls.max() < num_classes and frame.min() >= 0 and np.all(frame < limit))


def _resolve_num_frames(reference: EventList, prediction: EventList, num_frames: int | None) -> int:
    """Clip length: the argument, else the lists' `num_frames`, else the last active frame + 1.

    Raises:
        ValueError: an event lies outside `[0, num_frames)`.
    """
    num_frames = _clip_frames(reference, prediction, num_frames)
    for role, events in (("reference", reference), ("prediction", prediction)):
        outside = (events.frame < 0) | (events.frame >= num_frames)
        if np.any(outside):
            raise ValueError(
                f"{role} event list: frame index {events.frame[outside][0]} outside the clip's "
                f"{num_frames} label frames (expected 0 <= frame < {num_frames})"
            )
    return int(num_frames)


def _check_classes(reference: EventList, prediction: EventList, num_classes: int) -> None:
    for role, events in (("reference", reference), ("prediction", prediction)):
        outside = (events.cls < 0) | (events.cls >= num_classes)
        if np.any(outside):
            raise ValueError(
                f"{role} event list: class index {events.cls[outside][0]} outside [0, {num_classes}) "
                f"(num_classes={num_classes})"
            )


@dataclasses.dataclass
class _SeldCounts:
    """Counts of one or more files: class-wise arrays `[num_classes]` and block-level S, D, I.

    Class-wise counts serve both averaging schemes: the 2020 metric sums them,
    the 2021-style macro variant scores each class. Substitutions pair an FN of
    one class with an FP of another in the same block, so they exist only
    across classes, as block-level totals.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    nref: np.ndarray
    nsys: np.ndarray
    de_tp: np.ndarray
    total_de: np.ndarray
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @classmethod
    def zeros(cls, num_classes: int) -> "_SeldCounts":
        ints = [np.zeros(num_classes, dtype=np.int64) for _ in range(6)]
        return cls(*ints, total_de=np.zeros(num_classes))

    def add(self, other: "_SeldCounts") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def scores(self, cls: int | None = None) -> SeldScores:
        """Scores from the counts pooled over classes (DCASE2020), or from class `cls`'s alone.

        Within one class there are no substitutions: its FNs are deletions, its FPs insertions.
        """
        if cls is None:
            return _scores_from_counts(
                tp=self.tp.sum(),
                fp=self.fp.sum(),
                fn=self.fn.sum(),
                substitutions=self.substitutions,
                deletions=self.deletions,
                insertions=self.insertions,
                nref=self.nref.sum(),
                nsys=self.nsys.sum(),
                de_tp=self.de_tp.sum(),
                total_de=self.total_de.sum(),
            )
        return _scores_from_counts(
            tp=self.tp[cls],
            fp=self.fp[cls],
            fn=self.fn[cls],
            substitutions=0,
            deletions=self.fn[cls],
            insertions=self.fp[cls],
            nref=self.nref[cls],
            nsys=self.nsys[cls],
            de_tp=self.de_tp[cls],
            total_de=self.total_de[cls],
        )


def _block_distances(
    reference: EventList, prediction: EventList, num_classes: int, num_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block and class: presence in the reference, in the prediction, and the block distance.

    Returns:
        `ref_present`, `pred_present` (bool `[blocks, classes]`) and `distance`
        (float `[blocks, classes]`, NaN where the class has no frame active in both).
    """
    num_blocks = -(-num_frames // BLOCK_FRAMES)
    shape = (num_blocks, num_classes)
    ref_block = reference.frame // BLOCK_FRAMES * num_classes + reference.cls
    pred_block = prediction.frame // BLOCK_FRAMES * num_classes + prediction.cls
    ref_present = np.bincount(ref_block, minlength=num_blocks * num_classes).reshape(shape) > 0
    pred_present = np.bincount(pred_block, minlength=num_blocks * num_classes).reshape(shape) > 0
    cells, cost = _frame_costs(reference, prediction, num_classes)
    block = cells // (BLOCK_FRAMES * num_classes) * num_classes + cells % num_classes
    # bincount adds the weights in array order, here frame by frame within a block: the
    # same sums as the loop reference's, bit for bit (numpy's pairwise sum would round differently).
    cost_sum = np.bincount(block, weights=cost, minlength=num_blocks * num_classes).reshape(shape)
    num_common = np.bincount(block, minlength=num_blocks * num_classes).reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(num_common > 0, cost_sum / num_common, np.nan)
    return ref_present, pred_present, distance


def _concatenate(event_lists: Sequence[EventList], frame_offsets: Sequence[int]) -> EventList:
    """One event list of several, each list's frames shifted by its offset."""
    if len(event_lists) == 1 and frame_offsets[0] == 0:
        return event_lists[0]
    frame = np.concatenate([events.frame + offset for events, offset in zip(event_lists, frame_offsets)])
    columns = [np.concatenate([getattr(events, name) for events in event_lists]) for name in ("cls", "track", "azimuth", "elevation")]
    return EventList(frame, *columns)


def _counts(files: Sequence[tuple[EventList, EventList, int]], num_classes: int, doa_threshold: float) -> _SeldCounts:
    """Counts of `(reference, prediction, num_frames)` files, scored as one.

    Each file's frames are shifted to start a block of their own, so blocks,
    and with them the counts, are those of the files scored one by one.

    Raises:
        ValueError: an event's class or frame is out of range (the first such file's, as `update` says it).
    """
    references, predictions, lengths = zip(*files)
    if not (_in_range(references, lengths, num_classes) and _in_range(predictions, lengths, num_classes)):
        for reference, prediction, num_frames in files:
            _check_classes(reference, prediction, num_classes)
            _resolve_num_frames(reference, prediction, num_frames)
    offsets = np.cumsum([0] + [-(-num_frames // BLOCK_FRAMES) * BLOCK_FRAMES for num_frames in lengths])
    reference = _concatenate(references, offsets[:-1])
    prediction = _concatenate(predictions, offsets[:-1])
    ref_present, pred_present, distance = _block_distances(reference, prediction, num_classes, int(offsets[-1]))
    located = ~np.isnan(distance)  # the class has a frame active in both
    true_positive = located & (distance <= doa_threshold)
    false_negative = ref_present & ~true_positive
    false_positive = pred_present & ~ref_present
    block_fn, block_fp = false_negative.sum(axis=1), false_positive.sum(axis=1)
    return _SeldCounts(
        tp=true_positive.sum(axis=0),
        fp=false_positive.sum(axis=0),
        fn=false_negative.sum(axis=0),
        nref=ref_present.sum(axis=0),
        nsys=pred_present.sum(axis=0),
        de_tp=located.sum(axis=0),
        total_de=np.where(located, distance, 0.0).sum(axis=0),
        substitutions=int(np.minimum(block_fn, block_fp).sum()),
        deletions=int(np.maximum(0, block_fn - block_fp).sum()),
        insertions=int(np.maximum(0, block_fp - block_fn).sum()),
    )


class _SeldAccumulator:
    """Accumulates class-wise counts over files; subclasses turn them into scores.

    Args:
        num_classes: number of sound classes; event class indices must lie in `[0, num_classes)`.
        doa_threshold: degrees; a block distance up to and including it is a TP.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, doa_threshold: float = DOA_THRESHOLD):
        self.num_classes = num_classes
        self.doa_threshold = doa_threshold
        self.reset()

    def reset(self) -> None:
        """Forget every file seen so far."""
        self._counts = _SeldCounts.zeros(self.num_classes)

    def update(self, reference: EventList, prediction: EventList, num_frames: int | None = None) -> None:
        """Add one file's counts.

        Args:
            reference: ground-truth events.
            prediction: system output.
            num_frames: clip length in label frames; default the lists' `num_frames`,
                else the last active frame of either list + 1. It sets the block
                count, `ceil(num_frames / 10)`.

        Raises:
            ValueError: a class index outside `[0, num_classes)` or a frame outside the clip.
        """
        self.update_many([(reference, prediction)], num_frames)

    def update_many(self, pairs: Iterable[tuple[EventList, EventList]], num_frames: int | None = None) -> None:
        """Add the counts of many files, `(reference, prediction)` each: the counts `update` adds file by file.

        Files are scored in batches of about `_BATCH_FRAMES` label frames,
        which for one-minute clips is several times faster than one by one;
        `pairs` is consumed lazily, so a generator that reads the files keeps
        only one batch in memory. Arguments and errors as in `update`, for
        each file.
        """
        batch, batch_frames = [], 0
        for reference, prediction in pairs:
            file_frames = _clip_frames(reference, prediction, num_frames)
            batch.append((reference, prediction, file_frames))
            batch_frames += file_frames
            if batch_frames >= _BATCH_FRAMES:
                self._counts.add(_counts(batch, self.num_classes, self.doa_threshold))
                batch, batch_frames = [], 0
        if batch:
            self._counts.add(_counts(batch, self.num_classes, self.doa_threshold))


class Dcase2020SeldMetric(_SeldAccumulator):
    """The official DCASE2020 SELD metric, accumulated over files (see the module docstring).

    Args:
        num_classes: number of sound classes; event class indices must lie in `[0, num_classes)`.
        doa_threshold: degrees; a block distance up to and including it is a TP.

    Example:
        >>> metric = Dcase2020SeldMetric()
        >>> ref = EventList.from_rows([(0, 3, 0, 10.0, 0.0)], num_frames=600)
        >>> metric.update(ref, ref)
        >>> {name: round(value, 4) for name, value in metric.result().to_dict().items()}
        {'ER': 0.0, 'F': 1.0, 'LE': 0.0, 'LR': 1.0, 'SELD': 0.0}

        (LE can be about 1e-6, not 0: `arccos` of a cosine rounded just below 1,
        as in the official code.)
    """

    def result(self) -> SeldScores:
        """Scores of all files seen since the last `reset`, from their pooled counts."""
        return self._counts.scores()


class Dcase2021SeldMetric(_SeldAccumulator):
    """A DCASE2021-style, class-wise macro-averaged variant of the SELD metric. Not the 2020 default.

    Args:
        num_classes: number of sound classes; event class indices must lie in `[0, num_classes)`.
        doa_threshold: degrees; a block distance up to and including it is a TP.

    What it keeps from 2020: the same per-block, per-class association (blocks
    of 10 frames, one count per class per block, summed Hungarian frame costs,
    `doa_threshold`), so the class-wise TP/FP/FN are those of
    `Dcase2020SeldMetric`. It does not reproduce the official 2021 tool's
    track-wise counting of same-class instances.

    What changes is the averaging. Each class `c` is scored on its own:
    substitutions do not exist within one class, so `ER_c = (FN_c + FP_c) / Nref_c`;
    `F_c`, `LE_c`, `LR_c` use the 2020 formulas on the class's counts. Then

    * ER, F and LR are averaged over the classes present in the reference
      (`Nref_c > 0`); a class never in the reference has no defined ER, so its
      false alarms are not scored;
    * LE is averaged over the classes with `de_tp_c > 0` (180 if none);
    * `SELD = mean(ER, 1 - F, LE / 180, 1 - LR)` of those macro averages.

    `result()` reports the macro scores with the pooled DCASE2020 counts;
    `class_scores()` gives each class's own scores and counts.
    """

    def class_scores(self) -> list[SeldScores]:
        """Scores of each class, in class-index order."""
        return [self._counts.scores(c) for c in range(self.num_classes)]

    def result(self) -> SeldScores:
        """Macro-averaged scores of all files seen since the last `reset`."""
        pooled = self._counts.scores()
        per_class = self.class_scores()
        in_reference = [s for s in per_class if s.nref > 0]
        if not in_reference:
            # Nothing to average over: the pooled conventions (ER 0 or inf, F = LR = 0, LE = 180).
            return pooled
        localized = [s for s in per_class if s.de_tp > 0]
        error_rate = float(np.mean([s.ER for s in in_reference]))
        f_score = float(np.mean([s.F for s in in_reference]))
        localization_recall = float(np.mean([s.LR for s in in_reference]))
        localization_error = float(np.mean([s.LE for s in localized])) if localized else 180.0
        return dataclasses.replace(
            pooled,
            ER=error_rate,
            F=f_score,
            LE=localization_error,
            LR=localization_recall,
            SELD=_seld_score(error_rate, f_score, localization_error, localization_recall),
        )


def compute_seld_scores(
    pairs: Iterable[tuple[EventList, EventList]],
    num_classes: int = NUM_CLASSES,
    doa_threshold: float = DOA_THRESHOLD,
) -> SeldScores:
    """DCASE2020 scores of `(reference, prediction)` pairs, one pair per file, counts pooled over files."""
    metric = Dcase2020SeldMetric(num_classes, doa_threshold)
    metric.update_many(pairs)
    return metric.result()


def _reference_loop_scores(
    pairs: Iterable[tuple[EventList, EventList]],
    num_classes: int = NUM_CLASSES,
    doa_threshold: float = DOA_THRESHOLD,
) -> SeldScores:
    """The DCASE2020 metric as plain loops over files, blocks, classes and frames.

    A readable transcription of the algorithm in the module docstring, kept as
    the specification that the tests check `Dcase2020SeldMetric` against and
    that `benchmarks/bench_seld_metrics.py` times it against. Too slow for
    scoring during training.
    """
    tp = fp = fn = substitutions = deletions = insertions = nref = nsys = de_tp = 0
    total_de = 0.0
    for reference, prediction in pairs:
        _check_classes(reference, prediction, num_classes)
        num_frames = _resolve_num_frames(reference, prediction, None)
        ref_directions: dict[tuple[int, int], list[tuple[float, float]]] = {}
        pred_directions: dict[tuple[int, int], list[tuple[float, float]]] = {}
        for directions, events in ((ref_directions, reference), (pred_directions, prediction)):
            for frame, cls, azimuth, elevation in zip(events.frame, events.cls, events.azimuth, events.elevation):
                directions.setdefault((int(frame), int(cls)), []).append((azimuth, elevation))

        for block_start in range(0, num_frames, BLOCK_FRAMES):
            block = range(block_start, block_start + BLOCK_FRAMES)
            block_fp = block_fn = 0
            for cls in range(num_classes):
                ref_frames = [f for f in block if (f, cls) in ref_directions]
                pred_frames = [f for f in block if (f, cls) in pred_directions]
                nref += bool(ref_frames)
                nsys += bool(pred_frames)
                if ref_frames and not pred_frames:
                    block_fn += 1
                elif pred_frames and not ref_frames:
                    block_fp += 1
                elif ref_frames and pred_frames:
                    common = [f for f in ref_frames if f in pred_frames]
                    if not common:
                        block_fn += 1
                        continue
                    cost_sum = 0.0
                    for f in common:
                        ref, pred = np.array(ref_directions[f, cls]), np.array(pred_directions[f, cls])
                        distances = _angle_between(ref[:, None, 0], ref[:, None, 1], pred[None, :, 0], pred[None, :, 1])
                        cost_sum += float(_min_pairing_costs(distances[None])[0])
                    distance = cost_sum / len(common)
                    total_de += distance
                    de_tp += 1
                    if distance <= doa_threshold:
                        tp += 1
                    else:
                        block_fn += 1
            fp += block_fp
            fn += block_fn
            substitutions += min(block_fp, block_fn)
            deletions += max(0, block_fn - block_fp)
            insertions += max(0, block_fp - block_fn)
    return _scores_from_counts(
        tp=tp,
        fp=fp,
        fn=fn,
        substitutions=substitutions,
        deletions=deletions,
        insertions=insertions,
        nref=nref,
        nsys=nsys,
        de_tp=de_tp,
        total_de=total_de,
    )
