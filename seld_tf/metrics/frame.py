"""Frame-level SED scores of Nada et al. (2022), in numpy (spec nada2022.md §4).

The paper's evaluator (`sed_util/evaluator.py`) concatenates all test clips
into one binary `[frames, classes]` matrix and pools counts over it:

* micro F = `2TP / (2TP + FP + FN)` over all frame x class cells;
* macro F = unweighted mean over ALL classes of `F_c = 2TP_c / (2TP_c + FP_c + FN_c)`.
  A class never detected has `F_c = 0` and still counts (unlike sed_eval,
  which drops it);
* ER = `sum(S + D + I) / sum(Nref)` with, per frame, `S = min(Nref, Nsys) - TP`,
  `D = max(0, Nref - Nsys)`, `I = max(0, Nsys - Nref)`; class-wise
  `ER_c = (FP_c + FN_c) / Nref_c`. The paper reports no ER.

The evaluator adds 1e-10 to F denominators; here a zero denominator gives 0
instead, which is the evaluator's value there and otherwise differs from it by
less than `1e-10 / denominator` (so the F-scores equal scikit-learn's
`f1_score(..., zero_division=0)` exactly). ER with `Nref = 0` is 0 without
errors and `inf` with insertions (as `seld_tf.metrics.seld`). Macro ER is the
mean of `ER_c` over the classes with `Nref_c > 0`: a class with no reference
frame has no defined rate (with no reference at all, macro ER = ER).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class FrameCounts:
    """Counts pooled over scored frames: class-wise `[K]` arrays and frame-level S, D, I.

    Substitutions pair a missed class with a false alarm of another class in the
    same frame, so they exist only as totals over classes.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    substitutions: int
    deletions: int
    insertions: int

    @property
    def nref(self) -> np.ndarray:
        return self.tp + self.fn

    @property
    def nsys(self) -> np.ndarray:
        return self.tp + self.fp


@dataclasses.dataclass(frozen=True)
class FrameScores:
    """Frame-level scores; `class_f` and `class_er` are `[K]` (`class_er` NaN where `Nref_c = 0`)."""

    micro_f: float
    macro_f: float
    error_rate: float
    macro_error_rate: float
    class_f: np.ndarray
    class_er: np.ndarray


def _as_rolls(reference, prediction, mask) -> tuple[np.ndarray, np.ndarray]:
    """Binary `[N, K]` rolls of the scored frames; `mask` `[...]` (the rolls' leading shape) keeps frames."""
    reference = np.asarray(reference) > 0
    prediction = np.asarray(prediction) > 0
    if reference.shape != prediction.shape or reference.ndim < 2:
        raise ValueError(f"expected reference and prediction of one shape [..., T, K], found {reference.shape} and {prediction.shape}")
    num_classes = reference.shape[-1]
    reference = reference.reshape(-1, num_classes)
    prediction = prediction.reshape(-1, num_classes)
    if mask is not None:
        keep = np.asarray(mask).reshape(-1).astype(bool)
        if keep.size != reference.shape[0]:
            raise ValueError(f"mask of {keep.size} elements does not match the rolls' {reference.shape[0]} frames")
        reference, prediction = reference[keep], prediction[keep]
    return reference, prediction


def frame_counts(reference, prediction, mask=None) -> FrameCounts:
    """Counts of binary rolls `[T, K]` or `[B, T, K]` (any leading shape).

    Args:
        reference, prediction: activity rolls of one shape; a cell is active where > 0.
        mask: optional, the rolls' shape without the class axis; frames where it
            is false (padding) are skipped.
    """
    reference, prediction = _as_rolls(reference, prediction, mask)
    hit = reference & prediction
    nref_frame = reference.sum(axis=1)
    nsys_frame = prediction.sum(axis=1)
    tp_frame = hit.sum(axis=1)
    return FrameCounts(
        tp=hit.sum(axis=0).astype(np.int64),
        fp=(prediction & ~reference).sum(axis=0).astype(np.int64),
        fn=(reference & ~prediction).sum(axis=0).astype(np.int64),
        substitutions=int((np.minimum(nref_frame, nsys_frame) - tp_frame).sum()),
        deletions=int(np.maximum(0, nref_frame - nsys_frame).sum()),
        insertions=int(np.maximum(0, nsys_frame - nref_frame).sum()),
    )


def _f_score(tp, fp, fn):
    """`2TP / (2TP + FP + FN)`, 0 where the denominator is 0 (elementwise)."""
    tp, denominator = 2.0 * np.asarray(tp, dtype=np.float64), 2.0 * np.asarray(tp) + np.asarray(fp) + np.asarray(fn)
    return np.divide(tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def scores_from_counts(counts: FrameCounts) -> FrameScores:
    """The §4 formulas on pooled counts (zero-denominator conventions in the module docstring)."""
    errors = counts.substitutions + counts.deletions + counts.insertions
    nref_total = int(counts.nref.sum())
    error_rate = errors / nref_total if nref_total else (math.inf if errors else 0.0)
    nref = counts.nref
    class_er = np.full(nref.shape, np.nan)
    np.divide(counts.fp + counts.fn, nref, out=class_er, where=nref > 0)
    class_f = _f_score(counts.tp, counts.fp, counts.fn)
    return FrameScores(
        micro_f=float(_f_score(counts.tp.sum(), counts.fp.sum(), counts.fn.sum())),
        macro_f=float(class_f.mean()),
        error_rate=float(error_rate),
        macro_error_rate=float(class_er[nref > 0].mean()) if nref_total else float(error_rate),
        class_f=class_f,
        class_er=class_er,
    )


def frame_scores(reference, prediction, mask=None) -> FrameScores:
    """Frame-level micro/macro F and ER of binary rolls (arguments as `frame_counts`).

    Threshold probabilities first (the paper: `sigmoid >= 0.5`).

    Example:
        >>> ref = np.array([[1, 0, 0], [1, 1, 0]])
        >>> sys = np.array([[1, 0, 0], [0, 1, 0]])
        >>> s = frame_scores(ref, sys)
        >>> round(s.micro_f, 4), round(s.macro_f, 4)
        (0.8, 0.5556)
    """
    return scores_from_counts(frame_counts(reference, prediction, mask))
