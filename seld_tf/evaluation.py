"""Evaluation: score DCASE output folders, decode model outputs to event lists,
and write the official output files."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, read_metadata, read_output, write_output
from seld_tf.datasets.events import EventList
from seld_tf.datasets.seld_labels import classwise_to_events, trackwise_to_events
from seld_tf.errors import ConfigError
from seld_tf.metrics import Dcase2020SeldMetric, SeldScores
from seld_tf.pipeline import SeldClip, predict_clips

LABEL_FORMS = ("classwise", "trackwise")


def score_folders(
    reference_dir: str | os.PathLike,
    prediction_dir: str | os.PathLike,
    *,
    coordinates: str | None = None,
    num_classes: int = len(CLASS_NAMES),
) -> SeldScores:
    """DCASE2020 SELD scores of every prediction CSV against the metadata CSV of the same name.

    A reference without a prediction, or a prediction without a reference, is
    an error: scoring a missing file as empty would hide a broken run.
    """
    references = _csv_stems(reference_dir)
    predictions = _csv_stems(prediction_dir)
    missing = sorted(set(references) - set(predictions))
    extra = sorted(set(predictions) - set(references))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} reference file(s) without a prediction in {prediction_dir}: {missing[:5]}")
        if extra:
            parts.append(f"{len(extra)} prediction file(s) without a reference in {reference_dir}: {extra[:5]}")
        raise ConfigError("; ".join(parts))
    if not references:
        raise ConfigError(f"no CSV files in {reference_dir}")
    metric = Dcase2020SeldMetric(num_classes)
    for stem, reference_path in sorted(references.items()):
        reference = read_metadata(reference_path, num_classes=num_classes)
        prediction = read_output(predictions[stem], num_classes=num_classes, coordinates=coordinates)
        metric.update(reference, prediction)
    return metric.result()


def _csv_stems(directory: str | os.PathLike) -> dict[str, Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"expected a folder of CSV files, found no folder {directory}")
    return {path.stem: path for path in directory.glob("*.csv")}


def decode_outputs(outputs: Mapping[str, np.ndarray], label_form: str, threshold: float = 0.5) -> EventList:
    """Event list of one clip's outputs `{"sed": ..., "doa": ...}` (no batch axis)."""
    if label_form == "classwise":
        return classwise_to_events(outputs["sed"], outputs["doa"], threshold)
    if label_form == "trackwise":
        return trackwise_to_events(outputs["sed"], outputs["doa"], threshold)
    raise ConfigError(f"expected label form in {LABEL_FORMS}, found {label_form!r}")


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
    ):
        if references is not None and len(clips) != len(references):
            raise ValueError(f"{len(clips)} clips but {len(references)} references")
        self.clips = list(clips)
        self.references = None if references is None else list(references)
        self.label_form = label_form
        self.frames_per_label = frames_per_label
        self.threshold = threshold
        self.segment_frames = segment_frames
        self.label_transform = label_transform
        self.num_classes = num_classes

    def evaluate(self, model, with_losses: bool = True) -> EvaluationResult:
        outputs = predict_clips(
            model, self.clips, frames_per_label=self.frames_per_label, segment_frames=self.segment_frames
        )
        predictions = {
            clip.name: decode_outputs(clip_outputs, self.label_form, self.threshold)
            for clip, clip_outputs in zip(self.clips, outputs)
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
