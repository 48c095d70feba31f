"""The weak tagging task of 2APAE (spec `apae.md`): clip-level tags of the
weakly labelled remix of FSDKaggle2018 events over TAU 2019 scenes.

The data folder is a mixing workspace (`seld_tf.datasets.weak_remix`):
`mixture.yaml` and `mixed_audio/snr_{snr}/NNNNN.wav` (or Kong's layout).
One SNR is one dataset (spec §3). The model sees log-mels of the mean of the
stereo mixture's two channels (events, scene), as Kong's `calculate_logmel`
computes them, resampled to the preset's rate.

Targets: "clip", the multi-hot `[K]` of the mixture's event labels (the 41
FSDKaggle2018 labels in `FSD_LABELS` order); with `loss.reconstruction_weight
> 0`, also "reconstruction", the z-scored input `[T, F]` (per frame) that
the 2APAE decoder reconstructs. Scores: micro-AP (the paper's primary metric,
which keeps the best snapshot), macro-AP, macro AUC, and micro F1 of the
tag decisions at `evaluation.threshold`.

Recipe groups: `data` (`WeakTaggingDataSpec`), `loss` (`WeakTaggingLossSpec`),
`evaluation` (`WeakTaggingEvaluationSpec`).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from seld_tf.datasets.weak_remix import FSD_LABELS, LAYOUTS, NUM_FOLDS, Mixture, mixture_dir, read_mixture_yaml, weak_target
from seld_tf.errors import ConfigError
from seld_tf.evaluation import Evaluator
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, extract_file
from seld_tf.fileio import atomic_open
from seld_tf.metrics.tagging import ap_macro, ap_micro, auc_macro
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
    """

    features: str = "apae2021"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    snr: int = 20
    layout: str = "2apae"
    validation_fold: int = field(1, ge=1, le=NUM_FOLDS)
    test_fold: int = field(1, ge=1, le=NUM_FOLDS)


@dataclasses.dataclass(frozen=True)
class WeakTaggingLossSpec:
    """`L = clip_weight * BCE(clip) + reconstruction_weight * MSE(reconstruction)`;
    2APAE uses alpha = 0.001 (spec §2), models without a decoder 0 (no target)."""

    clip_weight: float = field(1.0, ge=0)
    reconstruction_weight: float = field(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class WeakTaggingEvaluationSpec:
    """`threshold`: probability above which a tag is decided present (the `f1_micro` score)."""

    threshold: float = field(0.5, gt=0, lt=1)


class WeakTaggingEvaluator(Evaluator):
    """Clip probabilities `[K]` scored against multi-hot references (spec §4)."""

    def __init__(self, clips, references, *, threshold: float = 0.5, label_transform=None):
        super().__init__(clips, references, frames_per_label=1, label_transform=label_transform, clip_outputs=("clip",))
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
        }

    def summary(self, scores):
        return dict(scores)


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
        references = [weak_target(m).astype(np.float32) for m in mixtures]
        reconstruct = self.recipe.loss.reconstruction_weight > 0
        mean, scale = self.feature_scaler() if reconstruct else (None, None)
        records = []
        for mixture, target in zip(mixtures, references):
            path = self.cache.entry_path(_name(mixture))
            # The decoder's target is the scaled input itself, without its channel axis (spec §2).
            labels = {"reconstruction": ((np.load(path) - mean) / scale)[..., 0]} if reconstruct else {}
            records.append(ClipRecord(_name(mixture), os.fspath(path), labels, {"clip": target}))
        return records, references

    def targets(self):
        specs = {"clip": TargetSpec("clip", (len(FSD_LABELS),))}
        if self.recipe.loss.reconstruction_weight > 0:
            specs["reconstruction"] = TargetSpec("frame", (self.feature_config.n_mels,))
        return specs

    def model_args(self):
        return {"num_classes": len(FSD_LABELS)}

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
            clips, references, threshold=self.recipe.evaluation.threshold, label_transform=label_transform
        )

    def write_outputs(self, predictions: Mapping[str, np.ndarray], out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_probabilities(Path(out_dir) / OUTPUT_FILE, {f"{name}.wav": value for name, value in predictions.items()})

    def predict_audio(self, model, audio_path, record):
        config = FeatureConfig.from_dict(record["feature_config"])
        features = extract_file(audio_path, config, ARRAY_FORMAT, resample=RESAMPLE, downmix=True)
        return predict_features(model, features, frames_per_label=1, clip_outputs=("clip",))["clip"]

    def write_prediction(self, prediction, out_path):
        """A one-row table, the file named by `out_path`'s stem."""
        write_probabilities(out_path, {f"{Path(out_path).stem}.wav": prediction})


def write_probabilities(path: str | os.PathLike, rows: Mapping[str, Sequence[float]]) -> None:
    """Tab-separated clip probabilities: header `filename` + `FSD_LABELS`, one row per file name."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(("filename", *FSD_LABELS))
        for filename, values in rows.items():
            writer.writerow((filename, *(f"{value:.6f}" for value in values)))


def _name(mixture: Mixture) -> str:
    return Path(mixture.mixture_name).stem
