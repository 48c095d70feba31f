"""Keras metrics that accumulate over batches, for `model.compile(metrics=...)`.

Each metric keeps counts in its state variables and computes the score from
them in `result()`, so the value after an epoch equals the numpy metric on
all the epoch's predictions concatenated (up to float32 rounding):

* `FrameF1`, `FrameErrorRate`: `seld_tf.metrics.frame` (Nada et al.'s frame-level
  F and ER, micro or macro) on SED outputs `[B, T, K]`;
* `SceneAccuracy`, `SceneMacroF1`: `seld_tf.metrics.scene` on scene outputs `[B, C]`;
* `ClipRocAuc`, `ClipAveragePrecision`: `seld_tf.metrics.tagging` on clip
  outputs `[B, K]`, from per-bin score histograms (see `_ScoreHistogram`);
* `Dcase2020SeldScore`: `seld_tf.metrics.seld.Dcase2020SeldMetric` on class-wise
  SELD outputs packed by `pack_classwise`.

`sample_weight` masks: a zero weight skips the frame (frame and SELD metrics)
or clip (scene and clip metrics); any non-zero weight counts it once, since
the numpy metrics count, they do not weight.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from seld_tf.metrics.seld import BLOCK_FRAMES, DOA_THRESHOLD, NUM_CLASSES

_SELD_SCORES = ("ER", "F", "LE", "LR", "SELD")


def _keep_mask(sample_weight, like):
    """Bool mask of `like`'s shape: true everywhere, or where the broadcast weight is non-zero.

    The weight may lack trailing axes (`[B]` for `[B, T]`) or have one extra of size 1 (`[B, T, 1]`).
    """
    if sample_weight is None:
        return ops.ones_like(like, dtype="bool")
    weight = ops.convert_to_tensor(sample_weight)
    if len(weight.shape) > len(like.shape):
        weight = ops.squeeze(weight, axis=-1)
    while len(weight.shape) < len(like.shape):
        weight = ops.expand_dims(weight, -1)
    return ops.broadcast_to(ops.not_equal(weight, 0), ops.shape(like))


def _divide(numerator, denominator):
    """Elementwise ratio, 0 where the denominator is 0."""
    safe = ops.where(ops.equal(denominator, 0), ops.ones_like(denominator), denominator)
    return ops.where(ops.equal(denominator, 0), ops.zeros_like(numerator), numerator / safe)


def _rate(errors, nref):
    """Error rate with the package's conventions: 0 without reference or errors, inf with errors only."""
    no_reference = ops.where(ops.greater(errors, 0), math.inf, 0.0)
    return ops.where(ops.greater(nref, 0), _divide(errors, nref), no_reference)


def _masked_mean(values, keep, empty):
    """Mean of `values` where `keep`; `empty` when nothing is kept."""
    count = ops.sum(ops.cast(keep, values.dtype))
    total = ops.sum(ops.where(keep, values, ops.zeros_like(values)))
    return ops.where(ops.greater(count, 0), total / ops.maximum(count, 1.0), empty)


def _check_average(average):
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro', not {average!r}")


class _FrameCounts(keras.metrics.Metric):
    """Class-wise TP/FP/FN and frame-level S/D/I of SED outputs `[..., T, K]`.

    A reference cell is active where `y_true > 0.5`, a predicted one where
    `y_pred >= threshold` (the paper's `sigmoid >= 0.5`). `sample_weight`
    `[B]`, `[B, T]` or `[B, T, 1]`: frames with weight 0 are skipped.
    """

    def __init__(self, num_classes, average="micro", threshold=0.5, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        _check_average(average)
        self.num_classes = int(num_classes)
        self.average = average
        self.threshold = float(threshold)
        counts = dict(shape=(self.num_classes,), initializer="zeros", dtype="int64")
        self.tp = self.add_variable(name="tp", **counts)
        self.fp = self.add_variable(name="fp", **counts)
        self.fn = self.add_variable(name="fn", **counts)
        # [S, D, I] over all frames
        self.sdi = self.add_variable(name="sdi", shape=(3,), initializer="zeros", dtype="int64")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        keep = _keep_mask(sample_weight, y_pred[..., 0])[..., None]
        reference = ops.reshape(ops.logical_and(ops.greater(y_true, 0.5), keep), (-1, self.num_classes))
        prediction = ops.reshape(ops.logical_and(ops.greater_equal(y_pred, self.threshold), keep), (-1, self.num_classes))
        reference, prediction = ops.cast(reference, "int64"), ops.cast(prediction, "int64")
        hit = reference * prediction
        self.tp.assign_add(ops.sum(hit, axis=0))
        self.fp.assign_add(ops.sum(prediction - hit, axis=0))
        self.fn.assign_add(ops.sum(reference - hit, axis=0))
        nref, nsys, ntp = ops.sum(reference, axis=1), ops.sum(prediction, axis=1), ops.sum(hit, axis=1)
        self.sdi.assign_add(
            ops.stack(
                [
                    ops.sum(ops.minimum(nref, nsys) - ntp),
                    ops.sum(ops.maximum(nref - nsys, 0)),
                    ops.sum(ops.maximum(nsys - nref, 0)),
                ]
            )
        )

    def _float_counts(self):
        return [ops.cast(v, "float32") for v in (self.tp, self.fp, self.fn, self.sdi)]

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "average": self.average,
            "threshold": self.threshold,
        }


@keras.saving.register_keras_serializable(package="seld_tf")
class FrameF1(_FrameCounts):
    """Frame-level F1 (`seld_tf.metrics.frame`): micro over all cells, or macro over ALL classes.

    Args:
        num_classes: `K`, the SED output's last axis.
        average: "micro" (pooled `2TP / (2TP + FP + FN)`) or "macro" (unweighted mean of the class F,
            0 for a class never detected).
        threshold: a predicted cell is active where the probability is at least this.

    Example (not run): `model.compile(loss="binary_crossentropy", metrics=[FrameF1(25, "macro", name="f1_macro")])`.
    """

    def result(self):
        tp, fp, fn, _ = self._float_counts()
        if self.average == "micro":
            return _divide(2.0 * ops.sum(tp), 2.0 * ops.sum(tp) + ops.sum(fp) + ops.sum(fn))
        return ops.mean(_divide(2.0 * tp, 2.0 * tp + fp + fn))


@keras.saving.register_keras_serializable(package="seld_tf")
class FrameErrorRate(_FrameCounts):
    """Frame-level error rate (`seld_tf.metrics.frame`).

    "micro": `sum(S + D + I) / sum(Nref)`; "macro": mean of `(FP_c + FN_c) / Nref_c` over the
    classes with reference frames. Arguments as `FrameF1`.
    """

    def result(self):
        tp, fp, fn, sdi = self._float_counts()
        pooled = _rate(ops.sum(sdi), ops.sum(tp + fn))
        if self.average == "micro":
            return pooled
        nref = tp + fn
        return _masked_mean(_divide(fp + fn, nref), ops.greater(nref, 0), pooled)


class _SceneConfusion(keras.metrics.Metric):
    """Confusion matrix `[C, C]` (rows: reference) over clips.

    `y_pred` `[B, C]` scores (argmax); `y_true` one-hot `[B, C]` or indices
    `[B]` / `[B, 1]`. Clips with `sample_weight` 0 are skipped.
    """

    def __init__(self, num_classes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = int(num_classes)
        self.confusion = self.add_variable(
            name="confusion", shape=(self.num_classes, self.num_classes), initializer="zeros", dtype="int64"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        prediction = ops.cast(ops.argmax(y_pred, axis=-1), "int64")
        one_hot = len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == self.num_classes
        reference = ops.argmax(y_true, axis=-1) if one_hot else ops.reshape(ops.cast(y_true, "int64"), (-1,))
        keep = ops.cast(_keep_mask(sample_weight, prediction), "int64")
        cell = ops.one_hot(ops.cast(reference, "int64") * self.num_classes + prediction, self.num_classes**2, dtype="int64")
        counts = ops.sum(cell * keep[:, None], axis=0)
        self.confusion.assign_add(ops.reshape(counts, (self.num_classes, self.num_classes)))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="seld_tf")
class SceneAccuracy(_SceneConfusion):
    """Scene accuracy over clips (the paper's scene micro-F). Args: `num_classes` (`C`)."""

    def result(self):
        confusion = ops.cast(self.confusion, "float32")
        return _divide(ops.trace(confusion), ops.sum(confusion))


@keras.saving.register_keras_serializable(package="seld_tf")
class SceneMacroF1(_SceneConfusion):
    """Scene macro-F1 over ALL scenes, 0 for a scene never predicted (`seld_tf.metrics.scene`)."""

    def result(self):
        confusion = ops.cast(self.confusion, "float32")
        tp = ops.diagonal(confusion)
        return ops.mean(_divide(2.0 * tp, ops.sum(confusion, axis=0) + ops.sum(confusion, axis=1)))


class _ScoreHistogram(keras.metrics.Metric):
    """Per class, counts of positive and negative clips in `num_thresholds` score bins.

    A score `p` in [0, 1] falls in bin `floor(p * (num_thresholds - 1))` (clipped),
    i.e. it is rounded down to the grid `j / (num_thresholds - 1)`. The scores
    computed from the histograms are scikit-learn's on the rounded scores,
    exactly: the rounding is the only approximation (see `seld_tf.metrics.tagging`
    for the values and the handling of classes without positives).
    """

    def __init__(self, num_classes, average="macro", num_thresholds=200, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        _check_average(average)
        self.num_classes = int(num_classes)
        self.average = average
        self.num_thresholds = int(num_thresholds)
        if self.num_thresholds < 2:
            raise ValueError(f"num_thresholds must be at least 2, not {num_thresholds}")
        shape = (self.num_classes, self.num_thresholds)
        self.positives = self.add_variable(name="positives", shape=shape, initializer="zeros", dtype="float32")
        self.negatives = self.add_variable(name="negatives", shape=shape, initializer="zeros", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred, dtype="float32")
        scaled = ops.floor(y_pred * float(self.num_thresholds - 1))
        bins = ops.cast(ops.clip(scaled, 0, self.num_thresholds - 1), "int32")
        keep = ops.cast(_keep_mask(sample_weight, y_pred[:, 0]), "float32")[:, None, None]
        cells = ops.one_hot(bins, self.num_thresholds, dtype="float32") * keep  # [B, K, bins]
        positive = ops.cast(ops.greater(y_true, 0.5), "float32")[..., None]
        self.positives.assign_add(ops.sum(cells * positive, axis=0))
        self.negatives.assign_add(ops.sum(cells * (1.0 - positive), axis=0))

    def _histograms(self):
        """`[rows, bins]` histograms: one row per class, or one pooled row for "micro"."""
        if self.average == "micro":
            return ops.sum(self.positives, axis=0, keepdims=True), ops.sum(self.negatives, axis=0, keepdims=True)
        return self.positives, self.negatives

    def _average(self, values, defined):
        return _masked_mean(values, defined, math.nan)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "average": self.average,
            "num_thresholds": self.num_thresholds,
        }


def _above(histogram):
    """Per row and bin, the count in the bins strictly above it."""
    return ops.flip(ops.cumsum(ops.flip(histogram, axis=-1), axis=-1), axis=-1) - histogram


@keras.saving.register_keras_serializable(package="seld_tf")
class ClipRocAuc(_ScoreHistogram):
    """Clip-level ROC AUC from score histograms: scikit-learn's `roc_auc_score` on rounded scores.

    Args:
        num_classes: `K`, the clip output's last axis.
        average: "macro" (the paper's AUC; over the classes with positives and negatives) or "micro".
        num_thresholds: score bins; more bins, closer to the unrounded value.

    Ties count one half (the trapezoidal ROC), as in scikit-learn.
    """

    def result(self):
        positives, negatives = self._histograms()
        pairs = ops.sum(positives, axis=-1) * ops.sum(negatives, axis=-1)
        wins = ops.sum(negatives * (_above(positives) + 0.5 * positives), axis=-1)
        return self._average(_divide(wins, pairs), ops.greater(pairs, 0))


@keras.saving.register_keras_serializable(package="seld_tf")
class ClipAveragePrecision(_ScoreHistogram):
    """Clip-level average precision from score histograms: `average_precision_score` on rounded scores.

    Args:
        num_classes: `K`, the clip output's last axis.
        average: "micro" (the paper's primary "micro-P") or "macro" (over the classes with positives).
        num_thresholds: score bins.

    Keras's `AUC(curve="PR")` is not this: it interpolates the PR curve
    (Davis and Goadrich) where average precision takes steps.
    """

    def result(self):
        positives, negatives = self._histograms()
        true_at = _above(positives) + positives  # scores at or above each bin
        false_at = _above(negatives) + negatives
        precision = _divide(true_at, true_at + false_at)
        total = ops.sum(positives, axis=-1)
        values = _divide(ops.sum(positives * precision, axis=-1), total)
        return self._average(values, ops.greater(total, 0))


def pack_classwise(sed, doa):
    """Class-wise SELD outputs or targets in the one tensor `Dcase2020SeldScore` reads.

    A Keras metric sees one output, and the SELD score needs activity and
    direction together: `sed` `[..., T, K]` and `doa` `[..., T, K, 3]` become
    `[..., T, K, 4]`, channel 0 the activity (or probability), 1-3 the DOA
    vector. Works on numpy arrays and on symbolic tensors (as a model output).
    """
    return ops.concatenate([ops.expand_dims(ops.convert_to_tensor(sed), -1), ops.convert_to_tensor(doa)], axis=-1)


@keras.saving.register_keras_serializable(package="seld_tf")
class Dcase2020SeldScore(keras.metrics.Metric):
    """The DCASE2020 SELD scores of class-wise outputs, accumulated over batches.

    Equal to `Dcase2020SeldMetric` updated clip by clip with
    `classwise_to_events(activity, doa, threshold)` of each clip's prediction
    and reference: one direction per class and frame leaves at most one
    instance per class on each side, so the official Hungarian pairing reduces
    to that pair's angle, and every count of `seld_tf.metrics.seld` is a sum
    over 1 s blocks of `block_frames` label frames (a clip's last block may be
    partial, as there). Each clip of a batch is one file.

    Args:
        num_classes: `K`.
        score: which of "ER", "F", "LE", "LR", "SELD" `result()` returns; `scores()` gives all five.
        threshold: a predicted class is active where its probability exceeds this
            (the reference: where its activity exceeds 0.5).
        doa_threshold: degrees; a block distance up to and including it is a TP.
        block_frames: label frames per scoring block.

    Inputs `y_true`, `y_pred`: `pack_classwise(sed, doa)`, `[B, T, K, 4]`. A
    predicted DOA of length 0 points to the front (azimuth 0, elevation 0), as
    the decoder reads it. `sample_weight` `[B]` or `[B, T]`: frames with
    weight 0 count as inactive on both sides.
    """

    def __init__(
        self,
        num_classes=NUM_CLASSES,
        score="SELD",
        threshold=0.5,
        doa_threshold=DOA_THRESHOLD,
        block_frames=BLOCK_FRAMES,
        name=None,
        dtype=None,
    ):
        if score not in _SELD_SCORES:
            raise ValueError(f"score must be one of {_SELD_SCORES}, not {score!r}")
        super().__init__(name=name or ("seld" if score == "SELD" else f"seld_{score.lower()}"), dtype=dtype)
        self.num_classes = int(num_classes)
        self.score = score
        self.threshold = float(threshold)
        self.doa_threshold = float(doa_threshold)
        self.block_frames = int(block_frames)
        # [TP, FP, FN, S, D, I, Nref, Nsys, de_tp] class-blocks, then total_de in degrees
        self.counts = self.add_variable(name="counts", shape=(9,), initializer="zeros", dtype="int64")
        self.total_de = self.add_variable(name="total_de", shape=(), initializer="zeros", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        frames, classes = y_pred.shape[1], self.num_classes
        keep = _keep_mask(sample_weight, y_pred[..., 0, 0])[..., None]
        reference = ops.logical_and(ops.greater(y_true[..., 0], 0.5), keep)
        prediction = ops.logical_and(ops.greater(y_pred[..., 0], self.threshold), keep)
        cost = _angle_degrees(y_true[..., 1:], y_pred[..., 1:])
        common = ops.logical_and(reference, prediction)
        pad = -frames % self.block_frames
        num_blocks = (frames + pad) // self.block_frames

        def per_block(values, dtype):
            values = ops.pad(ops.cast(values, dtype), [(0, 0), (0, pad), (0, 0)])
            return ops.sum(ops.reshape(values, (-1, num_blocks, self.block_frames, classes)), axis=2)

        ref_present = ops.greater(per_block(reference, "int32"), 0)
        pred_present = ops.greater(per_block(prediction, "int32"), 0)
        num_common = per_block(common, "float32")
        cost_sum = per_block(ops.where(common, cost, ops.zeros_like(cost)), "float32")
        located = ops.greater(num_common, 0)
        distance = _divide(cost_sum, num_common)
        true_positive = ops.logical_and(located, ops.less_equal(distance, self.doa_threshold))
        false_negative = ops.logical_and(ref_present, ops.logical_not(true_positive))
        false_positive = ops.logical_and(pred_present, ops.logical_not(ref_present))

        def count(values, axis=None):
            return ops.sum(ops.cast(values, "int64"), axis=axis)

        block_fn, block_fp = count(false_negative, -1), count(false_positive, -1)
        self.counts.assign_add(
            ops.stack(
                [
                    count(true_positive),
                    ops.sum(block_fp),
                    ops.sum(block_fn),
                    ops.sum(ops.minimum(block_fn, block_fp)),
                    ops.sum(ops.maximum(block_fn - block_fp, 0)),
                    ops.sum(ops.maximum(block_fp - block_fn, 0)),
                    count(ref_present),
                    count(pred_present),
                    count(located),
                ]
            )
        )
        self.total_de.assign_add(ops.sum(ops.where(located, distance, ops.zeros_like(distance))))

    def scores(self):
        """The five scores as a dict of scalars, keyed as `SeldScores.to_dict()`."""
        tp, fp, fn, s, d, i, nref, nsys, de_tp = ops.unstack(ops.cast(self.counts, "float32"))

        def f_measure(hits):
            return _divide(2.0 * hits, nsys + nref)  # = 2PR / (P + R), 0 without hits

        error_rate = _rate(s + d + i, nref)
        f_score = f_measure(tp)
        localization_error = ops.where(ops.greater(de_tp, 0), _divide(self.total_de, de_tp), 180.0)
        localization_recall = f_measure(de_tp)
        seld = (error_rate + (1.0 - f_score) + localization_error / 180.0 + (1.0 - localization_recall)) / 4.0
        return dict(zip(_SELD_SCORES, (error_rate, f_score, localization_error, localization_recall, seld)))

    def result(self):
        return self.scores()[self.score]

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "score": self.score,
            "threshold": self.threshold,
            "doa_threshold": self.doa_threshold,
            "block_frames": self.block_frames,
        }


def _angle_degrees(reference, prediction):
    """Angle in degrees between vectors `[..., 3]` (a zero predicted vector points to +x).

    `atan2(|a x b|, a . b)` rather than `arccos`: in float32, `arccos` of a
    cosine rounded to 1 loses about 0.03 degrees near 0.
    """
    front = ops.convert_to_tensor([1.0, 0.0, 0.0], dtype=prediction.dtype)
    length = ops.sqrt(ops.sum(ops.square(prediction), axis=-1, keepdims=True))
    prediction = ops.where(ops.greater(length, 0), prediction, front)
    cross = ops.cross(reference, prediction)
    sine = ops.sqrt(ops.sum(ops.square(cross), axis=-1))
    cosine = ops.sum(reference * prediction, axis=-1)
    return ops.arctan2(sine, cosine) * (180.0 / math.pi)
