"""Scene classification scores of Nada et al. (2022), in numpy (spec nada2022.md §4).

One prediction per clip (argmax of the scene output), a confusion matrix over
clips (rows: reference, columns: prediction). Micro-F is the trace over the
total, i.e. accuracy. Macro-F is the mean over ALL scenes of `2PR / (P + R)`,
recall = diagonal / row sum, precision = diagonal / column sum; the paper's
evaluator adds 1e-10 to those denominators, so a scene never predicted or
never present scores 0 and still counts. Here `F_c = 2TP_c / (2TP_c + FP_c + FN_c)`
(the same value when `TP_c > 0`) and 0 when `TP_c = 0`: scikit-learn's
`f1_score(average="macro", labels=range(C), zero_division=0)`.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SceneScores:
    """`accuracy` (= micro-F), `macro_f`, `class_f` `[C]` and the `confusion` matrix `[C, C]` (int)."""

    accuracy: float
    macro_f: float
    class_f: np.ndarray
    confusion: np.ndarray


def scene_labels(values, num_classes: int | None = None) -> np.ndarray:
    """Class indices `[N]` from indices `[N]` or one-hot / probabilities `[N, C]` (argmax)."""
    values = np.asarray(values)
    if values.ndim == 2:
        if num_classes is not None and values.shape[1] != num_classes:
            raise ValueError(f"expected {num_classes} scene columns, found {values.shape[1]}")
        return values.argmax(axis=1)
    if values.ndim != 1:
        raise ValueError(f"expected scene labels [N] or scores [N, C], found shape {values.shape}")
    return values.astype(np.int64)


def scene_confusion(reference, prediction, num_classes: int | None = None) -> np.ndarray:
    """Confusion matrix `[C, C]`, rows = reference scene, columns = predicted scene.

    Args:
        reference, prediction: indices `[N]` or one-hot / probabilities `[N, C]`, each.
        num_classes: `C`; default the score width, else the largest index + 1.
    """
    if num_classes is None:
        widths = [np.shape(v)[1] for v in (reference, prediction) if np.ndim(v) == 2]
        num_classes = widths[0] if widths else None
    reference = scene_labels(reference, num_classes)
    prediction = scene_labels(prediction, num_classes)
    if reference.shape != prediction.shape:
        raise ValueError(f"{len(reference)} reference clips but {len(prediction)} predictions")
    if num_classes is None:
        num_classes = int(max(reference.max(initial=-1), prediction.max(initial=-1))) + 1
    return np.bincount(reference * num_classes + prediction, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores_from_confusion(confusion) -> SceneScores:
    confusion = np.asarray(confusion)
    tp = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # 2TP + FP + FN
    class_f = np.divide(2.0 * tp, denominator, out=np.zeros_like(tp), where=tp > 0)
    total = confusion.sum()
    return SceneScores(
        accuracy=float(tp.sum() / total) if total else 0.0,
        macro_f=float(class_f.mean()),
        class_f=class_f,
        confusion=confusion,
    )


def scene_scores(reference, prediction, num_classes: int | None = None) -> SceneScores:
    """Accuracy and macro-F1 over clips (arguments as `scene_confusion`).

    Example:
        >>> s = scene_scores([0, 0, 1, 2], [0, 1, 1, 1], num_classes=4)
        >>> round(s.accuracy, 4), round(s.macro_f, 4)
        (0.5, 0.2917)
    """
    return scores_from_confusion(scene_confusion(reference, prediction, num_classes))
