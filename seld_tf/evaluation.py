"""Evaluation: decode model outputs to event lists, write the official output
files, and score them (`score_folders`, re-exported from `seld_tf.metrics.scoring`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, write_output
from seld_tf.datasets.events import EventList, angular_distance, cartesian_to_polar
from seld_tf.datasets.seld_labels import classwise_to_events, trackwise_to_events
from seld_tf.errors import ConfigError
from seld_tf.metrics import Dcase2020SeldMetric, SeldScores
from seld_tf.metrics.scoring import score_folders  # noqa: F401 (kept importable from here)
from seld_tf.pipeline import SeldClip, predict_clips

LABEL_FORMS = ("classwise", "trackwise")
# The task whose predictions `decode_with_oracle` replaces by the reference; None: neither.
ORACLES = (None, "sed", "doa")


def decode_outputs(outputs: Mapping[str, np.ndarray], label_form: str, threshold: float = 0.5) -> EventList:
    """Event list of one clip's outputs `{"sed": ..., "doa": ...}` (no batch axis)."""
    if label_form == "classwise":
        return classwise_to_events(outputs["sed"], outputs["doa"], threshold)
    if label_form == "trackwise":
        return trackwise_to_events(outputs["sed"], outputs["doa"], threshold)
    raise ConfigError(f"expected label form in {LABEL_FORMS}, found {label_form!r}")


def decode_with_oracle(
    outputs: Mapping[str, np.ndarray],
    reference: EventList | None,
    label_form: str,
    oracle: str | None,
    threshold: float = 0.5,
) -> EventList:
    """Event list of one clip's outputs with one task's predictions replaced by the reference.

    This scores one task alone, as Table 2 of Cao et al. (2021) does: "When
    testing SED alone, DoA predictions are set to be ground truth. A similar
    setup applies for DoA estimation."

    - `oracle=None`: `decode_outputs` (`reference` unused).
    - `oracle="doa"` (scores SED): the decoded events keep their frame, class
      and track, and each takes the direction of a reference event of its
      (frame, class) cell, distinct ones in track order while the cell has
      enough. An event whose cell has no reference event (a false positive)
      keeps its own direction, which no DCASE2020 score uses.
    - `oracle="sed"` (scores DOA): the events are the reference's (frame,
      class, track), each with a direction read from the model's DOA output,
      whose SED output is not used. Class-wise: the class's vector
      `doa[t, k]`. Trackwise: the frame's reference events are paired with
      the output tracks by the least total angular distance, each track
      taking at most one event while there are no more events than tracks.
      The pairing is permutation-invariant, like the metric (which pairs
      same-class events by least distance) and PIT: any track order a model
      learned scores the same.

    Raises:
        ConfigError: unknown `oracle` or `label_form`, or an oracle without a reference.
    """
    if oracle not in ORACLES:
        raise ConfigError(f"expected evaluation.oracle in {list(ORACLES)}, found {oracle!r}")
    if oracle is not None and reference is None:
        raise ConfigError(f"evaluation.oracle {oracle!r} needs the reference events (a labelled split)")
    if oracle == "sed":
        if label_form not in LABEL_FORMS:
            raise ConfigError(f"expected label form in {LABEL_FORMS}, found {label_form!r}")
        return _reference_with_predicted_directions(reference, np.asarray(outputs["doa"]), label_form)
    decoded = decode_outputs(outputs, label_form, threshold)
    return decoded if oracle is None else _with_reference_directions(decoded, reference)


def _with_reference_directions(events: EventList, reference: EventList) -> EventList:
    """`events` with each row's direction replaced by one of a reference row of its (frame, class) cell."""
    directions: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for frame, cls, _, azimuth, elevation in reference.sorted().rows():
        directions.setdefault((frame, cls), []).append((azimuth, elevation))
    azimuth, elevation = events.azimuth.copy(), events.elevation.copy()
    used: dict[tuple[int, int], int] = {}
    for row, cell in enumerate(zip(events.frame.tolist(), events.cls.tolist())):
        if cell in directions:
            # Cycling gives distinct directions to the cell's events while the reference has enough.
            rank = used.get(cell, 0)
            azimuth[row], elevation[row] = directions[cell][rank % len(directions[cell])]
            used[cell] = rank + 1
    return EventList(events.frame, events.cls, events.track, azimuth, elevation, events.num_frames)


def _reference_with_predicted_directions(reference: EventList, doa: np.ndarray, label_form: str) -> EventList:
    """The reference rows, each with a direction from the DOA output `[T, K, 3]` or `[T, M, 3]`."""
    if len(reference) and reference.frame.max() >= len(doa):
        raise ValueError(f"reference frame {reference.frame.max()} is past the {len(doa)} output frames")
    if label_form == "classwise":
        azimuth, elevation = cartesian_to_polar(doa[reference.frame, reference.cls])
        return EventList(reference.frame, reference.cls, reference.track, azimuth, elevation, reference.num_frames)
    track_azimuth, track_elevation = cartesian_to_polar(doa)  # [T, M]
    num_tracks = doa.shape[1]
    track = np.zeros(len(reference), dtype=np.int64)
    for frame in np.unique(reference.frame):
        rows = np.flatnonzero(reference.frame == frame)
        cost = angular_distance(
            reference.azimuth[rows, None], reference.elevation[rows, None], track_azimuth[frame], track_elevation[frame]
        )
        # Tracks repeated once per M events: exclusive pairing up to M events, shared beyond.
        copies = -(-len(rows) // num_tracks)
        paired_rows, columns = linear_sum_assignment(np.tile(cost, (1, copies)))
        track[rows[paired_rows]] = columns % num_tracks
    azimuth, elevation = track_azimuth[reference.frame, track], track_elevation[reference.frame, track]
    return EventList(reference.frame, reference.cls, reference.track, azimuth, elevation, reference.num_frames)


def write_outputs(predictions: Mapping[str, EventList], out_dir: str | os.PathLike, coordinates: str = "polar") -> None:
    """One official output CSV per clip name."""
    for name, events in predictions.items():
        write_output(Path(out_dir) / f"{name}.csv", events, coordinates)


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Scores, decoded predictions per clip name, and mean per-output losses."""

    scores: SeldScores | None
    predictions: dict[str, EventList]
    losses: dict[str, float]


class SeldEvaluator:
    """Predicts whole clips (or fixed segments), decodes them and scores them
    against the reference metadata with the DCASE2020 metric.

    References are the metadata event lists, not the training label tensors:
    the class-wise tensors drop same-class overlaps, the official score does not.

    Args:
        clips: `SeldClip`s (features on disk, label tensors for the losses).
        references: the reference event list of each clip; None for
            unlabelled clips (predictions only, no scores).
        label_form: "classwise" or "trackwise", how outputs are decoded.
        frames_per_label: feature frames per 100 ms label frame.
        threshold: activity threshold of the decoding.
        segment_frames: feature frames per inference segment; None = whole clips.
        label_transform: maps label tensors to the compiled losses' targets
            (for losses on packed outputs); None = identity.
        num_classes: classes of the metric.
        oracle: None, or the task ("sed" or "doa") whose predictions are
            replaced by the reference before scoring (`decode_with_oracle`);
            needs `references`.
    """

    def __init__(
        self,
        clips: Sequence[SeldClip],
        references: Sequence[EventList] | None,
        *,
        label_form: str,
        frames_per_label: int,
        threshold: float = 0.5,
        segment_frames: int | None = None,
        label_transform: Callable | None = None,
        num_classes: int = len(CLASS_NAMES),
        oracle: str | None = None,
    ):
        if references is not None and len(clips) != len(references):
            raise ValueError(f"{len(clips)} clips but {len(references)} references")
        if oracle not in ORACLES:
            raise ConfigError(f"expected evaluation.oracle in {list(ORACLES)}, found {oracle!r}")
        if oracle is not None and references is None:
            raise ConfigError(f"evaluation.oracle {oracle!r} needs reference events: this split is unlabelled")
        self.clips = list(clips)
        self.references = None if references is None else list(references)
        self.label_form = label_form
        self.frames_per_label = frames_per_label
        self.threshold = threshold
        self.segment_frames = segment_frames
        self.label_transform = label_transform
        self.num_classes = num_classes
        self.oracle = oracle

    def evaluate(self, model, with_losses: bool = True) -> EvaluationResult:
        outputs = predict_clips(
            model, self.clips, frames_per_label=self.frames_per_label, segment_frames=self.segment_frames
        )
        references = self.references or [None] * len(self.clips)
        predictions = {
            clip.name: decode_with_oracle(clip_outputs, reference, self.label_form, self.oracle, self.threshold)
            for clip, clip_outputs, reference in zip(self.clips, outputs, references)
        }
        scores = None
        if self.references is not None:
            metric = Dcase2020SeldMetric(self.num_classes)
            for clip, reference, clip_outputs in zip(self.clips, self.references, outputs):
                metric.update(reference, predictions[clip.name], num_frames=len(clip_outputs["sed"]))
            scores = metric.result()
        losses = self._losses(model, outputs) if with_losses else {}
        return EvaluationResult(scores, predictions, losses)

    def _losses(self, model, outputs: list[dict[str, np.ndarray]]) -> dict[str, float]:
        """Mean over clips of each compiled output loss, named like Keras's training logs."""
        compiled = getattr(model, "loss", None)
        # Keras keeps the compiled dict in a trackable wrapper that is not a Mapping.
        if not hasattr(compiled, "items"):
            return {}
        totals: dict[str, list[float]] = {}
        for clip, clip_outputs in zip(self.clips, outputs):
            if not clip.labels:
                continue
            labels = {name: value[None] for name, value in clip.labels.items()}
            if self.label_transform is not None:
                labels = {name: np.asarray(value) for name, value in self.label_transform(labels).items()}
            for name, loss in compiled.items():
                if loss is None or name not in labels or name not in clip_outputs:
                    continue
                value = loss(labels[name], clip_outputs[name][None])
                totals.setdefault(f"{name}_loss", []).append(float(value))
        return {name: float(np.mean(values)) for name, values in totals.items()}
