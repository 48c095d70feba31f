"""A second task, used only by the tests: clip tagging of pure tones.

It proves the task seam: a task that is not SELD (clip-level multi-hot
targets, no frame targets, mono audio at another rate, monitor = validation
micro-AP, mode "max") trains, validates, snapshots, resumes and evaluates
through the package's own trainer and CLI, with no line of those written for it.

Dataset layout (`write_toy_dataset`)::

    DATA/audio/<name>.wav    mono, 1 s, sums of tones (one per tag)
    DATA/meta.csv            filename,split,tags   (tags joined by ";")
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
import soundfile as sf
from sklearn.metrics import average_precision_score

from seld_tf.evaluation import Evaluator
from seld_tf.features import get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, extract_file
from seld_tf.pipeline import ClipRecord, TargetSpec, predict_features
from seld_tf.recipes import field
from seld_tf.tasks import Task

TAGS = ("low", "mid", "high")
FREQUENCIES = (300.0, 1200.0, 4000.0)
SAMPLE_RATE = 22050  # not the preset's 16 kHz: the cache resamples


SPLITS = ("train", "unlabeled", "validation", "test")


def write_toy_dataset(root, clips_per_split=(12, 6, 4, 4), seed=0) -> Path:
    """Write the toy dataset: clips of each of `SPLITS` with random tag sets (not listed for "unlabeled")."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    time = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for split, count in zip(SPLITS, clips_per_split):
        for index in range(count):
            tags = [tag for tag in TAGS if rng.random() < 0.5]
            audio = 0.01 * rng.standard_normal(SAMPLE_RATE)
            for tag in tags:
                audio += 0.3 * np.sin(2 * np.pi * FREQUENCIES[TAGS.index(tag)] * time)
            name = f"{split}_{index:02d}"
            sf.write(root / "audio" / f"{name}.wav", audio.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
            rows.append((f"{name}.wav", split, "" if split == "unlabeled" else ";".join(tags)))
    with open(root / "meta.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("filename", "split", "tags"))
        writer.writerows(rows)
    return root


@dataclasses.dataclass(frozen=True)
class ToyDataSpec:
    features: str = "desed"
    n_mels: int = field(32, ge=1)


@dataclasses.dataclass(frozen=True)
class ToyLossSpec:
    label_smoothing: float = field(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class ToyEvaluationSpec:
    threshold: float = field(0.5, gt=0, lt=1)


def build_toy_tagger(input_shape, num_classes, filters: int = 8) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, {"tags": keras.layers.Dense(num_classes, activation="sigmoid", name="tags")(x)})


class TaggingEvaluator(Evaluator):
    """Clip probabilities scored by micro-averaged average precision (scikit-learn)."""

    def decode(self, outputs, reference):
        return np.asarray(outputs["tags"])

    def score(self, references, predictions, outputs):
        return {"ap_micro": float(average_precision_score(np.stack(references), np.stack(predictions), average="micro"))}

    def summary(self, scores):
        return dict(scores)


class ToyTaggingTask(Task):
    groups = {"data": ToyDataSpec, "loss": ToyLossSpec, "evaluation": ToyEvaluationSpec}
    monitor = "val_ap_micro"
    mode = "max"
    frames_per_label = 1

    @property
    def config(self):
        return get_preset(self.recipe.data.features, n_mels=self.recipe.data.n_mels)

    def prepare(self, data_dir, cache_dir=None, *, progress=True, log=print):
        self.data_dir = Path(data_dir)
        with open(self.data_dir / "meta.csv", newline="") as handle:
            self.rows = list(csv.DictReader(handle))
        records = [AudioRecord(Path(row["filename"]).stem, os.fspath(self.data_dir / "audio" / row["filename"])) for row in self.rows]
        train_names = [record.name for record, row in zip(records, self.rows) if row["split"] == "train"]
        self.cache = extract_clips(
            records, cache_dir or self.data_dir / "cache", self.config, "logmel", scaler_names=train_names, progress=False, log=log
        )

    def clips(self, split, with_targets=True):
        rows = [row for row in self.rows if row["split"] == split]
        names = [Path(row["filename"]).stem for row in rows]
        targets = [np.array([tag in row["tags"].split(";") for tag in TAGS], dtype=np.float32) for row in rows]
        labelled = with_targets and split != "unlabeled"
        records = [
            ClipRecord(name, os.fspath(self.cache.entry_path(name)), {}, {"tags": target} if labelled else {})
            for name, target in zip(names, targets)
        ]
        return records, (targets if labelled else None)

    def targets(self):
        # Unlabeled clips lack "tags": the pipeline fills them with sample weight 0.
        return {"tags": TargetSpec("clip", (len(TAGS),))}

    def feature_scaler(self):
        return self.cache.scaler()

    def record(self):
        return {"data_dir": os.fspath(self.data_dir.resolve()), "cache_dir": os.fspath(self.cache.root.resolve())}

    def model_args(self):
        return {"num_classes": len(TAGS)}

    def compile_args(self):
        loss = keras.losses.BinaryCrossentropy(label_smoothing=self.recipe.loss.label_smoothing)
        return {"loss": {"tags": loss}}, None

    def evaluator(self, split, label_transform=None):
        clips, references = self.clips(split)
        return TaggingEvaluator(
            clips, references, frames_per_label=1, label_transform=label_transform, clip_outputs=("tags",)
        )

    def write_outputs(self, predictions, out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name, probabilities in predictions.items():
            self.write_prediction(probabilities, Path(out_dir) / f"{name}.csv")

    def predict_audio(self, model, audio_path, record):
        features = extract_file(audio_path, self.config, "logmel")
        return predict_features(model, features, frames_per_label=1, clip_outputs=("tags",))["tags"]

    def write_prediction(self, prediction, out_path):
        with open(out_path, "w") as handle:
            handle.write(",".join(f"{tag}={value:.4f}" for tag, value in zip(TAGS, prediction)) + "\n")
