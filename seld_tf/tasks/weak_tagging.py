"""The weak tagging task of 2APAE (spec `apae.md`): clip-level tags of the
weakly labelled remix of FSDKaggle2018 events over TAU 2019 scenes.

The data folder is a mixing workspace (`seld_tf.datasets.weak_remix`):
`mixture.yaml` and `mixed_audio/snr_{snr}/NNNNN.wav` (or Kong's layout).
One SNR is one dataset (spec §3). The model sees log-mels of the mean of the
stereo mixture's two channels (events, scene), as Kong's `calculate_logmel`
computes them, resampled to the preset's rate.

Targets: "clip", the multi-hot `[K]` of the mixture's event labels (the 41
FSDKaggle2018 labels in `FSD_LABELS` order, or the recipe's `data.classes`);
with `loss.reconstruction_weight > 0` (the paper's alpha), also
"reconstruction", the z-scored input `[T, F, C]` that the 2APAE decoder
reconstructs (its output has the input's shape). The loss is `clip_weight *
BCE(clip) + reconstruction_weight * MSE(reconstruction)`, each the mean over
its values, as in the authors' code. Scores: micro-AP (the paper's "micro-P",
its primary metric, which keeps the best snapshot and drives a plateau
schedule), macro-AP ("macro-P"), macro ROC AUC, micro F1 of the tag decisions
at `evaluation.threshold`, and the AP of each class (`ap/<label>`, Tables
VI-VIII; in the metrics file, not in the per-epoch logs).

Weak labels belong to whole clips, and the 2APAE attends over a fixed
number of frames (its step-2 Dense layers are `T x T`): the model trains and
is scored on whole clips of `pipeline.train_frames` frames, which must be the
clips' length (311 for the paper's 10 s clips; `prepare` raises a
`ConfigError` otherwise), and its input is built with that fixed length.

Recipe groups: `data` (`WeakTaggingDataSpec`), `loss` (`WeakTaggingLossSpec`),
`evaluation` (`WeakTaggingEvaluationSpec`).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from seld_tf.datasets.weak_remix import FSD_LABELS, LAYOUTS, NUM_FOLDS, Mixture, mixture_dir, read_mixture_yaml, weak_target
from seld_tf.errors import ConfigError
from seld_tf.evaluation import Evaluator
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, extract_file
from seld_tf.fileio import atomic_open
from seld_tf.metrics.tagging import ap_macro, ap_micro, ap_table, auc_macro
from seld_tf.pipeline import ClipRecord, TargetSpec, predict_features
from seld_tf.recipes import field
from seld_tf.tasks.base import Task

ARRAY_FORMAT = "logmel"
RESAMPLE = "soxr_hq"
OUTPUT_FILE = "clip_probabilities.tsv"


@dataclasses.dataclass(frozen=True)
class WeakTaggingDataSpec:
    """Features, the SNR's mixtures, and the folds.

    Spec protocol (§3, Q7): train on the other folds, validate on the held-out
    fold and report it too, so `test_fold` defaults to `validation_fold`;
    set it apart for a selection-free test fold.

    `classes`: the labels of the model's outputs, in order, a subset of
    `FSD_LABELS` (e.g. the 10 of `seld-tf synth weakmix --size cpu`); empty
    for all 41 in `FSD_LABELS` order. Every mixture's events must be among them.
    """

    features: str = "apae2021"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    snr: int = 20
    layout: str = "2apae"
    validation_fold: int = field(1, ge=1, le=NUM_FOLDS)
    test_fold: int = field(1, ge=1, le=NUM_FOLDS)
    classes: tuple[str, ...] = ()

    def __post_init__(self):
        unknown = [label for label in self.classes if label not in FSD_LABELS]
        if unknown:
            raise ConfigError(f"data.classes: {unknown} are not FSDKaggle2018 labels; expected some of {list(FSD_LABELS)}")
        repeated = sorted({label for label in self.classes if self.classes.count(label) > 1})
        if repeated:
            raise ConfigError(f"data.classes: {repeated} appear more than once")

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's output labels, in order."""
        return self.classes or FSD_LABELS


@dataclasses.dataclass(frozen=True)
class WeakTaggingLossSpec:
    """`L = clip_weight * BCE(clip) + reconstruction_weight * MSE(reconstruction)`, each the mean of
    its values: the paper's `L = BCE + alpha * MSE` with `reconstruction_weight` = alpha. 2APAE uses
    alpha = 0.001 (spec §2; ablation 0, 0.01); 0 trains no reconstruction (no target, no loss, the
    decoder of a 2APAE model stays in the graph untrained, as in the authors' alpha = 0 run), and
    models without a decoder need 0."""

    clip_weight: float = field(1.0, ge=0)
    reconstruction_weight: float = field(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class WeakTaggingEvaluationSpec:
    """`threshold`: probability above which a tag is decided present (the `f1_micro` score)."""

    threshold: float = field(0.5, gt=0, lt=1)


class WeakTaggingEvaluator(Evaluator):
    """Clip probabilities `[K]` scored against multi-hot references (spec §4).

    `labels` names the K classes, for the per-class AP keys `ap/<label>`
    (NaN for a class without a positive clip, see `seld_tf.metrics.tagging`).
    """

    def __init__(self, clips, references, *, labels: Sequence[str] = FSD_LABELS, threshold: float = 0.5, label_transform=None):
        super().__init__(clips, references, frames_per_label=1, label_transform=label_transform, clip_outputs=("clip",))
        self.labels = tuple(labels)
        self.threshold = threshold

    def decode(self, outputs, reference):
        return np.asarray(outputs["clip"])

    def score(self, references, predictions, outputs):
        truth, scores = np.stack(references) > 0, np.stack(predictions)
        decided = scores > self.threshold
        hits = np.sum(truth & decided)
        return {
            "ap_micro": ap_micro(truth, scores),
            "ap_macro": ap_macro(truth, scores),
            "auc_macro": auc_macro(truth, scores),
            "f1_micro": float(2 * hits / max(truth.sum() + decided.sum(), 1)),
            **{f"ap/{label}": value for label, value in ap_table(truth, scores, self.labels)},
        }

    def summary(self, scores):
        return dict(scores)

    def logged(self, scores):
        # Per-class AP goes to the metrics file only: K more columns per epoch would drown the history.
        return {name: value for name, value in super().logged(scores).items() if not name.startswith("ap/")}


class WeakTaggingTask(Task):
    """2APAE weak tagging on one SNR of a weak-remix workspace."""

    groups = {"data": WeakTaggingDataSpec, "loss": WeakTaggingLossSpec, "evaluation": WeakTaggingEvaluationSpec}
    monitor = "val_ap_micro"
    mode = "max"
    # Clip targets have no time axis and the reconstruction runs at the feature rate.
    frames_per_label = 1

    @property
    def feature_config(self) -> FeatureConfig:
        return get_preset(self.recipe.data.features, **self.recipe.data.feature_overrides)

    def prepare(self, data_dir, cache_dir=None, *, progress=True, log=print):
        data = self.recipe.data
        if data.layout not in LAYOUTS:
            raise ConfigError(f"data.layout: expected one of {list(LAYOUTS)}, found {data.layout!r}")
        self.data_dir = Path(data_dir)
        self.mixtures = read_mixture_yaml(self.data_dir / "mixture.yaml")
        foreign = sorted({event.event_label for m in self.mixtures for event in m.events} - set(data.labels))
        if foreign:
            raise ConfigError(
                f"{self.data_dir / 'mixture.yaml'} has events of {foreign}, which are not in data.classes {list(data.labels)}"
            )
        self.audio_dir = Path(mixture_dir(self.data_dir, data.snr, data.layout))
        if not self.audio_dir.is_dir():
            raise ConfigError(f"no mixtures at SNR {data.snr} dB: {self.audio_dir} is not a folder")
        if cache_dir is None:
            cache_dir = self.data_dir / "feature_cache" / f"snr_{data.snr}_{data.features}_mono"
        self.cache = extract_clips(
            [AudioRecord(_name(m), os.fspath(self.audio_dir / m.mixture_name)) for m in self.mixtures],
            cache_dir,
            self.feature_config,
            ARRAY_FORMAT,
            scaler_names=[_name(m) for m in self._split("train")],
            resample=RESAMPLE,
            downmix=True,
            progress=progress,
            log=log,
        )
        self._check_clip_frames()

    def _check_clip_frames(self) -> None:
        """Every clip must have `pipeline.train_frames` frames: the model's fixed input is a whole clip."""
        lengths = Counter(np.load(self.cache.entry_path(_name(m)), mmap_mode="r").shape[0] for m in self.mixtures)
        expected = self.recipe.pipeline.train_frames
        if set(lengths) != {expected}:
            found = ", ".join(f"{count} with {frames}" for frames, count in sorted(lengths.items()))
            raise ConfigError(
                f"pipeline.train_frames is {expected}, but the clips at SNR {self.recipe.data.snr} dB have other "
                f"lengths (clips: {found} frames); weak tagging trains and scores whole clips at the model's fixed "
                f"input length, so set pipeline.train_frames to the clips' length (feature preset "
                f"{self.recipe.data.features!r} with overrides {self.recipe.data.feature_overrides})"
            )

    def input_frames(self) -> int:
        """The model's fixed input length: whole clips of `pipeline.train_frames` frames."""
        return self.recipe.pipeline.train_frames

    def _split(self, split: str) -> list[Mixture]:
        data = self.recipe.data
        held_out = {data.validation_fold, data.test_fold}
        chosen = {
            "train": lambda fold: fold not in held_out,
            "validation": lambda fold: fold == data.validation_fold,
            "test": lambda fold: fold == data.test_fold,
        }
        if split not in chosen:
            raise ConfigError(f"unknown split {split!r}; expected train, validation or test")
        mixtures = [m for m in self.mixtures if chosen[split](m.fold)]
        if not mixtures:
            raise ConfigError(f"no mixtures of split {split!r} in {self.data_dir / 'mixture.yaml'}")
        return mixtures

    def clips(self, split, with_targets=True):
        mixtures = self._split(split)
        if not with_targets:
            return [ClipRecord(_name(m), os.fspath(self.cache.entry_path(_name(m))), {}) for m in mixtures], None
        references = [weak_target(m, self.recipe.data.labels).astype(np.float32) for m in mixtures]
        reconstruct = self.recipe.loss.reconstruction_weight > 0
        mean, scale = self.feature_scaler() if reconstruct else (None, None)
        records = []
        for mixture, target in zip(mixtures, references):
            path = self.cache.entry_path(_name(mixture))
            # The decoder's target is the scaled input itself, `[T, F, C]` like its output (spec §2).
            labels = {"reconstruction": (np.load(path) - mean) / scale} if reconstruct else {}
            records.append(ClipRecord(_name(mixture), os.fspath(path), labels, {"clip": target}))
        return records, references

    def targets(self):
        specs = {"clip": TargetSpec("clip", (len(self.recipe.data.labels),))}
        if self.recipe.loss.reconstruction_weight > 0:
            # `[bins, channels]` per frame; the sample weights are then `[B, 1, 1]`, which broadcast
            # over the MSE's unreduced `[B, T, F]` (the MSE averages the channel axis).
            specs["reconstruction"] = TargetSpec("frame", self.feature_scaler()[0].shape)
        return specs

    def model_args(self):
        return {"num_classes": len(self.recipe.data.labels)}

    def compile_args(self):
        import keras

        spec = self.recipe.loss
        loss = {"clip": keras.losses.BinaryCrossentropy()}
        weights = {"clip": spec.clip_weight}
        if spec.reconstruction_weight > 0:
            loss["reconstruction"] = keras.losses.MeanSquaredError()
            weights["reconstruction"] = spec.reconstruction_weight
        return {"loss": loss, "loss_weights": weights}, None

    def evaluator(self, split, label_transform=None):
        clips, references = self.clips(split)
        return WeakTaggingEvaluator(
            clips,
            references,
            labels=self.recipe.data.labels,
            threshold=self.recipe.evaluation.threshold,
            label_transform=label_transform,
        )

    def write_outputs(self, predictions: Mapping[str, np.ndarray], out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        rows = {f"{name}.wav": value for name, value in predictions.items()}
        write_probabilities(Path(out_dir) / OUTPUT_FILE, rows, self.recipe.data.labels)

    def predict_audio(self, model, audio_path, record):
        config = FeatureConfig.from_dict(record["feature_config"])
        features = extract_file(audio_path, config, ARRAY_FORMAT, resample=RESAMPLE, downmix=True)
        frames = model.input_shape[1]
        if frames is not None and features.shape[0] != frames:
            raise ConfigError(
                f"{audio_path}: {features.shape[0]} feature frames, but the model takes whole clips of {frames} "
                f"(the training clips' length)"
            )
        return predict_features(model, features, frames_per_label=1, clip_outputs=("clip",))["clip"]

    def write_prediction(self, prediction, out_path):
        """A one-row table, the file named by `out_path`'s stem."""
        write_probabilities(out_path, {f"{Path(out_path).stem}.wav": prediction}, self.recipe.data.labels)


def write_probabilities(
    path: str | os.PathLike, rows: Mapping[str, Sequence[float]], labels: Sequence[str] = FSD_LABELS
) -> None:
    """Tab-separated clip probabilities: header `filename` + `labels`, one row per file name."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(("filename", *labels))
        for filename, values in rows.items():
            writer.writerow((filename, *(f"{value:.6f}" for value in values)))


def _name(mixture: Mixture) -> str:
    return Path(mixture.mixture_name).stem
