"""The generic trainer: any recipe, trained with `model.fit`.

`train()` resolves a recipe into features, tf.data pipelines, a model with its
feature scaler at the input, losses, optimizer, schedule and callbacks, then
calls `model.fit`. Everything a later `evaluate`/`predict` needs is in the run
folder (`seld_tf.runs` describes its files and how a killed run resumes);
`run.json` records the data and cache folders, feature config and frame rates.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from seld_tf.audio import load_audio
from seld_tf.augment import FoaRotation, SpecAugment
from seld_tf.callbacks import (
    AtomicBackupAndRestore,
    AtomicModelCheckpoint,
    CommitSnapshot,
    RaiseOnNonFiniteLoss,
    SeldValidation,
)
from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, LABEL_FRAME_SECONDS, Dcase2020Dataset, write_output
from seld_tf.datasets.events import EventList
from seld_tf.errors import ConfigError, RunError
from seld_tf.faults import kill_point
from seld_tf.evaluation import SeldEvaluator, decode_outputs, write_outputs
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import FeatureCache, extract_dataset, make_extractor
from seld_tf.fileio import write_json
from seld_tf.losses import seld_loss_weights, seld_losses
from seld_tf.models.registry import build_model
from seld_tf.pipeline import SeldClip, make_train_dataset, predict_clips, seld_clips_from_dataset
from seld_tf.recipes import Recipe, load_recipe, save_recipe
from seld_tf.runs import RunFolder
from seld_tf.saving import load_model
from seld_tf.schedules import WarmupExponentialDecay

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW}
STRATEGIES = ("default", "mirrored", "multiworker")


@dataclasses.dataclass(frozen=True)
class RunData:
    """What a recipe's data section resolves to on a given dataset folder."""

    dataset: Dcase2020Dataset
    cache: FeatureCache
    feature_config: FeatureConfig
    frames_per_label: int

    def evaluator(self, recipe: Recipe, split: str, label_transform: Callable | None = None) -> SeldEvaluator:
        """A `SeldEvaluator` of a split with the recipe's decoding and inference settings."""
        clips, references = self.clips(recipe, split)
        return SeldEvaluator(
            clips,
            references or None,
            label_form=recipe.data.label_form,
            frames_per_label=self.frames_per_label,
            threshold=recipe.evaluation.threshold,
            segment_frames=recipe.evaluation.segment_frames,
            label_transform=label_transform,
            oracle=recipe.evaluation.oracle,
        )

    def clips(self, recipe: Recipe, split: str, with_labels: bool = True):
        """`(SeldClip list, reference event lists)` of a split: train, validation, test or eval."""
        folds = {"train": recipe.data.train_folds, "validation": recipe.data.validation_folds, "test": recipe.data.test_folds}
        if split == "eval":
            clips = self.dataset.clips("eval")
        elif split in folds:
            clips = self.dataset.clips("dev", folds=folds[split])
        else:
            raise ConfigError(f"unknown split {split!r}; expected train, validation, test or eval")
        if not clips:
            raise ConfigError(f"no clips of split {split!r} in {self.dataset.root}")
        if not with_labels or split == "eval":
            return [SeldClip(c.name, str(self.cache.entry_path(c.name)), {}) for c in clips], []
        items = seld_clips_from_dataset(
            self.dataset,
            self.cache,
            clips,
            label_form=recipe.data.label_form,
            num_classes=len(CLASS_NAMES),
            num_tracks=recipe.data.num_tracks,
            frames_per_label=self.frames_per_label,
        )
        references = [
            self.dataset.read_events(clip, num_frames=len(item.labels["sed"])) for clip, item in zip(clips, items)
        ]
        return items, references


def frames_per_label(config: FeatureConfig) -> int:
    """Feature frames per 100 ms label frame; the label grid must be a whole number of hops."""
    ratio = LABEL_FRAME_SECONDS * config.frames_per_second
    if abs(ratio - round(ratio)) > 1e-9:
        raise ConfigError(
            f"hop {config.hop_length} at {config.sample_rate} Hz does not divide the 100 ms label frame "
            f"({ratio:g} feature frames per label frame)"
        )
    return int(round(ratio))


def prepare_data(recipe: Recipe, data_dir, cache_dir=None, progress: bool = True, log=print) -> RunData:
    """Extract (or reuse) the recipe's features of `data_dir` and open the dataset."""
    config = get_preset(recipe.data.features, **recipe.data.feature_overrides)
    cache_dir = Path(cache_dir) if cache_dir else Path(data_dir) / "feature_cache" / f"{recipe.data.format}_{recipe.data.features}"
    cache = extract_dataset(
        data_dir, cache_dir, config, recipe.data.format, train_folds=recipe.data.train_folds, progress=progress, log=log
    )
    return RunData(Dcase2020Dataset(data_dir, recipe.data.format), cache, config, frames_per_label(config))


def build_seld_model(recipe: Recipe, data: RunData) -> keras.Model:
    """The recipe's model with the cache's feature scaler as its first layer.

    The scaler lives in the model so that a saved or exported model takes raw
    features, as the feature extractor writes them.
    """
    mean, scale = data.cache.scaler()
    input_shape = (None, *mean.shape)
    args = dict(recipe.model.args)
    if recipe.data.label_form == "trackwise":
        args.setdefault("num_tracks", recipe.data.num_tracks)
    core = build_model(recipe.model.name, recipe.model.preset, input_shape=input_shape, num_classes=len(CLASS_NAMES), **args)
    inputs = keras.Input(input_shape, name="features")
    scaled = keras.layers.Normalization(axis=(-2, -1), mean=mean, variance=np.square(scale), name="feature_scaler")(inputs)
    return keras.Model(inputs, core(scaled), name=recipe.name)


def compile_args(recipe: Recipe) -> tuple[dict, Callable | None]:
    """`(model.compile keyword arguments, label transform)` for the recipe's losses."""
    spec = recipe.loss
    if recipe.data.label_form == "trackwise":
        from seld_tf.losses.pit import pit_compile_args

        return pit_compile_args(spec.pit, spec.sed_weight, spec.doa_weight)
    if spec.pit != "none":
        raise ConfigError(f"loss.pit {spec.pit!r} needs data.label_form 'trackwise'")
    return {"loss": seld_losses(spec.sed, spec.doa_masked), "loss_weights": seld_loss_weights(spec.sed_weight, spec.doa_weight)}, None


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    spec, schedule = recipe.optimizer, recipe.schedule
    if spec.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {spec.name!r}; expected one of {sorted(OPTIMIZERS)}")
    learning_rate = WarmupExponentialDecay(
        initial_learning_rate=schedule.initial_learning_rate,
        steps_per_epoch=steps_per_epoch,
        decay_epochs=schedule.decay_epochs,
        decay_rate=schedule.decay_rate,
        warmup_epochs=schedule.warmup_epochs,
        warmup_learning_rate=schedule.warmup_learning_rate,
    )
    kwargs = {"learning_rate": learning_rate, "clipnorm": spec.clipnorm}
    if spec.weight_decay is not None:
        kwargs["weight_decay"] = spec.weight_decay
    return OPTIMIZERS[spec.name](**kwargs)


def make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


def augmentations(recipe: Recipe, config: FeatureConfig) -> list:
    """The training-only augmentations of the recipe, seeded from the recipe's seed."""
    seed = recipe.training.seed
    chain = []
    if recipe.pipeline.foa_rotation:
        if recipe.data.format != "foa":
            raise ConfigError("pipeline.foa_rotation needs data.format 'foa'")
        chain.append(FoaRotation(config, seed=seed + 1))
    if recipe.pipeline.spec_augment:
        chain.append(SpecAugment(**recipe.pipeline.spec_augment, seed=seed + 2))
    return chain


def train(
    recipe: Recipe,
    data_dir,
    run_dir,
    *,
    epochs: int | None = None,
    strategy: str = "default",
    cache_dir=None,
    verbose: int = 2,
    progress: bool = True,
    extra_callbacks: tuple = (),
    log=print,
) -> keras.callbacks.History:
    """Train `recipe` on the DCASE2020-layout folder `data_dir`; outputs go to `run_dir`.

    A run killed part-way resumes from `run_dir/backup` when called again with
    the same arguments. `extra_callbacks` run after the package's own (so they
    see the validation scores in the logs).
    """
    run = RunFolder(run_dir)
    if run.finished:
        raise RunError(f"{run.path} holds a finished run; choose another --out")
    if epochs is not None:
        recipe = recipe.replace(training={"epochs": epochs})
    keras.utils.set_random_seed(recipe.training.seed)
    data = prepare_data(recipe, data_dir, cache_dir, progress=progress, log=log)
    run.path.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run.path / "recipe.yaml")
    write_json(
        run.path / "run.json",
        {
            "data_dir": os.fspath(Path(data_dir).resolve()),
            "cache_dir": os.fspath(data.cache.root.resolve()),
            "frames_per_label": data.frames_per_label,
            "feature_config": data.feature_config.to_dict(),
        },
    )

    compile_kwargs, label_transform = compile_args(recipe)
    train_clips, _ = data.clips(recipe, "train")
    train_data = make_train_dataset(
        train_clips,
        window_frames=recipe.pipeline.train_frames,
        frames_per_label=data.frames_per_label,
        batch_size=recipe.pipeline.batch_size,
        seed=recipe.training.seed,
        augment=augmentations(recipe, data.feature_config) or None,
        label_transform=label_transform,
    )
    steps_per_epoch = recipe.training.steps_per_epoch or int(train_data.cardinality())
    if steps_per_epoch < 1:
        raise ConfigError(
            f"no full training batch: {len(train_clips)} clips give fewer windows than batch_size "
            f"{recipe.pipeline.batch_size}; lower pipeline.batch_size or pipeline.train_frames"
        )
    if recipe.training.steps_per_epoch:
        train_data = train_data.repeat()

    with make_strategy(strategy).scope():
        model = build_seld_model(recipe, data)
        model.compile(optimizer=make_optimizer(recipe, steps_per_epoch), **compile_kwargs)

    evaluator = data.evaluator(recipe, "validation", label_transform)
    monitor, mode = "val_seld", "min"
    checkpoint = AtomicModelCheckpoint(run.path, monitor=monitor, mode=mode)
    best = run.prepare(monitor, mode)
    if best is not None:
        # Otherwise the first epoch after a restart would count as an improvement.
        checkpoint.best = best
    # The order is the order of an epoch's end: validation writes the scores
    # the others read; the history row and the snapshot candidate are written
    # before the backup records the epoch, and the candidate is promoted after.
    callbacks = [
        SeldValidation(evaluator, every=recipe.training.validate_every),
        RaiseOnNonFiniteLoss(os.fspath(run.best)),
        keras.callbacks.CSVLogger(os.fspath(run.history), append=True),
        checkpoint,
        AtomicBackupAndRestore(run.backup),
        CommitSnapshot(run.path),
        keras.callbacks.TensorBoard(os.fspath(run.path / "tensorboard"), write_graph=False),
        *extra_callbacks,
    ]
    history = model.fit(
        train_data,
        epochs=recipe.training.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        # The tf.data pipeline shuffles (seeded); Keras cannot shuffle a dataset and warns if asked.
        shuffle=False,
    )
    partial = run.path / "last.partial.keras"
    model.save(partial)
    kill_point("final_save", writing=partial)
    os.replace(partial, run.last)
    run.mark_finished({"epochs": recipe.training.epochs, "monitor": monitor, "best": _finite_or_none(checkpoint.best)})
    return history


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def load_run(run_dir) -> tuple[Recipe, dict, keras.Model]:
    """The recipe, run record and best snapshot of a finished (or running) run."""
    run_dir = Path(run_dir)
    for name in ("recipe.yaml", "run.json", "best.keras"):
        if not (run_dir / name).exists():
            raise ConfigError(f"{run_dir} is not a training run folder: no {name}")
    recipe = load_recipe(run_dir / "recipe.yaml")
    with open(run_dir / "run.json", encoding="utf-8") as handle:
        record = json.load(handle)
    return recipe, record, load_model(run_dir / "best.keras")


def evaluate_run(run_dir, data_dir, split: str = "test", cache_dir=None, progress: bool = True, log=print) -> dict | None:
    """Write the official output files of a split and score them (when labelled).

    Outputs go to `RUN_DIR/outputs/<split>/`, scores to `RUN_DIR/metrics_<split>.json`.
    Returns the scores' dict, or None for the unlabelled eval split.
    """
    run_dir = Path(run_dir)
    recipe, record, model = load_run(run_dir)
    if cache_dir is None and Path(record["data_dir"]) == Path(data_dir).resolve():
        cache_dir = record["cache_dir"]
    data = prepare_data(recipe, data_dir, cache_dir, progress=progress, log=log)
    evaluator = data.evaluator(recipe, split)
    result = evaluator.evaluate(model, with_losses=False)
    write_outputs(result.predictions, run_dir / "outputs" / split, recipe.evaluation.coordinates)
    if result.scores is None:
        return None
    scores = result.scores.to_dict()
    write_json(run_dir / f"metrics_{split}.json", scores)
    return scores


def predict_file(run_dir, audio_path, out_path) -> EventList:
    """Predict one audio file with a run's best snapshot and write its output CSV."""
    recipe, record, model = load_run(run_dir)
    config = FeatureConfig.from_dict(record["feature_config"])
    audio, _ = load_audio(audio_path, sample_rate=config.sample_rate, channels=4)
    features = make_extractor(config, recipe.data.format)(audio)
    with tempfile.TemporaryDirectory() as scratch:
        # predict_clips reads features from disk, as in training; one code path for segmenting.
        feature_path = os.path.join(scratch, "features.npy")
        np.save(feature_path, features)
        (outputs,) = predict_clips(
            model,
            [SeldClip(Path(audio_path).stem, feature_path, {})],
            frames_per_label=record["frames_per_label"],
            segment_frames=recipe.evaluation.segment_frames,
        )
    events = decode_outputs(outputs, recipe.data.label_form, recipe.evaluation.threshold)
    write_output(out_path, events, recipe.evaluation.coordinates)
    return events


def load_history(run_dir) -> dict[str, list[float]]:
    """The per-epoch numbers of a run (its `history.csv`) as a Keras-style history dict."""
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        raise ConfigError(f"{run_dir} has no history.csv: not a training run folder, or not started")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    keys = [key for key in (rows[0] if rows else {}) if key != "epoch"]
    return {key: [float(row[key]) if row[key] not in ("", None) else math.nan for row in rows] for key in keys}
