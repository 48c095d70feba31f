"""Clip-level tagging scores of Iqbal et al. (2APAE), via scikit-learn (spec apae.md §4).

* AUC = `roc_auc_score(y, p)`, macro average over classes;
* "micro-P" / "macro-P" of the paper = `average_precision_score(y, p, average="micro" / "macro")`,
  threshold-free average precision (micro-AP is the paper's primary metric);
* per-class AP tables (Tables VI-VIII) = `average=None`.

Classes without positives (or, for AUC, without negatives) in the reference,
which the spec leaves open: scikit-learn's AUC is undefined there (NaN, so
its macro AUC becomes NaN) and its AP is 0 (so its macro AP is dragged down by
a class that could not be scored). Here such a class is NaN in the per-class
tables and left out of the macro averages, which average over the scoreable
classes; NaN when no class is. Micro AP pools all cells and needs no rule.
On the paper's data every class has positives in every fold, and then these
are exactly scikit-learn's values.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def _check(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(f"expected y_true and y_score of one shape [clips, classes], found {y_true.shape} and {y_score.shape}")
    return (y_true > 0).astype(np.int64), y_score


def class_auc(y_true, y_score) -> np.ndarray:
    """ROC AUC per class `[K]`, NaN for a class whose reference is all 0 or all 1."""
    y_true, y_score = _check(y_true, y_score)
    positives = y_true.sum(axis=0)
    out = np.full(y_true.shape[1], np.nan)
    for c in np.flatnonzero((positives > 0) & (positives < len(y_true))):
        out[c] = roc_auc_score(y_true[:, c], y_score[:, c])
    return out


def class_ap(y_true, y_score) -> np.ndarray:
    """Average precision per class `[K]` (the paper's per-class tables), NaN for a class with no positive."""
    y_true, y_score = _check(y_true, y_score)
    out = np.full(y_true.shape[1], np.nan)
    for c in np.flatnonzero(y_true.sum(axis=0) > 0):
        out[c] = average_precision_score(y_true[:, c], y_score[:, c])
    return out


def _nanmean(values: np.ndarray) -> float:
    return float(values[~np.isnan(values)].mean()) if np.any(~np.isnan(values)) else float("nan")


def auc_macro(y_true, y_score) -> float:
    """Macro ROC AUC over the classes with both positives and negatives."""
    return _nanmean(class_auc(y_true, y_score))


def ap_macro(y_true, y_score) -> float:
    """Macro average precision ("macro-P" in the paper) over the classes with positives."""
    return _nanmean(class_ap(y_true, y_score))


def ap_micro(y_true, y_score) -> float:
    """Micro average precision ("micro-P", the paper's primary metric): every clip x class cell pooled."""
    y_true, y_score = _check(y_true, y_score)
    if not y_true.any():
        return float("nan")
    return float(average_precision_score(y_true.ravel(), y_score.ravel()))


def ap_table(y_true, y_score, class_names) -> list[tuple[str, float]]:
    """`(class name, AP)` rows in class order, as the per-class tables list them."""
    values = class_ap(y_true, y_score)
    if len(class_names) != len(values):
        raise ValueError(f"{len(class_names)} class names for {len(values)} classes")
    return [(str(name), float(value)) for name, value in zip(class_names, values)]
