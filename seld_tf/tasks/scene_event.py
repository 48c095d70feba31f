"""Joint acoustic scene classification + sound event detection (Nada et al. 2022,
spec nada2022): Imoto's `metadata_SEDandASC01` over TUT audio, a clip-level
scene softmax beside frame-level event sigmoids at the full 20 ms feature
frame rate, the paper's frame-level event F-scores and scene accuracy.

Recipe groups: `data` (`SceneEventDataSpec`), `loss` (`SceneEventLossSpec`)
and `evaluation` (`SceneEventEvaluationSpec`). The best snapshot is kept by
the highest validation frame-level event micro-F (`val_event_f1_micro`), or
scene accuracy for a scene-only model.

The model's contract: outputs `event` (sigmoid probabilities `[B, T, 25]`)
and `scene` (softmax probabilities `[B, 4]`), which evaluation and export
use, and `event_logits` and `scene_logits`, their pre-activations, which the
losses read so that saturated probabilities cost no precision (the focal
factors of Eqs. 5-6 are computed in log space). A task weight of 0 removes
its branch: the builder gets `branches` and the single-task baselines of
Table IV are the same network with one branch.

Splits (spec §3, §8): the paper trains on the whole development set and
tests on the evaluation set with no validation; model selection here uses
one of Imoto's cross-validation folds, so "train" is the fold's training
part, "validation" its held-out part, "test" the evaluation set.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from seld_tf.datasets.strong_events import StrongEvent, events_to_roll, roll_to_events, scene_to_onehot
from seld_tf.datasets.tut import EVENT_CLASSES, FOLDS, SCENE_CLASSES, ImotoDataset
from seld_tf.errors import ConfigError
from seld_tf.evaluation import Evaluator
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, extract_file
from seld_tf.metrics.frame import frame_scores
from seld_tf.metrics.scene import scene_scores
from seld_tf.metrics.sed import segment_based_metrics
from seld_tf.pipeline import ClipRecord, TargetSpec, predict_features
from seld_tf.recipes import field
from seld_tf.tasks.base import FeatureFrontEnd, Task

# Spec §3: the model sees the log-mel of the mono downmix (mean of the stereo channels).
ARRAY_FORMAT = "logmel"
REDUCTIONS = ("mean", "sum")
WEIGHTINGS = ("constant", "dwa", "uncertainty")
AUDIO_CHANNELS = 2
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class SceneEventDataSpec:
    """Features and the cross-validation fold (1-4) whose parts are "train" and "validation"."""

    features: str = "nada2022"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    fold: int = field(1, ge=1)

    def __post_init__(self):
        if self.fold not in FOLDS:
            raise ConfigError(f"data.fold: expected one of {list(FOLDS)}, found {self.fold!r}")


@dataclasses.dataclass(frozen=True)
class SceneEventLossSpec:
    """Eq. (3) `L = alpha L_scene + beta L_event` with the paper's naming (alpha weighs the scene;
    the public code swaps the names). A weight of 0 drops that task's branch (single-task baselines).

    The exponents of the multi-focal loss: `eta` of the scene focal CE (Eq. 5), `gamma` and `zeta`
    of the asymmetric event focal BCE (Eq. 6); all 0 is the conventional CE + BCE. `reduction`:
    "mean" over elements (the public code) or "sum" per clip (the paper's equations).

    `weighting`: "constant" (Eq. 3); "dwa", Dynamic Weight Average (Liu et al. 2019, beyond the
    paper; the same group's follow-up compares it), which multiplies alpha and beta by weights set
    each epoch from the two losses' descent rates (`dwa_temperature`); or "uncertainty" (Kendall et
    al. 2018, beyond the paper), `exp(-s_scene) alpha L_scene + s_scene + exp(-s_event) beta L_event
    + s_event` with the log-variances s trained with the network (`UncertaintyWeightedModel`:
    the simplified form without the 1/2 factors; alpha and beta set where the weighting starts).
    """

    alpha: float = field(0.001, ge=0)
    beta: float = field(1.0, ge=0)
    eta: float = field(0.0, ge=0)
    gamma: float = field(0.0, ge=0)
    zeta: float = field(0.0, ge=0)
    reduction: str = "mean"
    weighting: str = "constant"
    dwa_temperature: float = field(2.0, gt=0)

    def __post_init__(self):
        if self.alpha == 0 and self.beta == 0:
            raise ConfigError("loss: alpha and beta are both 0, so nothing is trained")
        if self.reduction not in REDUCTIONS:
            raise ConfigError(f"loss.reduction: expected one of {list(REDUCTIONS)}, found {self.reduction!r}")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"loss.weighting: expected one of {list(WEIGHTINGS)}, found {self.weighting!r}")
        if self.weighting != "constant" and len(self.branches) < 2:
            raise ConfigError(
                f"loss.weighting: {self.weighting} weighs the scene and event losses; both alpha and beta must be > 0"
            )

    @property
    def branches(self) -> tuple[str, ...]:
        return tuple(name for name, weight in (("scene", self.alpha), ("event", self.beta)) if weight > 0)

    @property
    def output_weights(self) -> dict[str, float]:
        """The loss weight of each output that is trained."""
        return {f"{name}_logits": {"scene": self.alpha, "event": self.beta}[name] for name in self.branches}


@dataclasses.dataclass(frozen=True)
class SceneEventEvaluationSpec:
    """Event activity threshold; `segment_frames` (feature frames) cuts recordings into
    non-overlapping windows (spec §6.5: 500 = 10 s), None predicts whole recordings."""

    threshold: float = field(0.5, gt=0, lt=1)
    segment_frames: int | None = field(500, ge=1)


class SceneEventPrediction(NamedTuple):
    """One recording's decoded prediction: the scene of each 10 s window (indices into
    `SCENE_CLASSES`, what the paper scores), the recording's scene (that of the windows'
    mean probabilities) and those probabilities `[S]`, events, and the binary event roll
    `[T, K]` the frame-level scores use (scene fields None, or events empty and roll None,
    for a single-branch model)."""

    scene: str | None
    scene_probabilities: np.ndarray | None
    events: list[StrongEvent]
    roll: np.ndarray | None
    window_scenes: np.ndarray | None = None


class SceneEventReference(NamedTuple):
    """One recording's reference: event roll `[T, K]` and scene index."""

    roll: np.ndarray
    scene: int


def decode_scene_event(outputs: Mapping[str, np.ndarray], frame_rate: float, threshold: float = 0.5) -> SceneEventPrediction:
    """The prediction of one recording's outputs `{"event": [T, K], "scene": [windows, S]}`
    (no batch axis; either may be absent)."""
    windows = event = scene = None
    if "scene" in outputs:
        windows = np.asarray(outputs["scene"]).reshape(-1, len(SCENE_CLASSES))
        scene = windows.mean(axis=0)
    if "event" in outputs:
        event = np.asarray(outputs["event"])
    return SceneEventPrediction(
        None if scene is None else SCENE_CLASSES[int(scene.argmax())],
        scene,
        [] if event is None else roll_to_events(event, EVENT_CLASSES, frame_rate, threshold=threshold),
        None if event is None else (event >= threshold).astype(np.int8),
        None if windows is None else windows.argmax(axis=1),
    )


class SceneEventEvaluator(Evaluator):
    """Scores events frame by frame over all recordings pooled (`frame_scores`) and scenes per recording (`scene_scores`)."""

    def __init__(
        self,
        clips: Sequence[ClipRecord],
        references: Sequence[SceneEventReference] | None,
        *,
        frame_rate: float,
        threshold: float = 0.5,
        segment_frames: int | None = None,
        label_transform: Callable | None = None,
        with_scene: bool = True,
    ):
        super().__init__(
            clips,
            references,
            frames_per_label=1,
            segment_frames=segment_frames,
            label_transform=label_transform,
            clip_outputs=("scene_logits",) if with_scene else (),
            segment_outputs=("scene",) if with_scene else (),
        )
        self.frame_rate = frame_rate
        self.threshold = threshold

    def decode(self, outputs, reference):
        return decode_scene_event(outputs, self.frame_rate, self.threshold)

    def score(self, references, predictions, outputs):
        """Table IV's scores of the branches the model has (scenes per 10 s window); with events, Table V's per-class
        frame F (`event_f1/<class>`) and sed_eval's 1 s segment-based F1 and ER as extras
        (`segment_*`: not the paper's metric)."""
        scores = {}
        if predictions and predictions[0].roll is not None:
            events = frame_scores(
                np.concatenate([reference.roll for reference in references]),
                np.concatenate([prediction.roll for prediction in predictions]),
            )
            scores.update(event_f1_micro=events.micro_f, event_f1_macro=events.macro_f)
            scores.update({f"event_f1/{label}": float(f) for label, f in zip(EVENT_CLASSES, events.class_f)})
            scores.update(self._segment_scores(references, predictions))
        if predictions and predictions[0].scene is not None:
            # One decision per 10 s window, as the paper's evaluator counts them.
            scenes = scene_scores(
                np.concatenate([np.full(len(p.window_scenes), r.scene) for r, p in zip(references, predictions)]),
                np.concatenate([prediction.window_scenes for prediction in predictions]),
                num_classes=len(SCENE_CLASSES),
            )
            scores.update(scene_accuracy=scenes.accuracy, scene_f1_macro=scenes.macro_f)
        return scores

    def _segment_scores(self, references, predictions) -> dict[str, float]:
        # The reference events are those of the 20 ms roll, the same quantisation as the predictions'.
        names = [clip.name for clip in self.clips]
        reference_events = {
            name: roll_to_events(reference.roll, EVENT_CLASSES, self.frame_rate) for name, reference in zip(names, references)
        }
        predicted_events = {name: prediction.events for name, prediction in zip(names, predictions)}
        durations = {name: reference.roll.shape[0] / self.frame_rate for name, reference in zip(names, references)}
        results = segment_based_metrics(reference_events, predicted_events, EVENT_CLASSES, time_resolution=1.0, durations=durations)
        return {
            "segment_f1_micro": results["overall"]["f_measure"]["f_measure"],
            "segment_er": results["overall"]["error_rate"]["error_rate"],
        }

    def summary(self, scores):
        return dict(scores)

    def logged(self, scores):
        # Per-class F goes to the metrics file only: 25 more columns per epoch would drown the history.
        return {name: value for name, value in super().logged(scores).items() if not name.startswith("event_f1/")}


def _record_name(metadata_path: str) -> str:
    # Metadata paths hold folders; cache entries are flat files.
    return metadata_path.replace("/", "__")


class SceneEventTask(Task):
    """Scene + event detection on a folder that is both Imoto's metadata root and the TUT audio root."""

    groups = {"data": SceneEventDataSpec, "loss": SceneEventLossSpec, "evaluation": SceneEventEvaluationSpec}
    mode = "max"
    frames_per_label = 1

    @property
    def monitor(self) -> str:
        return "val_event_f1_micro" if "event" in self.recipe.loss.branches else "val_scene_accuracy"

    def _feature_config(self) -> FeatureConfig:
        return get_preset(self.recipe.data.features, **self.recipe.data.feature_overrides)

    def prepare(self, data_dir, cache_dir=None, *, progress=True, log=print):
        data = self.recipe.data
        self.data_dir = Path(data_dir)
        self.feature_config = self._feature_config()
        self.dataset = ImotoDataset(self.data_dir, self.data_dir)
        self.split_clips = {
            "train": self.dataset.clips("development", fold=data.fold, part="train"),
            "validation": self.dataset.clips("development", fold=data.fold, part="test"),
            "test": self.dataset.clips("evaluation"),
        }
        recordings = {clip.name: clip for clip in self.dataset.clips("development") + self.dataset.clips("evaluation")}
        if cache_dir is None:
            cache_dir = self.data_dir / "feature_cache" / f"{ARRAY_FORMAT}_{data.features}"
        self.cache = extract_clips(
            [AudioRecord(_record_name(name), clip.path) for name, clip in recordings.items()],
            cache_dir,
            self.feature_config,
            ARRAY_FORMAT,
            scaler_names=[_record_name(clip.name) for clip in self.split_clips["train"]],
            channels=AUDIO_CHANNELS,
            downmix=True,
            progress=progress,
            log=log,
        )

    def clips(self, split, with_targets=True):
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        records, references = [], []
        for clip in self.split_clips[split]:
            name = _record_name(clip.name)
            path = os.fspath(self.cache.entry_path(name))
            if not with_targets:
                records.append(ClipRecord(name, path, {}))
                continue
            num_frames = self.cache.load(name, mmap=True).shape[0]
            roll = events_to_roll(clip.events, EVENT_CLASSES, num_frames, self.feature_config.frames_per_second)
            scene = scene_to_onehot(clip.scene, SCENE_CLASSES)
            branches = self.recipe.loss.branches
            records.append(
                ClipRecord(
                    name,
                    path,
                    {"event_logits": roll} if "event" in branches else {},
                    {"scene_logits": scene} if "scene" in branches else {},
                )
            )
            references.append(SceneEventReference(roll, SCENE_CLASSES.index(clip.scene)))
        return records, (references if with_targets else None)

    def targets(self):
        specs = {"event_logits": TargetSpec("frame", (len(EVENT_CLASSES),)), "scene_logits": TargetSpec("clip", (len(SCENE_CLASSES),))}
        return {f"{name}_logits": specs[f"{name}_logits"] for name in self.recipe.loss.branches}

    def model_args(self):
        return {"num_events": len(EVENT_CLASSES), "num_scenes": len(SCENE_CLASSES), "branches": self.recipe.loss.branches}

    def compile_args(self):
        from seld_tf.losses.focal import EventFocalLoss, SceneFocalLoss

        spec = self.recipe.loss
        losses = {
            "scene_logits": SceneFocalLoss(eta=spec.eta),
            "event_logits": EventFocalLoss(gamma=spec.gamma, zeta=spec.zeta, reduction_mode=spec.reduction),
        }
        weights = spec.output_weights
        losses = {key: losses[key] for key in weights}
        if spec.weighting == "uncertainty":
            # The model applies alpha and beta with the learned weights (`functional_model`).
            return {"loss": losses}, None
        if spec.weighting == "dwa":
            from seld_tf.losses.weighting import ScaledLoss

            losses = {key: ScaledLoss(loss) for key, loss in losses.items()}
            self._dynamic_losses = losses
        return {"loss": losses, "loss_weights": weights}, None

    def functional_model(self, inputs, outputs, name):
        """An `UncertaintyWeightedModel`, which owns the log-variances, under uncertainty weighting."""
        if self.recipe.loss.weighting != "uncertainty":
            return super().functional_model(inputs, outputs, name)
        from seld_tf.losses.weighting import UncertaintyWeightedModel

        return UncertaintyWeightedModel(inputs, outputs, task_weights=self.recipe.loss.output_weights, name=name)

    def callbacks(self):
        if self.recipe.loss.weighting != "dwa":
            return []
        from seld_tf.losses.weighting import DynamicWeightAverage

        return [DynamicWeightAverage(self._dynamic_losses, temperature=self.recipe.loss.dwa_temperature)]

    def evaluator(self, split, label_transform=None):
        clips, references = self.clips(split)
        evaluation = self.recipe.evaluation
        return SceneEventEvaluator(
            clips,
            references,
            frame_rate=self.feature_config.frames_per_second,
            threshold=evaluation.threshold,
            segment_frames=evaluation.segment_frames,
            label_transform=label_transform,
            with_scene="scene" in self.recipe.loss.branches,
        )

    def write_outputs(self, predictions, out_dir):
        """`events.tsv` (filename, onset, offset, event_label: DCASE2017 task 3's system output)
        and `scenes.tsv` (filename, scene_label), filenames as the metadata writes them."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        names = {_record_name(clip.name): clip.name for clips in self.split_clips.values() for clip in clips}
        with open(out_dir / "events.tsv", "w") as events, open(out_dir / "scenes.tsv", "w") as scenes:
            events.write("filename\tonset\toffset\tevent_label\n")
            scenes.write("filename\tscene_label\n")
            for name, prediction in predictions.items():
                for event in prediction.events:
                    events.write(f"{names[name]}\t{event.onset:.2f}\t{event.offset:.2f}\t{event.label}\n")
                if prediction.scene is not None:
                    scenes.write(f"{names[name]}\t{prediction.scene}\n")

    def predict_audio(self, model, audio_path, record):
        config = FeatureConfig.from_dict(record["feature_config"])
        features = extract_file(audio_path, config, ARRAY_FORMAT, channels=AUDIO_CHANNELS, downmix=True)
        outputs = predict_features(
            model,
            features,
            frames_per_label=1,
            segment_frames=self.recipe.evaluation.segment_frames,
            clip_outputs=("scene_logits",) if "scene" in self.recipe.loss.branches else (),
            segment_outputs=("scene",) if "scene" in self.recipe.loss.branches else (),
        )
        return decode_scene_event(outputs, config.frames_per_second, self.recipe.evaluation.threshold)

    def write_prediction(self, prediction, out_path):
        """One recording's TSV: a `scene` row, then one `event` row per event (kind, scene_label or onset, offset, event_label)."""
        with open(out_path, "w") as handle:
            if prediction.scene is not None:
                handle.write(f"scene\t{prediction.scene}\n")
            for event in prediction.events:
                handle.write(f"event\t{event.onset:.2f}\t{event.offset:.2f}\t{event.label}\n")

    def feature_front_end(self, record):
        return FeatureFrontEnd(FeatureConfig.from_dict(record["feature_config"]), ARRAY_FORMAT, 1)
