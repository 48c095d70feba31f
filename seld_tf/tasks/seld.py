"""The SELD task: DCASE2020 Task 3 data, class-wise, trackwise, ACCDOA or
multi-ACCDOA targets, SED + DOA losses (with permutation-invariant training
for tracks) or the ACCDOA losses, decoding to event lists, the DCASE2020
metric and the official output CSVs.

Its recipe groups are `data` (`SeldDataSpec`), `loss` (`SeldLossSpec`) and
`evaluation` (`SeldEvaluationSpec`); the best snapshot is kept by the lowest
validation SELD score (`val_seld`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, LABEL_FRAME_SECONDS, Clip, Dcase2020Dataset, write_output
from seld_tf.datasets.events import EventList, angular_distance, cartesian_to_polar
from seld_tf.datasets.seld_labels import (
    MERGE_ANGLE,
    accdoa_to_events,
    classwise_to_events,
    events_to_accdoa,
    events_to_classwise,
    events_to_multi_accdoa,
    events_to_trackwise,
    multi_accdoa_to_events,
    trackwise_to_events,
)
from seld_tf.errors import ConfigError
from seld_tf.evaluation import Evaluator
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import FeatureCache, extract_dataset
from seld_tf.metrics import Dcase2020SeldMetric, SeldScores
from seld_tf.pipeline import ClipRecord
from seld_tf.recipes import field
from seld_tf.tasks.base import FeatureFrontEnd, Task

LABEL_FORMS = ("classwise", "trackwise", "accdoa", "multi_accdoa")
# The ACCDOA forms: one target, named after the form, which is also the model's one output.
ACCDOA_FORMS = ("accdoa", "multi_accdoa")
# The task whose predictions `decode_with_oracle` replaces by the reference; None: neither.
ORACLES = (None, "sed", "doa")


@dataclasses.dataclass(frozen=True)
class SeldDataSpec:
    """Which data and features. Folds follow the DCASE2020 challenge split by default.
    `label_form`: "classwise", "trackwise", "accdoa" or "multi_accdoa"; `num_tracks`:
    the tracks of "trackwise" and "multi_accdoa"."""

    format: str = "foa"
    features: str = "dcase2020"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    train_folds: tuple[int, ...] = field((3, 4, 5, 6), ge=1)
    validation_folds: tuple[int, ...] = field((2,), ge=1)
    test_folds: tuple[int, ...] = field((1,), ge=1)
    label_form: str = "classwise"
    num_tracks: int = field(2, ge=1)


@dataclasses.dataclass(frozen=True)
class SeldLossSpec:
    """SED loss ("bce" or "mse"), DOA masking and normalization (`MaskedDoaMSE`), output weights, and permutation-
    invariant training for trackwise outputs ("none", "tpit" frame-level, "cpit" chunk-level).
    The ACCDOA label forms have one loss of their own (`seld_tf.losses.accdoa`), which none of
    these settings but `pit` (which must be "none") concern. `doa_normalization` is the classwise
    DOA loss's; the PIT losses have their own masked DOA term."""

    sed: str = "bce"
    doa_masked: bool = True
    doa_normalization: str = "mean"
    sed_weight: float = field(1.0, ge=0)
    doa_weight: float = field(1000.0, ge=0)
    pit: str = "none"


@dataclasses.dataclass(frozen=True)
class SeldEvaluationSpec:
    """Inference: threshold on activity; `segment_frames` (feature frames) splits
    clips into non-overlapping segments, `None` predicts whole clips. `oracle`
    ("sed" or "doa") replaces that task's predictions by the reference in
    validation and evaluation scores, to score the other task alone
    (`decode_with_oracle`). For the ACCDOA forms the threshold is on the
    vector length; `merge_angle` (degrees) makes the active multi-ACCDOA
    tracks of one class that point closer than it one event
    (`multi_accdoa_to_events`)."""

    threshold: float = field(0.5, gt=0, lt=1)
    segment_frames: int | None = field(None, ge=1)
    coordinates: str = "polar"
    oracle: str | None = None
    merge_angle: float = field(MERGE_ANGLE, ge=0, le=180)


def frames_per_label(config: FeatureConfig) -> int:
    """Feature frames per 100 ms label frame; the label grid must be a whole number of hops."""
    ratio = LABEL_FRAME_SECONDS * config.frames_per_second
    if abs(ratio - round(ratio)) > 1e-9:
        raise ConfigError(
            f"hop {config.hop_length} at {config.sample_rate} Hz does not divide the 100 ms label frame "
            f"({ratio:g} feature frames per label frame)"
        )
    return int(round(ratio))


class SeldTask(Task):
    """SELD on a folder in the DCASE2020 Task 3 layout (real or synthesized)."""

    groups = {"data": SeldDataSpec, "loss": SeldLossSpec, "evaluation": SeldEvaluationSpec}
    pipeline_augmentations = ("foa_rotation", "spec_augment")
    monitor = "val_seld"
    mode = "min"

    def prepare(self, data_dir, cache_dir=None, *, progress: bool = True, log=print) -> None:
        data = self.recipe.data
        self.data_dir = data_dir
        self.feature_config = get_preset(data.features, **data.feature_overrides)
        if cache_dir is None:
            cache_dir = Path(data_dir) / "feature_cache" / f"{data.format}_{data.features}"
        self.cache = extract_dataset(
            data_dir, cache_dir, self.feature_config, data.format, train_folds=data.train_folds, progress=progress, log=log
        )
        self.dataset = Dcase2020Dataset(data_dir, data.format)
        self.frames_per_label = frames_per_label(self.feature_config)

    def clips(self, split: str, with_targets: bool = True) -> tuple[list[ClipRecord], list[EventList] | None]:
        data = self.recipe.data
        folds = {"train": data.train_folds, "validation": data.validation_folds, "test": data.test_folds}
        if split == "eval":
            clips = self.dataset.clips("eval")
        elif split in folds:
            clips = self.dataset.clips("dev", folds=folds[split])
        else:
            raise ConfigError(f"unknown split {split!r}; expected train, validation, test or eval")
        if not clips:
            raise ConfigError(f"no clips of split {split!r} in {self.dataset.root}")
        if not with_targets or split == "eval":
            return [ClipRecord(c.name, str(self.cache.entry_path(c.name)), {}) for c in clips], None
        items = seld_clips_from_dataset(
            self.dataset,
            self.cache,
            clips,
            label_form=data.label_form,
            num_classes=len(CLASS_NAMES),
            num_tracks=data.num_tracks,
            frames_per_label=self.frames_per_label,
        )
        references = [
            self.dataset.read_events(clip, num_frames=len(next(iter(item.labels.values()))))
            for clip, item in zip(clips, items)
        ]
        return items, references

    def augmentations(self) -> list:
        from seld_tf.augment import FoaRotation, SpecAugment

        recipe, seed = self.recipe, self.recipe.training.seed
        chain = []
        if recipe.pipeline.foa_rotation:
            if recipe.data.format != "foa":
                raise ConfigError("pipeline.foa_rotation needs data.format 'foa'")
            doa_key = recipe.data.label_form if recipe.data.label_form in ACCDOA_FORMS else "doa"
            chain.append(FoaRotation(self.feature_config, seed=seed + 1, doa_keys=(doa_key,)))
        if recipe.pipeline.spec_augment:
            chain.append(SpecAugment(**recipe.pipeline.spec_augment, seed=seed + 2))
        return chain

    def model_args(self) -> dict:
        args = {"num_classes": len(CLASS_NAMES)}
        if self.recipe.data.label_form in ("trackwise", "multi_accdoa"):
            args["num_tracks"] = self.recipe.data.num_tracks
        return args

    def compile_args(self) -> tuple[dict, Callable | None]:
        return seld_compile_args(self.recipe)

    def evaluator(self, split: str, label_transform: Callable | None = None) -> "SeldEvaluator":
        clips, references = self.clips(split)
        evaluation = self.recipe.evaluation
        return SeldEvaluator(
            clips,
            references,
            label_form=self.recipe.data.label_form,
            frames_per_label=self.frames_per_label,
            threshold=evaluation.threshold,
            segment_frames=evaluation.segment_frames,
            label_transform=label_transform,
            oracle=evaluation.oracle,
            merge_angle=evaluation.merge_angle,
        )

    def write_outputs(self, predictions: Mapping[str, EventList], out_dir) -> None:
        write_outputs(predictions, out_dir, self.recipe.evaluation.coordinates)

    def predict_audio(self, model, audio_path, record: dict) -> EventList:
        from seld_tf.audio import load_audio
        from seld_tf.features.extract import make_extractor
        from seld_tf.pipeline import predict_features

        config = FeatureConfig.from_dict(record["feature_config"])
        audio, _ = load_audio(audio_path, sample_rate=config.sample_rate, channels=4)
        features = make_extractor(config, self.recipe.data.format)(audio)
        outputs = predict_features(
            model, features, frames_per_label=record["frames_per_label"], segment_frames=self.recipe.evaluation.segment_frames
        )
        evaluation = self.recipe.evaluation
        return decode_outputs(outputs, self.recipe.data.label_form, evaluation.threshold, evaluation.merge_angle)

    def write_prediction(self, prediction: EventList, out_path) -> None:
        write_output(out_path, prediction, self.recipe.evaluation.coordinates)

    def feature_front_end(self, record: dict) -> FeatureFrontEnd:
        return FeatureFrontEnd(FeatureConfig.from_dict(record["feature_config"]), self.recipe.data.format, record["frames_per_label"])


def seld_compile_args(recipe) -> tuple[dict, Callable | None]:
    """`(model.compile keyword arguments, label transform)` for the recipe's SED/DOA losses."""
    from seld_tf.losses import seld_loss_weights, seld_losses

    spec = recipe.loss
    if recipe.data.label_form == "trackwise":
        if spec.doa_normalization != "mean":
            raise ConfigError(f"loss.doa_normalization {spec.doa_normalization!r} applies to the classwise DOA loss, not to PIT")
        from seld_tf.losses.pit import pit_compile_args

        return pit_compile_args(spec.pit, spec.sed_weight, spec.doa_weight)
    if spec.pit != "none":
        raise ConfigError(f"loss.pit {spec.pit!r} needs data.label_form 'trackwise'")
    if recipe.data.label_form in ACCDOA_FORMS:
        from seld_tf.losses.accdoa import accdoa_compile_args

        return accdoa_compile_args(recipe.data.label_form, recipe.data.num_tracks), None
    return {"loss": seld_losses(spec.sed, spec.doa_masked, spec.doa_normalization), "loss_weights": seld_loss_weights(spec.sed_weight, spec.doa_weight)}, None


def seld_clips_from_dataset(
    dataset: Dcase2020Dataset,
    cache: FeatureCache,
    clips: Sequence[Clip],
    label_form: str = "classwise",
    num_classes: int = len(CLASS_NAMES),
    num_tracks: int = 2,
    frames_per_label: int = 5,
) -> list[ClipRecord]:
    """Pair each clip's cached features with its labels, built from its metadata CSV.

    Args:
        dataset: the dataset the clips belong to (reads their metadata).
        cache: feature cache holding an entry per clip.
        clips: the clips to use, e.g. `dataset.clips("dev", folds=(3, 4, 5, 6))`.
        label_form: "classwise" (`sed [T, K]`, `doa [T, K, 3]`),
            "trackwise" (`sed [T, M, K]`, `doa [T, M, 3]`), "accdoa"
            (`accdoa [T, K, 3]`) or "multi_accdoa" (`multi_accdoa [T, M (M +
            1) / 2, K, 3]`, `events_to_multi_accdoa`).
        num_classes: K.
        num_tracks: M (trackwise and multi_accdoa only).
        frames_per_label: feature frames per 100 ms label frame; `T =
            ceil(feature frames / frames_per_label)`.

    Raises:
        ConfigError: unknown `label_form`, or a clip without cached features.
        AnnotationError: a malformed metadata CSV, or an event past the clip's end.
    """
    if label_form not in LABEL_FORMS:
        raise ConfigError(f"expected label_form one of {list(LABEL_FORMS)}, found {label_form!r}")
    result = []
    for clip in clips:
        path = cache.entry_path(clip.name)
        if not path.exists():
            raise ConfigError(f"no cached features for clip {clip.name}: expected {path}")
        num_frames = math.ceil(cache.load(clip.name, mmap=True).shape[0] / frames_per_label)
        events = dataset.read_events(clip, num_frames=num_frames)
        if label_form == "classwise":
            labels = dict(zip(("sed", "doa"), events_to_classwise(events, num_frames, num_classes)))
        elif label_form == "trackwise":
            labels = dict(zip(("sed", "doa"), events_to_trackwise(events, num_frames, num_classes, num_tracks)))
        elif label_form == "accdoa":
            labels = {"accdoa": events_to_accdoa(events, num_frames, num_classes)}
        else:
            labels = {"multi_accdoa": events_to_multi_accdoa(events, num_frames, num_classes, num_tracks)}
        result.append(ClipRecord(clip.name, str(path), labels))
    return result


def decode_outputs(
    outputs: Mapping[str, np.ndarray], label_form: str, threshold: float = 0.5, merge_angle: float = MERGE_ANGLE
) -> EventList:
    """Event list of one clip's outputs (no batch axis): `{"sed": ..., "doa": ...}`, `{"accdoa": ...}`
    or `{"multi_accdoa": ...}`; `merge_angle` concerns multi-ACCDOA only."""
    if label_form == "classwise":
        return classwise_to_events(outputs["sed"], outputs["doa"], threshold)
    if label_form == "trackwise":
        return trackwise_to_events(outputs["sed"], outputs["doa"], threshold)
    if label_form == "accdoa":
        return accdoa_to_events(outputs["accdoa"], threshold)
    if label_form == "multi_accdoa":
        return multi_accdoa_to_events(outputs["multi_accdoa"], threshold, merge_angle)
    raise ConfigError(f"expected label form in {LABEL_FORMS}, found {label_form!r}")


def decode_with_oracle(
    outputs: Mapping[str, np.ndarray],
    reference: EventList | None,
    label_form: str,
    oracle: str | None,
    threshold: float = 0.5,
    merge_angle: float = MERGE_ANGLE,
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
      learned scores the same. Not for the ACCDOA forms, whose one output
      is the activity and the direction at once.

    Raises:
        ConfigError: unknown `oracle` or `label_form`, an oracle without a
            reference, or `oracle="sed"` for an ACCDOA form.
    """
    check_oracle(oracle, label_form)
    if oracle is not None and reference is None:
        raise ConfigError(f"evaluation.oracle {oracle!r} needs the reference events (a labelled split)")
    if oracle == "sed":
        return _reference_with_predicted_directions(reference, np.asarray(outputs["doa"]), label_form)
    decoded = decode_outputs(outputs, label_form, threshold, merge_angle)
    return decoded if oracle is None else _with_reference_directions(decoded, reference)


def check_oracle(oracle: str | None, label_form: str) -> None:
    """Refuse an unknown `evaluation.oracle`, and the SED oracle of a label form without a DOA output of its own."""
    if oracle not in ORACLES:
        raise ConfigError(f"expected evaluation.oracle in {list(ORACLES)}, found {oracle!r}")
    if oracle == "sed" and label_form not in ("classwise", "trackwise"):
        raise ConfigError(
            f"evaluation.oracle 'sed' needs a DOA output apart from the activity (data.label_form classwise or "
            f"trackwise), found {label_form!r}"
        )


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


class SeldEvaluator(Evaluator):
    """Decodes SELD outputs to event lists and scores them against the
    reference metadata with the DCASE2020 metric.

    References are the metadata event lists, not the training label tensors:
    the class-wise tensors drop same-class overlaps, the official score does not.

    Args:
        clips, references, frames_per_label, segment_frames, label_transform:
            as for `Evaluator`; references are event lists.
        label_form: "classwise", "trackwise", "accdoa" or "multi_accdoa",
            how outputs are decoded.
        threshold: activity threshold of the decoding (for the ACCDOA
            forms, of the vector length).
        num_classes: classes of the metric.
        oracle: None, or the task ("sed" or "doa") whose predictions are
            replaced by the reference before scoring (`decode_with_oracle`);
            needs `references`.
        merge_angle: degrees within which active multi-ACCDOA tracks of one
            class are one event.
    """

    log_names = {"SELD": "seld"}

    def __init__(
        self,
        clips: Sequence[ClipRecord],
        references: Sequence[EventList] | None,
        *,
        label_form: str,
        frames_per_label: int,
        threshold: float = 0.5,
        segment_frames: int | None = None,
        label_transform: Callable | None = None,
        num_classes: int = len(CLASS_NAMES),
        oracle: str | None = None,
        merge_angle: float = MERGE_ANGLE,
    ):
        super().__init__(
            clips, references, frames_per_label=frames_per_label, segment_frames=segment_frames, label_transform=label_transform
        )
        check_oracle(oracle, label_form)
        if oracle is not None and references is None:
            raise ConfigError(f"evaluation.oracle {oracle!r} needs reference events: this split is unlabelled")
        self.label_form = label_form
        self.threshold = threshold
        self.num_classes = num_classes
        self.oracle = oracle
        self.merge_angle = merge_angle

    def decode(self, outputs, reference):
        return decode_with_oracle(outputs, reference, self.label_form, self.oracle, self.threshold, self.merge_angle)

    def score(self, references, predictions, outputs) -> SeldScores:
        metric = Dcase2020SeldMetric(self.num_classes)
        for reference, prediction, clip_outputs in zip(references, predictions, outputs):
            # Every output of a SELD model is at the label frame rate.
            metric.update(reference, prediction, num_frames=len(next(iter(clip_outputs.values()))))
        return metric.result()

    def summary(self, scores: SeldScores) -> dict[str, float]:
        return scores.to_dict()
