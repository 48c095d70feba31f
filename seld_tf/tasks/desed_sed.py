"""Semi-supervised sound event detection on DESED (DCASE2022 Task 4).

Recipes name it `task: seld_tf.tasks.desed_sed:DesedSedTask`. Its recipe
groups are `data` (`DesedDataSpec`), `loss` (`DesedLossSpec`) and
`evaluation` (`DesedEvaluationSpec`).

Splits: "train", "validation" and "test" map to the DESED subsets the `data`
group names; any DESED subset name (`seld_tf.datasets.desed.SUBSETS`) is a
split too, which is how `pipeline.subsets` mixes e.g.
`{synthetic_train: 12, weak: 12, unlabeled: 24}` in every batch. A clip of a
strong subset has both targets, "strong" (`[T, 10]` frame roll at the label
rate) and "weak" (`[10]` multi-hot); a weak clip only "weak"; an unlabeled
clip none. Missing targets are filled with sample weight 0 by the pipeline.

The model has two outputs, "strong" `[B, T, 10]` and "weak" `[B, 10]`
(sigmoid probabilities). Decoding thresholds (and median-filters) "strong"
into events; scoring is sed_eval's event-based F1 as the DCASE2022 baseline
computes it (collar 0.2 s, 20 % of length for offsets, "zero_score"), macro
over classes; the best snapshot is kept by the highest `val_event_f1`.
Official output: one DESED prediction TSV (`filename onset offset
event_label`) per split.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from seld_tf.datasets.desed import CLASS_NAMES, SUBSETS, DesedDataset
from seld_tf.datasets.strong_events import StrongEvent, events_to_roll, roll_to_events, weak_to_multihot
from seld_tf.errors import ConfigError
from seld_tf.evaluation import Evaluator
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, extract_file
from seld_tf.fileio import atomic_open
from seld_tf.metrics.sed import event_based_metrics, segment_based_metrics
from seld_tf.pipeline import ClipRecord, TargetSpec, predict_features
from seld_tf.recipes import field
from seld_tf.tasks.base import FeatureFrontEnd, Task

ARRAY_FORMAT = "logmel"
PREDICTION_FILE = "predictions.tsv"
PREDICTION_HEADER = ("filename", "onset", "offset", "event_label")
FILTER_TARGETS = ("probabilities", "binary")
MEDIAN_EDGES = ("reflect", "zeros")


@dataclasses.dataclass(frozen=True)
class DesedDataSpec:
    """Features, the model's time pooling, and which DESED subset each named split is.

    `frames_per_label` feature frames make one frame of the "strong" target
    (the DCASE2022 baseline pools 626 frames to 156: 4).
    """

    features: str = "desed"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    frames_per_label: int = field(4, ge=1)
    train: str = "synthetic_train"
    validation: str = "validation"
    test: str = "public_eval"


@dataclasses.dataclass(frozen=True)
class DesedLossSpec:
    """Binary cross-entropy on both outputs, weighted (the DCASE2022 baseline sums them)."""

    strong_weight: float = field(1.0, ge=0)
    weak_weight: float = field(1.0, ge=0)


@dataclasses.dataclass(frozen=True)
class DesedEvaluationSpec:
    """Decoding (`roll_to_events`) and the sed_eval settings of the scores.

    Defaults are the DCASE2022 baseline's: threshold 0.5, a 7-frame median
    filter on the binarised frames, event collar 0.2 s with offsets allowed
    20 % of the reference length, 1 s segments.
    """

    threshold: float = field(0.5, gt=0, lt=1)
    median_filter: int | None = field(7, ge=1)
    filter_on: str = "binary"
    median_edges: str = "reflect"
    t_collar: float = field(0.2, gt=0)
    percentage_of_length: float = field(0.2, ge=0, le=1)
    segment_seconds: float = field(1.0, gt=0)


def label_rate(config: FeatureConfig, frames_per_label: int) -> float:
    """Frames per second of the "strong" target and output."""
    return config.sample_rate / config.hop_length / frames_per_label


def write_prediction_tsv(predictions: Mapping[str, Sequence[StrongEvent]], out_path: str | os.PathLike) -> None:
    """A DESED prediction TSV: header, then one row per event, files in the order given."""
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(PREDICTION_HEADER) + "\n")
        for filename, events in predictions.items():
            handle.writelines(f"{filename}\t{onset:.3f}\t{offset:.3f}\t{label}\n" for onset, offset, label in events)


class DesedEvaluator(Evaluator):
    """Decodes "strong" probabilities into events and scores them with sed_eval's event- and segment-based F1.

    References are each clip's annotated events (`DesedClip.events`), not the
    target rolls, which quantise times to the label frames.
    """

    def __init__(
        self,
        clips: Sequence[ClipRecord],
        references: Sequence[Sequence[StrongEvent]] | None,
        *,
        frames_per_label: int,
        frame_rate: float,
        spec: DesedEvaluationSpec,
        label_transform: Callable | None = None,
    ):
        super().__init__(
            clips, references, frames_per_label=frames_per_label, label_transform=label_transform, clip_outputs=("weak",)
        )
        self.frame_rate = frame_rate
        self.spec = spec

    def decode(self, outputs, reference):
        return decode_strong(outputs["strong"], self.frame_rate, self.spec)

    def score(self, references, predictions, outputs) -> dict:
        names = [clip.name for clip in self.clips]
        reference = dict(zip(names, references))
        estimated = dict(zip(names, predictions))
        spec = self.spec
        event = event_based_metrics(
            reference,
            estimated,
            CLASS_NAMES,
            t_collar=spec.t_collar,
            percentage_of_length=spec.percentage_of_length,
            empty_system_output_handling="zero_score",
        )
        # Like the baseline, file lengths come from the events, not the audio durations.
        segment = segment_based_metrics(reference, estimated, CLASS_NAMES, time_resolution=spec.segment_seconds)
        return {"event": event, "segment": segment}

    def summary(self, scores) -> dict[str, float]:
        return {
            "event_f1": scores["event"]["class_wise_average"]["f_measure"]["f_measure"],
            "event_f1_micro": scores["event"]["overall"]["f_measure"]["f_measure"],
            "segment_f1": scores["segment"]["class_wise_average"]["f_measure"]["f_measure"],
            "segment_f1_micro": scores["segment"]["overall"]["f_measure"]["f_measure"],
        }


def decode_strong(probabilities: np.ndarray, frame_rate: float, spec: DesedEvaluationSpec) -> list[StrongEvent]:
    """Events of one clip's "strong" probabilities `[T, 10]`."""
    if spec.filter_on not in FILTER_TARGETS or spec.median_edges not in MEDIAN_EDGES:
        raise ConfigError(
            f"evaluation.filter_on must be one of {list(FILTER_TARGETS)} and evaluation.median_edges one of "
            f"{list(MEDIAN_EDGES)}, found {spec.filter_on!r} and {spec.median_edges!r}"
        )
    return roll_to_events(
        probabilities,
        CLASS_NAMES,
        frame_rate,
        threshold=spec.threshold,
        median_filter=spec.median_filter,
        filter_on=spec.filter_on,
        median_edges=spec.median_edges,
    )


class DesedSedTask(Task):
    """SED on a DESED tree (real, or the stand-in of `seld-tf synth desed`)."""

    groups = {"data": DesedDataSpec, "loss": DesedLossSpec, "evaluation": DesedEvaluationSpec}
    monitor = "val_event_f1"
    mode = "max"

    def __init__(self, recipe):
        super().__init__(recipe)
        self.frames_per_label = recipe.data.frames_per_label

    def _subset(self, split: str) -> str:
        named = {"train": self.recipe.data.train, "validation": self.recipe.data.validation, "test": self.recipe.data.test}
        subset = named.get(split, split)
        if subset not in SUBSETS:
            raise ConfigError(
                f"unknown split {split!r} (DESED subset {subset!r}); expected train, validation, test "
                f"or a DESED subset: {', '.join(SUBSETS)}"
            )
        return subset

    def _training_subsets(self) -> list[str]:
        return [self._subset(name) for name in (self.recipe.pipeline.subsets or {"train": None})]

    def prepare(self, data_dir, cache_dir=None, *, progress: bool = True, log=print) -> None:
        data = self.recipe.data
        self.data_dir = Path(data_dir)
        self.dataset = DesedDataset(data_dir)
        self.feature_config = get_preset(data.features, **data.feature_overrides)
        if cache_dir is None:
            cache_dir = self.data_dir / "feature_cache" / data.features
        # Only the subsets the recipe uses: a real DESED tree holds thousands of clips it may not.
        training = self._training_subsets()
        used = dict.fromkeys([*training, self._subset("validation"), self._subset("test")])
        used = [subset for subset in used if subset in self.dataset.subsets]
        records = [AudioRecord(self._entry(subset, clip.name), clip.path) for subset in used for clip in self.dataset.clips(subset)]
        scaler_names = [self._entry(subset, clip.name) for subset in training for clip in self.dataset.clips(subset)]
        self.cache = extract_clips(
            records, cache_dir, self.feature_config, ARRAY_FORMAT, scaler_names=scaler_names, progress=progress, log=log
        )

    @staticmethod
    def _entry(subset: str, filename: str) -> str:
        # Subsets reuse file names (synthetic_train and synthetic_validation are both 0.wav, 1.wav, ...).
        return f"{subset}-{Path(filename).stem}"

    def clips(self, split: str, with_targets: bool = True):
        subset = self._subset(split)
        clips = self.dataset.clips(subset)
        if not clips:
            raise ConfigError(f"no clips of split {split!r} (DESED subset {subset!r}) in {self.dataset.root}")
        kind = SUBSETS[subset].kind
        rate = label_rate(self.feature_config, self.frames_per_label)
        records = []
        for clip in clips:
            path = self.cache.entry_path(self._entry(subset, clip.name))
            labels, clip_labels = {}, {}
            if with_targets and kind == "strong":
                num_frames = math.ceil(np.load(path, mmap_mode="r").shape[0] / self.frames_per_label)
                labels["strong"] = events_to_roll(clip.events, CLASS_NAMES, num_frames, rate)
            if with_targets and kind != "unlabeled":
                clip_labels["weak"] = weak_to_multihot(clip.weak, CLASS_NAMES)
            # Named by file name: the prediction TSV's `filename` column.
            records.append(ClipRecord(clip.name, os.fspath(path), labels, clip_labels))
        references = [clip.events for clip in clips] if with_targets and kind == "strong" else None
        return records, references

    def targets(self) -> Mapping[str, TargetSpec]:
        return {"strong": TargetSpec("frame", (len(CLASS_NAMES),)), "weak": TargetSpec("clip", (len(CLASS_NAMES),))}

    def model_args(self) -> dict:
        return {"num_classes": len(CLASS_NAMES)}

    def compile_args(self) -> tuple[dict, Callable | None]:
        import keras

        spec = self.recipe.loss
        losses = {"strong": keras.losses.BinaryCrossentropy(), "weak": keras.losses.BinaryCrossentropy()}
        return {"loss": losses, "loss_weights": {"strong": spec.strong_weight, "weak": spec.weak_weight}}, None

    def evaluator(self, split: str, label_transform: Callable | None = None) -> DesedEvaluator:
        clips, references = self.clips(split)
        return DesedEvaluator(
            clips,
            references,
            frames_per_label=self.frames_per_label,
            frame_rate=label_rate(self.feature_config, self.frames_per_label),
            spec=self.recipe.evaluation,
            label_transform=label_transform,
        )

    def write_outputs(self, predictions: Mapping[str, list[StrongEvent]], out_dir) -> None:
        write_prediction_tsv(predictions, Path(out_dir) / PREDICTION_FILE)

    def predict_audio(self, model, audio_path, record: dict) -> dict[str, list[StrongEvent]]:
        """`{audio file name: events}`, the one-file form of a split's predictions."""
        front_end = self.feature_front_end(record)
        features = extract_file(audio_path, front_end.config, ARRAY_FORMAT)
        outputs = predict_features(model, features, frames_per_label=front_end.frames_per_label, clip_outputs=("weak",))
        rate = label_rate(front_end.config, front_end.frames_per_label)
        return {Path(audio_path).name: decode_strong(outputs["strong"], rate, self.recipe.evaluation)}

    def write_prediction(self, prediction: Mapping[str, list[StrongEvent]], out_path) -> None:
        write_prediction_tsv(prediction, out_path)

    def feature_front_end(self, record: dict) -> FeatureFrontEnd:
        return FeatureFrontEnd(FeatureConfig.from_dict(record["feature_config"]), ARRAY_FORMAT, record["frames_per_label"])
